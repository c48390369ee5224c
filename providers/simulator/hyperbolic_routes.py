"""A Hyperbolic marketplace API-shaped API (docs/vendor/hyperbolic-marketplace.yaml): `POST v1/marketplace` (the
machines, listed without a key), `POST v1/marketplace/instances/create`, `GET v1/marketplace/instances` and
`POST v1/marketplace/instances/terminate`, bearer auth, errors as `{"message": …}`.

Each seeded offer is `capacity` machines of its GPU count (`gpus_per_node`), CPUs and RAM, priced in cents per
GPU-hour; a simulated machine is rented whole (a create for fewer of its GPUs still reserves all of them), so its
`gpus_reserved` is 0 or `gpus_total`. An instance gets a generated three-word name, as Hyperbolic's do, keeps the
create call's `userMetadata`, and is forgotten once terminated. Its `sshCommand` is the login at the node's own
address: when nodes run their plans here, the simulator's SSH server (`ssh_server`) listens there.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING

from .messages import Request, Response
from .ratelimit import launch_limits
from .store import SimError

if TYPE_CHECKING:
    from .app import SimulatorApp

SSH_USER = "ubuntu"
# The model strings Hyperbolic reports for the catalogue's GPU names (others: "NVIDIA-<name>").
MODEL_BY_GPU = {"H100": "NVIDIA-H100-80GB-HBM3", "H200": "NVIDIA-H200", "A100": "NVIDIA-A100-SXM4-80GB",
                "A100-80GB": "NVIDIA-A100-SXM4-80GB", "RTX4090": "NVIDIA-GeForce-RTX-4090",
                "RTX3090": "NVIDIA-GeForce-RTX-3090", "A6000": "NVIDIA-RTX-A6000", "L40S": "NVIDIA-L40S"}
STATUS_BY_STATE = {"pending": "starting", "running": "online", "failed": "failed"}
NAME_WORDS = (("respectful", "actual", "brave", "quiet", "gentle", "swift", "calm", "bright"),
              ("rose", "bonsai", "cedar", "maple", "lotus", "fern", "iris", "willow"),
              ("pelican", "frog", "otter", "heron", "lynx", "badger", "falcon", "panda"))
GPU_RAM_MB = 81559


def error(kind: str, message: str) -> Response:
    status = {"auth_failed": 401, "quota_exceeded": 403, "not_found": 404, "no_capacity": 400,
              "invalid_request": 400}[kind]
    return Response(status, {"message": message})


def server_error(status: int, message: str) -> Response:
    return Response(status, {"message": message})


def rate_limits(request: Request, faults) -> list[tuple[str, float]]:
    """The simulator's request and launch intervals (Hyperbolic publishes no figures)."""
    return launch_limits(request, faults, "POST", ("create",))


def rate_limited(wait_s: int) -> Response:
    return Response(429, {"message": f"Rate limit exceeded: retry in {wait_s} s"}, {"Retry-After": str(wait_s)})


def handle(app: SimulatorApp, slug: str, request: Request) -> Response:
    route, method = request.parts[2:], request.method
    if route == ["v1", "marketplace"] and method == "POST":  # the one call Hyperbolic serves without a key
        return Response(200, {"instances": _machines(app, slug)})
    if not app.authorized(slug, request):
        return error("auth_failed", "Invalid API key")
    try:
        if route == ["v1", "marketplace", "instances"] and method == "GET":
            return Response(200, {"instances": [_instance(app, slug, n) for n in _live(app, slug)]})
        if route == ["v1", "marketplace", "instances", "create"] and method == "POST":
            return _create(app, slug, request.body)
        if route == ["v1", "marketplace", "instances", "terminate"] and method == "POST":
            return _terminate(app, slug, request.body)
    except SimError as exc:
        return error(exc.kind, exc.message)
    return Response(404, {"message": "Not Found"})


def instance_name(node_id: str) -> str:
    digest = hashlib.sha256(node_id.encode()).digest()
    return "-".join(words[digest[i] % len(words)] for i, words in enumerate(NAME_WORDS)) + f"-{digest[3]:02x}"


# -- machines -------------------------------------------------------------------------------------------
def _seed_id(seed: dict) -> str:
    return hashlib.sha256(f"{seed['region']}/{seed['instance_type']}".encode()).hexdigest()[:10]


def _machines(app: SimulatorApp, slug: str) -> list[dict]:
    rented = _rented(app, slug)
    machines = []
    for seed in app.store.offers(slug):
        base = f"ns-{_seed_id(seed)}"
        taken = sorted(mid for mid in rented if mid.startswith(f"{base}-"))
        free = [f"{base}-{i}" for i in range(len(taken) + seed["available_nodes"]) if f"{base}-{i}" not in rented]
        machines += [_machine(seed, mid, rented=mid in rented) for mid in taken + free[:seed["available_nodes"]]]
    return machines


