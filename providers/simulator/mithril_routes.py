"""A Mithril Compute API-shaped API (docs/vendor/mithril-openapi.yaml): Bearer auth, projects, instance types,
spot availability (auctions), spot bids placed, listed, shown and cancelled, the bids' instances, SSH keys;
FastAPI's `{"detail": ...}` error answers.

Mithril sells capacity only through spot bids, so every seeded offer is an auction: its spot price (or, when the
seed has none, its list price) is the auction's `last_instance_price`, its free capacity the auction's. A bid
asks for one instance here and is a simulator node (spot). The bid's status follows the node: `Allocated`
while it starts and runs, `Preempting` once the preemption notice is out, `Open` again after Mithril took the
instance back (the bid waits for capacity; the instance reads `STATUS_PREEMPTED`), `Terminated` when cancelled.
A cancelled bid stays readable, as on Mithril. A bid placed when the auction has no free capacity is refused
(409) rather than left open: the simulator does not run the auction's waiting list.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .messages import Request, Response
from .ratelimit import launch_limits
from .store import SimError

if TYPE_CHECKING:
    from .app import SimulatorApp

STATUS_BY_KIND = {"invalid_request": 400, "auth_failed": 401, "quota_exceeded": 403, "not_found": 404,
                  "no_capacity": 409}
MESSAGE_PREFIX = {"no_capacity": "Insufficient capacity: ", "quota_exceeded": "Quota exceeded: "}
INSTANCE_STATUS = {"pending": "STATUS_STARTING", "running": "STATUS_RUNNING", "failed": "STATUS_ERROR",
                   "terminated": "STATUS_TERMINATED"}
GPU_MEMORY_GB = {"A100": 40, "A100-80GB": 80, "B200": 180, "H100": 80, "H200": 141}
KEY_PREFIX = "mithril-key:"
CANCELLED_TAG = "mithril:cancelled"  # the bid itself was cancelled (its instance may have been preempted first)
CREATE_BID_FIELDS = {"project": str, "region": str, "instance_type": str, "limit_price": str,
                     "instance_quantity": int, "name": str, "launch_specification": dict}


def error(kind: str, message: str) -> Response:
    return Response(STATUS_BY_KIND[kind], {"detail": MESSAGE_PREFIX.get(kind, "") + message})


def server_error(status: int, message: str) -> Response:
    return Response(status, {"detail": message})


def invalid(field: str, message: str) -> Response:
    """FastAPI's validation answer (422) for one field of the body."""
    return Response(422, {"detail": [{"loc": ["body", field], "msg": message, "type": "value_error"}]})


def rate_limits(request: Request, faults) -> list[tuple[str, float]]:
    """The simulator's request and launch intervals (Mithril publishes no figures of its own)."""
    return launch_limits(request, faults, "POST", ("spot", "bids"))


def rate_limited(wait_s: int) -> Response:
    return Response(429, {"detail": f"Rate limit exceeded: retry in {wait_s} s"}, {"Retry-After": str(wait_s)})


def fid(prefix: str, *parts: str) -> str:
    return f"{prefix}_{hashlib.sha256('|'.join(parts).encode()).hexdigest()[:12]}"


def handle(app: SimulatorApp, slug: str, request: Request) -> Response:
    if not app.authorized(slug, request):
        return error("auth_failed", "Invalid API key")
    route, method = request.parts[2:], request.method
    try:
        if route[:1] != ["v2"]:
            return error("not_found", "Not Found")
        return _route(app, slug, route[1:], method, request)
    except SimError as exc:
        return error(exc.kind, exc.message)


