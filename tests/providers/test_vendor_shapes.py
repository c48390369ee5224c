"""The Shadeform-, Vast-, Verda-, Hyperstack-, Google Cloud-, Lium-, JarvisLabs- and Mithril-shaped simulator APIs are judged by
the vendors' published schemas (trimmed copies, or transcriptions of the vendor's own client, in docs/vendor/), on the
requests the adapters send and the answers they get back."""

import time
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import requests
import yaml
from openapi_schema_validator import OAS30Validator

from providers.base import PortRule, ProviderError, ProvisionSpec, is_ssh_launched
from providers.gcp import GcpAdapter
from providers.http import HttpClient
from providers.hyperbolic import HyperbolicAdapter
from providers.hyperstack import HyperstackAdapter
from providers.jarvislabs import JarvisLabsAdapter
from providers.lium import LiumAdapter
from providers.mithril import MithrilAdapter
from providers.shadeform import ShadeformAdapter
from providers.simulator import Faults, SimulatorServer
from providers.simulator.gcp_routes import billing_url, service_account_key
from providers.simulator.ssh_server import account_private_key
from providers.simulator.vast_routes import host_port, vast_id
from providers.simulator.vm import DEFAULT_SERVICE_PORT
from providers.ssh_launch import deliver_plan
from providers.vast import VastAdapter, outside_ports
from providers.verda import VerdaAdapter

from .conftest import (
    SEED,
    SIM_ADAPTERS,
    SIM_OPTIONS,
    SIM_URL_OPTIONS,
    SLUG,
    VENDOR_SEED,
    eventually_status,
    ssh_public_key,
)

SHAPE = ("gpu_8x_h100_sxm5", "eu-central-1")  # the harness's default shape

VENDOR = Path(__file__).resolve().parents[2] / "docs" / "vendor"


class Schemas:
    def __init__(self, name: str):
        self.doc = yaml.safe_load((VENDOR / name).read_text())

    def validate(self, schema: str, instance: object) -> None:
        OAS30Validator({**self.doc, "$ref": f"#/components/schemas/{schema}"}).validate(instance)


class RecordingHttp(HttpClient):
    """The adapter's own HTTP client, keeping every exchange for the schema checks."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.exchanges: list[tuple[str, str, object, requests.Response]] = []

    def request(self, method, path, **kwargs):
        response = super().request(method, path, **kwargs)
        self.exchanges.append((method.upper(), path, kwargs.get("json"), response))
        return response


@pytest.fixture
def server():
    sim = SimulatorServer(SEED, capacity=2, random_seed=3).start()
    yield sim
    sim.stop()


def _shadeform(server: SimulatorServer) -> tuple[ShadeformAdapter, RecordingHttp]:
    http = RecordingHttp(server.shadeform_url(SLUG), headers={"X-API-KEY": f"sim-{SLUG}"}, retries=0)
    return ShadeformAdapter(credentials={}, http=http), http


def _vast(server: SimulatorServer) -> tuple[VastAdapter, RecordingHttp]:
    http = RecordingHttp(server.vast_url(SLUG), headers={"Authorization": f"Bearer sim-{SLUG}"}, retries=0)
    return VastAdapter(credentials={}, http=http), http


SHADEFORM_SCHEMAS = {("GET", "/instances/types"): "InstanceTypesResponse", ("GET", "/instances"): "InstancesResponse",
                     ("POST", "/instances/create"): "CreateResponse", ("GET", "/sshkeys"): "SshKeysResponse",
                     ("POST", "/sshkeys/add"): "AddSshKeyResponse"}


def test_shadeform_requests_and_answers_match_the_published_schema(server):
    schemas = Schemas("shadeform-openapi.yaml")
    adapter, http = _shadeform(server)
    adapter.list_offers()
    node = adapter.provision(ProvisionSpec("k", "r-1", "gpu_8x_h100_sxm5", "eu-central-1", "echo hi",
                                           ssh_public_key(), {"team": "ml"}))
    adapter.describe(node.ref)
    adapter.list_nodes()
    adapter.terminate(node.ref)
    checked = set()
    for method, path, body, response in http.exchanges:
        assert response.status_code == 200, (method, path, response.text)
        if (method, path) == ("POST", "/instances/create"):
            schemas.validate("CreateRequest", body)
        if (method, path) == ("POST", "/sshkeys/add"):
            schemas.validate("AddSshKeyRequest", body)
        name = "InstanceInfoResponse" if path.endswith("/info") else SHADEFORM_SCHEMAS.get((method, path))
        if name:
            schemas.validate(name, response.json())
            checked.add(name)
    assert checked == {*SHADEFORM_SCHEMAS.values(), "InstanceInfoResponse"}


def test_shadeform_carries_user_data_as_a_base64_script_launch_configuration(server):
    adapter, http = _shadeform(server)
    adapter.provision(ProvisionSpec("k", "r-1", "gpu_8x_h100_sxm5", "eu-central-1", "echo hi"))
    body = next(b for m, p, b, _ in http.exchanges if p == "/instances/create")
    assert body["launch_configuration"] == {"type": "script", "script_configuration": {"base64_script": "ZWNobyBoaQ=="}}
    assert body["cloud"] == "gpu" and body["shade_instance_type"] == "8x_h100_sxm5"
    assert "gpu-broker:rental=r-1" in body["tags"]


def test_shadeform_rejects_a_missing_api_key_with_401(server):
    response = requests.get(f"{server.shadeform_url(SLUG)}/instances", timeout=5,
                            headers={"Authorization": f"Bearer sim-{SLUG}"})
    assert response.status_code == 401


VAST_SCHEMAS = {"/bundles/": "SearchResponse", "/instances/": "InstancesResponse"}
VAST_SHAPE = ("1x-RTX_4090-16-65536", "Texas, US")


def test_vast_requests_and_answers_match_the_published_schema(server):
    schemas = Schemas("vast-openapi.yaml")
    adapter, http = _vast(server)
    adapter.list_offers()
    node = adapter.provision(ProvisionSpec("k", "r-1", *VAST_SHAPE, "echo hi"))
    adapter.describe(node.ref)
    adapter.list_nodes()
    adapter.terminate(node.ref)
    checked = set()
    for method, path, body, response in http.exchanges:
        assert response.status_code == 200, (method, path, response.text)
        if path.startswith("/asks/"):
            schemas.validate("CreateInstanceRequest", body)
            name = "CreateInstanceResponse"
        elif path == "/bundles/":
            schemas.validate("SearchRequest", body)
            name = "SearchResponse"
        elif path.startswith("/instances/") and path != "/instances/":
            name = "DestroyResponse" if method == "DELETE" else "InstanceResponse"
        else:
            name = VAST_SCHEMAS[path]
        schemas.validate(name, response.json())
        checked.add(name)
    assert checked == {"SearchResponse", "CreateInstanceResponse", "InstanceResponse", "InstancesResponse",
                       "DestroyResponse"}


def test_vast_errors_use_the_success_error_msg_envelope(server):
    schemas = Schemas("vast-openapi.yaml")
    response = requests.get(f"{server.vast_url(SLUG)}/instances/1/", timeout=5,
                            headers={"Authorization": f"Bearer sim-{SLUG}"})
    assert response.status_code == 404
    schemas.validate("ErrorResponse", response.json())


def test_vast_offers_count_rentable_hosts_and_report_the_lowest_bid(server):
    adapter, _ = _vast(server)
    offer = next(o for o in adapter.list_offers() if (o.instance_type, o.region) == VAST_SHAPE)
    assert (offer.gpu, offer.available_nodes, offer.price_per_hour, offer.spot_price_per_hour) == (
        "RTX 4090", 2, 0.42, 0.21)


def test_vast_bids_only_for_a_spot_spec_and_at_the_offers_min_bid(server):
    adapter, http = _vast(server)
    adapter.provision(ProvisionSpec("on-demand", "r-1", *VAST_SHAPE))
    adapter.provision(ProvisionSpec("spot", "r-2", *VAST_SHAPE, spot=True))
    on_demand, spot = [b for m, p, b, _ in http.exchanges if p.startswith("/asks/")]
    assert "price" not in on_demand and spot["price"] == 0.21
    bids = {i["label"]: i for i in requests.get(f"{server.vast_url(SLUG)}/instances/", timeout=5,
                                                 headers={"Authorization": f"Bearer sim-{SLUG}"}).json()["instances"]}
    assert sorted((i["is_bid"], i["dph_total"]) for i in bids.values()) == [(False, 0.42), (True, 0.21)]


def test_vast_opens_the_launch_ports_as_docker_port_options(server):
    adapter, http = _vast(server)
    node = adapter.provision(ProvisionSpec("ports", "r-1", *VAST_SHAPE, ports=(PortRule(22), PortRule(8000))))
    body = next(b for m, p, b, _ in http.exchanges if p.startswith("/asks/"))
    assert body["env"] == {"-p 22:22": "1", "-p 8000:8000": "1"}
    stored = next(n for n in server.store.list_nodes(SLUG) if str(vast_id(n["id"])) == node.ref)
    assert [p["port"] for p in stored["ports"]] == [22, 8000]


def test_a_vast_node_is_reached_at_the_outside_ports_vast_maps(server):
    """Vast maps each published port to an outside port of its own: the node's SSH port and endpoint are those."""
    adapter, _ = _vast(server)
    node = adapter.provision(ProvisionSpec("mapped", "r-1", *VAST_SHAPE, ports=(PortRule(22), PortRule(8888),
                                                                                 PortRule(8000, "10.0.0.1/32"))))
    stored = next(n for n in server.store.list_nodes(SLUG) if str(vast_id(n["id"])) == node.ref)
    assert (node.ip, node.ssh_port) == (stored["ip"], host_port(stored["id"], 22)) and node.ssh_port != 22
    assert node.endpoint == f"http://{stored['ip']}:{host_port(stored['id'], 8000)}"
    assert adapter.list_nodes() == [node]