def _machine(seed: dict, machine_id: str, *, rented: bool) -> dict:
    n = int(seed["gpus_per_node"])
    model = MODEL_BY_GPU.get(seed["gpu"], f"NVIDIA-{seed['gpu']}")
    gpu = {"hardware_type": "gpu", "model": model, "clock_speed": 1980, "compute_power": 1000, "ram": GPU_RAM_MB,
           "interface": "SXM5" if seed["interconnect"] != "pcie" else "PCIeX16"}
    return {
        "id": machine_id, "status": "node_ready",
        "hardware": {"cpus": [{"hardware_type": "cpu", "model": "AMD-EPYC-9554", "cores": int(seed["vcpus"]) // 2,
                               "virtual_cores": int(seed["vcpus"])}],
                     "gpus": [dict(gpu) for _ in range(n)],
                     "storage": [{"hardware_type": "storage", "capacity": 1000}],
                     "ram": [{"hardware_type": "ram", "capacity": int(seed["memory_gb"])}]},
        "instances": [], "location": {"region": seed["region"]}, "network": {}, "gpus_total": n,
        "gpus_reserved": n if rented else 0, "has_persistent_storage": False, "supplier_id": f"supplier-{machine_id[3:9]}",
        "pricing": {"price": {"amount": round(seed["price_per_hour"] / n * 100, 2), "period": "hourly",
                              "agent": "platform"}},
        "reserved": rented, "cluster_name": f"cluster-{machine_id[3:9]}",
    }


def _rented(app: SimulatorApp, slug: str) -> set[str]:
    return {n["tags"]["hyperbolic"]["node_name"] for n in app.store.list_nodes(slug) if "hyperbolic" in n["tags"]}


# -- instances ------------------------------------------------------------------------------------------
def _create(app: SimulatorApp, slug: str, body: object) -> Response:
    problem = _invalid_create(body)
    if problem:
        return error("invalid_request", problem)
    machine = next((m for m in _machines(app, slug) if m["id"] == body["node_name"]), None)
    if machine is None or machine["cluster_name"] != body["cluster_name"]:
        return error("invalid_request", f"Node {body['node_name']} not found in cluster {body['cluster_name']}")
    seed = next(s for s in app.store.offers(slug) if machine["id"].startswith(f"ns-{_seed_id(s)}-"))
    if machine["reserved"] or body["gpu_count"] > machine["gpus_total"]:
        return error("no_capacity", f"Not enough GPUs available on node {machine['id']}")
    tags = {"hyperbolic": {"node_name": machine["id"], "gpu_count": body["gpu_count"],
                           "userMetadata": body.get("userMetadata") or {}}}
    try:
        node, _ = app.store.create_node(
            slug, instance_type=seed["instance_type"], region=seed["region"], tags=tags,
            ports=[{"port": 22, "source": "0.0.0.0/0"}], loopback=app.run_user_data,
            capacity_error=app.chance(app.store.faults(slug).capacity_error_rate))
    except SimError as exc:
        if exc.kind == "no_capacity":
            return error("no_capacity", f"Not enough GPUs available on node {machine['id']}")
        if exc.kind == "quota_exceeded":
            return error("quota_exceeded", f"Instance limit reached for this account: {exc.message}")
        raise
    app.node_started(slug, node, "")
    return Response(200, {"status": "success", "instance_name": instance_name(node["id"])})


def _invalid_create(body: object) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    for name in ("cluster_name", "node_name"):
        if not isinstance(body.get(name), str) or not body[name]:
            return f"{name} is required"
    count = body.get("gpu_count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        return "gpu_count must be a positive integer"
    if body.get("image") is not None and not isinstance(body["image"], dict | str):
        return "image must be an object {name, tag, port}"
    metadata = body.get("userMetadata")
    if metadata is not None and not isinstance(metadata, dict):
        return "userMetadata must be an object"
    return None


def _live(app: SimulatorApp, slug: str) -> list[dict]:
    return [n for n in app.store.list_nodes(slug, include_terminated=True)
            if n["state"] != "terminated" and "hyperbolic" in n["tags"]]


def _instance(app: SimulatorApp, slug: str, node: dict) -> dict:
    rental = node["tags"]["hyperbolic"]
    seed = next((s for s in app.store.offers(slug) if (s["instance_type"], s["region"])
                 == (node["instance_type"], node["region"])), None)
    machine = _machine(seed, rental["node_name"], rented=True) if seed else {}
    ssh = None
    if node["state"] == "running":
        host, port = app.ssh_address(slug, node, SSH_USER)
        ssh = f"ssh {SSH_USER}@{host} -p {port}"
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(node["created_at"]))
    return {
        "id": instance_name(node["id"]), "created": started, "start": started, "end": None, "sshCommand": ssh,
        "userMetadata": rental["userMetadata"],
        "instance": {"id": rental["node_name"], "status": STATUS_BY_STATE[node["state"]],
                     "hardware": machine.get("hardware", {}), "gpu_count": rental["gpu_count"],
                     "gpus_total": machine.get("gpus_total"), "owner": f"account-{slug}",
                     "pricing": machine.get("pricing"), "cluster_name": machine.get("cluster_name")},
    }


def _terminate(app: SimulatorApp, slug: str, body: object) -> Response:
    ref = body.get("id") if isinstance(body, dict) else None
    if not isinstance(ref, str) or not ref:
        return error("invalid_request", "id is required")
    node = next((n for n in _live(app, slug) if instance_name(n["id"]) == ref), None)
    if node is None:
        return error("not_found", f"Instance {ref} not found")
    app.store.terminate_node(slug, node["id"])
    app.node_stopped(node["id"])
    return Response(200, {"status": "success", "message": f"Instance {ref} terminated"})
