"""Point every catalogue partner at the local partner simulator and create a demo login (make run).

A partner whose cloud has its own adapter kind is wired to the simulator's API of that vendor's shape
(Nebius: its gRPC API, on the port after the simulator's; Hyperbolic and Seeweb: with the simulated account's SSH key,
which the simulator's sshd accepts); the rest speak the Partner API.
"""


from django.core.management.base import BaseCommand

from marketplace.models import NodeLaunch, Partner, PartnerKind, PartnerStatus
from marketplace.selectors.catalog_version import bump_catalog_version
from marketplace.services.api_keys import api_key_create, workspace_ensure
from marketplace.states import transition
from providers.simulator import nebius_grpc, seeweb_routes, yotta_routes
from providers.simulator.gcp_routes import billing_url, service_account_key
from providers.simulator.ssh_server import account_private_key

DEMO_EMAIL = "demo@gpubroker.local"
DEMO_PASSWORD = "demo-broker-2026"
# slug → (adapter kind, the simulator's path for that vendor's API shape)
OWN_API = {
    "lambda": (PartnerKind.LAMBDA, "/lambda/lambda/api/v1"),
    "shadeform": (PartnerKind.SHADEFORM, "/shadeform/shadeform/v1"),
    "vast": (PartnerKind.VAST, "/vast/vast/api/v0"),
    "verda": (PartnerKind.VERDA, "/verda/verda/v1"),
    "hyperstack": (PartnerKind.HYPERSTACK, "/hyperstack/hyperstack/v1"),
    "gcp": (PartnerKind.GCP, "/gcp/gcp/compute/v1"),
    "lium": (PartnerKind.LIUM, "/lium/lium/api"),
    "jarvislabs": (PartnerKind.JARVISLABS, "/jarvislabs/jarvislabs"),
    "mithril": (PartnerKind.MITHRIL, "/mithril/mithril"),
    "yotta": (PartnerKind.YOTTA, "/yotta/yotta"),
    "hyperbolic": (PartnerKind.HYPERBOLIC, "/hyperbolic/hyperbolic"),
    "seeweb": (PartnerKind.SEEWEB, "/seeweb/seeweb/ecs/v2"),
}


class Command(BaseCommand):
    help = "Wire the catalogue partners to the simulated partner clouds and create the demo workspace."

    def add_arguments(self, parser):
        parser.add_argument("--simulator-url", default="http://127.0.0.1:8700")
        parser.add_argument("--public-url", default="http://127.0.0.1:8000")
        parser.add_argument("--nebius-url", default=None,
                            help="the simulator's Nebius gRPC API (default: the port after --simulator-url's)")

    def handle(self, *args, simulator_url, public_url, nebius_url=None, **options):
        simulator_url = simulator_url.rstrip("/")
        nebius_url = nebius_url or nebius_grpc.url_beside(simulator_url)
        for partner in Partner.objects.filter(kind=PartnerKind.CATALOG):
            if partner.slug == "nebius":
                partner.kind, partner.base_url = PartnerKind.NEBIUS, nebius_url
            elif partner.slug in OWN_API:
                kind, path = OWN_API[partner.slug]
                partner.kind, partner.base_url = kind, f"{simulator_url}{path}"
            else:
                partner.kind, partner.base_url = PartnerKind.PARTNER_API, f"{simulator_url}/p/{partner.slug}"
            partner.credentials = _credentials(partner.kind, f"sim-{partner.slug}", partner.base_url)
            if partner.kind == PartnerKind.GCP:  # the Billing Catalog sits beside the simulated Compute API
                partner.adapter_options = {**partner.adapter_options, "billing_url": billing_url(partner.base_url)}
            if partner.kind == PartnerKind.SEEWEB:  # Seeweb reports no SSH port: the simulated servers' sshd port
                partner.adapter_options = {**partner.adapter_options, "ssh_port": seeweb_routes.SSH_PORT}
            partner.node_launch = NodeLaunch.CLOUD_INIT
            partner.save(update_fields=["kind", "base_url", "credentials_encrypted", "node_launch", "adapter_options"])
            if partner.status == PartnerStatus.PENDING:
                transition(partner, PartnerStatus.VERIFIED, reason="simulated partner (demo)", actor="setup_demo")
            if partner.status != PartnerStatus.ACTIVE:
                transition(partner, PartnerStatus.ACTIVE, reason="simulated partner (demo)", actor="setup_demo")
        bump_catalog_version()
        workspace, user = workspace_ensure(name="demo", owner_email=DEMO_EMAIL, staff=True)
        if not user.has_usable_password():
            user.set_password(DEMO_PASSWORD)
            user.is_superuser = True
            user.save()
        if not user.api_keys.filter(revoked_at__isnull=True).exists():
            _, token = api_key_create(workspace=workspace, user=user, name="demo")
            self.stdout.write(f"demo API key (shown once): {token}")
        self.stdout.write(f"dashboard: {public_url}/   login: {DEMO_EMAIL} / {DEMO_PASSWORD}")
        self.stdout.write(f"API docs:  {public_url}/api/docs/")


def _credentials(kind: str, token: str, base_url: str) -> dict[str, str]:
    """The simulator takes its token wherever the vendor takes a secret (GCP: the key id of a service account key)."""
    if kind == PartnerKind.VERDA:
        return {"client_id": "demo", "client_secret": token}
    if kind == PartnerKind.GCP:
        return {"service_account_key": service_account_key(token, base_url, project="demo-project")}
    if kind == PartnerKind.NEBIUS:
        return {"iam_token": token, "tenant_id": nebius_grpc.tenant_id("nebius")}
    if kind == PartnerKind.YOTTA:
        return {"api_key": token, "org_id": yotta_routes.org_id("yotta")}
    if kind == PartnerKind.HYPERBOLIC:  # the simulated account's own SSH key, derived as its token is
        return {"api_key": token, "ssh_private_key": account_private_key("hyperbolic")}
    if kind == PartnerKind.SEEWEB:  # the simulated account's own SSH key; its sshd listens on Seeweb's SSH_PORT
        return {"api_key": token, "ssh_private_key": account_private_key("seeweb")}
    return {"api_key": token}

