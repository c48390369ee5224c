"""The Yotta-shaped simulator API judged by the transcription of Yotta's OpenAPI (docs/vendor/yotta-openapi.yaml), and
what the yotta adapter makes of it: availability, the plan as the pod's command, mapped ports, waiting on a cluster."""

import base64
import re

import pytest
import requests

from providers.base import PortRule, ProviderError, ProvisionSpec
from providers.lambda_cloud import node_name
from providers.simulator import SimulatorServer
from providers.simulator.yotta_routes import org_id, proxy_port
from providers.user_data import shell_script
from providers.yotta import YottaAdapter, init_command
from providers.yotta_catalog import YOTTA_SHAPES

from .conftest import SLUG, VENDOR_SEED, VirtualClock, eventually_status, ssh_public_key
from .test_vendor_shapes import RecordingHttp, Schemas

SHAPE = ("1x14v119g_NVIDIA_GeForce_RTX_5090_32G_SECURE", "us-east-2")
PLAN = "#cloud-config\nwrite_files:\n  - path: /etc/gpub/hello\n    content: hi\nruncmd:\n  - [echo, ok]\n"
SERVED, PUBLIC = PortRule(8000, "198.51.100.7/32"), PortRule(8888)


def _server(**options) -> SimulatorServer:
    return SimulatorServer({SLUG: VENDOR_SEED["yotta"]}, capacity=2, random_seed=3, **options).start()


@pytest.fixture
def server():
    sim = _server()
    yield sim
    sim.stop()


def _yotta(server: SimulatorServer, *, token: str = f"sim-{SLUG}") -> tuple[YottaAdapter, RecordingHttp]:
    http = RecordingHttp(server.yotta_url(SLUG), headers={"X-API-KEY": token}, retries=0)
    return YottaAdapter(credentials={"org_id": org_id(SLUG)}, http=http, poll_s=1.0), http


def _control(server: SimulatorServer, **changes) -> None:
    requests.post(f"{server.url}/_control/{SLUG}", json=changes, timeout=5).raise_for_status()


REQUESTS = {"/openapi/v1/pods/cluster/create": "ClusterCreateRequest",
            "/openapi/v1/pods/cluster/create/pod": "ClusterPodCreateRequest",
            "/openapi/v1/pods/cluster/pods/list": "ClusterNameRequest",
            "/openapi/v1/pods/cluster/release": "ClusterNameRequest"}
ANSWERS = {"/openapi/key/check": "KeyCheckResult", "/v2/vms/types": "VMTypesResult",
           "/openapi/v1/pods/cluster/create": "ClusterCreateResult", "/openapi/v1/pods/cluster/create/pod": "PodIdResult",
           "/openapi/v1/pods/cluster/pods/list": "PodListResult", "/openapi/v1/pods/cluster/release": "Result",
           "/openapi/v1/pods/list": "PodListResult"}


def test_yotta_requests_and_answers_match_the_transcribed_schema(server):
    schemas = Schemas("yotta-openapi.yaml")
    adapter, http = _yotta(server)
    assert adapter.verify() == ["NVIDIA_GeForce_RTX_5090_32G"]
    node = adapter.provision(ProvisionSpec("k", "r-1", *SHAPE, PLAN, ssh_public_key(), ports=(SERVED, PUBLIC)))
    adapter.describe(node.ref)
    adapter.list_nodes()
    adapter.terminate(node.ref)
    adapter.terminate(node.ref)
    checked = set()
    for method, path, body, response in http.exchanges:
        code = response.json()["code"]
        assert response.status_code == 200 and code in (10000, 44003), (method, path, response.text)
        if path in REQUESTS:
            schemas.validate(REQUESTS[path], body)
        name = "ClusterStatusResult" if path.startswith("/openapi/v1/pods/cluster/status/") else ANSWERS[path]
        if code == 44003:  # the create's first look for its cluster: none of that name yet
            assert path == "/openapi/v1/pods/cluster/pods/list" and response.json()["data"] is None
            name = "Result"
        schemas.validate(name, response.json())
        checked.add(name)
    assert checked == {*ANSWERS.values(), "ClusterStatusResult"}


