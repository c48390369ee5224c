"""Serve simulated partner clouds on loopback (Partner API + Lambda-shaped API) from the catalogue."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from marketplace.catalog.skypilot import parse_catalog
from marketplace.catalog.snapshot import load_snapshot
from providers.simulator import Faults, SimulatorServer


def _rate(value: str) -> float:
    rate = float(value)
    if not 0 <= rate <= 1:
        raise ValueError(value)
    return rate


def load_seed(catalog: str | None) -> list:
    """Catalogue offer rows: from `catalog` (SkyPilot layout) or the bundled snapshot."""
    if catalog:
        return parse_catalog(catalog).offers
    if Path(settings.CATALOG_SNAPSHOT).is_file():
        return load_snapshot().offers
    return parse_catalog(settings.CATALOG_DIR).offers


class Command(BaseCommand):
    help = ("Run simulated partner clouds: /p/<slug>/v1/... (Partner API), /lambda/<slug>/api/v1/... (Lambda API), "
            "/shadeform/<slug>/v1/... (Shadeform API, X-API-KEY), /vast/<slug>/api/v0/... (Vast.ai API), "
            "/verda/<slug>/v1/... (Verda API, OAuth client secret), /hyperstack/<slug>/v1/... (Hyperstack API, api_key), "
            "/gcp/<slug>/compute/v1/... (Compute Engine, beside /gcp/<slug>/token and /gcp/<slug>/cloudbilling/v1), "
            "/lium/<slug>/api/... (Lium API, X-API-KEY), /jarvislabs/<slug>/... (JarvisLabs API), "
            "/mithril/<slug>/v2/... (Mithril API, Bearer), /yotta/<slug>/{openapi,v2}/... (Yotta API, X-API-KEY, "
            "organization org-<slug>), /hyperbolic/<slug>/v1/marketplace... (Hyperbolic API, "
            "Bearer), /seeweb/<slug>/ecs/v2/... (Seeweb ECS API, X-APITOKEN; the nodes of both: sshd on their own "
            "addresses with --run-user-data); "
            "Nebius's gRPC API on --nebius-port (tenant-<slug>, IAM token); "
            "token sim-<slug>, faults at /_control/<slug>.")

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8700)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--nebius-port", type=int, default=None,
                            help="port of the Nebius-shaped gRPC API (default: --port + 1)")
        parser.add_argument("--catalog", help="SkyPilot-layout catalogue directory (default: bundled snapshot)")
        parser.add_argument("--partners", default="", help="comma-separated slugs (default: every partner)")
        parser.add_argument("--capacity", type=int, default=4, help="nodes per offer")
        parser.add_argument("--delay", type=float, default=5.0, help="seconds a node stays pending")
        parser.add_argument("--fail-rate", type=_rate, default=0.0, help="share of launches failing for capacity")
        parser.add_argument("--error-rate", type=_rate, default=0.0, help="share of calls answered with 503")
        parser.add_argument("--timeout-rate", type=_rate, default=0.0, help="share of calls that hang, then 504")
        parser.add_argument("--latency-ms", type=float, default=0.0)
        parser.add_argument("--state", default=str(Path(settings.VAR_DIR) / "simulator.sqlite3"))
        parser.add_argument("--seed", type=int, default=None, help="random seed for the injected faults")
        parser.add_argument("--run-user-data", action="store_true",
                            help="boot each node as a simulated VM running its user_data as cloud-init would "
                                 "(systemctl/docker mapped to local processes), serving on the node's own "
                                 "loopback IP (127.x.y.z) and the port its launch opened")
        parser.add_argument("--rate-limits", action="store_true",
                            help="Lambda's documented limits on every API: 1 request/s, 1 launch per 12 s (429)")
        parser.add_argument("--preemption-rate", type=_rate, default=0.0,
                            help="share of spot nodes the partner takes back (0-1; 1 = every spot node)")
        parser.add_argument("--preemption-after-s", type=float, default=60.0,
                            help="seconds after a spot node runs that it is preempted")
        parser.add_argument("--preemption-notice-s", type=float, default=0.0,
                            help="seconds of notice before a preemption, in each API's own shape")

    def handle(self, *args, **opts):
        if min(opts["capacity"], opts["delay"], opts["latency_ms"], opts["preemption_after_s"],
               opts["preemption_notice_s"]) < 0:
            raise CommandError("--capacity, --delay, --latency-ms and the --preemption-… seconds must be >= 0")
        try:
            seed = load_seed(opts["catalog"])
        except (FileNotFoundError, OSError) as exc:
            raise CommandError(f"cannot load the catalogue: {exc}") from exc
        faults = Faults(capacity_error_rate=opts["fail_rate"], error_rate=opts["error_rate"],
                        timeout_rate=opts["timeout_rate"], latency_ms=opts["latency_ms"], delay_s=opts["delay"],
                        preemption_rate=opts["preemption_rate"], preemption_after_s=opts["preemption_after_s"],
                        preemption_notice_s=opts["preemption_notice_s"],
                        **({"request_interval_s": 1.0, "launch_interval_s": 12.0} if opts["rate_limits"] else {}))
        partners = [p.strip() for p in opts["partners"].split(",") if p.strip()]
        Path(opts["state"]).parent.mkdir(parents=True, exist_ok=True)
        server = SimulatorServer(
            seed, state_path=opts["state"], host=opts["host"], port=opts["port"], capacity=opts["capacity"],
            faults=faults, random_seed=opts["seed"], run_user_data=opts["run_user_data"], partners=partners or None,
            runtime_dir=Path(settings.VAR_DIR) / "simulator-nodes",
            nebius_port=opts["port"] + 1 if opts["nebius_port"] is None else opts["nebius_port"])
        slugs = server.store.partner_slugs()
        if partners and (missing := sorted(set(partners) - set(slugs))):
            raise CommandError(f"no catalogue offers for: {', '.join(missing)}")
        self.stdout.write(f"simulated partners on {server.url}: {', '.join(slugs)}")
        self.stdout.write(f"  Partner API {server.url}/p/<slug>   Lambda API {server.url}/lambda/<slug>/api/v1"
                          f"   Shadeform {server.url}/shadeform/<slug>/v1   Vast.ai {server.url}/vast/<slug>/api/v0"
                          f"   Hyperstack {server.url}/hyperstack/<slug>/v1   GCP {server.url}/gcp/<slug>/compute/v1"
                          f"   Lium {server.url}/lium/<slug>/api   JarvisLabs {server.url}/jarvislabs/<slug>"
                          f"   Mithril {server.url}/mithril/<slug>   Yotta {server.url}/yotta/<slug>"
                          f"   Hyperbolic {server.url}/hyperbolic/<slug>   Seeweb {server.url}/seeweb/<slug>/ecs/v2"
                          f"   Nebius (gRPC) {server.nebius.url}")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
