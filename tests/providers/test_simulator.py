"""The partner simulator: finite capacity, timestamps-driven node state, persistence and faults."""

from dataclasses import dataclass

import pytest
import requests

from marketplace.catalog.skypilot import OfferRow
from providers.base import PortRule, ProviderError, ProvisionSpec
from providers.lambda_cloud import LambdaCloudAdapter
from providers.partner_api import PartnerApiAdapter
from providers.simulator import Faults, SimulatorServer, Store
from providers.simulator.app import Request, SimulatorApp
from providers.simulator.store import group_seed

from .conftest import SEED, SLUG, eventually_status

H100 = ("gpu_8x_h100_sxm5", "eu-central-1")


def spec(key: str, user_data: str = "") -> ProvisionSpec:
    return ProvisionSpec(key, "r-1", *H100, user_data=user_data)


def partner(server: SimulatorServer) -> PartnerApiAdapter:
    return PartnerApiAdapter(base_url=server.partner_api_url(SLUG), credentials={"api_key": f"sim-{SLUG}"},
                             retries=0, backoff=0)


def h100_available(adapter: PartnerApiAdapter) -> int:
    return next(o.available_nodes for o in adapter.list_offers() if (o.instance_type, o.region) == H100)


@pytest.fixture
def server(tmp_path):
    sim = SimulatorServer(SEED, state_path=tmp_path / "sim.sqlite3", capacity=2, random_seed=1).start()
    yield sim
    sim.stop()


def test_provisioning_consumes_capacity_and_termination_returns_it(server):
    adapter = partner(server)
    node = adapter.provision(spec("a"))
    assert h100_available(adapter) == 1
    adapter.provision(spec("b"))
    assert h100_available(adapter) == 0
    with pytest.raises(ProviderError, match="no_capacity"):
        adapter.provision(spec("c"))
    adapter.terminate(node.ref)
    assert h100_available(adapter) == 1


def test_lambda_api_lists_a_region_only_while_it_has_capacity(server):
    adapter = LambdaCloudAdapter(base_url=server.lambda_url(SLUG), credentials={"api_key": f"sim-{SLUG}"})
    server.store.set_capacity(SLUG, 0, "gpu_8x_h100_sxm5")
    assert H100 not in {(o.instance_type, o.region) for o in adapter.list_offers()}
    server.store.set_capacity(SLUG, 1, "gpu_8x_h100_sxm5")
    assert H100 in {(o.instance_type, o.region) for o in adapter.list_offers()}


def test_nodes_and_capacity_survive_a_restart(tmp_path):
    path = tmp_path / "sim.sqlite3"
    first = SimulatorServer(SEED, state_path=path, capacity=2).start()
    node = partner(first).provision(spec("a"))
    requests.post(f"{first.url}/_control/{SLUG}", json={"latency_ms": 5}, timeout=5).raise_for_status()
    first.stop()
    second = SimulatorServer(SEED, state_path=path, capacity=2).start()
    try:
        adapter = partner(second)
        assert adapter.describe(node.ref).ref == node.ref
        assert h100_available(adapter) == 1
        assert adapter.provision(spec("a")).ref == node.ref
        assert second.store.faults(SLUG).latency_ms == 5
    finally:
        second.stop()


def test_node_is_pending_until_the_provisioning_delay_has_passed():
    now = [1000.0]
    sim = SimulatorServer(SEED, capacity=1, faults=Faults(delay_s=30), clock=lambda: now[0]).start()
    try:
        adapter = partner(sim)
        node = adapter.provision(spec("a"))
        assert node.state == "pending"
        now[0] += 29
        assert adapter.describe(node.ref).state == "pending"
        now[0] += 1
        assert adapter.describe(node.ref).state == "running"
    finally:
        sim.stop()


def test_capacity_error_rate_one_fails_every_launch(server):
    requests.post(f"{server.url}/_control/{SLUG}", json={"capacity_error_rate": 1}, timeout=5).raise_for_status()
    with pytest.raises(ProviderError) as err:
        partner(server).provision(spec("a"))
    assert err.value.kind == "no_capacity"


def test_error_rate_one_answers_every_call_with_503(server):
    requests.post(f"{server.url}/_control/{SLUG}", json={"error_rate": 1.0}, timeout=5).raise_for_status()
    response = requests.get(f"{server.partner_api_url(SLUG)}/v1/offers", timeout=5,
                            headers={"Authorization": f"Bearer sim-{SLUG}"})
    assert response.status_code == 503
    assert response.json()["error"]["kind"] == "transient"


