"""The OpenAPI document is the truth about every endpoint: real answers are validated against it.

Every operation in the generated schema is called at least once with a happy answer and once with a 4xx;
each answer's status must be documented for that operation and its JSON body must validate against the
documented schema, where an object may carry no field the schema does not name.
"""

import re
from urllib.parse import urlparse

import pytest
from drf_spectacular.generators import SchemaGenerator
from jsonschema import Draft202012Validator
from rest_framework.test import APIClient

from jobs.models import JobRun
from jobs.services.jobs import job_reconcile
from marketplace.api.placement import PlacementRequestSerializer, PolicySerializer, RentalRequestSerializer
from marketplace.models import Membership, Node, Partner, Role
from marketplace.placement import POLICY_FIELDS, RENTAL_FIELDS, REQUEST_FIELDS
from marketplace.services.node_health import node_token
from providers.simulator import SimulatorServer
from tests.conftest import drive_rental, make_persona
from tests.marketplace.node_health_helpers import report
from tests.marketplace.test_admin_partners import SEED

PLACE = {"gpu": "H200", "gpus_per_node": 1, "policy": {"jurisdictions": ["EU"]}}
RENT = {**PLACE, "max_hours": 2}
POD_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINBttsaegY1Yd+Xuj7uAnFIIiH7jMeUZJC1/bSJ7xe2m dev@laptop"
DEPLOY = {"name": "chat", "model": "gpu-broker/tiny-cpu-chat", "replicas": {"min": 1, "max": 1},
          "policy": {"jurisdictions": ["EU"]}, "max_hours": 2}


def strict(node):
    """OpenAPI 3.0 schema → JSON Schema: `nullable` becomes a null alternative; objects admit no extra field.

    `oneOf` is read as `anyOf`: formats are not checked, so "" matches both a blank and a URI alternative.
    """
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {"anyOf" if key == "oneOf" else key: strict(value) for key, value in node.items() if key != "nullable"}
    if "properties" in node:
        out["properties"] = {name: strict(value) for name, value in node["properties"].items()}
        out.setdefault("additionalProperties", False)
    return {"anyOf": [out, {"type": "null"}]} if node.get("nullable") else out


class SchemaChecker:
    def __init__(self):
        self.doc = SchemaGenerator().get_schema(request=None, public=True)
        self.components = strict(self.doc["components"])
        self.operations = {(method.upper(), path): op for path, ops in self.doc["paths"].items()
                           for method, op in ops.items() if method != "parameters"}
        self.seen: dict[tuple[str, str], set[int]] = {key: set() for key in self.operations}

    def operation_for(self, method: str, url: str) -> tuple[str, str]:
        path = url.split("?")[0]
        for key_method, template in self.operations:
            if key_method == method and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path):
                return key_method, template
        raise AssertionError(f"{method} {path} is not in the OpenAPI document")

    def documents_4xx(self, key: tuple[str, str]) -> bool:
        return any(code.startswith("4") for code in self.operations[key]["responses"])

    def validate(self, schema: dict, body, what: str) -> None:
        root = {"components": self.components, **strict(schema)}
        errors = sorted(Draft202012Validator(root).iter_errors(body), key=lambda e: list(e.path))
        assert not errors, f"{what}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])

    def check(self, response, method: str, url: str, *, body=None):
        key = self.operation_for(method, url)
        operation = self.operations[key]
        status = response.status_code
        if body is not None and status < 300:  # an accepted body must be one the document describes
            self.validate(operation["requestBody"]["content"]["application/json"]["schema"], body, f"{key} request")
        documented = operation["responses"].get(str(status))
        assert documented is not None, f"{key} answered {status}, not documented: {response.content[:300]!r}"
        media_type = response["Content-Type"].split(";")[0] if response.streaming or response.content else None
        if media_type is not None:
            assert media_type in documented.get("content", {}), f"{key} {status}: {media_type} not documented"
            if media_type == "application/json":
                self.validate(documented["content"][media_type]["schema"], response.json(), f"{key} {status}")
        self.seen[key].add(status)
        return response


@pytest.fixture(scope="module")
def checker():
    return SchemaChecker()


