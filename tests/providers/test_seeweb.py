"""The Seeweb-shaped simulator API is judged by the vendor's own SDK (`ecsapi`): its pydantic models parse every answer
the adapter gets, its request models accept every body the adapter sends, and its client drives the simulator."""

import os

import pytest
import requests

from providers.base import OWNER_TAG, RENTAL_TAG, NodeInfo, ProviderError, ProvisionSpec, is_ssh_launched
from providers.seeweb import SeewebAdapter, openssh_public_key
from providers.simulator import Faults, SimulatorServer

from .conftest import SEED, SLUG, VENDOR_SEED, ssh_private_key
from .test_vendor_shapes import RecordingHttp

os.environ.setdefault("ECSAPI_ENV_FILE", os.devnull)  # the SDK loads a .env file on import: none here
ecsapi = pytest.importorskip("ecsapi")
from ecsapi import _action, _plan, _server, _ssh_key  # noqa: E402  (the SDK's own response models)

SHAPE = ("ECS1GPU10", "it-fr2")
NO_REGION = {"region": "", "instance_type": "ECS1GPU8", "gpu": "H100", "gpus_per_node": 1, "vcpus": 16,
             "memory_gb": 256, "interconnect": "pcie", "price_per_hour": 1.89, "spot_price_per_hour": None}
ANSWER_MODELS = {("GET", "plans"): _plan._PlanListResponse, ("GET", "plans/availables"): _plan._PlanAvailableListResponse,
                 ("GET", "servers"): _server._ServerListResponse, ("POST", "servers"): _server._ServerCreateRequestResponse,
                 ("GET", "sshkeys"): _ssh_key._SshKeyListResponse, ("POST", "sshkeys"): _ssh_key._SshKeyCreateResponse}


@pytest.fixture
def server(clock):
    sim = SimulatorServer({SLUG: [*SEED[SLUG], *VENDOR_SEED["seeweb"], NO_REGION]}, capacity=2, random_seed=3,
                          clock=clock).start()
    yield sim
    sim.stop()


def _adapter(server: SimulatorServer, key: str | None = None, **options) -> tuple[SeewebAdapter, RecordingHttp]:
    http = RecordingHttp(server.seeweb_url(SLUG), headers={"X-APITOKEN": f"sim-{SLUG}"}, retries=0)
    return SeewebAdapter(credentials={"ssh_private_key": key or ssh_private_key()}, http=http, **options), http


def _spec(key: str = "k", tags: dict | None = None, **fields) -> ProvisionSpec:
    return ProvisionSpec(key, "r-1", *SHAPE, tags=tags or {OWNER_TAG: "inst1p7"}, **fields)


def _model(method: str, path: str):
    if path.startswith("servers/"):
        return _server._ServerRetrieveResponse if method == "GET" else _server._ServerDeleteResponse
    if path.startswith("actions/"):
        return _action._ActionRetrieveResponse
    return ANSWER_MODELS[(method, path)]


def test_every_answer_parses_with_the_sdk_models_and_every_body_is_what_the_sdk_sends(server):
    adapter, http = _adapter(server)
    adapter.verify()
    node = adapter.provision(_spec())
    adapter.describe(node.ref)
    adapter.list_nodes()
    adapter.terminate(node.ref)
    parsed = set()
    for method, path, body, response in http.exchanges:
        assert response.status_code == 200, (method, path, response.text)
        _model(method, path).model_validate_json(response.text)
        parsed.add((method, path.split("/")[0]))
        if (method, path) == ("POST", "servers"):
            assert _server.ServerCreateRequest.model_validate(body).model_dump(exclude_none=True) == body
        if (method, path) == ("POST", "sshkeys"):
            assert _ssh_key._SshKeyCreateRequest.model_validate(body).model_dump() == body
    assert parsed == {("GET", "plans"), ("GET", "servers"), ("POST", "servers"), ("GET", "actions"),
                      ("DELETE", "servers"), ("GET", "sshkeys"), ("POST", "sshkeys")}