def test_control_endpoint_reports_faults_and_rejects_bad_values(server):
    url = f"{server.url}/_control/{SLUG}"
    bad = requests.post(url, json={"error_rate": 2}, timeout=5)
    assert bad.status_code == 400 and "error_rate" in bad.json()["error"]["message"]
    assert requests.post(url, json={"nonsense": 1}, timeout=5).status_code == 400
    assert requests.get(f"{server.url}/_control/nobody", timeout=5).status_code == 404
    state = requests.get(url, timeout=5).json()
    assert state["faults"]["error_rate"] == 0 and state["live_nodes"] == 0


def test_create_without_idempotency_key_is_rejected(server):
    response = requests.post(f"{server.partner_api_url(SLUG)}/v1/nodes", timeout=5,
                             json={"instance_type": H100[0], "region": H100[1]},
                             headers={"Authorization": f"Bearer sim-{SLUG}"})
    assert response.status_code == 400
    assert response.json()["error"]["kind"] == "invalid_request"


@dataclass
class _Sleeps:
    calls: list

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _app(**faults) -> tuple[SimulatorApp, _Sleeps]:
    store = Store()
    store.seed(group_seed(SEED), capacity=1, faults=Faults(**faults))
    sleeps = _Sleeps([])
    return SimulatorApp(store, seed=3, sleep=sleeps), sleeps


def _get_offers(app: SimulatorApp):
    return app.dispatch(Request("GET", ["p", SLUG, "v1", "offers"], {}, {"authorization": f"Bearer sim-{SLUG}"}))


def test_latency_is_added_to_every_partner_call():
    app, sleeps = _app(latency_ms=250)
    assert _get_offers(app).status == 200
    assert sleeps.calls == [0.25]


def test_timeout_fault_holds_the_request_then_answers_504():
    app, sleeps = _app(timeout_rate=1.0, timeout_s=12)
    assert _get_offers(app).status == 504
    assert sleeps.calls == [12]


def test_the_same_random_seed_gives_the_same_faults():
    patterns = []
    for _ in range(2):
        app, _ = _app(error_rate=0.5)
        patterns.append([_get_offers(app).status for _ in range(20)])
    assert patterns[0] == patterns[1] and {200, 503} == set(patterns[0])


def test_seed_accepts_catalogue_rows_and_skips_unpriced_ones():
    rows = [OfferRow("acme", "r1", "t1", "H100", 8, 1, 1, "nvlink", 9.0, None),
            OfferRow("acme", "r1", "t1", "H100", 8, 1, 1, "nvlink", 9.5, None),
            OfferRow("acme", "r2", "t2", "L4", 1, 1, 1, "pcie", None, None)]
    assert group_seed(rows) == {"acme": [{"region": "r1", "instance_type": "t1", "gpu": "H100", "gpus_per_node": 8,
                                          "vcpus": 1.0, "memory_gb": 1.0, "interconnect": "nvlink",
                                          "price_per_hour": 9.0, "spot_price_per_hour": None}]}


def test_run_user_data_serves_on_the_node_ip_and_opened_port_and_terminate_stops_it(tmp_path):
    """Reached as a real node is: the partner's reported IP and the port the launch opened."""
    sim = SimulatorServer(SEED, capacity=2, run_user_data=True, runtime_dir=tmp_path / "nodes").start()
    adapter = partner(sim)
    try:
        serve = "#!/bin/bash\nexec python3 -m http.server $PORT --bind $NODE_HOST\n"  # booted as cloud-init would
        ports = (PortRule(22), PortRule(18000, "127.0.0.1/32"))
        nodes = [adapter.provision(ProvisionSpec(key, "r-1", *H100, user_data=serve, ports=ports)) for key in "ab"]
        assert len({n.ip for n in nodes}) == 2 and all(n.ip.startswith("127.") for n in nodes)
        assert [eventually_status(f"http://{n.ip}:18000/") for n in nodes] == [200, 200]
        adapter.terminate(nodes[0].ref)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://{nodes[0].ip}:18000/", timeout=2)
    finally:
        for node in adapter.list_nodes():  # a node outlives its API, as a real one does: end it here
            adapter.terminate(node.ref)
        sim.stop()


def test_a_spot_create_for_a_shape_not_sold_as_spot_is_refused_not_started_on_demand(server):
    adapter = partner(server)
    with pytest.raises(ProviderError) as caught:
        adapter.provision(ProvisionSpec("s", "r-1", *H100, spot=True))  # H100 lists no spot price
    assert caught.value.kind == "invalid_request" and adapter.list_nodes() == []
