"""A Seeweb ECS API v2-shaped API (docs.seeweb.it/en/hosting/cloudserver/rest-api; the answers are those the vendor's
`ecsapi` SDK models parse): `X-APITOKEN` auth, `plans`, `plans/availables`, `servers` created, listed, shown and
deleted, `actions/{id}` and `sshkeys`; errors are `{"status": "error", "error_code", "message"}`.

A seeded instance type that is a Seeweb plan name (`ECS<n>GPU<m>`) is a plan; each seeded location is one of its
regions (a seed without a location is a plan compatible with no region). A plan is creatable in a region while the
seed there has free capacity. As on Seeweb, creation is asynchronous: a create answers the server (`Booting`, named
`ec2…` in sequence) and the id of its `new_server` action, and a create the region lacks the resources for is
accepted and its action fails (the server reads `Fail`). A deleted server reads `Deleting` for `terminate_delay_s`,
then is forgotten. Seeweb sells no spot servers and opens every port. With `--run-user-data` a booted server's
sshd (the simulator's SSH server) takes `ecuser` logins on its `ipv4` at `SSH_PORT`: Seeweb's API reports no port
(its servers listen on 22, which only root can bind here), so the broker's adapter option `ssh_port` names this one.
"""

from __future__ import annotations

import re
import threading
import zlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .messages import Request, Response
from .ratelimit import launch_limits
from .store import SimError

if TYPE_CHECKING:
    from .app import SimulatorApp

PLAN_RE = re.compile(r"^ECS\d+GPU\d*$")
REGIONS = {"it-fr2": (1, "Frosinone"), "it-mi2": (2, "Milano"), "ch-lug1": (3, "Lugano"), "bg-sof1": (4, "Sofia"),
           "hr-zag1": (5, "Zagabria")}
# Seeweb's gpu_label for the catalogue's GPU names (as its plans report them).
GPU_LABELS = {"H200": "H200 141GB", "A6000": "RTX A6000 48GB", "A100-80GB": "A100 80GB", "L4": "L4 24GB",
              "L40S": "L40s 48GB", "H100": "H100 80GB", "A30": "A30", "RTX6000": "RTX 6000 24GB",
              "RTXPRO6000": "RTX PRO 6000 96GB"}
IMAGE = "ubuntu-2204-nvidia-driver"
UEFI_IMAGE = "ubuntu-2204-uefi-nvidia-driver"  # the H200 plans boot UEFI (as SkyPilot picks their image)
SSH_PORT = 2222
LOGIN_USER = "ecuser"
STATUS_BY_KIND = {"invalid_request": 400, "auth_failed": 401, "quota_exceeded": 403, "not_found": 404}
_naming = threading.Lock()  # server names are a per-account sequence


def error(kind: str, message: str) -> Response:
    status = STATUS_BY_KIND[kind]
    return Response(status, {"status": "error", "error_code": status, "message": message})


def server_error(status: int, message: str) -> Response:
    return Response(status, {"status": "error", "error_code": status, "message": message})


def rate_limits(request: Request, faults) -> list[tuple[str, float]]:
    """The simulator's request and launch intervals (the vendor publishes no figures of its own)."""
    return launch_limits(request, faults, "POST", ("servers",))


def rate_limited(wait_s: int) -> Response:
    return Response(429, {"status": "error", "error_code": 429, "message": f"too many requests: retry in {wait_s} s"},
                    {"Retry-After": str(wait_s)})


def handle(app: SimulatorApp, slug: str, request: Request) -> Response:
    if request.headers.get("x-apitoken", "") != app.store.token(slug):
        return error("auth_failed", "invalid or missing X-APITOKEN")
    if request.parts[2:4] != ["ecs", "v2"]:
        return error("not_found", "no such path")
    try:
        return _route(app, slug, request.parts[4:], request.method, request)
    except SimError as exc:
        return error(exc.kind, exc.message)