def test_vast_outside_ports_are_read_from_dockers_bindings():
    ports = {"22/tcp": [{"HostIp": "0.0.0.0", "HostPort": "41022"}], "8000/tcp": [{"HostIp": "::", "HostPort": "41234"}],
             "8082/udp": [{"HostPort": "41082"}], "9000/tcp": None}
    assert outside_ports(ports) == {22: 41022, 8000: 41234}
    assert outside_ports(None) == {}



def test_verda_requests_and_answers_match_the_published_schema(server):
    schemas = Schemas("verda-openapi.yaml")
    http = RecordingHttp(server.verda_url(SLUG), retries=0)
    adapter = VerdaAdapter(credentials={"client_id": "broker", "client_secret": f"sim-{SLUG}"}, http=http)
    adapter.list_offers()
    key = ssh_public_key()
    adapter.provision(ProvisionSpec("k0", "r-0", "gpu_1x_a10", "us-east-1", "echo hi", key, spot=True))
    node = adapter.provision(ProvisionSpec("k", "r-1", "gpu_1x_a10", "us-east-1", "echo hi", key, spot=True))
    adapter.describe(node.ref)
    adapter.list_nodes()
    adapter.terminate(node.ref)
    checked = set()
    for method, path, body, response in http.exchanges:
        assert response.status_code in (200, 202), (method, path, response.text)
        name = {"/oauth2/token": "TokenResponse", "/instance-types": "InstanceType",
                "/instance-availability": "Availability", "/instances": "Instance", "/scripts": "Script",
                "/sshkeys": "SshKey"}.get(path)
        if path.startswith("/instances/"):
            name = "Instance"
        requests_schema = {("POST", "/oauth2/token"): "TokenRequest", ("POST", "/instances"): "DeployInstanceRequest",
                           ("PUT", "/instances"): "InstanceActionRequest"}.get((method, path))
        if requests_schema:
            schemas.validate(requests_schema, body)
            checked.add(requests_schema)
        if method != "GET" and path != "/oauth2/token":
            continue  # plain-text ids and empty 202 answers
        data = response.json()
        for item in data if isinstance(data, list) else [data]:
            schemas.validate(name, item)
        checked.add(name)
    assert checked == {"TokenRequest", "TokenResponse", "InstanceType", "Availability", "Instance", "Script",
                       "SshKey", "DeployInstanceRequest", "InstanceActionRequest"}
    deploy = next(b for m, p, b, _ in http.exchanges if (m, p) == ("POST", "/instances"))
    assert deploy["is_spot"] is True and deploy["startup_script_id"] and deploy["ssh_key_ids"]


def test_verda_capacity_and_auth_errors_use_its_code_message_body(server):
    schemas = Schemas("verda-openapi.yaml")
    bad = requests.post(f"{server.verda_url(SLUG)}/oauth2/token", timeout=5,
                        json={"grant_type": "client_credentials", "client_id": "x", "client_secret": "wrong"})
    assert bad.status_code == 401 and bad.json()["code"] == "unauthorized_request"
    schemas.validate("Error", bad.json())
    server.store.set_capacity(SLUG, 0)
    adapter = VerdaAdapter(base_url=server.verda_url(SLUG), retries=0,
                           credentials={"client_id": "broker", "client_secret": f"sim-{SLUG}"})
    assert adapter.list_offers() == []
    with pytest.raises(ProviderError) as err:
        adapter.provision(ProvisionSpec("k", "r-1", "gpu_1x_a10", "us-east-1"))
    assert err.value.kind == "no_capacity" and "Not enough resources" in err.value.message