def test_the_vendor_sdk_client_creates_watches_and_deletes_a_server_on_the_simulator(server, clock):
    server.store.set_faults(SLUG, Faults(delay_s=30))
    key = ssh_private_key()
    api = ecsapi.Api(token=f"sim-{SLUG}", host="127.0.0.1", port=server.port, protocol="http",
                     prefix=f"seeweb/{SLUG}/ecs")
    api.create_ssh_key(openssh_public_key(key), "gpu-broker")
    assert api.can_create_plan(*SHAPE)
    gpu_plan = next(p for p in api.fetch_plans() if p.name == SHAPE[0])
    assert (gpu_plan.gpu, gpu_plan.gpu_label, gpu_plan.ram) == ("1", "H200 141GB", "262144")
    created, action_id = api.create_server(_server.ServerCreateRequest(
        plan=SHAPE[0], image=gpu_plan.default_image, location=SHAPE[1], notes="by the SDK", ssh_key="gpu-broker"))
    assert (created.status, created.ipv4, api.fetch_action(action_id).status) == ("Booting", "", "in-progress")
    clock.now += 30
    assert api.watch_action(action_id, fetch_every=0, max_retry=1).status == "completed"
    booted = api.fetch_server(created.name)
    assert booted.status == "Booted" and booted.ipv4
    assert api.delete_server(created.name).type == "delete_server"
    assert created.name not in {s.name for s in api.fetch_servers()}


def test_offers_report_creatable_plans_with_unknown_capacity_and_the_others_with_none(server):
    adapter, _ = _adapter(server)
    offers = {(o.instance_type, o.region): o for o in adapter.list_offers()}
    assert set(offers) == {SHAPE}  # the catalogue's other shapes are no Seeweb plans; ECS1GPU8 has no region
    offer = offers[SHAPE]
    assert (offer.gpu, offer.gpus_per_node, offer.vcpus, offer.memory_gb, offer.price_per_hour) == (
        "H200 141GB", 1, 32.0, 256.0, 2.6)
    assert offer.available_nodes is None and offer.spot_price_per_hour is None
    server.store.set_capacity(SLUG, 0)
    assert adapter.list_offers()[0].available_nodes == 0


def test_a_create_seeweb_accepts_and_then_fails_is_deleted_and_reported_as_no_capacity(server):
    server.store.set_faults(SLUG, Faults(capacity_error_rate=1.0))
    adapter, http = _adapter(server)
    with pytest.raises(ProviderError) as err:
        adapter.provision(_spec())
    assert err.value.kind == "no_capacity" and "action 1 failed" in err.value.message
    accepted = next(r for m, p, _, r in http.exchanges if (m, p) == ("POST", "servers"))
    assert accepted.status_code == 200 and accepted.json()["server"]["status"] == "Fail"
    assert ("DELETE", f"servers/{accepted.json()['server']['name']}") in {(m, p) for m, p, _, _ in http.exchanges}
    assert adapter.list_nodes() == []


def test_a_plan_that_cannot_be_created_now_is_no_capacity_and_an_unknown_one_invalid(server):
    adapter, http = _adapter(server)
    server.store.set_capacity(SLUG, 0)
    with pytest.raises(ProviderError) as full:
        adapter.provision(_spec())
    with pytest.raises(ProviderError) as unknown:
        adapter.provision(ProvisionSpec("k2", "r-1", "ECS1GPU8", "it-fr2"))
    assert (full.value.kind, unknown.value.kind) == ("no_capacity", "invalid_request")
    assert ("POST", "servers") not in {(m, p) for m, p, _, _ in http.exchanges}


