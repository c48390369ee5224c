"""The Lambda adapter against the simulator's Lambda API: the awkward behaviours real Lambda has."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import requests

from marketplace.catalog.gpus import canonical_gpu
from marketplace.catalog.snapshot import load_snapshot
from providers.base import PortRule, ProviderError, ProvisionSpec
from providers.lambda_cloud import LambdaCloudAdapter, gpu_from_description
from providers.simulator.lambda_catalog import gpu_description
from tests.conftest import SHARED_CATALOG

from .conftest import SLUG, ssh_public_key

H100 = ("gpu_8x_h100_sxm5", "eu-central-1")
SNAPSHOT = Path(__file__).resolve().parents[2] / "marketplace" / "data" / "catalog_snapshot.json.gz"


@pytest.fixture
def lam(simulator, clock) -> LambdaCloudAdapter:
    adapter = LambdaCloudAdapter(base_url=simulator.lambda_url(SLUG), credentials={"api_key": f"sim-{SLUG}"},
                                 retries=2, backoff=0)
    adapter.http.sleep = clock.sleep
    return adapter


def _spec(key: str, **extra) -> ProvisionSpec:
    return ProvisionSpec(key, "rental-7", *H100, ssh_public_key=_KEY, **extra)


_KEY = ssh_public_key()


def _control(simulator, **changes) -> None:
    requests.post(f"{simulator.url}/_control/{SLUG}", json=changes, timeout=5).raise_for_status()


def _launches(simulator) -> list[int]:
    return [status for method, path, status in simulator.answers.answers if path.endswith("/launch")]


def test_back_to_back_launches_wait_out_the_rate_limit_and_launch_each_node_once(simulator, lam, clock):
    nodes = [lam.provision(_spec(f"key-{i}")) for i in range(2)]
    assert len({n.ref for n in nodes}) == 2
    assert 429 in _launches(simulator) and _launches(simulator).count(200) == 2
    assert sum(clock.slept) >= 12  # one launch per 12 s, waited on virtual time


def test_a_launch_rate_limited_past_the_adapters_patience_is_transient_not_a_failure(simulator, clock):
    impatient = LambdaCloudAdapter(base_url=simulator.lambda_url(SLUG), credentials={"api_key": f"sim-{SLUG}"},
                                   retries=0, backoff=0, rate_limit_wait_s=5)
    impatient.http.sleep = clock.sleep
    impatient.provision(_spec("first"))
    with pytest.raises(ProviderError) as caught:
        impatient.provision(_spec("second"))
    assert caught.value.kind == "transient" and not caught.value.permanent


def test_instance_boots_then_becomes_active(simulator, lam, clock):
    _control(simulator, delay_s=60)
    node = lam.provision(_spec("k"))
    assert lam.describe(node.ref).state == "pending" and lam.describe(node.ref).ip is None
    clock.sleep(61)
    active = lam.describe(node.ref)
    assert active.state == "running" and active.ip


def test_terminating_preempted_and_unhealthy_instances_are_not_live(simulator, lam, clock):
    _control(simulator, terminate_delay_s=30)
    _control(simulator, capacity=3)
    terminating, preempted, broken = (lam.provision(_spec(f"k{i}")) for i in range(3))
    lam.terminate(terminating.ref)
    _control(simulator, preempt=preempted.ref, fail=broken.ref)
    statuses = {i["id"]: i["status"] for i in lam.http.request("GET", "/instances").json()["data"]}
    assert statuses == {terminating.ref: "terminating", preempted.ref: "preempted", broken.ref: "unhealthy"}
    assert [lam.describe(n.ref).state for n in (terminating, preempted, broken)] == ["terminated", "preempted",
                                                                                     "failed"]
    assert {n.ref for n in lam.list_nodes()} == {broken.ref}
    clock.sleep(31)
    assert lam.http.request("GET", f"/instances/{terminating.ref}").json()["data"]["status"] == "terminated"


def test_a_dead_instance_with_the_same_name_is_never_returned_as_the_new_node(simulator, lam):
    first = lam.provision(_spec("same-key"))
    _control(simulator, fail=first.ref)
    again = lam.provision(_spec("same-key"))
    assert again.ref != first.ref and again.state in ("pending", "running")


def test_an_empty_terminate_list_is_accepted(simulator, lam):
    response = lam.http.request("POST", "/instance-operations/terminate", json={"instance_ids": []})
    assert response.status_code == 200 and response.json() == {"data": {"terminated_instances": []}}


def test_ports_are_opened_by_one_firewall_ruleset_reused_across_launches(simulator, lam):
    ports = (PortRule(22), PortRule(8000, "203.0.113.7/32"))
    nodes = [lam.provision(_spec(f"k{i}", ports=ports)) for i in range(2)]
    rulesets = lam.http.request("GET", "/firewall-rulesets").json()["data"]
    assert len(rulesets) == 1 and rulesets[0]["region"]["name"] == H100[1]
    assert {(r["port_range"][0], r["source_network"]) for r in rulesets[0]["rules"]} == {
        (22, "0.0.0.0/0"), (8000, "203.0.113.7/32")}
    assert sorted(rulesets[0]["instance_ids"]) == sorted(n.ref for n in nodes)
    instance = lam.http.request("GET", f"/instances/{nodes[0].ref}").json()["data"]
    assert instance["firewall_rulesets"] == [{"id": rulesets[0]["id"]}] and "endpoint" not in instance


def test_lambda_sells_no_spot_so_a_spot_launch_is_refused_and_no_offer_has_a_spot_price(simulator, lam):
    assert all(o.spot_price_per_hour is None for o in lam.list_offers())
    with pytest.raises(ProviderError) as caught:
        lam.provision(_spec("spot", spot=True))
    assert caught.value.kind == "invalid_request"
    assert _launches(simulator) == []


def _lambda_gpu_types() -> dict[str, str]:
    """Lambda's GPU instance types → the catalogue's GPU name (shared catalogue, else the bundled snapshot)."""
    if SHARED_CATALOG.is_dir():
        with (SHARED_CATALOG / "lambda" / "vms.csv").open(newline="", encoding="utf-8") as handle:
            return {r["InstanceType"]: r["AcceleratorName"] for r in csv.DictReader(handle) if r["AcceleratorName"]}
    return {o.instance_type: o.gpu for o in load_snapshot(SNAPSHOT).offers if o.partner == "lambda"}


def test_every_lambda_instance_type_gets_lambdas_own_gpu_description_and_maps_back_to_its_gpu():
    types = _lambda_gpu_types()
    descriptions = {name: gpu_description(name, "?") for name in types}
    assert {"Tesla V100 (16 GB)", "RTX 6000 (24 GB)", "H100 (80 GB SXM5)", "A100 (80 GB SXM4)"} <= set(
        descriptions.values())
    for name, gpu in types.items():
        assert descriptions[name] != "?", f"no Lambda description for {name}"
        assert canonical_gpu(gpu_from_description(descriptions[name])).name == canonical_gpu(gpu).name, name


def test_the_launch_carries_the_broker_tags_lambda_accepts(simulator, lam):
    node = lam.provision(ProvisionSpec("k", "rental-7", *H100, ssh_public_key=_KEY,
                                       tags={"gpu-broker:node": "42", "Team Name": "not a Lambda tag key"}))
    instance = lam.http.request("GET", f"/instances/{node.ref}").json()["data"]
    assert {(t["key"], t["value"]) for t in instance["tags"]} == {("gpu-broker:node", "42"),
                                                                   ("gpu-broker:rental", "rental-7")}
    assert lam.describe(node.ref).tags["gpu-broker:node"] == "42"
