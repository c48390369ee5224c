"""A Hyperstack (Infrahub) API v1-shaped API (docs/vendor/hyperstack-openapi.yaml): `api_key` header, the
`{status, message, ...}` envelope, flavors with stock, the pricebook, environments, keypairs and VMs.

A seeded offer's GPU is named as Hyperstack names it (`A100-80G-PCIe`, `H100-80G-SXM5`, `RTX-A6000`, ...),
read from the canonical model and the flavor name. Environments and keypairs are kept beside the SSH keys,
under name prefixes. A deleted VM is forgotten, as on Hyperstack.
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

STATUS_BY_KIND = {"invalid_request": 400, "auth_failed": 401, "quota_exceeded": 403, "not_found": 404,
                  "no_capacity": 400}
REASON_BY_KIND = {"invalid_request": "bad_request", "auth_failed": "unauthorized", "quota_exceeded": "forbidden",
                  "not_found": "not_found", "no_capacity": "bad_request"}
MESSAGE_PREFIX = {"no_capacity": "Insufficient stock: ", "quota_exceeded": "VM quota exceeded: "}
STATUS_BY_STATE = {"pending": "BUILD", "running": "ACTIVE", "failed": "ERROR"}
VM_STATE = {"pending": "building", "running": "active", "failed": "error"}
ENV_PREFIX, KEYPAIR_PREFIX = "env:", "keypair:"
GPU_NAME = {"A4000": "RTX-A4000", "A6000": "RTX-A6000", "A5000": "RTX-A5000"}


def error(kind: str, message: str) -> Response:
    return Response(STATUS_BY_KIND[kind], {"status": False, "message": MESSAGE_PREFIX.get(kind, "") + message,
                                           "error_reason": REASON_BY_KIND[kind]})


def server_error(status: int, message: str) -> Response:
    return Response(status, {"message": message})  # the legacy 5xx shape the reference describes


def rate_limits(request: Request, faults) -> list[tuple[str, float]]:
    """The simulator's request and launch intervals (the vendor's figure is 500 requests per minute per IP)."""
    return launch_limits(request, faults, "POST", ("core", "virtual-machines"))


def rate_limited(wait_s: int) -> Response:
    body = {"status": False, "message": f"Too many requests: retry in {wait_s} s", "error_reason": "too_many_requests"}
    return Response(429, body, {"Retry-After": str(wait_s)})


def handle(app: SimulatorApp, slug: str, request: Request) -> Response:
    if request.headers.get("api-key", "") != app.store.token(slug):  # the `api_key` header, as WSGI spells it
        return error("auth_failed", "Invalid or missing api_key")
    route, method = request.parts[2:], request.method
    try:
        if route[:1] != ["v1"]:
            return error("not_found", "no such path")
        return _route(app, slug, route[1:], method, request)
    except SimError as exc:
        return error(exc.kind, exc.message)


def _route(app: SimulatorApp, slug: str, route: list[str], method: str, request: Request) -> Response:
    if route == ["core", "flavors"] and method == "GET":
        return _ok({"data": _flavor_groups(app, slug)})
    if route == ["pricebook"] and method == "GET":
        return Response(200, _pricebook(app, slug))
    if route == ["core", "environments"] and method == "GET":
        return _ok(_page("environments", _environments(app, slug), request.query))
    if route == ["core", "environments"] and method == "POST":
        return _create_environment(app, slug, request.body)
    if route == ["core", "keypairs"] and method == "GET":
        return _ok(_page("keypairs", _keypairs(app, slug), request.query))
    if route == ["core", "keypairs"] and method == "POST":
        return _import_keypair(app, slug, request.body)
    if route == ["core", "virtual-machines"] and method == "GET":
        vms = [_vm(app, slug, n) for n in app.store.list_nodes(slug)]
        return _ok(_page("instances", vms, request.query))
    if route == ["core", "virtual-machines"] and method == "POST":
        return _create(app, slug, request.body)
    if len(route) == 3 and route[:2] == ["core", "virtual-machines"] and method == "GET":
        return _ok({"instance": _vm(app, slug, _live_node(app, slug, route[2]))})
    if len(route) == 3 and route[:2] == ["core", "virtual-machines"] and method == "DELETE":
        node = app.store.terminate_node(slug, _live_node(app, slug, route[2])["id"])
        app.node_stopped(node["id"])
        return _ok({})
    return error("not_found", "no such path")


def _ok(body: dict) -> Response:
    return Response(200, {"status": True, "message": "Success", **body})


def _page(field: str, items: list[dict], query: dict[str, str]) -> dict:
    search = query.get("search", "")
    items = [i for i in items if not search or search in str(i.get("name")) or search == str(i.get("id"))]
    try:
        page, size = max(int(query.get("page", 1)), 1), max(int(query.get("page_size", 30)), 1)
    except ValueError as exc:
        raise SimError("invalid_request", "page and page_size must be integers") from exc
    return {field: items[(page - 1) * size:page * size], "count": len(items), "page": page, "page_size": size}


def vm_id(key: str) -> int:
    """A stable positive integer id (Hyperstack ids are integers)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)


