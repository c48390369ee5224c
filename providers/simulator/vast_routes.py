"""A Vast.ai API v0-shaped API (docs/vendor/vast-openapi.yaml): bearer auth, offer search
(`POST bundles`), create an instance from an offer (`asks`), show, list and destroy instances.

Every unit of a seeded offer's free capacity is one rentable Vast offer (one host) with its own id.
A seeded instance type in the catalogue's Vast spelling `<n>x-<GPU_NAME>-<cores>-<ram MB>` gives the
offer's `gpu_name`, `cpu_cores_effective` and `cpu_ram`. Destroyed instances are forgotten, as on Vast.
As Vast does, each port the create publishes (`-p` options in `env`) is mapped to an outside port of its own
on the instance's `public_ipaddr`, shown in its `ports` while it runs, and the onstart script runs on a simulated
VM whose first published port other than SSH is that port's outside port, so what the instance serves is
reached at the mapped port only.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from .messages import Request, Response
from .store import SimError

if TYPE_CHECKING:
    from .app import SimulatorApp

CODE_BY_KIND = {"invalid_request": (400, "invalid_args"), "auth_failed": (401, "auth_error"),
                "quota_exceeded": (400, "insufficient_credit"), "not_found": (404, "no_such_instance"),
                "no_capacity": (400, "no_such_ask")}
STATUS_BY_STATE = {"pending": "loading", "running": "running", "failed": "exited"}
SHAPE_RE = re.compile(r"^(\d+)x-(.+)-(\d+)-(\d+)$")
PORT_OPTION = re.compile(r"^-p (\d+):(\d+)$")
BID_TAG = "vast:bid"  # the simulator's own record of an interruptible instance's bid
SSH_PORT = 22


def error(kind: str, message: str) -> Response:
    status, code = CODE_BY_KIND[kind]
    return Response(status, {"success": False, "error": code, "msg": message})


def server_error(status: int, message: str) -> Response:
    return Response(status, {"success": False, "error": "server_error", "msg": message})


def rate_limits(request: Request, faults) -> list[tuple[str, float]]:
    """The simulator's request and launch intervals (the vendor publishes no figures of its own)."""
    limits = [("requests", faults.request_interval_s)]
    if request.method == "PUT" and len(request.parts) >= 2 and request.parts[-2] == "asks":
        limits.append(("launch", faults.launch_interval_s))
    return limits


def rate_limited(wait_s: int) -> Response:
    body = {"success": False, "error": "too_many_requests", "msg": f"API requests too frequent: retry in {wait_s} s"}
    return Response(429, body, {"Retry-After": str(wait_s)})


def handle(app: SimulatorApp, slug: str, request: Request) -> Response:
    if not app.authorized(slug, request):
        return error("auth_failed", "Invalid or missing API key")
    route, method = request.parts[2:], request.method
    try:
        if route[:2] != ["api", "v0"]:
            return error("not_found", "no such path")
        return _route(app, slug, route[2:], method, request)
    except SimError as exc:
        return error(exc.kind, exc.message)


def _route(app: SimulatorApp, slug: str, route: list[str], method: str, request: Request) -> Response:
    if route == ["bundles"] and method == "POST":
        if request.body is not None and not isinstance(request.body, dict):
            return error("invalid_request", "the search body must be a JSON object")
        return Response(200, {"offers": [offer for offer, _ in _offers(app, slug)]})
    if len(route) == 2 and route[0] == "asks" and method == "PUT":
        return _create(app, slug, route[1], request.body)
    if route == ["instances"] and method == "GET":
        instances = [_instance(app, slug, n) for n in _held(app, slug)]
        return Response(200, {"instances_found": len(instances), "instances": instances})
    if len(route) == 2 and route[0] == "instances" and method == "GET":
        return Response(200, {"instances": _instance(app, slug, _live_node(app, slug, route[1]))})
    if len(route) == 2 and route[0] == "instances" and method == "DELETE":
        node = app.store.terminate_node(slug, _live_node(app, slug, route[1])["id"])
        app.node_stopped(node["id"])
        return Response(200, {"success": True, "msg": "Instance destroyed successfully"})
    return error("not_found", "no such path")


def vast_id(key: str) -> int:
    """A stable positive integer id (Vast ids are integers)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16)


def host_port(node_id: str, port: int) -> int:
    """The outside port Vast maps an instance's published port to (20000-59999, stable per instance and port)."""
    return 20000 + int(hashlib.sha256(f"{node_id}:{port}".encode()).hexdigest()[:8], 16) % 40000


def _held(app: SimulatorApp, slug: str) -> list[dict]:
    """The account's instances: live ones, and interruptible ones stopped when outbid (held until destroyed)."""
    return [n for n in app.store.list_nodes(slug, include_terminated=True)
            if n["state"] not in ("terminated", "failed") or n["preempted_at"] is not None]