def _route(app: SimulatorApp, slug: str, route: list[str], method: str, request: Request) -> Response:
    if route == ["plans"] and method == "GET":
        return Response(200, {"status": "ok", "plans": [_plan(p) for p in _plans(app, slug).values()]})
    if route == ["plans", "availables"] and method == "GET":
        return Response(200, {"status": "ok", "plans": _availables(app, slug)})
    if route == ["servers"] and method == "GET":
        servers = [_server(app, slug, n) for n in _servers(app, slug)]
        return Response(200, {"status": "ok", "count": len(servers), "server": servers})
    if route == ["servers"] and method == "POST":
        return _create(app, slug, request.body)
    if len(route) == 2 and route[0] == "servers" and method == "GET":
        return Response(200, {"status": "ok", "server": _server(app, slug, _server_node(app, slug, route[1]))})
    if len(route) == 2 and route[0] == "servers" and method == "DELETE":
        node = _server_node(app, slug, route[1])
        if node["state"] != "terminated":
            node = app.store.terminate_node(slug, node["id"])
            app.node_stopped(node["id"])
        return Response(200, {"status": "ok", "action": _delete_action(app, slug, node)})
    if len(route) == 2 and route[0] == "actions" and method == "GET":
        return Response(200, {"status": "ok", "action": _action(app, slug, route[1])})
    if route == ["sshkeys"] and method == "GET":
        return Response(200, {"status": "ok", "pubkeys": [
            {"id": i, "key": k["public_key"], "label": k["name"], "created_at": "2026-01-01T00:00:00+00:00"}
            for i, k in enumerate(app.store.ssh_keys(slug), start=1)]})
    if route == ["sshkeys"] and method == "POST":
        body = request.body if isinstance(request.body, dict) else {}
        if not isinstance(body.get("key"), str) or not isinstance(body.get("label"), str) or not body["label"]:
            return error("invalid_request", "key and label are required")
        app.store.add_ssh_key(slug, body["label"], body["key"])
        return Response(200, {"status": "ok"})
    return error("not_found", "no such path")


# -- plans -------------------------------------------------------------------------------------------
def _plans(app: SimulatorApp, slug: str) -> dict[str, dict]:
    """Plan name → the plan's shape, price and {region: free capacity}, from the seeds that name a Seeweb plan."""
    plans: dict[str, dict] = {}
    for seed in app.store.offers(slug):
        if not PLAN_RE.match(seed["instance_type"]):
            continue
        plan = plans.setdefault(seed["instance_type"], {"seed": seed, "regions": {}})
        if seed["region"] in REGIONS:
            plan["regions"][seed["region"]] = seed["available_nodes"]
    return dict(sorted(plans.items()))


def _plan(plan: dict) -> dict:
    seed = plan["seed"]
    return {
        "id": zlib.crc32(seed["instance_type"].encode()) % 100_000, "name": seed["instance_type"], "cpu": str(int(seed["vcpus"])),
        "ram": str(int(seed["memory_gb"] * 1024)), "disk": str(100 * seed["gpus_per_node"]),
        "gpu": str(seed["gpus_per_node"]), "gpu_label": GPU_LABELS.get(seed["gpu"], seed["gpu"]),
        "hourly_price": seed["price_per_hour"], "montly_price": round(seed["price_per_hour"] * 730, 2),
        "windows": False, "host_type": "ECS", "available": True, "default_image": _image(seed["instance_type"]),
        "available_regions": [{"id": REGIONS[r][0], "location": r, "description": REGIONS[r][1]}
                              for r in plan["regions"]],
    }


def _image(plan: str) -> str:
    return UEFI_IMAGE if plan.endswith("GPU10") else IMAGE