def gpu_name(offer: dict) -> str:
    """The canonical model as Hyperstack spells it, read with the flavor name (`n3-A100x8-NVLink`)."""
    gpu, flavor = offer["gpu"], offer["instance_type"]
    nvlink = "-NVLink" if "nvlink" in flavor.lower() else ""
    if gpu == "A100-80GB":
        return f"A100-80G-PCIe{nvlink}"
    if gpu == "H100":
        return "H100-80G-SXM5" if "sxm" in flavor.lower() else f"H100-80G-PCIe{nvlink}"
    return GPU_NAME.get(gpu, gpu)


def _flavor(offer: dict) -> dict:
    return {"id": vm_id(f"flavor|{offer['instance_type']}|{offer['region']}"), "name": offer["instance_type"],
            "display_name": offer["instance_type"], "region_name": offer["region"], "cpu": int(offer["vcpus"]),
            "ram": float(offer["memory_gb"]), "disk": 100, "ephemeral": 0, "gpu": gpu_name(offer),
            "gpu_count": offer["gpus_per_node"], "stock_available": offer["available_nodes"] > 0,
            "created_at": "2024-01-01T00:00:00", "labels": [], "features": {}}


def _flavor_groups(app: SimulatorApp, slug: str) -> list[dict]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for offer in app.store.offers(slug):
        groups.setdefault((gpu_name(offer), offer["region"]), []).append(_flavor(offer))
    return [{"gpu": gpu, "region_name": region, "flavors": flavors} for (gpu, region), flavors in sorted(groups.items())]


def _pricebook(app: SimulatorApp, slug: str) -> list[dict]:
    """One hourly price per GPU name (the first seeded flavor's price per GPU)."""
    prices: dict[str, float] = {}
    for offer in app.store.offers(slug):
        prices.setdefault(gpu_name(offer), round(offer["price_per_hour"] / offer["gpus_per_node"], 6))
    return [{"id": vm_id(f"price|{name}"), "name": name, "value": value, "original_value": value,
             "discount_applied": False, "start_time": None, "end_time": None} for name, value in sorted(prices.items())]


def _named(app: SimulatorApp, slug: str, prefix: str) -> list[tuple[str, str]]:
    return [(row["name"][len(prefix):], row["public_key"]) for row in app.store.ssh_keys(slug)
            if row["name"].startswith(prefix)]


def _environments(app: SimulatorApp, slug: str) -> list[dict]:
    return [_environment(name, region) for name, region in _named(app, slug, ENV_PREFIX)]


def _environment(name: str, region: str) -> dict:
    return {"id": vm_id(f"env|{name}"), "name": name, "region": region, "created_at": "2024-01-01T00:00:00",
            "features": {"network_optimised": False}}


def _create_environment(app: SimulatorApp, slug: str, body: object) -> Response:
    if not isinstance(body, dict) or not all(isinstance(body.get(k), str) and body[k] for k in ("name", "region")):
        return error("invalid_request", "name and region are required")
    if body["region"] not in {o["region"] for o in app.store.offers(slug)}:
        return error("invalid_request", f"unknown region {body['region']!r}")
    if any(name == body["name"] for name, _ in _named(app, slug, ENV_PREFIX)):
        return Response(409, {"status": False, "message": f"environment {body['name']} already exists",
                              "error_reason": "conflict"})
    app.store.add_ssh_key(slug, ENV_PREFIX + body["name"], body["region"])
    return _ok({"environment": _environment(body["name"], body["region"])})


def _keypairs(app: SimulatorApp, slug: str) -> list[dict]:
    out = []
    regions = dict(_named(app, slug, ENV_PREFIX))
    for stored, public_key in _named(app, slug, KEYPAIR_PREFIX):
        environment, _, name = stored.partition(":")
        out.append({"id": vm_id(f"keypair|{stored}"), "name": name, "public_key": public_key,
                    "fingerprint": hashlib.md5(public_key.encode(), usedforsecurity=False).hexdigest(),
                    "created_at": "2024-01-01T00:00:00",
                    "environment": {"id": vm_id(f"env|{environment}"), "name": environment,
                                    "region": regions.get(environment, ""), "features": {}}})
    return out