HYPERSTACK_SHAPE = ("n3-A100x1", "CANADA-1")
HYPERSTACK_ANSWERS = {("GET", "/core/flavors"): "FlavorListResponse", ("GET", "/core/environments"): "Environments",
                      ("POST", "/core/environments"): "Environment", ("GET", "/core/keypairs"): "Keypairs",
                      ("POST", "/core/keypairs"): "ImportKeypairResponse", ("GET", "/core/virtual-machines"): "Instances",
                      ("POST", "/core/virtual-machines"): "CreateInstancesResponse"}
HYPERSTACK_REQUESTS = {("POST", "/core/environments"): "CreateEnvironment",
                       ("POST", "/core/keypairs"): "ImportKeypairPayload",
                       ("POST", "/core/virtual-machines"): "CreateInstancesPayload"}


def _hyperstack(server: SimulatorServer) -> tuple[HyperstackAdapter, RecordingHttp]:
    server.store.seed({SLUG: VENDOR_SEED["hyperstack"]}, capacity=2)
    http = RecordingHttp(server.hyperstack_url(SLUG), headers={"api_key": f"sim-{SLUG}"}, retries=0)
    return HyperstackAdapter(credentials={}, http=http), http


def test_hyperstack_requests_and_answers_match_the_published_schema(server):
    schemas = Schemas("hyperstack-openapi.yaml")
    adapter, http = _hyperstack(server)
    adapter.list_offers()
    spec = ProvisionSpec("k", "r-1", *HYPERSTACK_SHAPE, "echo hi", ssh_public_key(), {"team": "ml"},
                         ports=(PortRule(22), PortRule(8000, "10.0.0.0/8")))
    node = adapter.provision(spec)
    assert adapter.provision(spec).ref == node.ref
    adapter.describe(node.ref)
    adapter.list_nodes()
    adapter.terminate(node.ref)
    checked = set()
    for method, path, body, response in http.exchanges:
        assert response.status_code == 200, (method, path, response.text)
        if name := HYPERSTACK_REQUESTS.get((method, path)):
            schemas.validate(name, body)
            checked.add(name)
        if path == "/pricebook":
            for row in response.json():
                schemas.validate("PricebookModel", row)
            checked.add("PricebookModel")
            continue
        if path.startswith("/core/virtual-machines/"):
            name = "CommonResponseModel" if method == "DELETE" else "Instance"
        else:
            name = HYPERSTACK_ANSWERS[(method, path)]
        schemas.validate(name, response.json())
        checked.add(name)
    assert checked == {*HYPERSTACK_ANSWERS.values(), *HYPERSTACK_REQUESTS.values(), "PricebookModel", "Instance",
                       "CommonResponseModel"}
    create = next(b for m, p, b, _ in http.exchanges if (m, p) == ("POST", "/core/virtual-machines"))
    assert create["environment_name"] == "gpub-canada-1" and create["user_data"] == "echo hi"
    assert "gpu-broker:rental=r-1" in create["labels"] and create["assign_floating_ip"] is True
    assert [(r["port_range_min"], r["remote_ip_prefix"]) for r in create["security_rules"]] == [
        (22, "0.0.0.0/0"), (8000, "10.0.0.0/8")]


def test_hyperstack_prices_a_flavor_from_the_pricebook_and_reports_stock(server):
    adapter, _ = _hyperstack(server)
    offer = next(o for o in adapter.list_offers() if (o.instance_type, o.region) == HYPERSTACK_SHAPE)
    assert (offer.gpu, offer.gpus_per_node, offer.price_per_hour, offer.available_nodes) == ("A100-80G-PCIe", 1, 1.35,
                                                                                              None)
    server.store.set_capacity(SLUG, 0, "n3-A100x1")
    offer = next(o for o in adapter.list_offers() if (o.instance_type, o.region) == HYPERSTACK_SHAPE)
    assert offer.available_nodes == 0


@pytest.mark.parametrize("arrange, status, kind", [
    ({"capacity": 0}, 400, "no_capacity"), ({"quota_nodes": 0}, 403, "quota_exceeded")])
def test_hyperstack_errors_use_its_status_message_error_reason_envelope(server, arrange, status, kind):
    schemas = Schemas("hyperstack-openapi.yaml")
    adapter, http = _hyperstack(server)
    requests.post(f"{server.url}/_control/{SLUG}", json=arrange, timeout=5).raise_for_status()
    with pytest.raises(ProviderError) as err:
        adapter.provision(ProvisionSpec("k", "r-1", *HYPERSTACK_SHAPE, "", ssh_public_key()))
    assert err.value.kind == kind
    answer = http.exchanges[-1][3]
    assert answer.status_code == status
    schemas.validate("ErrorResponseModel", answer.json())
    unauthorized = requests.get(f"{server.hyperstack_url(SLUG)}/core/flavors", timeout=5,
                                headers={"Authorization": f"Bearer sim-{SLUG}"})
    assert unauthorized.status_code == 401 and unauthorized.json()["error_reason"] == "unauthorized"
    schemas.validate("ErrorResponseModel", unauthorized.json())


GCP_SHAPE = ("a2-highgpu-1g", "us-central1")


class RecordingSession(requests.Session):
    """Every exchange of every client sharing this session (GCP: Compute, Billing and the token endpoint)."""

    def __init__(self):
        super().__init__()
        self.exchanges: list[tuple[str, str, object, requests.Response]] = []

    def request(self, method, url, **kwargs):
        response = super().request(method, url, **kwargs)
        self.exchanges.append((method.upper(), url, kwargs.get("json", kwargs.get("data")), response))
        return response


def _gcp(server: SimulatorServer, token: str = f"sim-{SLUG}") -> tuple[GcpAdapter, RecordingSession]:
    server.store.seed({SLUG: VENDOR_SEED["gcp"]}, capacity=2)
    session = RecordingSession()
    url = server.gcp_url(SLUG)
    http = HttpClient(url, retries=0, session=session)
    adapter = GcpAdapter(credentials={"service_account_key": service_account_key(token, url)},
                         billing_url=billing_url(url), http=http)
    return adapter, session


