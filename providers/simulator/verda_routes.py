"""A Verda (formerly DataCrunch) Public API v1-shaped API (docs/vendor/verda-openapi.yaml): OAuth2
client credentials, instance types, availability, instances, startup scripts and SSH keys.

The client secret is the partner's simulator token; the access token it buys is `at-<token>`.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .messages import Request, Response
from .ratelimit import launch_limits
from .store import SimError

if TYPE_CHECKING:
    from .app import SimulatorApp

CODE_BY_KIND = {"invalid_request": (400, "invalid_request"), "auth_failed": (401, "unauthorized_request"),
                "quota_exceeded": (400, "insufficient_funds"), "not_found": (404, "not_found"),
                "no_capacity": (503, "service_unavailable")}
STATUS_BY_STATE = {"pending": "provisioning", "running": "running", "terminated": "discontinued", "failed": "error"}
# A reclaimed spot instance ends `discontinued` like a deleted one; `is_spot` tells the adapter it was preempted.
MODEL = {"A100-80GB": "A100"}  # Verda names both A100 sizes alike; gpu_memory tells them apart
SCRIPT_PREFIX = "script:"  # startup scripts live beside the SSH keys, under this name prefix


def error(kind: str, message: str) -> Response:
    status, code = CODE_BY_KIND[kind]
    if kind == "no_capacity":
        message = f"Not enough resources to deploy: {message}"
    return Response(status, {"code": code, "message": message})


def server_error(status: int, message: str) -> Response:
    return Response(status, {"code": "server_error", "message": message})


def rate_limits(request: Request, faults) -> list[tuple[str, float]]:
    """The simulator's request and launch intervals (the vendor publishes no figures of its own)."""
    return launch_limits(request, faults, "POST", ("instances",))


def rate_limited(wait_s: int) -> Response:
    return Response(429, {"code": "too_many_requests", "message": f"Rate limit exceeded: retry in {wait_s} s"}, {"Retry-After": str(wait_s)})


def handle(app: SimulatorApp, slug: str, request: Request) -> Response:
    route, method = request.parts[2:], request.method
    try:
        if route[:1] != ["v1"]:
            return error("not_found", "no such path")
        if route[1:] == ["oauth2", "token"] and method == "POST":
            return _token(app, slug, request.body)
        if request.headers.get("authorization", "") != f"Bearer at-{app.store.token(slug)}":
            return error("auth_failed", "Invalid or expired access token")
        return _route(app, slug, route[1:], method, request)
    except SimError as exc:
        return error(exc.kind, exc.message)


def _route(app: SimulatorApp, slug: str, route: list[str], method: str, request: Request) -> Response:
    if route == ["instance-types"] and method == "GET":
        return Response(200, [_type(o) for o in _shapes(app, slug).values()])
    if route == ["instance-availability"] and method == "GET":
        return Response(200, _availability(app, slug, request.query.get("is_spot") == "true"))
    if route == ["instances"] and method == "GET":
        nodes = app.store.list_nodes(slug, include_terminated=True)
        return Response(200, [_instance(app, slug, n) for n in nodes])
    if len(route) == 2 and route[0] == "instances" and method == "GET":
        return Response(200, _instance(app, slug, app.store.get_node(slug, route[1])))
    if route == ["instances"] and method == "POST":
        return _create(app, slug, request.body)
    if route == ["instances"] and method == "PUT":
        return _action(app, slug, request.body)
    if route in (["scripts"], ["sshkeys"]) and method == "GET":
        return Response(200, _named(app, slug, scripts=route == ["scripts"]))
    if route in (["scripts"], ["sshkeys"]) and method == "POST":
        return _add_named(app, slug, request.body, scripts=route == ["scripts"])
    return error("not_found", "no such path")


def _token(app: SimulatorApp, slug: str, body: object) -> Response:
    if not isinstance(body, dict) or body.get("grant_type") != "client_credentials":
        return error("invalid_request", "grant_type must be client_credentials")
    if not body.get("client_id") or body.get("client_secret") != app.store.token(slug):
        return error("auth_failed", "Invalid client credentials")
    return Response(200, {"access_token": f"at-{app.store.token(slug)}", "refresh_token": "rt", "expires_in": 3600,
                          "token_type": "Bearer", "scope": "cloud-api-v1"})


def _shapes(app: SimulatorApp, slug: str) -> dict[str, dict]:
    return {o["instance_type"]: o for o in app.store.offers(slug)}