def _import_keypair(app: SimulatorApp, slug: str, body: object) -> Response:
    fields = ("name", "environment_name", "public_key")
    if not isinstance(body, dict) or not all(isinstance(body.get(k), str) and body[k].strip() for k in fields):
        return error("invalid_request", "name, environment_name and public_key are required")
    if body["environment_name"] not in dict(_named(app, slug, ENV_PREFIX)):
        return error("not_found", f"environment {body['environment_name']} does not exist")
    app.store.add_ssh_key(slug, f"{KEYPAIR_PREFIX}{body['environment_name']}:{body['name']}", body["public_key"])
    keypair = next(k for k in _keypairs(app, slug)
                   if (k["name"], k["environment"]["name"]) == (body["name"], body["environment_name"]))
    return _ok({"keypair": keypair})


def _live_node(app: SimulatorApp, slug: str, ref: str) -> dict:
    node = next((n for n in app.store.list_nodes(slug) if str(vm_id(n["id"])) == ref), None)
    if node is None:
        raise SimError("not_found", f"virtual machine {ref} does not exist")
    return node


def _create(app: SimulatorApp, slug: str, body: object) -> Response:
    problem = _invalid_create(body)
    if problem:
        return error("invalid_request", problem)
    regions = dict(_named(app, slug, ENV_PREFIX))
    if body["environment_name"] not in regions:
        return error("not_found", f"environment {body['environment_name']} does not exist")
    if not any(k["name"] == body["key_name"] and k["environment"]["name"] == body["environment_name"]
               for k in _keypairs(app, slug)):
        return error("not_found", f"keypair {body['key_name']} does not exist in {body['environment_name']}")
    tags = dict(label.split("=", 1) for label in body.get("labels") or [] if "=" in label)
    ports = [{"port": rule["port_range_min"], "source": rule["remote_ip_prefix"]}
             for rule in body.get("security_rules") or [] if rule.get("direction") == "ingress"]
    node, _ = app.store.create_node(
        slug, instance_type=body["flavor_name"], region=regions[body["environment_name"]], name=body["name"],
        tags=tags, user_data=body.get("user_data") or "", ports=ports, loopback=app.run_user_data,
        capacity_error=app.chance(app.store.faults(slug).capacity_error_rate))
    app.node_started(slug, node, body.get("user_data") or "")
    return _ok({"instances": [_vm(app, slug, node)]})


def _invalid_create(body: object) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    for name in ("name", "environment_name", "flavor_name", "key_name"):
        if not isinstance(body.get(name), str) or not body[name]:
            return f"{name} is required"
    if len(body["name"]) > 50:
        return "name must be at most 50 characters"
    if body.get("count") != 1:
        return "count must be 1 here"
    labels = body.get("labels") or []
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        return "labels must be a list of strings"
    for rule in body.get("security_rules") or []:
        if not isinstance(rule, dict) or not all(rule.get(k) for k in ("direction", "protocol", "ethertype",
                                                                      "remote_ip_prefix")):
            return "each security rule needs direction, protocol, ethertype and remote_ip_prefix"
        if not isinstance(rule.get("port_range_min"), int) or not isinstance(rule.get("port_range_max"), int):
            return "port_range_min and port_range_max must be integers"
    return None


def _vm(app: SimulatorApp, slug: str, node: dict) -> dict:
    offer = next((o for o in app.store.offers(slug) if o["instance_type"] == node["instance_type"]
                  and o["region"] == node["region"]), None)
    flavor = _flavor(offer) if offer else {"name": node["instance_type"]}
    running = node["state"] == "running"
    environment = next((name for name, region in _named(app, slug, ENV_PREFIX) if region == node["region"]), "")
    return {
        "id": vm_id(node["id"]), "name": node["name"], "status": STATUS_BY_STATE.get(node["state"], "DELETING"),
        "vm_state": VM_STATE.get(node["state"], "deleted"), "power_state": "RUNNING" if running else "NOSTATE",
        "fixed_ip": node["ip"], "floating_ip": node["ip"] if running and node["ports"] else None,
        "floating_ip_status": "ATTACHED" if running and node["ports"] else "NOT_ATTACHED",
        "labels": [f"{k}={v}" for k, v in node["tags"].items()], "locked": False, "os": "Ubuntu Server 22.04 LTS",
        "created_at": datetime.fromtimestamp(node["created_at"], UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "environment": {"id": vm_id(f"env|{environment}"), "name": environment, "region": node["region"],
                        "org_id": 1, "features": {}},
        "flavor": {k: flavor[k] for k in ("id", "name", "cpu", "ram", "disk", "ephemeral", "gpu", "gpu_count")
                   if k in flavor},
        "keypair": {"name": ""}, "requires_public_ip": bool(node["ports"]),
        "security_rules": [{"id": vm_id(f"rule|{node['id']}|{p['port']}"), "direction": "ingress",
                            "protocol": "tcp", "ethertype": "IPv4", "remote_ip_prefix": p["source"],
                            "port_range_min": p["port"], "port_range_max": p["port"], "status": "SUCCESS",
                            "created_at": "2024-01-01T00:00:00"} for p in node["ports"]],
        "volume_attachments": [], "features": {},
    }