def _gcp_answer_schema(method: str, url: str) -> str:
    path = url.split("?")[0]
    if path.endswith("/token"):
        return "TokenResponse"
    if path.endswith("/skus"):
        return "ListSkusResponse"
    if "/aggregated/" in path:
        return "MachineTypeAggregatedList" if path.endswith("machineTypes") else "InstanceAggregatedList"
    if "/firewalls" in path:
        return "Operation" if method == "POST" else "Firewall"
    if path.endswith("/instances") or "/operations/" in path or method == "DELETE":
        return "Operation"
    return "Instance"


def test_gcp_requests_and_answers_match_the_published_schema(server):
    schemas = Schemas("gcp-compute-openapi.yaml")
    adapter, session = _gcp(server)
    adapter.list_offers()
    spec = ProvisionSpec("k", "r-1", *GCP_SHAPE, "#cloud-config\n", ssh_public_key(), {"team": "ML", "gpu-broker:node": "7"},
                         spot=True, ports=(PortRule(22), PortRule(8000)))
    node = adapter.provision(spec)
    assert adapter.provision(spec).ref == node.ref
    adapter.describe(node.ref)
    adapter.list_nodes()
    adapter.terminate(node.ref)
    checked = set()
    for method, url, body, response in session.exchanges:
        if (method, response.status_code) == ("GET", 404) and "/firewalls/" in url:
            schemas.validate("ErrorResponse", response.json())  # the rule is made on first use
            continue
        assert response.status_code == 200, (method, url, response.text)
        name = _gcp_answer_schema(method, url)
        schemas.validate(name, response.json())
        checked.add(name)
        if url.endswith("/token"):
            schemas.validate("TokenRequest", dict(parse_qsl(body)))
        elif method == "POST" and url.split("?")[0].endswith("/instances"):
            schemas.validate("InstanceInsert", body)
            insert = body
        elif method == "POST" and url.endswith("/firewalls"):
            schemas.validate("Firewall", body)
            checked.add("Firewall")
    assert checked == {"TokenResponse", "ListSkusResponse", "MachineTypeAggregatedList", "InstanceAggregatedList",
                       "Operation", "Firewall", "Instance"}
    assert insert["scheduling"] == {"provisioningModel": "SPOT", "instanceTerminationAction": "DELETE",
                                    "onHostMaintenance": "TERMINATE", "automaticRestart": False}
    assert insert["labels"] == {"team": "ml", "gpu-broker_node": "7", "gpu-broker_rental": "r-1"}
    assert {"key": "user-data", "value": "#cloud-config\n"} in insert["metadata"]["items"]
    assert node.tags["gpu-broker:rental"] == "r-1" and node.spot and node.region == "us-central1"


def test_gcp_prices_a_machine_type_from_its_core_ram_and_gpu_skus(server):
    adapter, _ = _gcp(server)
    offer = next(o for o in adapter.list_offers() if (o.instance_type, o.region) == GCP_SHAPE)
    assert (offer.gpu, offer.gpus_per_node, offer.vcpus, offer.memory_gb) == ("nvidia-tesla-a100", 1, 12, 85)
    assert (offer.price_per_hour, offer.spot_price_per_hour, offer.available_nodes) == (3.67339, 1.80385, None)


def test_gcp_launch_tries_each_zone_and_reports_zone_resource_pool_exhausted(server):
    adapter, session = _gcp(server)
    server.store.set_capacity(SLUG, 0, "a2-highgpu-1g")
    with pytest.raises(ProviderError) as err:
        adapter.provision(ProvisionSpec("k", "r-1", *GCP_SHAPE))
    assert err.value.kind == "no_capacity" and "ZONE_RESOURCE_POOL_EXHAUSTED" in err.value.message
    inserts = [(url, r.json()) for m, url, _, r in session.exchanges if m == "POST" and url.endswith("/instances")]
    assert [url.split("/zones/")[1].split("/")[0] for url, _ in inserts] == ["us-central1-a", "us-central1-b"]
    for _, operation in inserts:
        Schemas("gcp-compute-openapi.yaml").validate("Operation", operation)
        assert operation["error"]["errors"][0]["code"] == "ZONE_RESOURCE_POOL_EXHAUSTED"


def test_gcp_quota_and_bad_keys_are_told_apart(server):
    adapter, _ = _gcp(server)
    requests.post(f"{server.url}/_control/{SLUG}", json={"quota_nodes": 0}, timeout=5).raise_for_status()
    with pytest.raises(ProviderError) as err:
        adapter.provision(ProvisionSpec("k", "r-1", *GCP_SHAPE))
    assert err.value.kind == "quota_exceeded" and "QUOTA_EXCEEDED" in err.value.message
    wrong, session = _gcp(server, token="revoked-key")
    with pytest.raises(ProviderError) as err:
        wrong.list_nodes()
    assert (err.value.kind, err.value.permanent) == ("auth_failed", True)
    Schemas("gcp-compute-openapi.yaml").validate("TokenError", session.exchanges[-1][3].json())
    answer = requests.get(f"{server.gcp_url(SLUG)}/projects/p/aggregated/instances", timeout=5,
                          headers={"Authorization": "Bearer not-a-token"})
    assert answer.status_code == 401
    Schemas("gcp-compute-openapi.yaml").validate("ErrorResponse", answer.json())


LIUM_SHAPE = ("RTX4090_1x", "US")


def _lium(server: SimulatorServer) -> tuple[LiumAdapter, RecordingHttp]:
    http = RecordingHttp(server.lium_url(SLUG), headers={"X-API-KEY": f"sim-{SLUG}"}, retries=0)
    return LiumAdapter(credentials={}, http=http), http


def test_lium_requests_and_answers_match_the_transcribed_schema(server):
    schemas = Schemas("lium-openapi.yaml")
    adapter, http = _lium(server)
    adapter.list_offers()
    node = adapter.provision(ProvisionSpec("k", "r-1", *LIUM_SHAPE, "echo hi", ssh_public_key(),
                                           ports=(PortRule(8000),)))
    adapter.provision(ProvisionSpec("k2", "r-2", *LIUM_SHAPE, "echo hi", spot=True, ports=(PortRule(8000),)))
    adapter.describe(node.ref)
    adapter.list_nodes()
    adapter.terminate(node.ref)
    checked = set()
    for method, path, body, response in http.exchanges:
        assert response.status_code == 200, (method, path, response.text)
        if path.endswith("/rent"):
            schemas.validate("RentRequest", body)
            name = "RentResponse"
        elif (method, path) == ("POST", "/templates"):
            schemas.validate("TemplateCreate", body)
            name = "Template"
        elif path.startswith("/pods/"):
            if method == "DELETE":
                continue
            name = "Pod"
        else:
            name = {"/executors": "Executor", "/pods": "Pod", "/templates": "Template"}[path]
        data = response.json()
        for item in data if isinstance(data, list) else [data]:
            schemas.validate(name, item)
        checked.add(name)
    assert checked == {"Executor", "RentResponse", "Template", "Pod"}
    assert [p for m, p, _, _ in http.exchanges].count("/templates") == 3  # the second launch reuses the template


