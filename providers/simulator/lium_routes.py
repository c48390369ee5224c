"""A Lium API-shaped API (docs/vendor/lium-openapi.yaml): X-API-KEY auth, free hosts (`executors`),
rent a host as a pod from a template, pods listed, shown and deleted, templates; FastAPI's
`{"detail": ...}` error answers.

Every unit of a seeded offer's free capacity is one free `secure` host with its own id; a seeded offer
with a spot price also shows a `spot` host per unit. A seeded instance type `<GPU>_<n>x` gives the
host's GPU model (in Lium's own spelling) and count, the region its country code. A deleted pod is
forgotten, as on Lium. Templates live beside the SSH keys, under a name prefix.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .messages import Request, Response
from .ratelimit import launch_limits
from .store import SimError

if TYPE_CHECKING:
    from .app import SimulatorApp

STATUS_BY_KIND = {"invalid_request": 400, "auth_failed": 401, "quota_exceeded": 402, "not_found": 404,
                  "no_capacity": 409}
MESSAGE_PREFIX = {"no_capacity": "Executor is not available: ", "quota_exceeded": "Insufficient balance: "}
STATUS_BY_STATE = {"pending": "PENDING", "running": "RUNNING", "failed": "FAILED"}
TEMPLATE_PREFIX = "template:"
SHAPE_RE = re.compile(r"^(?P<gpu>.+)_(?P<count>\d+)x$")
# Lium's GPU model names (as its executors report them) for the catalogue's accelerator names.
GPU_MODEL = {
    "B200": "NVIDIA B200", "B300": "NVIDIA B300 SXM6 AC", "H100-SXM": "NVIDIA H100 80GB HBM3",
    "H100": "NVIDIA H100 PCIe", "H200": "NVIDIA H200", "L40": "NVIDIA L40", "L40S": "NVIDIA L40S",
    "RTX3090": "NVIDIA GeForce RTX 3090", "RTX4090": "NVIDIA GeForce RTX 4090", "RTX5090": "NVIDIA GeForce RTX 5090",
    "RTX6000-Ada": "NVIDIA RTX 6000 Ada Generation", "RTXPRO6000": "NVIDIA RTX PRO 6000 Blackwell Server Edition",
    "RTXPRO6000-WK": "NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "A100-80GB": "NVIDIA A100 80GB PCIe",
}


def error(kind: str, message: str) -> Response:
    return Response(STATUS_BY_KIND[kind], {"detail": MESSAGE_PREFIX.get(kind, "") + message})


def server_error(status: int, message: str) -> Response:
    return Response(status, {"detail": message})


def rate_limits(request: Request, faults) -> list[tuple[str, float]]:
    """The simulator's request and launch intervals (the vendor publishes no figures of its own)."""
    return launch_limits(request, faults, "POST", ("rent",))


def rate_limited(wait_s: int) -> Response:
    return Response(429, {"detail": f"Too many requests: retry in {wait_s} s"}, {"Retry-After": str(wait_s)})


def handle(app: SimulatorApp, slug: str, request: Request) -> Response:
    if request.headers.get("x-api-key", "") != app.store.token(slug):
        return error("auth_failed", "Invalid API key")
    route, method = request.parts[2:], request.method
    try:
        if route[:1] != ["api"]:
            return error("not_found", "Not Found")
        return _route(app, slug, route[1:], method, request)
    except SimError as exc:
        return error(exc.kind, exc.message)


def _route(app: SimulatorApp, slug: str, route: list[str], method: str, request: Request) -> Response:
    if route == ["executors"] and method == "GET":
        return Response(200, [executor for executor, _ in _executors(app, slug)])
    if len(route) == 3 and route[0] == "executors" and route[2] == "rent" and method == "POST":
        return _rent(app, slug, route[1], request.body)
    if route == ["pods"] and method == "GET":
        return Response(200, [_pod(app, slug, n) for n in app.store.list_nodes(slug)])
    if len(route) == 2 and route[0] == "pods" and method == "GET":
        return Response(200, _pod(app, slug, _live_node(app, slug, route[1])))
    if len(route) == 2 and route[0] == "pods" and method == "DELETE":
        node = app.store.terminate_node(slug, _live_node(app, slug, route[1])["id"])
        app.node_stopped(node["id"])
        return Response(200, {"detail": "Pod deleted"})
    if route == ["templates"] and method == "GET":
        return Response(200, _templates(app, slug))
    if route == ["templates"] and method == "POST":
        return _add_template(app, slug, request.body)
    return error("not_found", "Not Found")


def _live_node(app: SimulatorApp, slug: str, ref: str) -> dict:
    node = next((n for n in app.store.list_nodes(slug) if n["id"] == ref), None)
    if node is None:
        raise SimError("not_found", f"Pod {ref} not found")
    return node


def _specs(seed: dict) -> dict:
    match = SHAPE_RE.match(seed["instance_type"])
    accelerator, gpus = (match["gpu"], int(match["count"])) if match else (seed["gpu"], seed["gpus_per_node"])
    model = GPU_MODEL.get(accelerator, f"NVIDIA {seed['gpu']}")
    return {"gpu": {"count": gpus, "driver": "570.133.20",
                    "details": [{"name": model, "capacity": 81559} for _ in range(gpus)]},
            "cpu": {"count": int(seed["vcpus"]), "model": "AMD EPYC 9554 64-Core Processor"},
            "ram": {"total": int(seed["memory_gb"] * 1024 ** 2)}}