def _route(app: SimulatorApp, slug: str, route: list[str], method: str, request: Request) -> Response:
    if route == ["projects"] and method == "GET":
        return Response(200, [{"fid": project_fid(slug), "name": slug, "created_at": _iso(0)}])
    if route == ["instance-types"] and method == "GET":
        return Response(200, list({t["fid"]: t for t in map(instance_type, app.store.offers(slug))}.values()))
    if route == ["spot", "availability"] and method == "GET":
        return Response(200, [_auction(seed) for seed in app.store.offers(slug)])
    if route == ["spot", "bids"] and method == "GET":
        return _bids(app, slug, request.query)
    if route == ["spot", "bids"] and method == "POST":
        return _place(app, slug, request.body)
    if len(route) == 3 and route[:2] == ["spot", "bids"] and method == "GET":
        return Response(200, _bid(app, slug, _node(app, slug, route[2])))
    if len(route) == 3 and route[:2] == ["spot", "bids"] and method == "DELETE":
        node = app.store.terminate_node(slug, _node(app, slug, route[2])["id"])
        app.store.tag_node(slug, node["id"], **{CANCELLED_TAG: "true"})
        app.node_stopped(node["id"])
        return Response(204, "")
    if route == ["instances"] and method == "GET":
        return _instances(app, slug, request.query)
    if route == ["ssh-keys"] and method == "GET":
        return Response(200, [k for k in _keys(app, slug) if k["project"] == request.query.get("project")])
    if route == ["ssh-keys"] and method == "POST":
        return _add_key(app, slug, request.body)
    return error("not_found", "Not Found")


def project_fid(slug: str) -> str:
    return fid("proj", slug)


def instance_type(seed: dict) -> dict:
    """Mithril's instance type for a seeded shape; its name is the seeded instance type."""
    name = seed["instance_type"]
    sxm = "sxm" in name.lower() or seed["interconnect"] in ("nvlink", "infiniband")
    return {"fid": fid("it", name), "name": name, "num_cpus": int(seed["vcpus"]), "cpu_type": "AMD",
            "ram_gb": int(seed["memory_gb"]), "num_gpus": seed["gpus_per_node"], "gpu_type": seed["gpu"],
            "gpu_memory_gb": GPU_MEMORY_GB.get(seed["gpu"], 80), "gpu_socket": "SXM5" if sxm else "PCIe",
            "local_storage_gb": 1000, "network_type": "InfiniBand" if seed["interconnect"] == "infiniband" else None,
            "ib_count": seed["gpus_per_node"] if seed["interconnect"] == "infiniband" else 0, "bridge_count": 0}


def _price(seed: dict) -> float:
    return seed["spot_price_per_hour"] or seed["price_per_hour"]


def _auction(seed: dict) -> dict:
    return {"fid": fid("auc", seed["instance_type"], seed["region"]), "instance_type": fid("it", seed["instance_type"]),
            "region": seed["region"], "capacity": seed["available_nodes"],
            "last_instance_price": f"${_price(seed):.2f}", "lowest_allocated_price": None,
            "adjustable_memory": False, "default_image_version": None}


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def _node(app: SimulatorApp, slug: str, bid_fid: str) -> dict:
    node = next((n for n in app.store.list_nodes(slug, include_terminated=True)
                 if f"bid_{n['id']}" == bid_fid), None)
    if node is None:
        raise SimError("not_found", f"Bid {bid_fid} not found")
    return node


def _statuses(node: dict) -> tuple[str, str]:
    """(bid status, instance status) of a bid's node."""
    if CANCELLED_TAG in node["tags"]:
        return "Terminated", "STATUS_PREEMPTED" if node["preempted_at"] is not None else "STATUS_TERMINATED"
    if node["preempted_at"] is not None:
        return "Open", "STATUS_PREEMPTED"
    if node["state"] == "terminated":
        return "Terminated", "STATUS_TERMINATED"
    if node["preempt_at"] is not None:
        return "Preempting", "STATUS_PREEMPTING"
    return "Allocated", INSTANCE_STATUS[node["state"]]


def _bid(app: SimulatorApp, slug: str, node: dict) -> dict:
    status, _ = _statuses(node)
    tags = node["tags"]
    return {
        "fid": f"bid_{node['id']}", "name": node["name"], "project": project_fid(slug), "created_by": fid("user", slug),
        "created_at": _iso(node["created_at"]),
        "deactivated_at": _iso(node["terminated_at"]) if status == "Terminated" else None,
        "limit_price": tags.get("mithril:limit_price", ""), "instance_quantity": 1,
        "instance_type": fid("it", node["instance_type"]), "region": node["region"],
        "instances": [f"inst_{node['id']}"],
        "launch_specification": {"volumes": [], "ssh_keys": json.loads(tags.get("mithril:ssh_keys", "[]")),
                                 "startup_script": node["user_data"] or None, "kubernetes_cluster": None,
                                 "image_version": None, "memory_gb": None},
        "status": status,
    }