def test_lium_carries_user_data_and_ports_in_a_private_template(server):
    adapter, http = _lium(server)
    node = adapter.provision(ProvisionSpec("k", "r-1", *LIUM_SHAPE, "echo hi", ports=(PortRule(8000),)))
    template = next(b for m, p, b, _ in http.exchanges if (m, p) == ("POST", "/templates"))
    assert (template["startup_commands"], template["internal_ports"], template["is_private"]) == (
        "echo hi", [22, 8000], True)
    stored = server.store.get_node(SLUG, node.ref)
    assert stored["user_data"] == "echo hi" and [p["port"] for p in stored["ports"]] == [22, 8000]


def test_lium_rents_spot_only_from_the_spot_tier_and_prices_it(server):
    adapter, _ = _lium(server)
    offer = next(o for o in adapter.list_offers() if (o.instance_type, o.region) == LIUM_SHAPE)
    assert (offer.gpu, offer.available_nodes, offer.price_per_hour, offer.spot_price_per_hour) == (
        "RTX 4090", 2, 0.35, 0.2)
    spot = adapter.provision(ProvisionSpec("s", "r-1", *LIUM_SHAPE, spot=True))
    on_demand = adapter.provision(ProvisionSpec("o", "r-2", *LIUM_SHAPE))
    assert (adapter.describe(spot.ref).spot, adapter.describe(on_demand.ref).spot) == (True, False)


def test_lium_errors_use_fastapis_detail_body(server):
    schemas = Schemas("lium-openapi.yaml")
    response = requests.get(f"{server.lium_url(SLUG)}/pods/nope", timeout=5, headers={"X-API-KEY": f"sim-{SLUG}"})
    assert response.status_code == 404
    schemas.validate("Error", response.json())
    denied = requests.get(f"{server.lium_url(SLUG)}/pods", timeout=5, headers={"Authorization": f"Bearer sim-{SLUG}"})
    assert denied.status_code == 401 and "detail" in denied.json()
    server.store.set_capacity(SLUG, 0)
    adapter, _ = _lium(server)
    with pytest.raises(ProviderError) as err:
        adapter.provision(ProvisionSpec("k", "r-1", *LIUM_SHAPE))
    assert err.value.kind == "no_capacity"


JARVISLABS_SHAPE = ("1x_L4_28V_124G", "IN2")


def _jarvislabs(server: SimulatorServer) -> tuple[JarvisLabsAdapter, RecordingHttp]:
    http = RecordingHttp(server.jarvislabs_url(SLUG), headers={"Authorization": f"Bearer sim-{SLUG}"}, retries=0)
    return JarvisLabsAdapter(credentials={}, http=http), http


def test_jarvislabs_requests_and_answers_match_the_transcribed_schema(server):
    schemas = Schemas("jarvislabs-openapi.yaml")
    adapter, http = _jarvislabs(server)
    adapter.list_offers()
    node = adapter.provision(ProvisionSpec("k", "r-1", *JARVISLABS_SHAPE, "echo hi", ssh_public_key(),
                                           ports=(PortRule(22), PortRule(8000))))
    adapter.describe(node.ref)
    adapter.list_nodes()
    adapter.terminate(node.ref)
    checked = set()
    names = {("GET", "misc/server_meta"): "ServerMetaResponse", ("GET", "users/fetch"): "InstanceListResponse",
             ("GET", "scripts/"): "ScriptsResponse", ("POST", "misc/destroy"): "SuccessResponse",
             ("POST", "ssh/"): "SuccessResponse", ("POST", "templates/pytorch/create"): "CreateResponse"}
    for method, path, body, response in http.exchanges:
        assert response.status_code == 200, (method, path, response.text)
        if (method, path) == ("POST", "templates/pytorch/create"):
            schemas.validate("CreateRequest", body)
        if (method, path) == ("POST", "ssh/"):
            schemas.validate("AddSSHKeyRequest", body)
        if (method, path) == ("GET", "ssh/"):
            for key in response.json():
                schemas.validate("SSHKey", key)
            continue
        name = "InstanceResponse" if path.startswith("users/fetch/") else names.get((method, path))
        if name:
            schemas.validate(name, response.json())
            checked.add(name)
    assert checked == {*names.values(), "InstanceResponse"}
    create = next(b for m, p, b, _ in http.exchanges if p.endswith("/create"))
    assert (create["http_ports"], create["is_spot"], len(create["name"]) <= 40) == ("8000", False, True)


def test_jarvislabs_uploads_the_user_data_once_as_a_startup_script(server):
    adapter, http = _jarvislabs(server)
    first = adapter.provision(ProvisionSpec("a", "r-1", *JARVISLABS_SHAPE, "echo hi"))
    adapter.provision(ProvisionSpec("b", "r-2", *JARVISLABS_SHAPE, "echo hi"))
    assert [p for m, p, _, _ in http.exchanges if m == "POST"].count("scripts/add") == 1
    assert {n["user_data"] for n in server.store.list_nodes(SLUG)} == {"echo hi"}
    assert adapter.describe(first.ref).state in ("pending", "running")


def test_jarvislabs_offers_every_node_size_from_the_free_devices(server):
    adapter, _ = _jarvislabs(server)
    offers = {(o.instance_type, o.region): o for o in adapter.list_offers() if o.region == "IN2"}
    assert set(offers) == {("1x_L4_28V_124G", "IN2"), ("2x_L4_56V_248G", "IN2"), ("4x_L4_112V_496G", "IN2"),
                           ("8x_L4_224V_992G", "IN2")}
    one = offers[JARVISLABS_SHAPE]
    assert (one.gpu, one.available_nodes, one.price_per_hour, one.spot_price_per_hour) == ("L4", 2, 0.44, 0.22)
    assert offers[("2x_L4_56V_248G", "IN2")].available_nodes == 1


