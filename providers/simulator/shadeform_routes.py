"""A Shadeform API v1-shaped API (docs/vendor/shadeform-openapi.yaml): X-API-KEY auth, instance
types with per-region availability, create with launch_configuration, info, delete, SSH keys.

A seeded instance type `<cloud>_<shade type>` becomes Shadeform's (cloud, shade_instance_type) pair.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .messages import Request, Response
from .ratelimit import launch_limits
from .store import SimError

if TYPE_CHECKING:
    from .app import SimulatorApp

STATUS_BY_KIND = {"invalid_request": 400, "auth_failed": 401, "quota_exceeded": 403, "not_found": 404,
                  "no_capacity": 409}
MESSAGE_PREFIX = {"no_capacity": "insufficient capacity: ", "quota_exceeded": "instance limit: "}
STATUS_BY_STATE = {"pending": "pending", "running": "active", "terminated": "deleted", "failed": "error"}
# Shadeform's own spellings of a few GPU names (configuration.gpu_type).
OS = "ubuntu22.04_cuda12.2_shade_os"
GPU_TYPE = {"A100-80GB": "A100_80G", "V100-32GB": "V100_32G"}


def error(kind: str, message: str) -> Response:
    return Response(STATUS_BY_KIND[kind], {"error": kind, "message": MESSAGE_PREFIX.get(kind, "") + message})


def server_error(status: int, message: str) -> Response:
    return Response(status, {"error": "server_error", "message": message})


def rate_limits(request: Request, faults) -> list[tuple[str, float]]:
    """The simulator's request and launch intervals (the vendor publishes no figures of its own)."""
    return launch_limits(request, faults, "POST", ("instances", "create"))


def rate_limited(wait_s: int) -> Response:
    return Response(429, {"error": "rate_limited", "message": f"too many requests: retry in {wait_s} s"}, {"Retry-After": str(wait_s)})


def handle(app: SimulatorApp, slug: str, request: Request) -> Response:
    if request.headers.get("x-api-key", "") != app.store.token(slug):
        return error("auth_failed", "invalid X-API-KEY")
    route, method = request.parts[2:], request.method
    try:
        if route[:1] != ["v1"]:
            return error("not_found", "no such path")
        return _route(app, slug, route[1:], method, request)
    except SimError as exc:
        return error(exc.kind, exc.message)


def _route(app: SimulatorApp, slug: str, route: list[str], method: str, request: Request) -> Response:
    if route == ["instances", "types"] and method == "GET":
        return Response(200, {"instance_types": _types(app, slug)})
    if route == ["instances"] and method == "GET":
        return Response(200, {"instances": [_instance(app, slug, n) for n in app.store.list_nodes(slug)]})
    if route == ["instances", "create"] and method == "POST":
        return _create(app, slug, request.body)
    if len(route) == 3 and route[0] == "instances" and route[2] == "info" and method == "GET":
        return Response(200, _instance(app, slug, app.store.get_node(slug, route[1])))
    if len(route) == 3 and route[0] == "instances" and route[2] == "delete" and method == "POST":
        node = app.store.terminate_node(slug, route[1])
        app.node_stopped(node["id"])
        return Response(200, {})
    if route == ["sshkeys"] and method == "GET":
        keys = app.store.ssh_keys(slug)
        return Response(200, {"ssh_keys": [{"id": k["name"], **k, "is_default": False} for k in keys]})
    if route == ["sshkeys", "add"] and method == "POST":
        return _add_key(app, slug, request.body)
    return error("not_found", "no such path")


def _split(instance_type: str) -> tuple[str, str]:
    cloud, _, shade_type = instance_type.partition("_")
    return cloud, shade_type


def _configuration(offer: dict) -> dict:
    return {"memory_in_gb": int(offer["memory_gb"]), "storage_in_gb": 256, "vcpus": int(offer["vcpus"]),
            "num_gpus": offer["gpus_per_node"], "gpu_type": GPU_TYPE.get(offer["gpu"], offer["gpu"]),
            "interconnect": offer["interconnect"], "vram_per_gpu_in_gb": 0,
            "nvlink": offer["interconnect"] != "pcie", "os": OS, "os_options": [OS]}