def _availables(app: SimulatorApp, slug: str) -> list[dict]:
    servers = _servers(app, slug)
    answer = []
    for name, plan in _plans(app, slug).items():
        regions = [r for r, free in plan["regions"].items() if free > 0]
        if not regions:
            continue
        fields = {k: v for k, v in _plan(plan).items() if k != "available_regions"}
        answer.append({**fields, "os_availables": [_image_record(_image(name))], "runtimeclass": None,
                       "region_availables": [{"region": r, "hosts": [{"host": f"{r}-gpu-1", "servers": [
                           {"name": n["name"], "notes": n["tags"].get("notes", "")} for n in servers
                           if (n["instance_type"], n["region"]) == (name, r)]}]} for r in regions]})
    return answer


def _image_record(name: str) -> dict:
    return {"id": 1 if name == IMAGE else 2, "name": name, "creation_date": "2025-01-15T10:00:00+00:00",
            "deletion_date": None, "active_flag": True, "status": "CD", "uuid": f"00000000-0000-0000-0000-{name[-12:]:0>12}",
            "description": "Ubuntu 22.04 with NVIDIA driver", "notes": "", "public": True, "cloud_image": False,
            "so_base": "ubuntu", "required_disk": 20, "api_version": "v4", "api_version_value": 4, "version": "22.04"}


# -- servers -----------------------------------------------------------------------------------------
def _servers(app: SimulatorApp, slug: str) -> list[dict]:
    """Every server Seeweb still shows: live and failed ones, and deleted ones until their delete completes."""
    delay = app.store.faults(slug).terminate_delay_s
    now = app.store.clock()
    return [n for n in app.store.list_nodes(slug, include_terminated=True)
            if n["state"] != "terminated" or n["terminated_at"] + delay > now]


def _server_node(app: SimulatorApp, slug: str, name: str) -> dict:
    node = next((n for n in _servers(app, slug) if n["name"] == name), None)
    if node is None:
        raise SimError("not_found", f"server {name} not found")
    return node


def _create(app: SimulatorApp, slug: str, body: object) -> Response:
    if not isinstance(body, dict):
        return error("invalid_request", "body must be a JSON object")
    for field in ("plan", "image", "location", "notes"):
        if not isinstance(body.get(field), str) or not body[field]:
            return error("invalid_request", f"{field} is required")
    plan = _plans(app, slug).get(body["plan"])
    if plan is None:
        return error("invalid_request", f"plan {body['plan']} not found")
    if body["location"] not in plan["regions"]:
        return error("invalid_request", f"location {body['location']} is not available for plan {body['plan']}")
    if body["image"] != _image(body["plan"]):
        return error("invalid_request", f"image {body['image']} is not available for plan {body['plan']}")
    ssh_key = body.get("ssh_key")
    if ssh_key is not None and ssh_key not in {k["name"] for k in app.store.ssh_keys(slug)}:
        return error("invalid_request", f"ssh key {ssh_key} not found")
    seed = plan["seed"]
    tags = {"notes": body["notes"], "image": body["image"], "ssh_key": ssh_key or ""}
    with _naming:
        name = f"ec2{len(app.store.list_nodes(slug, include_terminated=True)) + 1:05d}"
        try:
            node, _ = app.store.create_node(
                slug, instance_type=seed["instance_type"], region=body["location"], name=name, tags=tags,
                ports=[{"port": 22, "source": "0.0.0.0/0"}], loopback=app.run_user_data,
                capacity_error=app.chance(app.store.faults(slug).capacity_error_rate))
        except SimError as exc:
            if exc.kind != "no_capacity":
                raise
            # Seeweb accepts the create and fails its action for lack of resources.
            node = app.store.record_failed_node(slug, instance_type=seed["instance_type"], region=body["location"],
                                                name=name, tags=tags)
        else:
            app.node_started(slug, node, "")
    server = _server(app, slug, node)
    action_id = _create_action_id(name)
    # The SDK's create answer reads `action_id`; the documentation's example shows `action`.
    return Response(200, {"status": "ok", "action_id": action_id, "action": action_id, "server": server})


