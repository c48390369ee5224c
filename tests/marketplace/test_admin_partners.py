"""Staff partner onboarding over the API, and the offer sync from a live (simulated) partner."""

import logging

import pytest

from marketplace.models import CatalogVersion, Offer, Partner, PartnerStatus, PriceHistory, PriceStatus
from marketplace.services.partners import partner_sync
from marketplace.tasks.partners import sync_all_partners_task, sync_partner_task
from providers.simulator import SimulatorServer
from tests.providers.nebius_keys import private_key_pem, service_account_credentials

SEED = {"acme": [
    {"region": "eu-central-1", "instance_type": "8x-h100", "gpu": "H100-SXM", "gpus_per_node": 8, "vcpus": 208,
     "memory_gb": 1800, "interconnect": "infiniband", "price_per_hour": 24.0, "spot_price_per_hour": None},
    {"region": "us-east-1", "instance_type": "1x-l4", "gpu": "L4", "gpus_per_node": 1, "vcpus": 8,
     "memory_gb": 32, "interconnect": "pcie", "price_per_hour": 0.8, "spot_price_per_hour": 0.3},
    {"region": "us-east-1", "instance_type": "1x-mystery", "gpu": "Mystery-9000", "gpus_per_node": 1, "vcpus": 8,
     "memory_gb": 32, "interconnect": "pcie", "price_per_hour": 1.0, "spot_price_per_hour": None},
]}
URL = "/api/v1/admin/partners"


@pytest.fixture
def sim():
    server = SimulatorServer(SEED, capacity=3).start()
    yield server
    server.stop()


def _body(sim, **extra) -> dict:
    return {"slug": "acme", "name": "Acme GPU", "kind": "partner_api", "base_url": sim.partner_api_url("acme"),
            "credentials": {"api_key": "sim-acme"}, "hq_country": "de", "certifications": ["ISO27001"], **extra}


def queued_then_done(staff, worker, slug: str, job: str) -> dict:
    """POST verify/sync: 202 `queued` at once; the worker runs it; polling the partner shows the outcome."""
    field = {"verify": "verify_result", "sync": "sync_report"}[job]
    with worker():
        response = staff.client.post(f"{URL}/{slug}/{job}")
        assert response.status_code == 202, response.content
        assert response.json()["partner"][field]["state"] == "queued"
    polled = staff.client.get(f"{URL}/{slug}").json()[field]
    assert polled["state"] == "done"
    return polled


@pytest.fixture
def partner(staff, sim) -> Partner:
    assert staff.client.post(URL, _body(sim), format="json").status_code == 201
    return Partner.objects.get(slug="acme")


def test_only_staff_reach_the_partner_admin(owner, anon_client, staff):
    assert anon_client.get(URL).status_code == 401
    assert owner.client.get(URL).status_code == 403
    assert staff.client.get(URL).status_code == 200


def test_created_partner_is_pending_and_its_credentials_are_write_only(staff, sim):
    response = staff.client.post(URL, _body(sim), format="json")
    assert response.status_code == 201
    data = response.json()
    assert data["status"] == "pending" and data["has_credentials"] is True
    assert data["hq_country"] == "DE" and data["hq_jurisdiction"] == "EU"
    assert "credentials" not in data and "sim-acme" not in response.content.decode()
    partner = Partner.objects.get(slug="acme")
    assert "sim-acme" not in partner.credentials_encrypted and partner.credentials == {"api_key": "sim-acme"}
    assert "sim-acme" not in staff.client.get(f"{URL}/acme").content.decode()