class Caller:
    """A client whose every answer is checked against the document."""

    def __init__(self, checker: SchemaChecker, client: APIClient):
        self.checker, self.client = checker, client

    def __call__(self, method: str, url: str, body=None, *, expect: int, **headers):
        response = getattr(self.client, method.lower())(url, body, format="json", headers=headers or None)
        assert response.status_code == expect, (method, url, response.status_code, response.content[:300])
        return self.checker.check(response, method, url, body=body)


@pytest.fixture
def partner_sim():
    server = SimulatorServer(SEED, capacity=3).start()
    yield server
    server.stop()


def test_every_endpoint_answers_as_its_schema_says(checker, owner, staff, stranger, sim_catalog, partner_sim, worker):
    call, anon, as_staff = (Caller(checker, c) for c in (owner.client, APIClient(), staff.client))

    # catalogue
    call("GET", "/api/v1/gpus", expect=200)
    call("GET", "/api/v1/gpus/H200", expect=200)
    call("GET", "/api/v1/gpus/TPU9", expect=404)
    call("GET", "/api/v1/partners", expect=200)
    call("GET", "/api/v1/partners/nebius", expect=200)
    call("GET", "/api/v1/partners/nobody", expect=404)
    offers = call("GET", "/api/v1/offers?gpu=H200&jurisdiction=EU", expect=200).json()
    call("GET", "/api/v1/offers?country=Germany", expect=400)
    call("GET", f"/api/v1/offers/{offers['results'][0]['id']}", expect=200)
    call("GET", "/api/v1/offers/0", expect=404)

    # match
    call("POST", "/api/v1/match", {**PLACE, "near": {"lat": 50.1, "lon": 8.7}, "limit": 3}, expect=200)
    call("POST", "/api/v1/match", {"gpu": "H200", "policy": {"countries": ["XX"]}}, expect=400)
    anon("POST", "/api/v1/match", {"gpu": "H200"}, expect=401)

    # rentals
    rental = call("POST", "/api/v1/rentals", RENT, expect=202, **{"Idempotency-Key": "k1"}).json()
    call("POST", "/api/v1/rentals", RENT, expect=200, **{"Idempotency-Key": "k1"})
    call("POST", "/api/v1/rentals", {**RENT, "max_hours": 3}, expect=422, **{"Idempotency-Key": "k1"})
    call("POST", "/api/v1/rentals", {**RENT, "max_price_per_gpu_hour": 0.01}, expect=409)
    call("POST", "/api/v1/rentals", {"gpu": "TPU9", "nodes": 0}, expect=400)
    anon("POST", "/api/v1/rentals", RENT, expect=401)
    drive_rental(rental["id"])
    call("GET", "/api/v1/rentals", expect=200)
    call("GET", "/api/v1/rentals?state=sleeping", expect=400)
    call("GET", f"/api/v1/rentals/{rental['id']}", expect=200)
    Caller(checker, stranger.client)("GET", f"/api/v1/rentals/{rental['id']}", expect=404)

    # the launch plan each node was sent; the node agent nodes download (no key)
    call("GET", f"/api/v1/rentals/{rental['id']}/launch-plan", expect=200)
    Caller(checker, stranger.client)("GET", f"/api/v1/rentals/{rental['id']}/launch-plan", expect=404)
    agent_file = urlparse(anon("GET", "/api/v1/agent", expect=200).json()["url"]).path
    anon("GET", agent_file, expect=200)
    anon("GET", "/api/v1/agent/gpu-broker-agent-0.0.0-000000000000.pyz", expect=404)

    # nodes: the agent's heartbeat and the workspace's read
    node = Node.objects.filter(rental_id=rental["id"]).first()
    agent = APIClient()
    agent.credentials(HTTP_AUTHORIZATION=f"Node {node_token(node)}")
    heartbeat = Caller(checker, agent)
    heartbeat("POST", f"/api/v1/nodes/{node.pk}/health", report(), expect=200)
    heartbeat("POST", f"/api/v1/nodes/{node.pk}/health", {**report(), "state": "on-fire"}, expect=400)
    anon("POST", f"/api/v1/nodes/{node.pk}/health", report(), expect=401)
    heartbeat("POST", f"/api/v1/nodes/{node.pk + 1000}/health", report(), expect=404)
    call("GET", f"/api/v1/nodes/{node.pk}", expect=200)
    Caller(checker, stranger.client)("GET", f"/api/v1/nodes/{node.pk}", expect=404)

    # jobs: create, list, detail, logs, cancel; their workers' node endpoints
    job = call("POST", "/api/v1/jobs", {**PLACE, "command": ["true"]}, expect=202, **{"Idempotency-Key": "j1"}).json()
    call("POST", "/api/v1/jobs", {**PLACE, "command": ["true"]}, expect=200, **{"Idempotency-Key": "j1"})
    call("POST", "/api/v1/jobs", {**PLACE, "command": "true", "template": "horovod"}, expect=400)
    job_reconcile(job["id"])
    job_node = drive_rental(JobRun.objects.get(job_id=job["id"]).rental_id).nodes.get()
    worker_agent = APIClient()
    worker_agent.credentials(HTTP_AUTHORIZATION=f"Node {node_token(job_node)}")
    on_node = Caller(checker, worker_agent)
    on_node("POST", f"/api/v1/nodes/{job_node.pk}/job/rendezvous", expect=200)
    anon("POST", f"/api/v1/nodes/{job_node.pk}/job/rendezvous", expect=401)
    on_node("POST", f"/api/v1/nodes/{job_node.pk}/job/logs", {"seq": 0, "data": "hello\n"}, expect=200)
    on_node("POST", f"/api/v1/nodes/{job_node.pk}/job/logs", {"seq": -1, "data": "x"}, expect=400)
    on_node("POST", f"/api/v1/nodes/{job_node.pk + 1000}/job/exit", {"exit_code": 0}, expect=404)
    call("GET", "/api/v1/jobs", expect=200)
    call("GET", "/api/v1/jobs?state=sleeping", expect=400)
    call("GET", f"/api/v1/jobs/{job['id']}", expect=200)
    call("GET", "/api/v1/jobs/0", expect=404)
    call("GET", f"/api/v1/jobs/{job['id']}/logs", expect=200)
    call("GET", f"/api/v1/jobs/{job['id']}/logs?worker=9", expect=400)
    on_node("POST", f"/api/v1/nodes/{job_node.pk}/job/exit", {"exit_code": 0}, expect=200)
    on_node("POST", f"/api/v1/nodes/{job_node.pk}/job/exit", {"exit_code": "zero"}, expect=400)
    call("POST", f"/api/v1/jobs/{job['id']}/cancel", expect=409)  # it succeeded
    second = call("POST", "/api/v1/jobs", {**PLACE, "command": ["sleep", "9"]}, expect=202).json()
    call("POST", f"/api/v1/jobs/{second['id']}/cancel", expect=202)

    # usage and workspace
    call("GET", "/api/v1/usage", expect=200)
    call("GET", "/api/v1/usage?format=csv", expect=200)
    call("GET", "/api/v1/usage?since=yesterday", expect=400)
    call("GET", "/api/v1/workspace", expect=200)
    anon("GET", "/api/v1/workspace", expect=401)
    call("PATCH", "/api/v1/workspace", {"monthly_budget": 0.01, "ngc_api_key": "nvapi-x"}, expect=200)
    call("POST", "/api/v1/rentals", RENT, expect=402)
    call("PATCH", "/api/v1/workspace", {"monthly_budget": "-1"}, expect=400)
    call("PATCH", "/api/v1/workspace", {"monthly_budget": None}, expect=200)
    viewer = make_persona(owner.workspace.name, "viewer@acme.test")
    Membership.objects.filter(user=viewer.user).update(role=Role.VIEWER)
    Caller(checker, viewer.client)("PATCH", "/api/v1/workspace", {"monthly_budget": 5}, expect=403)

    # deployments
    deployment = call("POST", "/api/v1/deployments", DEPLOY, expect=202).json()
    call("POST", "/api/v1/deployments", DEPLOY, expect=409)
    call("POST", "/api/v1/deployments", {**DEPLOY, "name": "x", "replicas": {"min": 2, "max": 1}}, expect=400)
    call("GET", "/api/v1/deployments", expect=200)
    anon("GET", "/api/v1/deployments", expect=401)
    call("GET", f"/api/v1/deployments/{deployment['id']}", expect=200)
    call("GET", "/api/v1/deployments/0", expect=404)
    call("DELETE", f"/api/v1/deployments/{deployment['id']}", expect=202)
    call("DELETE", "/api/v1/deployments/0", expect=404)

    # pods
    pod_body = {**RENT, "name": "dev", "ssh_public_key": POD_KEY, "jupyter": True, "idle_timeout_minutes": 5}
    pod = call("POST", "/api/v1/pods", pod_body, expect=202, **{"Idempotency-Key": "p1"}).json()
    call("POST", "/api/v1/pods", pod_body, expect=200, **{"Idempotency-Key": "p1"})
    call("POST", "/api/v1/pods", {**pod_body, "ssh_public_key": "-----BEGIN OPENSSH PRIVATE KEY-----"}, expect=400)
    call("POST", "/api/v1/pods", pod_body, expect=409)
    call("POST", "/api/v1/pods", {**pod_body, "name": "dev2"}, expect=422, **{"Idempotency-Key": "p1"})
    drive_rental(pod["rental"])
    call("GET", "/api/v1/pods", expect=200)
    anon("GET", "/api/v1/pods", expect=401)
    call("GET", f"/api/v1/pods/{pod['id']}", expect=200)
    call("GET", "/api/v1/pods/0", expect=404)
    call("POST", f"/api/v1/pods/{pod['id']}/start", expect=409)
    call("POST", f"/api/v1/pods/{pod['id']}/stop", expect=202)
    call("POST", "/api/v1/pods/0/stop", expect=404)
    call("POST", "/api/v1/pods/0/start", expect=404)
    call("POST", f"/api/v1/pods/{pod['id']}/terminate", expect=202)
    call("POST", "/api/v1/pods/0/terminate", expect=404)

    call("POST", f"/api/v1/rentals/{rental['id']}/terminate", expect=202)
    call("POST", "/api/v1/rentals/0/terminate", expect=404)

    # staff: partner onboarding
    body = {"slug": "acme", "name": "Acme GPU", "kind": "partner_api", "base_url": partner_sim.partner_api_url("acme"),
            "credentials": {"api_key": "sim-acme"}, "hq_country": "de", "certifications": ["ISO27001"]}
    as_staff("POST", "/api/v1/admin/partners", body, expect=201)
    as_staff("POST", "/api/v1/admin/partners", {**body, "slug": "acme-2", "hq_country": "Germany"}, expect=400)
    call("GET", "/api/v1/admin/partners", expect=403)
    as_staff("GET", "/api/v1/admin/partners", expect=200)
    as_staff("GET", "/api/v1/admin/partners/acme", expect=200)
    as_staff("GET", "/api/v1/admin/partners/nobody", expect=404)
    as_staff("PATCH", "/api/v1/admin/partners/acme", {"name": "Acme"}, expect=200)
    as_staff("PATCH", "/api/v1/admin/partners/acme", {"slug": "other"}, expect=400)
    as_staff("POST", "/api/v1/admin/partners/acme/activate", expect=409)  # pending: verify first
    as_staff("POST", "/api/v1/admin/partners/acme/suspend", expect=409)
    with worker():  # verify and sync are queued (202); the worker makes the partner calls
        as_staff("POST", "/api/v1/admin/partners/acme/verify", expect=202)
        as_staff("POST", "/api/v1/admin/partners/acme/sync", expect=202)
    as_staff("POST", "/api/v1/admin/partners/nobody/verify", expect=404)
    catalogue_only = Partner.objects.filter(kind="catalog").values_list("slug", flat=True).first()
    as_staff("POST", f"/api/v1/admin/partners/{catalogue_only}/sync", expect=409)
    as_staff("POST", "/api/v1/admin/partners/acme/activate", expect=200)
    as_staff("POST", "/api/v1/admin/partners/acme/suspend", expect=200)

    # fleets: the workspace's own machines, joined by their agent, polled with the machine's credential
    fleet = call("POST", "/api/v1/fleets", {"name": "lab", "price_per_gpu_hour": 0.5}, expect=201).json()
    call("POST", "/api/v1/fleets", {"name": ""}, expect=400)
    call("GET", "/api/v1/fleets", expect=200)
    anon("GET", "/api/v1/fleets", expect=401)
    call("POST", f"/api/v1/fleets/{fleet['id']}/join-token", expect=201)
    Caller(checker, stranger.client)("POST", f"/api/v1/fleets/{fleet['id']}/join-token", expect=404)
    token = call("POST", f"/api/v1/fleets/{fleet['id']}/join-token", expect=201).json()["join_token"]
    join = {"token": token, "hostname": "gpu-1", "country": "DE", "region": "lab",
            "inventory": {"gpus": ["NVIDIA H200"], "gpu_memory_gb": 141, "vcpus": 8, "memory_gb": 64}}
    joined = anon("POST", "/api/v1/fleets/join", join, expect=201).json()
    anon("POST", "/api/v1/fleets/join", {**join, "country": "XX"}, expect=400)
    machine_id = joined["machine"]["id"]
    poller = APIClient()
    poller.credentials(HTTP_AUTHORIZATION=f"Machine {joined['machine_token']}")
    poll = Caller(checker, poller)
    poll("POST", f"/api/v1/fleet-machines/{machine_id}/poll?wait=0", {"health": "healthy"}, expect=200)
    poll("POST", f"/api/v1/fleet-machines/{machine_id}/poll", {"health": "on-fire"}, expect=400)
    anon("POST", f"/api/v1/fleet-machines/{machine_id}/poll", {"health": "healthy"}, expect=401)
    poll("POST", f"/api/v1/fleet-machines/{machine_id + 1}/poll", {"health": "healthy"}, expect=404)
    call("GET", f"/api/v1/fleets/{fleet['id']}", expect=200)
    Caller(checker, stranger.client)("GET", f"/api/v1/fleets/{fleet['id']}", expect=404)
    machine = f"/api/v1/fleets/{fleet['id']}/machines/{machine_id}"
    call("GET", machine, expect=200)
    call("GET", f"/api/v1/fleets/{fleet['id']}/machines/0", expect=404)
    call("POST", f"{machine}/cordon", expect=200)
    call("POST", f"{machine}/uncordon", expect=200)
    call("POST", f"{machine}/uncordon", expect=200)
    call("POST", f"{machine}/drain", expect=200)
    call("POST", f"{machine}/cordon", expect=409)
    call("POST", f"{machine}/uncordon", expect=409)
    call("POST", f"{machine}/drain", expect=409)
    call("DELETE", f"/api/v1/fleets/{fleet['id']}", expect=204)
    call("DELETE", f"/api/v1/fleets/{fleet['id']}", expect=404)

    # The simulated partners cannot stop a node, so starting a pod here refuses (409); tests/pods covers the 202 on AWS.
    refuse_only = {("POST", "/api/v1/pods/{id}/start")}
    untested = {key: codes for key, codes in checker.seen.items()
                if (not any(200 <= c < 300 for c in codes) and key not in refuse_only) or (checker.documents_4xx(key)
                                                               and not any(400 <= c < 500 for c in codes))}
    assert not untested, f"operations without a checked 2xx and 4xx answer: {untested}"