def _server(app: SimulatorApp, slug: str, node: dict) -> dict:
    plan = _plans(app, slug).get(node["instance_type"])
    seed = plan["seed"] if plan else {"vcpus": 0, "memory_gb": 0, "gpus_per_node": 0, "gpu": ""}
    state = node["state"]
    status = {"pending": "Booting", "running": "Booted", "failed": "Fail", "terminated": "Deleting"}[state]
    booted = state == "running"
    if booted:  # the server's sshd is up once it is booted
        app.ssh_address(slug, node, LOGIN_USER, port=SSH_PORT)
    return {
        "name": node["name"], "ipv4": node["ip"] if booted else "",
        "ipv6": f"2001:db8::{node['name'][3:]}" if booted else "", "group": None, "plan": node["instance_type"],
        "plan_size": {"core": str(int(seed["vcpus"])), "ram": str(int(seed["memory_gb"] * 1024)),
                      "disk": str(100 * seed["gpus_per_node"]), "gpu": str(seed["gpus_per_node"]),
                      "gpu_label": GPU_LABELS.get(seed["gpu"], seed["gpu"]), "host_type": "ECS"},
        "reserved_plans": [], "last_restored_snapshot": None, "is_reserved": False, "reserved_until": "",
        "support": None, "location": node["region"], "location_label": REGIONS.get(node["region"], (0, ""))[1].lower(),
        "notes": node["tags"].get("notes", ""), "so": node["tags"].get("image", ""), "so_label": "Ubuntu 22.04",
        "creation_date": _iso(node["created_at"]),
        "deletion_date": _iso(node["terminated_at"]) if node["terminated_at"] else None,
        "active_flag": state in ("pending", "running"), "status": status,
        "progress": 100 if booted or state == "terminated" else (0 if state == "failed" else 10),
        "api_version": "v4", "api_version_value": 4, "user": f"eCS{slug}", "virttype": "kvm",
    }


# -- actions -----------------------------------------------------------------------------------------
def _create_action_id(server_name: str) -> int:
    """Actions are numbered with the servers: ec2000n's new_server action is 2n - 1, its delete_server 2n."""
    return 2 * int(server_name[3:]) - 1


def _action(app: SimulatorApp, slug: str, ref: str) -> dict:
    if not ref.isdigit() or int(ref) < 1:
        raise SimError("not_found", f"action {ref} not found")
    name = f"ec2{(int(ref) + 1) // 2:05d}"
    node = next((n for n in app.store.list_nodes(slug, include_terminated=True) if n["name"] == name), None)
    if node is None or (int(ref) % 2 == 0 and node["terminated_at"] is None):
        raise SimError("not_found", f"action {ref} not found")
    if int(ref) % 2 == 0:
        return _delete_action(app, slug, node)
    status = {"pending": "in-progress", "running": "completed", "failed": "failed", "terminated": "completed"}
    done = status[node["state"]] != "in-progress"
    return _action_record(slug, int(ref), node, "new_server", status[node["state"]], node["created_at"],
                          node["created_at"] if done else None)


def _delete_action(app: SimulatorApp, slug: str, node: dict) -> dict:
    finished = node["terminated_at"] + app.store.faults(slug).terminate_delay_s
    done = app.store.clock() >= finished
    return _action_record(slug, _create_action_id(node["name"]) + 1, node, "delete_server",
                          "completed" if done else "in-progress", node["terminated_at"], finished if done else None)


def _action_record(slug: str, action_id: int, node: dict, kind: str, status: str, started: float,
                   completed: float | None) -> dict:
    return {"id": action_id, "status": status, "user": f"eCS{slug}", "created_at": _iso(started),
            "started_at": _iso(started), "completed_at": _iso(completed) if completed is not None else None,
            "resource": node["name"], "resource_type": "ECS", "type": kind,
            "progress": 100 if status != "in-progress" else 10}


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()
