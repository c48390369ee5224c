"""The simulator's Lambda API against Lambda's published OpenAPI document (docs/vendor).

Every Lambda answer in the provider tests is also checked (the `simulator` fixture); this tour
makes sure each operation, status and error the simulator can give is among them.
"""

from __future__ import annotations

import pytest
import requests

from providers.simulator import SimulatorServer

from .conftest import LAMBDA_RATE_LIMITS, SEED, SLUG, VirtualClock, ssh_public_key
from .lambda_contract import AnswerLog, violations


@pytest.fixture
def tour():
    clock = VirtualClock()
    server = SimulatorServer(SEED, capacity=1, faults=LAMBDA_RATE_LIMITS, clock=clock).start()
    log = AnswerLog()
    log.attach(server.app)
    yield server, log, clock
    server.stop()


def test_every_lambda_answer_of_a_full_tour_conforms_to_the_published_document(tour):
    server, log, clock = tour
    base, auth = server.lambda_url(SLUG), {"Authorization": f"Bearer sim-{SLUG}"}

    def call(method: str, path: str, body=None, headers=None, wait: float = 12.0) -> requests.Response:
        clock.sleep(wait)
        return requests.request(method, base + path, json=body, headers=headers or auth, timeout=5)

    def control(**changes) -> None:
        requests.post(f"{server.url}/_control/{SLUG}", json=changes, timeout=5).raise_for_status()

    call("GET", "/instance-types")
    assert call("GET", "/instance-types", wait=0).status_code == 429  # about one request per second
    call("GET", "/ssh-keys")
    call("POST", "/ssh-keys", {"name": "k1", "public_key": ssh_public_key()})
    call("POST", "/ssh-keys", {"name": "k1", "public_key": ssh_public_key()})  # duplicate
    rules = [{"protocol": "tcp", "port_range": [8000, 8000], "source_network": "203.0.113.7/32", "description": "nim"}]
    ruleset = call("POST", "/firewall-rulesets", {"name": "r", "region": "eu-central-1", "rules": rules}).json()
    call("POST", "/firewall-rulesets", {"name": "r", "region": "eu-central-1", "rules": [{"protocol": "tcp"}]})
    call("GET", "/firewall-rulesets")
    call("GET", f"/firewall-rulesets/{ruleset['data']['id']}")
    call("GET", "/firewall-rulesets/nope")
    launch = {"region_name": "eu-central-1", "instance_type_name": "gpu_8x_h100_sxm5", "ssh_key_names": ["k1"],
              "name": "n1", "firewall_rulesets": [{"id": ruleset["data"]["id"]}]}
    control(delay_s=30, terminate_delay_s=30)
    first = call("POST", "/instance-operations/launch", launch).json()["data"]["instance_ids"][0]
    call("GET", f"/instances/{first}")  # booting
    call("POST", "/instance-operations/launch", launch)  # sold out
    call("POST", "/instance-operations/launch", {**launch, "instance_type_name": "nope"})
    call("POST", "/instance-operations/launch", {**launch, "ssh_key_names": ["nobody"]})
    call("POST", "/instance-operations/launch", {**launch, "firewall_rulesets": [{"id": "nope"}]})
    call("POST", "/instance-operations/launch", {"region_name": "eu-central-1"})
    call("GET", "/instances")  # active now
    call("GET", "/instances/" + "0" * 32)
    call("POST", "/instance-operations/terminate", {"instance_ids": []})
    call("POST", "/instance-operations/terminate", {"instance_ids": ["0" * 32]})
    call("POST", "/instance-operations/terminate", {"instance_ids": [first]})  # terminating
    call("GET", f"/instances/{first}", wait=40)  # terminated
    for fault in ("preempt", "fail"):
        node = call("POST", "/instance-operations/launch", launch).json()["data"]["instance_ids"][0]
        control(**{fault: node})
        call("GET", f"/instances/{node}")  # preempted, then unhealthy
        call("POST", "/instance-operations/terminate", {"instance_ids": [node]})
    call("GET", "/instances", headers={"Authorization": "Bearer wrong"})
    call("GET", "/no-such-thing")
    control(quota_nodes=0)
    call("POST", "/instance-operations/launch", launch)
    control(error_next=1)
    call("GET", "/instances")
    statuses = {status for _, _, status in log.answers}
    assert {200, 400, 401, 404, 429, 503} <= statuses and len(log.answers) >= 30
    assert log.problems == [], f"{log.failing} of {len(log.answers)} answers violate the document"


def test_the_validator_catches_what_the_document_forbids():
    """The check can fail: floats for integers, a missing `actions`, a null suggestion."""
    instance_type = {"name": "t", "description": "1x A10 (24 GB PCIe)", "gpu_description": "A10 (24 GB PCIe)",
                     "price_cents_per_hour": 75, "specs": {"vcpus": 30.0, "memory_gib": 200, "storage_gib": 512,
                                                           "gpus": 1}}
    assert violations("GET", "/api/v1/instance-types", 200,
                      {"data": {"t": {"instance_type": instance_type, "regions_with_capacity_available": []}}})
    instance = {"id": "i", "status": "active", "ssh_key_names": [], "file_system_names": [],
                "region": {"name": "r", "description": "r"}, "instance_type": {**instance_type, "specs": {
                    "vcpus": 30, "memory_gib": 200, "storage_gib": 512, "gpus": 1}}}
    assert violations("GET", "/api/v1/instances/{id}", 200, {"data": instance})
    assert violations("GET", "/api/v1/instances/i", 404,
                      {"error": {"code": "global/object-does-not-exist", "message": "m", "suggestion": None}})
