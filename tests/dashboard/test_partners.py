"""Partner administration for broker staff, against the partner simulator over real HTTP."""

import pytest
from django.test import Client

from marketplace.models import Offer, Partner, PartnerStatus
from providers.simulator import SimulatorServer
from tests.providers.nebius_keys import service_account_credentials

from .conftest import make_user

SLUG = "acme"
SEED = {SLUG: [
    {"region": "eu-central-1", "instance_type": "gpu_8x_h100_sxm5", "gpu": "H100", "gpus_per_node": 8, "vcpus": 208,
     "memory_gb": 1800, "interconnect": "infiniband", "price_per_hour": 23.92, "spot_price_per_hour": None},
    {"region": "us-east-1", "instance_type": "gpu_1x_a10", "gpu": "A10", "gpus_per_node": 1, "vcpus": 30,
     "memory_gb": 200, "interconnect": "pcie", "price_per_hour": 0.75, "spot_price_per_hour": 0.4},
]}


@pytest.fixture
def sim(tmp_path):
    server = SimulatorServer(SEED, state_path=tmp_path / "sim.sqlite3", capacity=2, random_seed=1).start()
    yield server
    server.stop()


@pytest.fixture
def ops(db) -> Client:
    user = make_user("ops@broker.test")
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


def onboard(client: Client, sim: SimulatorServer, **extra):
    data = {"kind": "partner_api", "slug": SLUG, "name": "Acme Cloud", "base_url": sim.partner_api_url(SLUG),
            "hq_country": "de", "certifications": "ISO27001, C5", "api_key": f"sim-{SLUG}", **extra}
    return client.post("/partners/new/", data)


def test_onboard_verify_sync_activate_suspend(ops, sim):
    response = onboard(ops, sim)
    partner = Partner.objects.get(slug=SLUG)
    assert response.status_code == 302
    assert (partner.status, partner.hq_jurisdiction, partner.certifications) == ("pending", "EU", ["ISO27001", "C5"])
    assert partner.credentials == {"api_key": "sim-acme"}
    assert "sim-acme" not in partner.credentials_encrypted

    page = ops.post(f"/partners/{SLUG}/verify/", follow=True).content.decode()
    assert "acme answered: 2 offers" in page and '<span class="badge state state-verified">verified</span>' in page
    page = ops.post(f"/partners/{SLUG}/sync/", follow=True).content.decode()
    assert "acme synced: 2 new" in page and Offer.objects.filter(partner__slug=SLUG).count() == 2
    ops.post(f"/partners/{SLUG}/activate/")
    assert Partner.objects.get(slug=SLUG).status == PartnerStatus.ACTIVE
    ops.post(f"/partners/{SLUG}/suspend/")
    assert Partner.objects.get(slug=SLUG).status == PartnerStatus.SUSPENDED


def test_credentials_are_never_rendered_back(ops, sim):
    response = onboard(ops, sim, base_url="", api_key="top-secret-key")  # a partner_api needs a base URL
    html = response.content.decode()
    assert response.status_code == 400 and "needs its API base URL" in html
    assert "top-secret-key" not in html and 'type="password"' in html
    onboard(ops, sim, api_key="top-secret-key")
    assert "top-secret-key" not in ops.get("/partners/").content.decode()


def test_a_wrong_key_fails_verification_and_stays_pending(ops, sim):
    onboard(ops, sim, api_key="wrong")
    page = ops.post(f"/partners/{SLUG}/verify/", follow=True).content.decode()
    assert "acme did not verify" in page
    assert Partner.objects.get(slug=SLUG).status == PartnerStatus.PENDING


def test_activating_a_pending_partner_is_refused(ops, sim):
    onboard(ops, sim)
    page = ops.post(f"/partners/{SLUG}/activate/", follow=True).content.decode()
    assert "cannot move a pending partner to active" in page
    assert Partner.objects.get(slug=SLUG).status == PartnerStatus.PENDING


def test_onboard_errors_name_the_field(ops, sim):
    onboard(ops, sim)
    html = onboard(ops, sim, hq_country="D1").content.decode()
    assert '<a href="#id_slug">Slug</a>' in html and '<a href="#id_hq_country">Headquarters country</a>' in html


@pytest.mark.parametrize("persona_name", ["owner", "viewer"])
def test_workspace_users_who_are_not_staff_are_refused(request, persona_name, sim):
    persona = request.getfixturevalue(persona_name)
    assert persona.client.get("/partners/").status_code == 403
    assert onboard(persona.client, sim).status_code == 403
    assert not Partner.objects.filter(slug=SLUG).exists()
    assert 'href="/partners/"' not in persona.client.get("/offers/").content.decode()