def _type(offer: dict) -> dict:
    gpus = offer["gpus_per_node"]
    memory = 80 if offer["gpu"] == "A100-80GB" else 48
    return {
        "id": hashlib.sha256(offer["instance_type"].encode()).hexdigest()[:32], "instance_type": offer["instance_type"],
        "price_per_hour": f"{offer['price_per_hour']:.2f}", "spot_price": f"{offer['spot_price_per_hour'] or 0:.3f}",
        "description": f"{gpus}x {offer['gpu']}", "currency": "usd", "manufacturer": "NVIDIA",
        "model": MODEL.get(offer["gpu"], offer["gpu"]), "name": offer["gpu"], "display_name": offer["gpu"],
        "cpu": {"description": f"{int(offer['vcpus'])} CPU", "number_of_cores": int(offer["vcpus"])},
        "gpu": {"description": f"{gpus}x {offer['gpu']}", "number_of_gpus": gpus},
        "memory": {"description": f"{int(offer['memory_gb'])}GB RAM", "size_in_gigabytes": int(offer["memory_gb"])},
        "gpu_memory": {"description": f"{memory * gpus}GB VRAM", "size_in_gigabytes": memory * gpus},
        "storage": {"description": "dynamic", "size_in_gigabytes": 0}, "best_for": [],
        "p2p": "" if offer["interconnect"] == "pcie" else "600 GB/s", "supported_os": ["ubuntu-24.04-cuda-12.8-open-docker"],
    }


def _availability(app: SimulatorApp, slug: str, spot: bool) -> list[dict]:
    by_location: dict[str, list[str]] = {}
    for offer in app.store.offers(slug):
        if offer["available_nodes"] > 0 and (not spot or offer["spot_price_per_hour"]):
            by_location.setdefault(offer["region"], []).append(offer["instance_type"])
    return [{"location_code": code, "availabilities": names} for code, names in sorted(by_location.items())]


def _instance(app: SimulatorApp, slug: str, node: dict) -> dict:
    offer = _shapes(app, slug).get(node["instance_type"])
    shape = _type(offer) if offer else {}
    running = node["state"] == "running"
    return {
        "id": node["id"], "instance_type": node["instance_type"], "hostname": node["name"],
        "price_per_hour": float(shape.get("price_per_hour") or 0), "description": node["tags"].get("description", ""),
        "status": STATUS_BY_STATE[node["state"]], "location": node["region"],
        "created_at": datetime.fromtimestamp(node["created_at"], UTC).isoformat(), "ip": node["ip"] if running else None,
        "ssh_key_ids": [], "is_spot": node["spot"], "image": "ubuntu-24.04-cuda-12.8-open-docker",
        **{k: shape.get(k, {}) for k in ("cpu", "gpu", "memory", "storage", "gpu_memory")},
    }


def _create(app: SimulatorApp, slug: str, body: object) -> Response:
    problem = _invalid_create(body)
    if problem:
        return error("invalid_request", problem)
    script = ""
    if body.get("startup_script_id"):
        script = next((s["script"] for s in _named(app, slug, scripts=True) if s["id"] == body["startup_script_id"]),
                      None)
        if script is None:
            return error("invalid_request", f"startup script {body['startup_script_id']} does not exist")
    tags = {"description": body.get("description") or ""}
    node, _ = app.store.create_node(
        slug, instance_type=body["instance_type"], region=body["location_code"], name=body["hostname"], tags=tags,
        user_data=script, spot=bool(body.get("is_spot")), loopback=app.run_user_data,
        capacity_error=app.chance(app.store.faults(slug).capacity_error_rate))
    app.node_started(slug, node, script)
    return Response(200, node["id"])


def _invalid_create(body: object) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    for name in ("instance_type", "image", "hostname", "location_code"):
        if not isinstance(body.get(name), str) or not body[name]:
            return f"{name} is required"
    if not isinstance(body.get("ssh_key_ids", []), list):
        return "ssh_key_ids must be a list"
    return None


def _action(app: SimulatorApp, slug: str, body: object) -> Response:
    if not isinstance(body, dict) or body.get("action") != "delete":
        return error("invalid_request", "only the delete action is simulated")
    ids = body.get("id")
    ids = ids if isinstance(ids, list) else [ids]
    if not ids or not all(isinstance(i, str) and i for i in ids):
        return error("invalid_request", "id must be an instance id or a list of them")
    for node_id in ids:
        app.store.get_node(slug, node_id)  # all or nothing
    for node_id in ids:
        app.node_stopped(app.store.terminate_node(slug, node_id)["id"])
    return Response(202, "")


def _named(app: SimulatorApp, slug: str, *, scripts: bool) -> list[dict]:
    out = []
    for row in app.store.ssh_keys(slug):
        is_script = row["name"].startswith(SCRIPT_PREFIX)
        if is_script != scripts:
            continue
        name = row["name"][len(SCRIPT_PREFIX):] if scripts else row["name"]
        item_id = hashlib.sha256(row["name"].encode()).hexdigest()[:32]
        out.append({"id": item_id, "name": name, "script" if scripts else "key": row["public_key"]})
    return out


def _add_named(app: SimulatorApp, slug: str, body: object, *, scripts: bool) -> Response:
    field = "script" if scripts else "key"
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
        return error("invalid_request", "name is required")
    if not isinstance(body.get(field), str) or not body[field].strip():
        return error("invalid_request", f"{field} is required")
    stored = f"{SCRIPT_PREFIX}{body['name']}" if scripts else body["name"]
    app.store.add_ssh_key(slug, stored, body[field])
    return Response(200, hashlib.sha256(stored.encode()).hexdigest()[:32])