def test_yotta_offers_are_the_catalogue_shapes_with_its_availability_flag(server):
    adapter, _ = _yotta(server)
    offers = {(o.instance_type, o.region): o for o in adapter.list_offers()}
    assert set(offers) == {(name, shape.region) for name, shape in YOTTA_SHAPES.items()}
    offer = offers[SHAPE]
    assert (offer.gpu, offer.gpus_per_node, offer.vcpus, offer.memory_gb, offer.price_per_hour) == (
        "NVIDIA_GeForce_RTX_5090_32G", 1, 14, 119, 0.65)
    assert offer.available_nodes is None and offer.spot_price_per_hour is None  # available, how many unsaid
    assert offers[("1x30v115g_NVIDIA_GeForce_RTX_5090_32G_SECURE", "us-central-2")].available_nodes is None  # unlisted
    _control(server, capacity=0)
    assert {(o.instance_type, o.region): o for o in adapter.list_offers()}[SHAPE].available_nodes == 0


def test_yotta_carries_the_plan_as_a_base64_script_the_pods_command_runs(server):
    adapter, http = _yotta(server)
    adapter.provision(ProvisionSpec("k", "r-1", *SHAPE, PLAN, ports=(SERVED,)))
    pod = next(b for m, p, b, _ in http.exchanges if p == "/openapi/v1/pods/cluster/create/pod")
    command = pod["initializationCommand"]
    encoded = re.fullmatch(r"bash -c 'mkdir -p /root && echo ([A-Za-z0-9+/=]+) \| base64 --decode > "
                           r"/root/gpub-init.sh; bash /root/gpub-init.sh; sleep infinity'", command)[1]
    assert base64.b64decode(encoded).decode() == shell_script(PLAN) and command == init_command(PLAN)
    assert pod["expose"] == [{"port": 8000, "protocol": "TCP"}, {"port": 22, "protocol": "SSH"}]


def test_yotta_reports_the_ssh_and_service_ports_at_their_mapped_outside_ports(server):
    adapter, _ = _yotta(server)
    node = adapter.provision(ProvisionSpec("k", "r-1", *SHAPE, "", ports=(PUBLIC, SERVED)))
    stored = next(n for n in server.store.list_nodes(SLUG) if n["name"] == node.ref)
    assert (node.state, node.ip, node.ssh_port, node.endpoint) == (
        "running", stored["ip"], proxy_port(stored["id"], 22), f"http://{stored['ip']}:{proxy_port(stored['id'], 8000)}")
    assert node.ssh_port != 22  # the served port comes first, before the port users reach directly (8888)


def test_yotta_waits_until_the_cluster_and_its_pod_run():
    clock = VirtualClock()
    sim = _server(clock=clock)
    try:
        _control(sim, delay_s=12)
        adapter, http = _yotta(sim)
        adapter.http.sleep = clock.sleep
        node = adapter.provision(ProvisionSpec("k", "r-1", *SHAPE, ports=(SERVED,)))
        statuses = [r.json()["data"]["status"] for m, p, _, r in http.exchanges if "/cluster/status/" in p]
        assert statuses == ["INITIALIZE"] * 12 + ["RUNNING"] and clock.slept == [1.0] * 12
        assert (node.state, node.ip, node.endpoint) == ("pending", None, None)  # the pod starts after its cluster
        clock.now += 12
        running = adapter.describe(node.ref)
        assert running.state == "running" and running.endpoint
    finally:
        sim.stop()


def test_yotta_a_cluster_that_ends_before_it_runs_is_no_capacity_and_released():
    clock = VirtualClock()
    sim = _server(clock=clock)
    try:
        _control(sim, delay_s=30)
        adapter, http = _yotta(sim)

        def broken(_seconds: float) -> None:
            node = sim.store.list_nodes(SLUG)[0]
            sim.store.fail_node(SLUG, node["id"], "insufficient system resources")

        adapter.http.sleep = broken
        with pytest.raises(ProviderError) as err:
            adapter.provision(ProvisionSpec("k", "r-1", *SHAPE))
        assert err.value.kind == "no_capacity"
        assert http.exchanges[-1][1] == "/openapi/v1/pods/cluster/release"
    finally:
        sim.stop()