def _live_node(app: SimulatorApp, slug: str, ref: str) -> dict:
    node = next((n for n in _held(app, slug) if str(vast_id(n["id"])) == ref), None)
    if node is None:
        raise SimError("not_found", f"no instance {ref}")
    return node


def _shape(offer: dict) -> dict:
    match = SHAPE_RE.match(offer["instance_type"])
    if match:
        gpus, gpu, cores, ram = match.groups()
        return {"num_gpus": int(gpus), "gpu_name": gpu.replace("_", " "), "cpu_cores_effective": float(cores),
                "cpu_ram": int(ram)}
    return {"num_gpus": offer["gpus_per_node"], "gpu_name": offer["gpu"], "cpu_cores_effective": offer["vcpus"],
            "cpu_ram": int(offer["memory_gb"] * 1024)}


def _offers(app: SimulatorApp, slug: str) -> list[tuple[dict, dict]]:
    """(Vast offer, seeded offer) for each free node of each seeded offer; ids are stable per host slot."""
    out = []
    for seed in app.store.offers(slug):
        for slot in range(seed["available_nodes"]):
            ask_id = vast_id(f"{slug}|{seed['instance_type']}|{seed['region']}|{slot}")
            out.append(({
                "id": ask_id, "ask_contract_id": ask_id, **_shape(seed),
                "gpu_ram": 81920 if seed["gpu"] == "A100-80GB" else 24576, "dph_total": seed["price_per_hour"],
                "min_bid": seed["spot_price_per_hour"] or 0.0, "geolocation": seed["region"], "rentable": True,
                "rented": False, "reliability2": 0.99, "verification": "verified"}, seed))
    return out


def _create(app: SimulatorApp, slug: str, ask_id: str, body: object) -> Response:
    problem = _invalid_create(body)
    if problem:
        return error("invalid_request", problem)
    seed = next((seed for offer, seed in _offers(app, slug) if str(offer["id"]) == ask_id), None)
    if seed is None:
        return error("no_capacity", f"offer {ask_id} is no longer available")
    tags = {BID_TAG: str(body["price"])} if body.get("price") is not None else {}
    node, _ = app.store.create_node(
        slug, instance_type=seed["instance_type"], region=seed["region"], name=body.get("label") or "", tags=tags,
        user_data=body.get("onstart") or "", spot=bool(tags), ports=_ports(body.get("env") or {}),
        loopback=app.run_user_data,
        capacity_error=app.chance(app.store.faults(slug).capacity_error_rate))
    mapped = [{"port": host_port(node["id"], p["port"])}
              for p in sorted(node["ports"], key=lambda p: p["port"]) if p["port"] != SSH_PORT]
    app.node_started(slug, {**node, "ports": mapped}, body.get("onstart") or "")
    return Response(200, {"success": True, "new_contract": vast_id(node["id"])})


def _ports(env: dict) -> list[dict]:
    """Docker `-p <host>:<container>` options in `env` (Vast's port mappings), open to anyone."""
    return [{"port": int(match.group(2)), "source": "0.0.0.0/0"} for key in env if (match := PORT_OPTION.match(key))]


def _invalid_create(body: object) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if not isinstance(body.get("image"), str) or not body["image"]:
        return "image is required"
    for name in ("label", "onstart", "runtype"):
        if not isinstance(body.get(name) or "", str):
            return f"{name} must be a string"
    if not isinstance(body.get("env") or {}, dict):
        return "env must be an object"
    price = body.get("price")
    if price is not None and (isinstance(price, bool) or not isinstance(price, int | float) or price <= 0):
        return "price (bid per hour) must be a positive number"
    return None


def _instance(app: SimulatorApp, slug: str, node: dict) -> dict:
    offer = next((o for o in app.store.offers(slug) if o["instance_type"] == node["instance_type"]
                  and o["region"] == node["region"]), None)
    shape = _shape(offer) if offer else {}
    bid = node["tags"].get(BID_TAG)
    running = node["state"] == "running"
    outbid = node["preempted_at"] is not None  # an interruptible instance that lost its bid is stopped, not gone
    return {
        "id": vast_id(node["id"]), "actual_status": "exited" if outbid else STATUS_BY_STATE.get(node["state"]),
        "intended_status": "running", "cur_state": "stopped" if outbid else "running", "label": node["name"] or None, **shape,
        "geolocation": node["region"], "public_ipaddr": node["ip"] if running else None,
        "ports": {f"{p['port']}/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(host_port(node["id"], p["port"]))}]
                  for p in node["ports"]} if running else {},
        "dph_total": float(bid) if bid else (offer["price_per_hour"] if offer else 0.0), "is_bid": bid is not None,
        "onstart": node["user_data"], "start_date": node["created_at"],
    }