@pytest.mark.parametrize("url", ["/api/v1/rentals", "/api/v1/rentals/1", "/api/v1/deployments", "/api/v1/pods",
                                 "/api/v1/deployments/1", "/api/v1/offers", "/api/v1/gpus", "/api/v1/partners",
                                 "/api/v1/match", "/api/v1/workspace", "/api/v1/usage", "/api/v1/nodes/1"])
def test_options_answers_without_a_server_error(owner, url):
    assert owner.client.options(url).status_code in (200, 404)


def test_the_placement_request_schema_names_exactly_the_fields_the_parser_reads():
    assert set(PlacementRequestSerializer().fields) == set(REQUEST_FIELDS)
    assert set(PolicySerializer().fields) == set(POLICY_FIELDS)
    assert set(RentalRequestSerializer().fields) == {*REQUEST_FIELDS, *RENTAL_FIELDS}


def test_the_checker_refuses_an_undocumented_field_and_a_wrong_type(checker):
    schema = checker.operations[("GET", "/api/v1/workspace")]["responses"]["200"]["content"]["application/json"]
    good = {"name": "w", "monthly_budget": None, "month_spend": 0.0, "has_ngc_api_key": False}
    checker.validate(schema["schema"], good, "workspace")
    with pytest.raises(AssertionError, match="Additional properties"):
        checker.validate(schema["schema"], {**good, "secret": "x"}, "workspace")
    with pytest.raises(AssertionError, match="is not of type"):
        checker.validate(schema["schema"], {**good, "has_ngc_api_key": "no"}, "workspace")