def test_yotta_business_errors_come_as_codes_on_http_200_and_a_bad_key_as_401(server):
    schemas = Schemas("yotta-openapi.yaml")
    url = server.yotta_url(SLUG)
    unknown = requests.post(f"{url}/openapi/v1/pods/cluster/pods/list", json={"clusterName": "nope"},
                            headers={"X-API-KEY": f"sim-{SLUG}"}, timeout=5)
    assert (unknown.status_code, unknown.json()["code"]) == (200, 44003)
    schemas.validate("Result", unknown.json())
    denied = requests.get(f"{url}/openapi/v1/pods/list", headers={"Authorization": f"Bearer sim-{SLUG}"}, timeout=5)
    assert denied.status_code == 401
    schemas.validate("Result", denied.json())
    adapter, _ = _yotta(server)
    _control(server, capacity=0)
    with pytest.raises(ProviderError) as err:
        adapter.provision(ProvisionSpec("k", "r-1", *SHAPE))
    assert err.value.kind == "no_capacity" and "10001" in err.value.message


def test_yotta_verify_refuses_a_key_of_another_organisation(server):
    http = RecordingHttp(server.yotta_url(SLUG), headers={"X-API-KEY": f"sim-{SLUG}"}, retries=0)
    with pytest.raises(ProviderError) as err:
        YottaAdapter(credentials={"org_id": "org-other"}, http=http).verify()
    assert (err.value.kind, err.value.permanent) == ("auth_failed", True)


def test_yotta_a_cluster_left_without_a_pod_is_released_before_a_retry(server):
    adapter, http = _yotta(server)
    body = {"clusterName": "", "instanceType": SHAPE[0], "region": SHAPE[1], "imageName": "img", "nodeNum": 1}
    spec = ProvisionSpec("k", "r-1", *SHAPE)
    body["clusterName"] = node_name(spec)
    assert adapter.http.request("POST", "/openapi/v1/pods/cluster/create", json=body).json()["code"] == 10000
    with pytest.raises(ProviderError) as err:
        adapter.provision(spec)
    assert err.value.kind == "transient"
    assert server.store.list_nodes(SLUG) == []  # released: the next attempt starts clean


def test_a_yotta_pod_runs_its_command_and_serves_only_at_the_mapped_port(tmp_path):
    sim = _server(run_user_data=True, runtime_dir=tmp_path / "nodes")
    try:
        adapter, _ = _yotta(sim)
        plan = ("#cloud-config\nwrite_files:\n  - path: /opt/site/index.html\n    content: served\nruncmd:\n"
                "  - [sh, -c, 'cd /opt/site && exec python3 -m http.server $PORT --bind $NODE_HOST']\n")
        node = adapter.provision(ProvisionSpec("k", "r-1", *SHAPE, plan, ports=(SERVED,)))
        assert node.endpoint and not node.endpoint.endswith(":8000")
        assert eventually_status(f"{node.endpoint}/index.html") == 200
        assert requests.get(f"{node.endpoint}/index.html", timeout=2).text == "served"
        stored = sim.store.list_nodes(SLUG)[0]
        assert (tmp_path / "nodes" / stored["id"] / "opt/site/index.html").read_text() == "served"
        adapter.terminate(node.ref)
    finally:
        sim.stop()


def test_yotta_refuses_user_data_without_a_script_form_before_creating_anything(server):
    adapter, http = _yotta(server)
    with pytest.raises(ProviderError) as err:
        adapter.provision(ProvisionSpec("k", "r-1", *SHAPE, "#cloud-config\npackages: [htop]\n"))
    assert err.value.kind == "invalid_request" and "packages" in err.value.message
    assert server.store.list_nodes(SLUG, include_terminated=True) == []