def _types(app: SimulatorApp, slug: str) -> list[dict]:
    shapes: dict[str, dict] = {}
    for offer in app.store.offers(slug):
        cloud, shade_type = _split(offer["instance_type"])
        shape = shapes.setdefault(offer["instance_type"], {
            "cloud": cloud, "region": offer["region"], "shade_instance_type": shade_type,
            "cloud_instance_type": shade_type, "configuration": _configuration(offer),
            "hourly_price": round(offer["price_per_hour"] * 100), "deployment_type": "vm", "availability": []})
        shape["availability"].append({"region": offer["region"], "available": offer["available_nodes"] > 0,
                                      "display_name": offer["region"]})
    return list(shapes.values())


def _instance(app: SimulatorApp, slug: str, node: dict) -> dict:
    offer = next((o for o in app.store.offers(slug) if o["instance_type"] == node["instance_type"]), None)
    cloud, shade_type = _split(node["instance_type"])
    running = node["state"] == "running"
    configuration = _configuration(offer) if offer else {}
    return {
        "id": node["id"], "cloud": cloud, "region": node["region"], "shade_instance_type": shade_type,
        "cloud_instance_type": shade_type, "cloud_assigned_id": node["id"], "shade_cloud": True,
        "name": node["name"], "configuration": configuration, "ip": node["ip"] if running else "",
        "ssh_user": "shadeform", "ssh_port": 22, "status": STATUS_BY_STATE[node["state"]], "cost_estimate": "0",
        "hourly_price": round(offer["price_per_hour"] * 100) if offer else 0,
        "tags": [f"{k}={v}" for k, v in node["tags"].items()],
        "created_at": _iso(node["created_at"]), "deleted_at": "",
    }


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _create(app: SimulatorApp, slug: str, body: object) -> Response:
    problem = _invalid_create(body)
    if problem:
        return error("invalid_request", problem)
    user_data = _script(body)
    tags = dict(t.split("=", 1) for t in body.get("tags") or [] if "=" in t)
    node, _ = app.store.create_node(
        slug, instance_type=f"{body['cloud']}_{body['shade_instance_type']}", region=body["region"],
        name=body["name"], tags=tags, user_data=user_data,
        loopback=app.run_user_data, capacity_error=app.chance(app.store.faults(slug).capacity_error_rate))
    app.node_started(slug, node, user_data)
    return Response(200, {"id": node["id"], "cloud_assigned_id": node["id"]})


def _invalid_create(body: object) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    for name in ("cloud", "region", "shade_instance_type", "name"):
        if not isinstance(body.get(name), str) or not body[name]:
            return f"{name} is required"
    if not isinstance(body.get("shade_cloud"), bool):
        return "shade_cloud is required (boolean)"
    tags = body.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return "tags must be a list of strings"
    launch = body.get("launch_configuration")
    if launch is not None and (not isinstance(launch, dict) or launch.get("type") not in ("docker", "script")):
        return "launch_configuration.type must be docker or script"
    if launch is not None and launch["type"] == "script" and _script(body) is None:
        return "launch_configuration.script_configuration.base64_script must be base64"
    return None


def _script(body: dict) -> str | None:
    launch = body.get("launch_configuration") or {}
    if launch.get("type") != "script":
        return ""
    encoded = (launch.get("script_configuration") or {}).get("base64_script")
    try:
        return base64.b64decode(encoded, validate=True).decode()
    except (TypeError, ValueError, binascii.Error, UnicodeDecodeError):
        return None


def _add_key(app: SimulatorApp, slug: str, body: object) -> Response:
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
        return error("invalid_request", "name is required")
    if not isinstance(body.get("public_key"), str) or not body["public_key"].strip():
        return error("invalid_request", "public_key is required")
    app.store.add_ssh_key(slug, body["name"], body["public_key"])
    return Response(200, {"id": body["name"]})
