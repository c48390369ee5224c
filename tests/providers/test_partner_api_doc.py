"""docs/partner-api.yaml describes what the adapter sends and the simulator serves."""

from pathlib import Path

import requests
import yaml

from providers.simulator import SimulatorServer

from .conftest import SEED, SLUG

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "partner-api.yaml").read_text())


def test_published_spec_lists_the_five_partner_calls():
    operations = {(method.upper(), path) for path, item in SPEC["paths"].items() for method in item
                  if method != "parameters"}
    assert operations == {("GET", "/v1/offers"), ("POST", "/v1/nodes"), ("GET", "/v1/nodes"),
                          ("GET", "/v1/nodes/{id}"), ("DELETE", "/v1/nodes/{id}")}


def test_simulator_answers_carry_every_required_field_of_the_spec():
    schemas = SPEC["components"]["schemas"]
    server = SimulatorServer(SEED).start()
    try:
        auth = {"Authorization": f"Bearer sim-{SLUG}"}
        base = server.partner_api_url(SLUG)
        offer = requests.get(f"{base}/v1/offers", headers=auth, timeout=5).json()["offers"][0]
        node = requests.post(f"{base}/v1/nodes", headers={**auth, "Idempotency-Key": "k"}, timeout=5,
                             json={"instance_type": offer["instance_type"], "region": offer["region"]}).json()
        error = requests.get(f"{base}/v1/nodes/nope", headers=auth, timeout=5).json()
    finally:
        server.stop()
    assert set(schemas["Offer"]["required"]) <= set(offer)
    assert set(schemas["Node"]["required"]) <= set(node)
    assert error["error"]["kind"] in schemas["Error"]["properties"]["error"]["properties"]["kind"]["enum"]