def _instance(slug: str, node: dict) -> dict:
    _, status = _statuses(node)
    running = status in ("STATUS_RUNNING", "STATUS_PREEMPTING")
    return {"fid": f"inst_{node['id']}", "name": node["name"], "project": project_fid(slug),
            "created_at": _iso(node["created_at"]), "created_by": fid("user", slug),
            "instance_type": fid("it", node["instance_type"]), "region": node["region"], "bid": f"bid_{node['id']}",
            "reservation": None, "ssh_destination": f"ubuntu@{node['ip']}:22" if running else None,
            "private_ip": None, "status": status}


def _page(items: list[dict], query: dict[str, str]) -> dict:
    """Cursor pages: the cursor is the offset of the next page."""
    try:
        limit = min(max(int(query.get("limit") or 100), 1), 100)
        start = int(query.get("next_cursor") or 0)
    except ValueError:
        raise SimError("invalid_request", "limit and next_cursor must be integers") from None
    rest = items[start + limit:]
    return {"data": items[start:start + limit], "next_cursor": str(start + limit) if rest else None}


def _bids(app: SimulatorApp, slug: str, query: dict[str, str]) -> Response:
    bids = [_bid(app, slug, n) for n in app.store.list_nodes(slug, include_terminated=True)]
    bids = [b for b in bids if all(not query.get(f) or b[f] == query[f] for f in ("project", "name", "status"))]
    return Response(200, _page(bids, query))


def _instances(app: SimulatorApp, slug: str, query: dict[str, str]) -> Response:
    if not query.get("project"):
        return Response(422, {"detail": [{"loc": ["query", "project"], "msg": "Field required", "type": "missing"}]})
    wanted = {b for b in (query.get("bid_fid_in") or "").split(",") if b}
    nodes = [n for n in app.store.list_nodes(slug, include_terminated=True) if not wanted or f"bid_{n['id']}" in wanted]
    return Response(200, _page([_instance(slug, n) for n in nodes], query))


def _place(app: SimulatorApp, slug: str, body: object) -> Response:
    if not isinstance(body, dict):
        return invalid("body", "Input should be a valid dictionary")
    for name, kind in CREATE_BID_FIELDS.items():
        if not isinstance(body.get(name), kind) or isinstance(body.get(name), bool):
            return invalid(name, f"Field required ({kind.__name__})")
    if body["project"] != project_fid(slug):
        return error("not_found", f"Project {body['project']} not found")
    if body["instance_quantity"] != 1:
        return invalid("instance_quantity", "the simulator places bids for one instance")
    seed = next((s for s in app.store.offers(slug) if fid("it", s["instance_type"]) == body["instance_type"]), None)
    if seed is None:
        return error("invalid_request", f"Instance type {body['instance_type']} is not sold")
    spec = body["launch_specification"]
    keys = spec.get("ssh_keys") or []
    known = {k["fid"]: k["public_key"] for k in _keys(app, slug)}
    if not isinstance(keys, list) or any(k not in known for k in keys):
        return invalid("launch_specification.ssh_keys", "unknown SSH key")
    script = spec.get("startup_script") or ""
    node, _ = app.store.create_node(
        slug, instance_type=seed["instance_type"], region=body["region"], name=body["name"],
        tags={"mithril:limit_price": body["limit_price"], "mithril:ssh_keys": json.dumps(keys)},
        user_data=script, ssh_public_key="\n".join(known[k] for k in keys), spot=True, auction=True,
        loopback=app.run_user_data, capacity_error=app.chance(app.store.faults(slug).capacity_error_rate))
    node = app.node_started(slug, node, script)
    return Response(201, _bid(app, slug, node))


def _keys(app: SimulatorApp, slug: str) -> list[dict]:
    return [json.loads(k["public_key"]) for k in app.store.ssh_keys(slug) if k["name"].startswith(KEY_PREFIX)]


def _add_key(app: SimulatorApp, slug: str, body: object) -> Response:
    if not isinstance(body, dict):
        return invalid("body", "Input should be a valid dictionary")
    for name in ("project", "name", "public_key"):
        if not isinstance(body.get(name), str) or not body[name]:
            return invalid(name, "Field required")
    key = {"fid": fid("sshkey", slug, body["name"]), "name": body["name"], "project": body["project"],
           "public_key": body["public_key"], "created_at": _iso(app.store.clock()), "required": False}
    app.store.add_ssh_key(slug, KEY_PREFIX + key["fid"], json.dumps(key))
    return Response(201, {**key, "private_key": None})
