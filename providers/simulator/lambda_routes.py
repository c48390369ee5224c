"""A Lambda Cloud API v1-shaped API (instance types, launch, terminate, instances, ssh keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .messages import Request, Response
from .store import SimError

if TYPE_CHECKING:
    from .app import SimulatorApp

CODE_BY_KIND = {
    "invalid_request": (400, "global/invalid-parameters"),
    "auth_failed": (401, "global/invalid-api-key"),
    "quota_exceeded": (400, "global/quota-exceeded"),
    "not_found": (404, "global/object-does-not-exist"),
    "no_capacity": (400, "instance-operations/launch/insufficient-capacity"),
}
STATUS_BY_STATE = {"pending": "booting", "running": "active", "terminated": "terminated", "failed": "unhealthy"}


def error(kind: str, message: str) -> Response:
    status, code = CODE_BY_KIND[kind]
    return Response(status, {"error": {"code": code, "message": message, "suggestion": None}})


def handle(app: SimulatorApp, slug: str, request: Request) -> Response:
    if not app.authorized(slug, request):
        return error("auth_failed", "API key was invalid, expired, or deleted.")
    route, method = request.parts[2:], request.method
    try:
        if route[:2] != ["api", "v1"]:
            return error("not_found", "no such path")
        return _route(app, slug, route[2:], method, request)
    except SimError as exc:
        return error(exc.kind, exc.message)


def _route(app: SimulatorApp, slug: str, route: list[str], method: str, request: Request) -> Response:
    if route == ["instance-types"] and method == "GET":
        return Response(200, {"data": _instance_types(app, slug)})
    if route == ["instances"] and method == "GET":
        return Response(200, {"data": [_instance(app, slug, n) for n in app.store.list_nodes(slug)]})
    if len(route) == 2 and route[0] == "instances" and method == "GET":
        return Response(200, {"data": _instance(app, slug, app.store.get_node(slug, route[1]))})
    if route == ["instance-operations", "launch"] and method == "POST":
        return _launch(app, slug, request.body)
    if route == ["instance-operations", "terminate"] and method == "POST":
        return _terminate(app, slug, request.body)
    if route == ["ssh-keys"] and method == "GET":
        return Response(200, {"data": [{"id": k["name"], **k} for k in app.store.ssh_keys(slug)]})
    if route == ["ssh-keys"] and method == "POST":
        return _add_key(app, slug, request.body)
    return error("not_found", "no such path")


def _type_json(offer: dict) -> dict:
    return {
        "name": offer["instance_type"],
        "description": f"{offer['gpus_per_node']}x {offer['gpu']}",
        "gpu_description": f"{offer['gpu']} ({offer['gpus_per_node']}x)",
        "price_cents_per_hour": round(offer["price_per_hour"] * 100),
        "specs": {"vcpus": offer["vcpus"], "memory_gib": offer["memory_gb"], "storage_gib": 0,
                  "gpus": offer["gpus_per_node"]},
    }


def _instance_types(app: SimulatorApp, slug: str) -> dict:
    data: dict[str, dict] = {}
    for offer in app.store.offers(slug):
        entry = data.setdefault(offer["instance_type"],
                                {"instance_type": _type_json(offer), "regions_with_capacity_available": []})
        if offer["available_nodes"] > 0:
            entry["regions_with_capacity_available"].append({"name": offer["region"], "description": offer["region"]})
    return data


def _instance(app: SimulatorApp, slug: str, node: dict) -> dict:
    offer = next((o for o in app.store.offers(slug) if o["instance_type"] == node["instance_type"]), None)
    running = node["state"] == "running"
    return {
        "id": node["id"], "name": node["name"], "status": STATUS_BY_STATE[node["state"]],
        "ip": node["ip"] if running else None, "private_ip": node["ip"] if running else None,
        "hostname": f"{node['id'][:12]}.sim", "region": {"name": node["region"], "description": node["region"]},
        "instance_type": _type_json(offer) if offer else {"name": node["instance_type"]},
        "ssh_key_names": [], "file_system_names": [], "is_reserved": False,
        "endpoint": node["endpoint"] if running else None,
    }


def _launch(app: SimulatorApp, slug: str, body: object) -> Response:
    problem = _invalid_launch(app, slug, body)
    if problem:
        return error("invalid_request", problem)
    node, _ = app.store.create_node(
        slug, instance_type=body["instance_type_name"], region=body["region_name"], name=body.get("name") or "",
        user_data=body.get("user_data") or "", capacity_error=app.chance(app.store.faults(slug).capacity_error_rate))
    app.node_started(slug, node, body.get("user_data") or "")
    return Response(200, {"data": {"instance_ids": [node["id"]]}})


def _invalid_launch(app: SimulatorApp, slug: str, body: object) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    for name in ("region_name", "instance_type_name"):
        if not isinstance(body.get(name), str) or not body[name]:
            return f"{name} is required"
    keys = body.get("ssh_key_names")
    if not isinstance(keys, list) or len(keys) != 1:
        return "ssh_key_names must name exactly one SSH key"
    if keys[0] not in {k["name"] for k in app.store.ssh_keys(slug)}:
        return f"ssh key {keys[0]!r} does not exist"
    if body.get("quantity", 1) != 1:
        return "quantity must be 1"
    if not isinstance(body.get("name") or "", str) or len(body.get("name") or "") > 64:
        return "name must be a string of at most 64 characters"
    return None


def _terminate(app: SimulatorApp, slug: str, body: object) -> Response:
    ids = body.get("instance_ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        return error("invalid_request", "instance_ids must be a non-empty list of ids")
    for node_id in ids:
        app.store.get_node(slug, node_id)  # all or nothing: an unknown id fails the whole call
    nodes = [app.store.terminate_node(slug, node_id) for node_id in ids]
    for node in nodes:
        app.node_stopped(node["id"])
    return Response(200, {"data": {"terminated_instances": [_instance(app, slug, n) for n in nodes]}})


def _add_key(app: SimulatorApp, slug: str, body: object) -> Response:
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
        return error("invalid_request", "name is required")
    if not isinstance(body.get("public_key"), str) or not body["public_key"].strip():
        return error("invalid_request", "public_key is required (key generation is not simulated)")
    app.store.add_ssh_key(slug, body["name"], body["public_key"])
    return Response(200, {"data": {"id": body["name"], "name": body["name"], "public_key": body["public_key"]}})