def test_notes_carry_the_rental_and_the_tags_and_find_the_server_again(server):
    adapter, http = _adapter(server)
    node = adapter.provision(_spec(tags={OWNER_TAG: "inst1p7", "team": "ml"}))
    notes = next(b for m, p, b, _ in http.exchanges if (m, p) == ("POST", "servers"))["notes"]
    assert notes.startswith("gpub-r-1-")
    assert node.tags == {RENTAL_TAG: "r-1", OWNER_TAG: "inst1p7", "team": "ml"} and node.owner == "inst1p7"
    assert adapter.provision(_spec(tags={OWNER_TAG: "inst1p7", "team": "ml"})).ref == node.ref
    _, other = _adapter(server)
    other.request("POST", "servers", json={"plan": SHAPE[0], "image": "ubuntu-2204-uefi-nvidia-driver",
                                           "location": SHAPE[1], "notes": "someone's own server"})
    assert [n.ref for n in adapter.list_nodes()] == [node.ref]


def test_creation_and_deletion_are_asynchronous_actions(server, clock):
    server.store.set_faults(SLUG, Faults(delay_s=60, terminate_delay_s=20))
    adapter, _ = _adapter(server)
    node = adapter.provision(_spec())
    assert (node.state, node.ip) == ("pending", None)
    clock.now += 60
    running = adapter.describe(node.ref)
    assert running.state == "running" and running.ip
    adapter.terminate(node.ref)
    assert adapter.describe(node.ref).state == "terminated"  # `Deleting` while its delete_server action runs
    adapter.terminate(node.ref)
    clock.now += 20
    with pytest.raises(ProviderError) as err:
        adapter.describe(node.ref)
    assert err.value.kind == "not_found"


def test_the_broker_logs_in_as_ecuser_with_the_partner_key_once_the_server_is_booted(server):
    key = ssh_private_key()
    adapter, _ = _adapter(server, key, ssh_port=2222)
    assert is_ssh_launched(adapter)
    node = adapter.provision(_spec())
    target = adapter.ssh_target(adapter.describe(node.ref))
    assert (target.host, target.port, target.user, target.private_key) == (
        adapter.describe(node.ref).ip, 2222, "ecuser", key)
    assert key not in repr(target)
    assert adapter.ssh_target(NodeInfo("ec200009", "pending", *SHAPE[::-1])) is None


def test_the_login_key_is_registered_once_and_must_match_the_private_key(server):
    key = ssh_private_key()
    adapter, http = _adapter(server, key)
    adapter.provision(_spec("a"))
    adapter.provision(_spec("b"))
    assert [p for m, p, _, _ in http.exchanges if m == "POST"].count("sshkeys") == 1
    assert server.store.ssh_keys(SLUG) == [{"name": "gpu-broker", "public_key": openssh_public_key(key)}]
    for broken in (_adapter(server)[0], _adapter(server, "not a key")[0]):
        with pytest.raises(ProviderError) as err:
            broken.verify()
        assert err.value.kind == "invalid_request" and err.value.permanent


def test_errors_use_seewebs_envelope(server):
    url = server.seeweb_url(SLUG)
    missing = requests.get(f"{url}/servers/ec299999", headers={"X-APITOKEN": f"sim-{SLUG}"}, timeout=5)
    denied = requests.get(f"{url}/servers", headers={"Authorization": f"Bearer sim-{SLUG}"}, timeout=5)
    assert (missing.status_code, denied.status_code) == (404, 401)
    for answer in (missing, denied):
        assert set(answer.json()) == {"status", "error_code", "message"} and answer.json()["status"] == "error"
    server.store.set_faults(SLUG, Faults(request_interval_s=60.0))
    requests.get(f"{url}/plans", headers={"X-APITOKEN": f"sim-{SLUG}"}, timeout=5)
    limited = requests.get(f"{url}/plans", headers={"X-APITOKEN": f"sim-{SLUG}"}, timeout=5)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0


def test_a_spot_request_is_refused_before_any_call(server):
    adapter, http = _adapter(server)
    with pytest.raises(ProviderError) as err:
        adapter.provision(_spec(spot=True))
    assert err.value.kind == "invalid_request" and http.exchanges == []