def test_anonymous_visitors_are_sent_to_sign_in(db):
    response = Client().get("/partners/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_google_cloud_partner_is_onboarded_with_its_service_account_key_and_verifies_through_gcp(ops, sim):
    from providers.simulator.gcp_routes import billing_url, service_account_key

    key = service_account_key(f"sim-{SLUG}", sim.gcp_url(SLUG))
    response = onboard(ops, sim, kind="gcp", api_key="", base_url=sim.gcp_url(SLUG), service_account_key=key[:-1])
    html = response.content.decode()
    assert response.status_code == 400 and "is not a JSON service account key" in html
    assert "PRIVATE KEY" not in html  # a pasted key is never sent back
    assert onboard(ops, sim, kind="gcp", api_key="", base_url=sim.gcp_url(SLUG), service_account_key=key).status_code == 302
    partner = Partner.objects.get(slug=SLUG)
    assert partner.credentials == {"service_account_key": key} and "PRIVATE KEY" not in partner.credentials_encrypted
    partner.adapter_options = {"billing_url": billing_url(sim.gcp_url(SLUG))}
    partner.save(update_fields=["adapter_options"])
    page = ops.post(f"/partners/{SLUG}/verify/", follow=True).content.decode()
    assert "acme answered: 1 offers (nvidia-h100-80gb)" in page  # GCP sells no A10: no SKU prices it
    assert "PRIVATE KEY" not in ops.get("/partners/").content.decode()


def test_a_nebius_partner_is_onboarded_with_an_iam_token_and_tenant_and_verifies_through_nebius(ops, sim):
    sim.store.seed({SLUG: [{"region": "eu-north1", "instance_type": "gpu-h100-sxm_1gpu-16vcpu-200gb", "gpu": "H100",
                            "gpus_per_node": 1, "vcpus": 16, "memory_gb": 200, "interconnect": "nvlink",
                            "price_per_hour": 2.95, "spot_price_per_hour": 1.25}]}, capacity=1)
    missing = onboard(ops, sim, kind="nebius", api_key="", base_url=sim.nebius_url(SLUG), iam_token=f"sim-{SLUG}")
    assert missing.status_code == 400 and "needs &#x27;tenant_id&#x27;" in missing.content.decode()
    assert f"sim-{SLUG}" not in missing.content.decode()  # a typed token is never sent back
    response = onboard(ops, sim, kind="nebius", api_key="", base_url=sim.nebius_url(SLUG), iam_token=f"sim-{SLUG}",
                       tenant_id=f"tenant-{SLUG}")
    assert response.status_code == 302
    partner = Partner.objects.get(slug=SLUG)
    assert partner.credentials == {"iam_token": f"sim-{SLUG}", "tenant_id": f"tenant-{SLUG}"}
    assert f"sim-{SLUG}" not in partner.credentials_encrypted
    page = ops.post(f"/partners/{SLUG}/verify/", follow=True).content.decode()
    assert "acme answered: 1 offers (gpu-h100-sxm)" in page


def test_a_nebius_partner_is_onboarded_with_a_service_account_key_the_page_never_sends_back(ops, sim):
    sim.store.seed({SLUG: [{"region": "eu-north1", "instance_type": "gpu-h100-sxm_1gpu-16vcpu-200gb", "gpu": "H100",
                            "gpus_per_node": 1, "vcpus": 16, "memory_gb": 200, "interconnect": "nvlink",
                            "price_per_hour": 2.95, "spot_price_per_hour": 1.25}]}, capacity=1)
    credentials = service_account_credentials(sim.nebius_url(SLUG), SLUG, "eu-north1")
    secret = credentials["private_key"].splitlines()[1]
    incomplete = onboard(ops, sim, kind="nebius", api_key="", base_url=sim.nebius_url(SLUG),
                         **{**credentials, "public_key_id": ""})
    page = incomplete.content.decode()
    assert incomplete.status_code == 400 and "public_key_id missing" in page and secret not in page
    response = onboard(ops, sim, kind="nebius", api_key="", base_url=sim.nebius_url(SLUG), **credentials)
    assert response.status_code == 302
    partner = Partner.objects.get(slug=SLUG)
    assert partner.credentials == {**credentials, "private_key": credentials["private_key"].strip()}
    page = ops.post(f"/partners/{SLUG}/verify/", follow=True).content.decode()
    assert "acme answered: 1 offers (gpu-h100-sxm)" in page and secret not in page


def test_a_yotta_partner_is_onboarded_with_its_api_key_and_organisation(ops, sim):
    missing = onboard(ops, sim, kind="yotta", base_url=sim.yotta_url(SLUG))
    assert missing.status_code == 400 and "needs &#x27;org_id&#x27;" in missing.content.decode()
    assert f"sim-{SLUG}" not in missing.content.decode()  # a typed key is never sent back
    assert onboard(ops, sim, kind="yotta", base_url=sim.yotta_url(SLUG), org_id=f"org-{SLUG}").status_code == 302
    partner = Partner.objects.get(slug=SLUG)
    assert partner.credentials == {"api_key": f"sim-{SLUG}", "org_id": f"org-{SLUG}"}
    assert f"org-{SLUG}" not in partner.credentials_encrypted
    page = ops.post(f"/partners/{SLUG}/verify/", follow=True).content.decode()
    assert "acme answered: 8 offers (NVIDIA_GeForce_RTX_5090_32G)" in page


def test_a_seeweb_partner_is_onboarded_with_its_api_token_and_login_key_and_verifies_through_seeweb(ops, sim):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    sim.store.seed({SLUG: [{"region": "it-fr2", "instance_type": "ECS1GPU11", "gpu": "A30", "gpus_per_node": 1,
                            "vcpus": 8, "memory_gb": 32, "interconnect": "pcie", "price_per_hour": 0.29,
                            "spot_price_per_hour": None}]}, capacity=1)
    key = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()
    refused = onboard(ops, sim, kind="seeweb", base_url=sim.seeweb_url(SLUG), ssh_private_key=key[:60])
    html = refused.content.decode()
    assert refused.status_code == 400 and "ssh_private_key: the SSH private key cannot be read" in html
    assert "PRIVATE KEY" not in html  # a pasted key is never sent back
    assert onboard(ops, sim, kind="seeweb", base_url=sim.seeweb_url(SLUG), ssh_private_key=key).status_code == 302
    partner = Partner.objects.get(slug=SLUG)
    assert partner.credentials == {"api_key": f"sim-{SLUG}", "ssh_private_key": key.strip()}
    assert "PRIVATE KEY" not in partner.credentials_encrypted
    page = ops.post(f"/partners/{SLUG}/verify/", follow=True).content.decode()
    assert "acme answered: 1 offers (A30)" in page
    assert "PRIVATE KEY" not in ops.get("/partners/").content.decode()