def _executors(app: SimulatorApp, slug: str) -> list[tuple[dict, dict]]:
    """(Lium executor, seeded offer) per free host; ids are stable per host slot and tier."""
    out = []
    for seed in app.store.offers(slug):
        specs = _specs(seed)
        tiers = [("secure", seed["price_per_hour"])]
        if seed["spot_price_per_hour"]:
            tiers.append(("spot", seed["spot_price_per_hour"]))
        for slot in range(seed["available_nodes"]):
            for tier, price in tiers:
                key = f"{slug}|{seed['instance_type']}|{seed['region']}|{slot}|{tier}"
                out.append(({"id": str(uuid.uuid5(uuid.NAMESPACE_URL, key)), "machine_name": seed["instance_type"],
                             "price_per_gpu": round(price / specs["gpu"]["count"], 6), "specs": specs,
                             "location": {"country_code": seed["region"]}, "tier": tier, "is_whole_host_free": True,
                             "active": True}, seed))
    return out


def _rent(app: SimulatorApp, slug: str, executor_id: str, body: object) -> Response:
    problem = _invalid_rent(body)
    if problem:
        return error("invalid_request", problem)
    found = next(((e, seed) for e, seed in _executors(app, slug) if e["id"] == executor_id), None)
    if found is None:
        return error("no_capacity", f"executor {executor_id} is already rented or offline")
    executor, seed = found
    template = next((t for t in _templates(app, slug) if t["id"] == body["template_id"]), None)
    if template is None:
        return error("not_found", f"Template {body['template_id']} not found")
    ports = [{"port": int(p), "source": "0.0.0.0/0"} for p in template["internal_ports"]]
    node, _ = app.store.create_node(
        slug, instance_type=seed["instance_type"], region=seed["region"], name=body["pod_name"],
        tags={"lium:executor": executor_id, "lium:template": template["id"]}, user_data=template["startup_commands"],
        ssh_public_key="\n".join(body.get("user_public_key") or []), spot=executor["tier"] == "spot", ports=ports,
        loopback=app.run_user_data, capacity_error=app.chance(app.store.faults(slug).capacity_error_rate))
    app.node_started(slug, node, template["startup_commands"])
    return Response(200, {"pod_id": node["id"]})


def _invalid_rent(body: object) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    for name in ("pod_name", "template_id"):
        if not isinstance(body.get(name), str) or not body[name]:
            return f"{name}: field required"
    keys = body.get("user_public_key", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return "user_public_key: must be a list of strings"
    return None


def _pod(app: SimulatorApp, slug: str, node: dict) -> dict:
    seed = next((o for o in app.store.offers(slug) if o["instance_type"] == node["instance_type"]
                 and o["region"] == node["region"]), None)
    executor = {"id": node["tags"].get("lium:executor", ""), "location": {"country_code": node["region"]},
                "tier": "spot" if node["spot"] else "secure"}
    if seed is not None:
        specs = _specs(seed)
        executor |= {"specs": specs, "machine_name": seed["instance_type"],
                     "price_per_gpu": round(seed["price_per_hour"] / specs["gpu"]["count"], 6)}
    running = node["state"] == "running"
    ports = {str(p["port"]): 40000 + int(p["port"]) % 10000 for p in node["ports"]}
    template = next((t for t in _templates(app, slug) if t["id"] == node["tags"].get("lium:template")), {})
    return {
        "id": node["id"], "pod_name": node["name"], "status": STATUS_BY_STATE[node["state"]],
        "ssh_connect_cmd": f"ssh root@{node['ip']} -p {ports.get('22', 22)}" if running else None,
        "ports_mapping": ports, "executor": executor, "template": template,
        "created_at": datetime.fromtimestamp(node["created_at"], UTC).isoformat(),
    }


def _templates(app: SimulatorApp, slug: str) -> list[dict]:
    return [json.loads(k["public_key"]) for k in app.store.ssh_keys(slug) if k["name"].startswith(TEMPLATE_PREFIX)]


def _add_template(app: SimulatorApp, slug: str, body: object) -> Response:
    if not isinstance(body, dict):
        return error("invalid_request", "body must be a JSON object")
    for name in ("name", "docker_image", "docker_image_tag"):
        if not isinstance(body.get(name), str) or not body[name]:
            return error("invalid_request", f"{name}: field required")
    ports = body.get("internal_ports", [])
    if not isinstance(ports, list) or not all(isinstance(p, int) and not isinstance(p, bool) for p in ports):
        return error("invalid_request", "internal_ports: must be a list of integers")
    if not isinstance(body.get("startup_commands", ""), str):
        return error("invalid_request", "startup_commands: must be a string")
    template = {"id": str(uuid.uuid4()), "name": body["name"], "docker_image": body["docker_image"],
                "docker_image_tag": body["docker_image_tag"], "category": body.get("category") or "UBUNTU",
                "internal_ports": ports, "startup_commands": body.get("startup_commands", ""),
                "is_private": bool(body.get("is_private", True)), "volumes": body.get("volumes") or [],
                "environment": body.get("environment") or {}, "entrypoint": body.get("entrypoint") or ""}
    app.store.add_ssh_key(slug, TEMPLATE_PREFIX + template["id"], json.dumps(template))
    return Response(200, template)