def test_jarvislabs_refuses_a_create_with_success_false_and_errors_with_detail(server):
    schemas = Schemas("jarvislabs-openapi.yaml")
    response = requests.get(f"{server.jarvislabs_url(SLUG)}/users/fetch/1", timeout=5,
                            headers={"Authorization": f"Bearer sim-{SLUG}"})
    assert response.status_code == 404
    schemas.validate("Error", response.json())
    server.store.set_capacity(SLUG, 0)
    adapter, http = _jarvislabs(server)
    with pytest.raises(ProviderError) as err:
        adapter.provision(ProvisionSpec("k", "r-1", *JARVISLABS_SHAPE))
    refused = http.exchanges[-1][3]
    assert refused.status_code == 200 and refused.json()["success"] is False
    assert err.value.kind == "no_capacity" and "No free L4 GPUs in IN2" in err.value.message


@pytest.mark.parametrize("url_of, headers", [
    ("lium_url", {"X-API-KEY": f"sim-{SLUG}"}), ("jarvislabs_url", {"Authorization": f"Bearer sim-{SLUG}"})])
def test_lium_and_jarvislabs_rate_limits_answer_429_with_retry_after_in_their_detail_body(server, url_of, headers):
    server.store.set_faults(SLUG, Faults(request_interval_s=60.0))
    path = "/pods" if url_of == "lium_url" else "/users/fetch"
    first = requests.get(f"{getattr(server, url_of)(SLUG)}{path}", headers=headers, timeout=5)
    limited = requests.get(f"{getattr(server, url_of)(SLUG)}{path}", headers=headers, timeout=5)
    assert first.status_code == 200
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0 and "detail" in limited.json()


MITHRIL_SHAPE = ("h100-80gb.sxm.8x", "us-central2-a")
MITHRIL_SCHEMAS = {"/v2/projects": "ProjectModel", "/v2/instance-types": "InstanceTypeModel",
                   "/v2/spot/availability": "AuctionModel", "/v2/spot/bids": "GetBidsResponse",
                   "/v2/instances": "GetInstancesResponse", "/v2/ssh-keys": "NewSshKeyModel"}


def _mithril(server: SimulatorServer) -> tuple[MithrilAdapter, RecordingHttp]:
    server.store.seed({SLUG: VENDOR_SEED["mithril"]}, capacity=2)
    http = RecordingHttp(server.mithril_url(SLUG), headers={"Authorization": f"Bearer sim-{SLUG}"}, retries=0)
    return MithrilAdapter(credentials={}, http=http), http


def _mithril_spec(key: str = "k", **fields) -> ProvisionSpec:
    return ProvisionSpec(key, "r-1", *MITHRIL_SHAPE, "echo hi", spot=True, **fields)


def test_mithril_requests_and_answers_match_the_published_schema(server):
    schemas = Schemas("mithril-openapi.yaml")
    adapter, http = _mithril(server)
    adapter.list_offers()
    node = adapter.provision(_mithril_spec(ssh_public_key=ssh_public_key()))
    adapter.provision(_mithril_spec())  # found by its name: no second bid
    adapter.describe(node.ref)
    adapter.list_nodes()
    adapter.terminate(node.ref)
    checked = set()
    for method, path, body, response in http.exchanges:
        if method == "DELETE":
            assert response.status_code == 204
            continue
        if method == "POST":
            request, name = {"/v2/spot/bids": ("CreateBidRequest", "BidModel"),
                             "/v2/ssh-keys": ("CreateSshKeyRequest", "CreatedSshKeyModel")}[path]
            schemas.validate(request, body)
            assert response.status_code == 201, response.text
        else:
            assert response.status_code == 200, (path, response.text)
            name = "BidModel" if path.startswith("/v2/spot/bids/") else MITHRIL_SCHEMAS[path]
        data = response.json()
        for item in data if isinstance(data, list) else [data]:
            schemas.validate(name, item)
        checked.add(name)
    assert checked == {*MITHRIL_SCHEMAS.values(), "BidModel", "CreatedSshKeyModel"}
    assert [p for m, p, _, _ in http.exchanges if m == "POST"] == ["/v2/ssh-keys", "/v2/spot/bids"]


def test_mithril_offers_are_spot_prices_only_and_a_bid_is_at_the_auction_price_with_the_user_data(server):
    adapter, http = _mithril(server)
    offer = next(o for o in adapter.list_offers() if (o.instance_type, o.region) == MITHRIL_SHAPE)
    assert (offer.gpu, offer.gpus_per_node, offer.price_per_hour, offer.spot_price_per_hour,
            offer.available_nodes, offer.interconnect) == ("H100", 8, None, 8.0, 2, "infiniband")
    node = adapter.provision(_mithril_spec())
    bid = next(b for m, p, b, _ in http.exchanges if (m, p) == ("POST", "/v2/spot/bids"))
    assert (bid["limit_price"], bid["instance_quantity"], bid["launch_specification"]["startup_script"]) == (
        "$8.00", 1, "echo hi")
    assert bid["name"].startswith("gpub-r-1-") and node.rental_id == "r-1" and node.spot
    assert server.store.get_node(SLUG, node.ref.removeprefix("bid_"))["user_data"] == "echo hi"


def test_mithril_refuses_an_on_demand_launch_without_bidding(server):
    adapter, http = _mithril(server)
    with pytest.raises(ProviderError) as err:
        adapter.provision(ProvisionSpec("k", "r-1", *MITHRIL_SHAPE, "echo hi"))
    assert err.value.kind == "invalid_request" and http.exchanges == []


def test_mithril_a_bid_whose_instance_is_taken_back_reads_preempted(server):
    schemas = Schemas("mithril-openapi.yaml")
    adapter, http = _mithril(server)
    node = adapter.provision(_mithril_spec())
    server.app.preempt(SLUG, node.ref.removeprefix("bid_"))
    assert adapter.describe(node.ref).state == "preempted"
    last = {p: r.json() for m, p, _, r in http.exchanges}
    bid, instances = last[f"/v2/spot/bids/{node.ref}"], last["/v2/instances"]
    assert bid["status"] == "Open" and instances["data"][0]["status"] == "STATUS_PREEMPTED"
    schemas.validate("BidModel", bid)
    assert [n.state for n in adapter.list_nodes()] == ["preempted"]  # still a live bid: the broker cancels it
    adapter.terminate(node.ref)
    assert adapter.list_nodes() == []


