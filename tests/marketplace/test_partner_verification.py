"""Verification proves a partner's keys and endpoint with a live authenticated call, for every kind; a change
to what it vouched for sends an active partner back to verification."""

import pytest
import requests

from marketplace.models import Partner, PartnerStatus
from providers.simulator import SimulatorServer
from tests.marketplace.test_admin_partners import SEED, URL, _body, queued_then_done
from tests.providers.conftest import closed_port, moto_url  # noqa: F401 (fixture)


@pytest.fixture
def sim():
    server = SimulatorServer(SEED, capacity=3).start()
    yield server
    server.stop()


def _aws_body(endpoint: str, key: str = "AKIAEXAMPLEBROKER") -> dict:
    return {"slug": "aws-main", "name": "AWS", "kind": "aws", "credentials": {
        "aws_access_key_id": key, "aws_secret_access_key": "secret"},
        "adapter_options": {"endpoint_url": endpoint, "regions": ["us-east-1"], "max_attempts": 1, "timeout": 60}}


@pytest.fixture
def verify(staff, worker):
    return lambda slug: queued_then_done(staff, worker, slug, "verify")


def test_aws_verify_calls_ec2_and_passes_with_good_keys(staff, moto_url, verify):  # noqa: F811
    assert staff.client.post(URL, _aws_body(moto_url), format="json").status_code == 201
    result = verify("aws-main")
    assert result["ok"] is True and "H100" in result["gpus"], result
    assert Partner.objects.get(slug="aws-main").status == PartnerStatus.VERIFIED


def test_aws_verify_refuses_made_up_keys(staff, moto_url, verify):  # noqa: F811
    assert staff.client.post(URL, _aws_body(moto_url, key="AKIAMADEUP"), format="json").status_code == 201
    requests.post(f"{moto_url}/moto-api/reset-auth", data=b"0", timeout=5)  # moto checks keys from now on
    try:
        result = verify("aws-main")
    finally:
        requests.post(f"{moto_url}/moto-api/reset-auth", data=b"inf", timeout=5)
    assert result["ok"] is False and result["error_kind"] == "auth_failed"
    assert Partner.objects.get(slug="aws-main").status == PartnerStatus.PENDING


def test_aws_verify_fails_when_the_endpoint_does_not_answer(staff, verify):
    assert staff.client.post(URL, _aws_body(f"http://127.0.0.1:{closed_port()}"), format="json").status_code == 201
    result = verify("aws-main")
    assert result["ok"] is False and result["error_kind"] == "transient"
    assert staff.client.post(f"{URL}/aws-main/activate").status_code == 409


def _active(staff, sim, verify) -> Partner:
    assert staff.client.post(URL, _body(sim), format="json").status_code == 201
    assert verify("acme")["ok"]
    assert staff.client.post(f"{URL}/acme/activate").json()["status"] == "active"
    return Partner.objects.get(slug="acme")


@pytest.mark.parametrize("change", [
    {"kind": "lambda"}, {"base_url": "http://127.0.0.1:9/p/acme"}, {"adapter_options": {"retries": 1}},
    {"credentials": {"api_key": "another"}},
])
def test_changing_what_verification_vouched_for_sends_an_active_partner_back(staff, sim, verify, change):
    _active(staff, sim, verify)
    response = staff.client.patch(f"{URL}/acme", change, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "pending" and response.json()["verify_result"] == {}
    assert staff.client.post(f"{URL}/acme/activate").status_code == 409


def test_editing_the_description_keeps_an_active_partner_active(staff, sim, verify):
    _active(staff, sim, verify)
    assert staff.client.patch(f"{URL}/acme", {"name": "Acme Cloud", "base_url": sim.partner_api_url("acme")},
                              format="json").json()["status"] == "active"


def test_an_unknown_adapter_option_is_400_naming_the_field(staff, sim):
    response = staff.client.post(URL, _body(sim, adapter_options={"retires": 0}), format="json")
    assert response.status_code == 400
    assert "retires" in response.json()["errors"]["adapter_options"][0]


def test_credentials_in_the_base_url_are_refused(staff, sim):
    url = sim.partner_api_url("acme").replace("http://", "http://user:s3cret@")
    response = staff.client.post(URL, _body(sim, base_url=url), format="json")
    assert response.status_code == 400 and "base_url" in response.json()["errors"]
    assert "s3cret" not in response.content.decode() and not Partner.objects.filter(slug="acme").exists()