@pytest.mark.parametrize("changes, field", [
    ({"base_url": ""}, "base_url"), ({"hq_country": "Germany"}, "hq_country"),
    ({"kind": "mainframe"}, "kind"), ({"certifications": "ISO27001"}, "certifications"),
    ({"credentials": "secret"}, "credentials"), ({"adapter_options": {"subnet": "subnet-1"}}, "adapter_options"),
])
def test_bad_partner_fields_answer_400_naming_the_field(staff, sim, changes, field):
    response = staff.client.post(URL, _body(sim, **changes), format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_verify_makes_a_live_call_and_marks_the_partner_verified(staff, partner, worker):
    result = queued_then_done(staff, worker, "acme", "verify")
    assert result["ok"] is True and result["offers"] == 3
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.VERIFIED and partner.verify_result["ok"] is True


def test_verify_with_a_wrong_key_stores_the_failure_and_stays_pending(staff, partner, worker):
    staff.client.patch(f"{URL}/acme", {"credentials": {"api_key": "wrong"}}, format="json")
    result = queued_then_done(staff, worker, "acme", "verify")
    assert result["ok"] is False and result["error_kind"] == "auth_failed"
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.PENDING


def test_verify_and_sync_answer_at_once_and_leave_the_partner_call_to_the_worker(staff, partner):
    assert staff.client.post(f"{URL}/acme/verify").json()["result"]["state"] == "queued"
    assert staff.client.post(f"{URL}/acme/sync").json()["report"]["state"] == "queued"
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.PENDING and not partner.offers.exists()  # nothing called yet


def test_sync_upserts_offers_with_canonical_gpus_and_unknown_region_countries(staff, partner, worker):
    before = CatalogVersion.objects.values_list("version", flat=True).first() or 0
    report = queued_then_done(staff, worker, "acme", "sync")
    assert report["ok"] and report["created"] == 2
    assert report["skipped"] == ["1x-mystery: unknown GPU 'Mystery-9000'"]
    h100 = Offer.objects.get(partner=partner, instance_type="8x-h100")
    assert (h100.gpu.name, h100.available_nodes, h100.country, str(h100.price_per_gpu_hour)) == ("H100", 3, "", "3.000000")
    assert h100.region.code == "eu-central-1" and h100.region.jurisdiction == ""
    assert (h100.form_factor, h100.gpu_memory_gb) == ("sxm", 80)  # the variant, read from the live offer
    assert CatalogVersion.objects.values_list("version", flat=True).first() > before
    assert PriceHistory.objects.filter(offer=h100).count() == 1


def test_resync_records_price_changes_and_removes_offers_no_longer_listed(partner, sim):
    partner_sync(partner=partner)
    sim.store.set_price("acme", "8x-h100", 20.0)
    sim.store.remove_offer("acme", "1x-l4")
    report = partner_sync(partner=partner)
    assert (report.updated, report.removed, report.price_changes) == (1, 1, 1)
    h100 = Offer.objects.get(partner=partner, instance_type="8x-h100")
    assert [str(p.price_per_hour) for p in h100.price_history.order_by("recorded_at")] == ["24.000000", "20.000000"]
    assert not Offer.objects.filter(partner=partner, instance_type="1x-l4").exists()


def test_sync_of_a_partner_that_does_not_answer_marks_its_offers_stale(partner, sim):
    partner_sync(partner=partner)
    sim.store.set_faults("acme", sim.store.faults("acme").updated({"error_rate": 1.0}))
    partner.adapter_options = {"retries": 0}
    partner.save()
    report = partner_sync(partner=partner)
    assert report.ok is False and report.error == "transient"
    partner.refresh_from_db()
    assert partner.sync_error.startswith("transient")
    assert set(Offer.objects.filter(partner=partner).values_list("price_status", flat=True)) == {PriceStatus.STALE}


def test_activate_needs_a_verified_partner_and_suspend_takes_it_off(staff, partner, worker):
    assert staff.client.post(f"{URL}/acme/activate").status_code == 409
    queued_then_done(staff, worker, "acme", "verify")
    assert staff.client.post(f"{URL}/acme/activate").json()["status"] == "active"
    assert staff.client.post(f"{URL}/acme/activate").json()["status"] == "active"
    assert staff.client.post(f"{URL}/acme/suspend").json()["status"] == "suspended"
    assert staff.client.post(f"{URL}/acme/activate").json()["status"] == "active"


def test_patch_edits_fields_but_never_the_slug(staff, partner):
    response = staff.client.patch(f"{URL}/acme", {"name": "Acme Cloud", "certifications": ["SOC2"]}, format="json")
    assert response.status_code == 200 and response.json()["certifications"] == ["SOC2"]
    assert staff.client.patch(f"{URL}/acme", {"slug": "other"}, format="json").status_code == 400
    assert staff.client.get(f"{URL}/nobody").status_code == 404


def test_sync_tasks_sync_every_verified_or_active_partner(staff, partner, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from broker.celery import app

    app.conf.task_always_eager = True
    try:
        sync_partner_task(partner.pk)
        assert Offer.objects.filter(partner=partner).count() == 2
        Partner.objects.filter(pk=partner.pk).update(status=PartnerStatus.ACTIVE)
        sim_offer = Offer.objects.get(partner=partner, instance_type="1x-l4")
        sim_offer.delete()
        sync_all_partners_task()
        assert Offer.objects.filter(partner=partner).count() == 2
    finally:
        app.conf.task_always_eager = False


@pytest.mark.parametrize("kind, credentials, message", [
    ("shadeform", None, "A partner of kind shadeform needs credentials: api_key."),
    ("vast", {"token": "x"}, "A partner of kind vast needs 'api_key'."),
    ("aws", {"api_key": "k"}, "A partner of kind aws takes no credential 'api_key'."),
    ("verda", {"api_key": "k"}, "A partner of kind verda needs 'client_secret'."),
    ("gcp", {"service_account_key": "{not json"}, "service_account_key is not a JSON service account key: paste the "
                                                  "service account's JSON key file."),
    ("gcp", {"api_key": "k"}, "A partner of kind gcp needs 'service_account_key'."),
    ("lium", {"client_id": "x"}, "A partner of kind lium takes no credential 'client_id'."),
    ("jarvislabs", {}, "A partner of kind jarvislabs needs 'api_key'."),
    ("mithril", {"api_key": "fkey_x", "project": "proj_x"}, "A partner of kind mithril takes no credential 'project'."),
    ("nebius", {"iam_token": "t"}, "A partner of kind nebius needs 'tenant_id'."),
    ("nebius", {"api_key": "k", "iam_token": "t", "tenant_id": "tenant-x"},
     "A partner of kind nebius takes no credential 'api_key'."),
    ("nebius", {"tenant_id": "tenant-x"}, "A partner of kind nebius: give an iam_token or a service account's "
                                          "service_account_id, public_key_id and private_key."),
    ("nebius", {"tenant_id": "tenant-x", "service_account_id": "serviceaccount-x", "private_key": "k"},
     "A partner of kind nebius: give an iam_token or a service account's key: public_key_id missing."),
    ("nebius", {"tenant_id": "tenant-x", "service_account_id": "serviceaccount-x", "public_key_id": "publickey-x",
                "private_key": "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----"},
     "A partner of kind nebius: private_key is not an unencrypted PEM private key."),
    ("yotta", {"api_key": "k"}, "A partner of kind yotta needs 'org_id'."),
    ("hyperbolic", {"api_key": "k"}, "A partner of kind hyperbolic needs 'ssh_private_key'."),
    ("hyperbolic", {"api_key": "k", "ssh_private_key": "not a key"}, "ssh_private_key: the SSH private key cannot be "
                                                                     "read (an unencrypted Ed25519, ECDSA or RSA key "
                                                                     "in OpenSSH or PEM form is needed)."),
    ("seeweb", {"api_key": "k"}, "A partner of kind seeweb needs 'ssh_private_key'."),
])
def test_each_kind_asks_for_exactly_its_own_credentials(staff, sim, kind, credentials, message):
    body = {k: v for k, v in _body(sim, kind=kind, credentials=credentials).items() if v is not None}
    response = staff.client.post(URL, body, format="json")
    assert response.status_code == 400
    assert message in response.json()["errors"]["credentials"]


@pytest.mark.parametrize("kind, url", [("shadeform", "shadeform_url"), ("vast", "vast_url"),
                                       ("hyperstack", "hyperstack_url"), ("lium", "lium_url"),
                                       ("mithril", "mithril_url")])
def test_a_vendor_kind_verifies_through_its_own_api_shape(staff, sim, worker, kind, url):
    body = _body(sim, kind=kind, base_url=getattr(sim, url)("acme"))
    assert staff.client.post(URL, body, format="json").status_code == 201
    result = queued_then_done(staff, worker, "acme", "verify")
    assert result["ok"] is True and result["offers"] == 3
    staff.client.patch(f"{URL}/acme", {"credentials": {"api_key": "wrong"}}, format="json")
    result = queued_then_done(staff, worker, "acme", "verify")
    assert (result["ok"], result["error_kind"]) == (False, "auth_failed")


def test_a_nebius_partner_verifies_through_the_nebius_grpc_api(staff, sim, worker):
    sim.store.seed({"acme": [{"region": "eu-north1", "instance_type": "gpu-h200-sxm_1gpu-16vcpu-200gb", "gpu": "H200",
                              "gpus_per_node": 1, "vcpus": 16, "memory_gb": 200, "interconnect": "nvlink",
                              "price_per_hour": 3.5, "spot_price_per_hour": 1.45}]}, capacity=1)
    credentials = {"iam_token": "sim-acme", "tenant_id": "tenant-acme"}
    body = _body(sim, kind="nebius", base_url=sim.nebius_url("acme"), credentials=credentials)
    response = staff.client.post(URL, body, format="json")
    assert response.status_code == 201 and "sim-acme" not in response.content.decode()
    result = queued_then_done(staff, worker, "acme", "verify")
    assert result["ok"] is True and result["offers"] == 1
    staff.client.patch(f"{URL}/acme", {"credentials": {**credentials, "iam_token": "wrong"}}, format="json")
    result = queued_then_done(staff, worker, "acme", "verify")
    assert (result["ok"], result["error_kind"]) == (False, "auth_failed")


NEBIUS_OFFER = {"region": "eu-north1", "instance_type": "gpu-h200-sxm_1gpu-16vcpu-200gb", "gpu": "H200",
                "gpus_per_node": 1, "vcpus": 16, "memory_gb": 200, "interconnect": "nvlink", "price_per_hour": 3.5,
                "spot_price_per_hour": 1.45}


def test_a_nebius_service_account_key_verifies_and_its_private_key_never_leaves_the_broker(staff, sim, worker,
                                                                                            caplog):
    caplog.set_level(logging.DEBUG)
    sim.store.seed({"acme": [NEBIUS_OFFER]}, capacity=1)
    credentials = service_account_credentials(sim.nebius_url("acme"), "acme", "eu-north1")
    secret = credentials["private_key"].splitlines()[1]
    created = staff.client.post(URL, _body(sim, kind="nebius", base_url=sim.nebius_url("acme"),
                                           credentials=credentials), format="json")
    assert created.status_code == 201
    result = queued_then_done(staff, worker, "acme", "verify")
    assert result["ok"] is True and result["offers"] == 1
    partner = Partner.objects.get(slug="acme")
    stored = {**credentials, "private_key": credentials["private_key"].strip()}  # the API trims what it is given
    assert partner.credentials == stored and secret not in partner.credentials_encrypted

    wrong = {**credentials, "private_key": private_key_pem()}  # not the key Nebius has the public half of
    patched = staff.client.patch(f"{URL}/acme", {"credentials": wrong}, format="json")
    result = queued_then_done(staff, worker, "acme", "verify")
    assert (result["ok"], result["error_kind"]) == (False, "auth_failed")
    answers = [created, patched, staff.client.get(URL), staff.client.get(f"{URL}/acme")]
    for text in [*(a.content.decode() for a in answers), caplog.text]:
        assert secret not in text and wrong["private_key"].splitlines()[1] not in text
        assert "PRIVATE KEY" not in text


def test_a_yotta_partner_verifies_with_the_key_check_of_its_organisation(staff, sim, worker):
    credentials = {"api_key": "sim-acme", "org_id": "org-acme"}
    response = staff.client.post(URL, _body(sim, kind="yotta", base_url=sim.yotta_url("acme"), credentials=credentials),
                                 format="json")
    assert response.status_code == 201 and "sim-acme" not in response.content.decode()
    result = queued_then_done(staff, worker, "acme", "verify")
    assert result["ok"] is True and result["gpus"] == ["NVIDIA_GeForce_RTX_5090_32G"] and result["offers"] == 8
    staff.client.patch(f"{URL}/acme", {"credentials": {**credentials, "org_id": "org-other"}}, format="json")
    result = queued_then_done(staff, worker, "acme", "verify")
    assert (result["ok"], result["error_kind"]) == (False, "auth_failed")