def test_mithril_errors_use_fastapis_detail_body_and_no_capacity_places_no_bid(server):
    schemas = Schemas("mithril-openapi.yaml")
    adapter, http = _mithril(server)
    headers = {"Authorization": f"Bearer sim-{SLUG}"}
    missing = requests.get(f"{server.mithril_url(SLUG)}/v2/spot/bids/bid_nope", headers=headers, timeout=5)
    assert missing.status_code == 404
    schemas.validate("Error", missing.json())
    invalid = requests.post(f"{server.mithril_url(SLUG)}/v2/spot/bids", json={"name": "x"}, headers=headers, timeout=5)
    assert invalid.status_code == 422
    schemas.validate("HTTPValidationError", invalid.json())
    denied = requests.get(f"{server.mithril_url(SLUG)}/v2/projects", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert denied.status_code == 401 and "detail" in denied.json()
    server.store.set_capacity(SLUG, 0)
    with pytest.raises(ProviderError) as err:
        adapter.provision(_mithril_spec())
    assert err.value.kind == "no_capacity" and not [p for m, p, _, _ in http.exchanges if m == "POST"]


def test_mithril_rate_limit_answers_429_with_retry_after_in_its_detail_body(server):
    server.store.set_faults(SLUG, Faults(request_interval_s=60.0))
    url, headers = f"{server.mithril_url(SLUG)}/v2/projects", {"Authorization": f"Bearer sim-{SLUG}"}
    first = requests.get(url, headers=headers, timeout=5)
    limited = requests.get(url, headers=headers, timeout=5)
    assert first.status_code == 200
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0 and "detail" in limited.json()


def _nebius_credentials() -> dict:
    return {"iam_token": f"sim-{SLUG}", "tenant_id": f"tenant-{SLUG}"}


def test_the_nebius_simulator_serves_each_method_with_the_request_and_answer_types_of_the_nebius_protos():
    """The protos (github.com/nebius/api, as compiled into the SDK's descriptor registry) are Nebius's schema."""
    from providers.simulator.nebius_grpc import METHODS, REGISTRY

    for service, method, _, request_type, response_type in METHODS:
        descriptor = REGISTRY.service_descriptor(service).methods_by_name[method]
        assert descriptor.input_type.full_name == request_type.get_descriptor().full_name, (service, method)
        assert descriptor.output_type.full_name == response_type.get_descriptor().full_name, (service, method)


def test_nebius_capacity_quota_and_rate_limits_are_resource_exhausted_told_apart_by_service_error_details(server):
    from providers.nebius import NebiusAdapter

    server.store.seed({SLUG: VENDOR_SEED["nebius"]}, capacity=1)
    adapter = NebiusAdapter(base_url=server.nebius_url(SLUG), credentials=_nebius_credentials(), retries=0)
    spec = ProvisionSpec("k", "rental-1", "gpu-h100-sxm_1gpu-16vcpu-200gb", "eu-north1", "echo ok")
    for changes, kind in (({"capacity": 0}, "no_capacity"), ({"capacity": 1, "quota_nodes": 0}, "quota_exceeded")):
        requests.post(f"{server.url}/_control/{SLUG}", json=changes, timeout=5).raise_for_status()
        with pytest.raises(ProviderError) as caught:
            adapter.provision(spec)
        assert caught.value.kind == kind
    requests.post(f"{server.url}/_control/{SLUG}", json={"quota_nodes": None, "request_interval_s": 3600},
                  timeout=5).raise_for_status()
    slept: list[float] = []
    limited = NebiusAdapter(base_url=server.nebius_url(SLUG), credentials=_nebius_credentials(),
                            rate_limit_wait_s=3, retries=0, sleep=slept.append)
    with pytest.raises(ProviderError) as caught:  # the first call passes, the next waits out the limit, then gives up
        limited.list_nodes()
    assert caught.value.kind == "transient" and slept == [1.0, 1.0, 1.0]


def test_nebius_offers_carry_the_capacity_advisors_free_instances_which_a_launch_uses_up(server):
    from providers.nebius import NebiusAdapter

    server.store.seed({SLUG: VENDOR_SEED["nebius"]}, capacity=2)
    adapter = NebiusAdapter(base_url=server.nebius_url(SLUG), credentials=_nebius_credentials(), retries=0)
    shape = ("gpu-h100-sxm_1gpu-16vcpu-200gb", "eu-north1")

    def free() -> int | None:
        return next(o.available_nodes for o in adapter.list_offers() if (o.instance_type, o.region) == shape)

    assert free() == 2
    adapter.provision(ProvisionSpec("k", "rental-1", *shape, "echo ok"))
    assert free() == 1


def test_nebius_carries_the_launch_ssh_key_in_the_cloud_config_it_sends(server):
    import yaml

    from providers.nebius import NebiusAdapter, with_ssh_key

    key = ssh_public_key()
    plan = "#cloud-config\nruncmd:\n  - [echo, ok]\n"
    sent = with_ssh_key(plan, key)
    assert sent.startswith(plan) and yaml.safe_load(sent) == {"runcmd": [["echo", "ok"]], "ssh_authorized_keys": [key]}
    assert yaml.safe_load(with_ssh_key("", key)) == {"ssh_authorized_keys": [key]}
    merged = yaml.safe_load(with_ssh_key("#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAA other]\n", key))
    assert merged["ssh_authorized_keys"] == ["ssh-ed25519 AAAA other", key]
    assert with_ssh_key("#!/bin/sh\necho ok\n", key) == "#!/bin/sh\necho ok\n"
    server.store.seed({SLUG: VENDOR_SEED["nebius"]}, capacity=1)
    adapter = NebiusAdapter(base_url=server.nebius_url(SLUG), credentials=_nebius_credentials(), retries=0)
    node = adapter.provision(ProvisionSpec("k", "rental-1", "gpu-h100-sxm_1gpu-16vcpu-200gb", "eu-north1", plan, key))
    stored = server.store.get_node(SLUG, node.ref.removeprefix("computeinstance-"))["user_data"]
    assert yaml.safe_load(stored)["ssh_authorized_keys"] == [key]



@pytest.mark.parametrize("kind", sorted(SIM_ADAPTERS))
def test_a_node_that_runs_its_plan_serves_on_the_address_its_api_reports(kind, tmp_path):
    """Every simulated API: the address the vendor reports is where the node's plan serves (the gateway reaches a
    replica there, a job's workers meet there), a loopback address of the node's own; an SSH-launched partner's
    node gets the plan over SSH at the login its API reports."""
    sim = SimulatorServer(SEED, capacity=2, run_user_data=True, runtime_dir=tmp_path / "nodes").start()
    try:
        if kind in VENDOR_SEED:
            sim.store.seed({SLUG: VENDOR_SEED[kind]}, capacity=2)
        cls, url_of, credentials = SIM_ADAPTERS[kind]
        url = getattr(sim, url_of)(SLUG)
        options = SIM_URL_OPTIONS[kind](url) if kind in SIM_URL_OPTIONS else {}
        adapter = cls(base_url=url, credentials=credentials(f"sim-{SLUG}", url), retries=0, **options)
        harness = SIM_OPTIONS[kind](sim)
        serve = "#!/bin/bash\nexec python3 -m http.server $PORT --bind $NODE_HOST\n"
        spec = ProvisionSpec("k", "r-1", *harness.get("shape", SHAPE), serve, ssh_public_key(),
                             spot=harness.get("spot_only", False))
        node = adapter.provision(spec)
        for _ in range(50):
            if node.ip:
                break
            time.sleep(0.1)
            node = adapter.describe(node.ref)
        assert node.ip.startswith("127."), node
        if is_ssh_launched(adapter):  # its create call took no plan: the broker logs in and starts it
            assert deliver_plan(adapter.ssh_target(node), serve).started
        assert eventually_status(f"http://{node.ip}:{DEFAULT_SERVICE_PORT}/") == 200
        adapter.terminate(node.ref)
    finally:
        sim.stop()


HYPERBOLIC_SHAPE = ("1x-H100-75-722", "default")


def _hyperbolic(server: SimulatorServer) -> tuple[HyperbolicAdapter, RecordingHttp]:
    server.store.seed({SLUG: VENDOR_SEED["hyperbolic"]}, capacity=2)
    http = RecordingHttp(server.hyperbolic_url(SLUG), headers={"Authorization": f"Bearer sim-{SLUG}"}, retries=0)
    return HyperbolicAdapter(credentials={"ssh_private_key": account_private_key(SLUG)}, http=http), http


def test_hyperbolic_requests_and_answers_match_the_transcribed_schema(server):
    schemas = Schemas("hyperbolic-marketplace.yaml")
    adapter, http = _hyperbolic(server)
    adapter.list_offers()
    node = adapter.provision(ProvisionSpec("k", "r-1", *HYPERBOLIC_SHAPE, "#!/bin/sh\necho hi\n", ssh_public_key()))
    adapter.describe(node.ref)
    adapter.terminate(node.ref)
    names = {("POST", "v1/marketplace"): "MachinesResponse", ("GET", "v1/marketplace/instances"): "InstancesResponse",
             ("POST", "v1/marketplace/instances/create"): "CreateResponse",
             ("POST", "v1/marketplace/instances/terminate"): "TerminateResponse"}
    requests_of = {("POST", "v1/marketplace"): "MachineFilter", ("POST", "v1/marketplace/instances/create"):
                   "CreateRequest", ("POST", "v1/marketplace/instances/terminate"): "TerminateRequest"}
    checked = set()
    for method, path, body, response in http.exchanges:
        assert response.status_code == 200, (method, path, response.text)
        if (method, path) in requests_of:
            schemas.validate(requests_of[method, path], body)
        schemas.validate(names[method, path], response.json())
        checked.add(names[method, path])
    assert checked == set(names.values())
    create = next(b for m, p, b, _ in http.exchanges if p.endswith("/create"))
    assert "echo hi" not in str(create)  # the create call takes no plan: it goes over SSH


def test_hyperbolic_lists_machines_without_a_key_and_everything_else_with_one(server):
    _hyperbolic(server)
    url = server.hyperbolic_url(SLUG)
    assert requests.post(f"{url}/v1/marketplace", json={"filters": {}}, timeout=5).status_code == 200
    refused = requests.get(f"{url}/v1/marketplace/instances", timeout=5)
    assert refused.status_code == 401
    Schemas("hyperbolic-marketplace.yaml").validate("Error", refused.json())


def test_hyperbolic_offers_each_gpu_count_of_a_machine_priced_per_gpu_from_cents(server):
    adapter, _ = _hyperbolic(server)
    offers = {o.instance_type: o for o in adapter.list_offers()}
    one = offers["1x-H100-75-722"]
    assert (one.gpu, one.region, one.price_per_hour, one.available_nodes, one.spot_price_per_hour) == (
        "NVIDIA-H100-80GB-HBM3", "default", 1.29, 2, None)
    eight = [o for o in offers.values() if o.gpu == "NVIDIA-H100-80GB-HBM3" and o.gpus_per_node == 8]
    assert [(o.instance_type, o.price_per_hour) for o in eight] == [("8x-H100-208-1800", 23.92)]
    assert offers["4x-H100-104-900"].price_per_hour == 11.96


def test_hyperbolic_a_launch_takes_a_free_machine_and_reports_the_login_of_its_ssh_command(server):
    adapter, _ = _hyperbolic(server)
    node = adapter.provision(ProvisionSpec("k", "r-1", *HYPERBOLIC_SHAPE))
    running = adapter.describe(node.ref)
    assert (running.state, running.ssh_user, running.ssh_port, running.instance_type) == (
        "running", "ubuntu", 22, HYPERBOLIC_SHAPE[0])
    target = adapter.ssh_target(running)
    assert (target.host, target.user) == (running.ip, "ubuntu") and "PRIVATE" in target.private_key
    assert {o.instance_type: o.available_nodes for o in adapter.list_offers()}[HYPERBOLIC_SHAPE[0]] == 1


def test_hyperbolic_errors_carry_a_message_and_a_full_machine_is_no_capacity(server):
    schemas = Schemas("hyperbolic-marketplace.yaml")
    adapter, http = _hyperbolic(server)
    machine = next(m for m in http.request("POST", "v1/marketplace", json={"filters": {}}).json()["instances"]
                   if m["gpus_total"] == 1 and m["hardware"]["cpus"][0]["virtual_cores"] == 75)
    body = {"cluster_name": machine["cluster_name"], "node_name": machine["id"], "gpu_count": 1}
    assert http.request("POST", "v1/marketplace/instances/create", json=body).status_code == 200
    again = http.request("POST", "v1/marketplace/instances/create", json=body)
    assert again.status_code == 400 and "Not enough GPUs" in again.json()["message"]
    schemas.validate("Error", again.json())
    gone = http.request("POST", "v1/marketplace/instances/terminate", json={"id": "no-such-instance"})
    assert gone.status_code == 404
    schemas.validate("Error", gone.json())
    server.store.set_capacity(SLUG, 0)
    with pytest.raises(ProviderError) as err:
        adapter.provision(ProvisionSpec("k2", "r-2", *HYPERBOLIC_SHAPE))
    assert err.value.kind == "no_capacity"
