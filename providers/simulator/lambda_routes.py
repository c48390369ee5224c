"""The Lambda Cloud API v1 as published (docs/vendor/lambda-cloud-openapi.json), over the simulator's store.

Instance types, launch, terminate, instances, SSH keys and firewall rulesets; answers, statuses and
error codes follow the document, and the documented rate limits answer 429 the way Lambda's CDN does.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .lambda_catalog import gpu_description
from .messages import Request, Response
from .ratelimit import launch_limits
from .store import SimError

if TYPE_CHECKING:
    from .app import SimulatorApp

# (status, code, default message, suggestion or None) per simulator error kind.
ERRORS = {
    "invalid_request": (400, "global/invalid-parameters", "Invalid request data.", None),
    "auth_failed": (401, "global/invalid-api-key", "API key was invalid, expired, or deleted.",
                    "Check your API key or create a new one, then try again."),
    "quota_exceeded": (400, "global/quota-exceeded", "Quota exceeded.", "Contact Support to increase your quota."),
    "not_found": (404, "global/object-does-not-exist", "Specified instance does not exist.", None),
    "no_capacity": (400, "instance-operations/launch/insufficient-capacity",
                    "Not enough capacity to fulfill launch request.", None),
    "launch_resource": (404, "global/object-does-not-exist", "Resource not found.",
                        "Check the names and IDs in your request, then try again."),
    "no_route": (404, "global/not-found", "The requested resource was not found.", None),
}
LAUNCH_KEYS = {"region_name", "instance_type_name", "ssh_key_names", "file_system_names", "file_system_mounts",
               "hostname", "name", "image", "user_data", "tags", "firewall_rulesets"}
PROTOCOLS = ("tcp", "udp", "icmp", "all")
TAG_KEY = re.compile(r"^[a-z][a-z0-9-:]+$")  # RequestedTagEntry.key, at most 55 characters


def error(kind: str, message: str | None = None) -> Response:
    status, code, default, suggestion = ERRORS[kind]
    body = {"code": code, "message": message or default}
    if suggestion:
        body["suggestion"] = suggestion
    return Response(status, {"error": body})


def server_error(status: int, message: str) -> Response:
    return Response(status, {"error": {"code": "provider/internal-unavailable", "message": message,
                                       "suggestion": "Try again shortly"}})


def rate_limits(request: Request, faults) -> list[tuple[str, float]]:
    """About one request per second, and one launch per 12 s (the document's introduction)."""
    return launch_limits(request, faults, "POST", ("instance-operations", "launch"))


def rate_limited(wait_s: int) -> Response:
    """Lambda's CDN answers a rate-limited request itself: 429, Cloudflare error 1015, plain text."""
    return Response(429, "error code: 1015", {"Retry-After": str(wait_s)})


def handle(app: SimulatorApp, slug: str, request: Request) -> Response:
    if not app.authorized(slug, request):
        return error("auth_failed")
    route, method = request.parts[2:], request.method
    try:
        if route[:2] != ["api", "v1"]:
            return error("no_route")
        return _route(app, slug, route[2:], method, request)
    except SimError as exc:
        return error(exc.kind, exc.message)


def _route(app: SimulatorApp, slug: str, route: list[str], method: str, request: Request) -> Response:
    if route == ["instance-types"] and method == "GET":
        return Response(200, {"data": _instance_types(app, slug)})
    if route == ["instances"] and method == "GET":
        return Response(200, {"data": [_instance(app, slug, n) for n in _visible_nodes(app, slug)]})
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
    if route == ["firewall-rulesets"] and method == "GET":
        return Response(200, {"data": [_ruleset_json(r) for r in app.store.firewall_rulesets(slug)]})
    if route == ["firewall-rulesets"] and method == "POST":
        return _add_ruleset(app, slug, request.body)
    if len(route) == 2 and route[0] == "firewall-rulesets" and method == "GET":
        try:
            return Response(200, {"data": _ruleset_json(app.store.firewall_ruleset(slug, route[1]))})
        except SimError:
            return error("launch_resource", "Firewall ruleset does not exist or you do not have permission to "
                                            "access it.")
    return error("no_route")


def _type_json(offer: dict) -> dict:
    gpus = int(offer["gpus_per_node"])
    gpu = gpu_description(offer["instance_type"], offer["gpu"])
    return {
        "name": offer["instance_type"], "description": f"{gpus}x {gpu}", "gpu_description": gpu,
        "price_cents_per_hour": round(offer["price_per_hour"] * 100),
        "specs": {"vcpus": round(offer["vcpus"]), "memory_gib": round(offer["memory_gb"]),
                  "storage_gib": 512 * gpus, "gpus": gpus},
    }


def _region(name: str) -> dict:
    return {"name": name, "description": name}


def _instance_types(app: SimulatorApp, slug: str) -> dict:
    data: dict[str, dict] = {}
    for offer in app.store.offers(slug):
        entry = data.setdefault(offer["instance_type"],
                                {"instance_type": _type_json(offer), "regions_with_capacity_available": []})
        if offer["available_nodes"] > 0:
            entry["regions_with_capacity_available"].append(_region(offer["region"]))
    return data


def _visible_nodes(app: SimulatorApp, slug: str) -> list[dict]:
    """Live nodes plus those still `terminating`, as Lambda lists them."""
    return [n for n in app.store.list_nodes(slug, include_terminated=True) if _status(app, slug, n) != "terminated"]


def _status(app: SimulatorApp, slug: str, node: dict) -> str:
    if node["preempted_at"] is not None:
        return "preempted"
    if node["terminated_at"] is not None:
        delay = app.store.faults(slug).terminate_delay_s
        return "terminating" if app.store.clock() < node["terminated_at"] + delay else "terminated"
    return {"pending": "booting", "running": "active", "failed": "unhealthy"}[node["state"]]


def _actions(status: str) -> dict:
    def allowed(ok: bool, code: str, why: str) -> dict:
        return {"available": True} if ok else {"available": False, "reason_code": code, "reason_description": why}

    if status in ("terminating", "terminated", "preempted"):
        blocked = allowed(False, "vm-is-terminating", "The instance is terminating or has terminated.")
        return dict.fromkeys(("migrate", "rebuild", "restart", "cold_reboot", "terminate"), blocked)
    launched = status in ("active", "unhealthy")
    not_launched = allowed(launched, "vm-has-not-launched", "The instance has not launched yet.")
    return {"migrate": allowed(False, "vm-is-too-old", "The instance cannot be migrated."),
            "rebuild": not_launched, "restart": not_launched, "cold_reboot": not_launched,
            "terminate": {"available": True}}


def _instance(app: SimulatorApp, slug: str, node: dict) -> dict:
    offer = next((o for o in app.store.offers(slug) if o["instance_type"] == node["instance_type"]), None)
    status = _status(app, slug, node)
    data = {
        "id": node["id"], "name": node["name"], "status": status, "ssh_key_names": [], "file_system_names": [],
        "hostname": f"{node['id'][:12]}.sim", "region": _region(node["region"]),
        "instance_type": _type_json(offer) if offer else _type_json(
            {"instance_type": node["instance_type"], "gpu": node["instance_type"], "gpus_per_node": 1,
             "price_per_hour": 0, "vcpus": 0, "memory_gb": 0}),
        "actions": _actions(status), "tags": [{"key": k, "value": v} for k, v in node["tags"].items()],
        "firewall_rulesets": [{"id": r} for r in node["firewall_rulesets"]],
    }
    if status in ("active", "unhealthy", "terminating"):
        data["ip"] = data["private_ip"] = node["ip"]
    return data


def _launch(app: SimulatorApp, slug: str, body: object) -> Response:
    problem = _invalid_launch(body)
    if problem:
        return error("invalid_request", problem)
    keys = {k["name"] for k in app.store.ssh_keys(slug)}
    if body["ssh_key_names"][0] not in keys:
        return error("launch_resource", f"SSH key {body['ssh_key_names'][0]!r} does not exist.")
    ruleset_ids = [entry["id"] for entry in body.get("firewall_rulesets") or []]
    rules = []
    for ruleset_id in ruleset_ids:
        try:
            ruleset = app.store.firewall_ruleset(slug, ruleset_id)
        except SimError:
            return error("launch_resource", f"Firewall ruleset {ruleset_id!r} does not exist.")
        if ruleset["region"] != body["region_name"]:
            return error("invalid_request", f"Firewall ruleset {ruleset_id!r} is not in {body['region_name']}.")
        rules += ruleset["rules"]
    ports = [{"port": r["port_range"][0], "source": r["source_network"]} for r in rules
             if r["protocol"] == "tcp" and r.get("port_range") and r["port_range"][0] == r["port_range"][1]]
    user_data = body.get("user_data") or ""
    node, _ = app.store.create_node(
        slug, instance_type=body["instance_type_name"], region=body["region_name"], name=body.get("name") or "",
        tags={t["key"]: t["value"] for t in body.get("tags") or []}, user_data=user_data, ports=ports,
        firewall_rulesets=ruleset_ids, loopback=app.run_user_data,
        capacity_error=app.chance(app.store.faults(slug).capacity_error_rate))
    app.node_started(slug, node, user_data)
    return Response(200, {"data": {"instance_ids": [node["id"]]}})


def _invalid_launch(body: object) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if unknown := sorted(set(body) - LAUNCH_KEYS):
        return f"unknown field(s): {', '.join(unknown)}"
    for name in ("region_name", "instance_type_name"):
        if not isinstance(body.get(name), str) or not body[name]:
            return f"{name} is required"
    keys = body.get("ssh_key_names")
    if not isinstance(keys, list) or len(keys) != 1 or not isinstance(keys[0], str):
        return "ssh_key_names must name exactly one SSH key"
    if not isinstance(body.get("name", ""), str) or len(body.get("name", "")) > 64:
        return "name must be a string of at most 64 characters"
    if not isinstance(body.get("user_data", ""), str):
        return "user_data must be a string"
    tags = body.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, dict) and isinstance(t.get("key"), str)
                                             and isinstance(t.get("value"), str) for t in tags):
        return "tags must be a list of {key, value}"
    if bad := [t["key"] for t in tags if not TAG_KEY.match(t["key"]) or len(t["key"]) > 55 or len(t["value"]) > 128]:
        return f"invalid tag key(s) or value(s): {', '.join(bad)}"
    rulesets = body.get("firewall_rulesets", [])
    if not isinstance(rulesets, list) or not all(isinstance(r, dict) and isinstance(r.get("id"), str)
                                                 for r in rulesets):
        return "firewall_rulesets must be a list of {id}"
    return None


def _terminate(app: SimulatorApp, slug: str, body: object) -> Response:
    ids = body.get("instance_ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return error("invalid_request", "instance_ids must be a list of instance ids")
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


def _ruleset_json(ruleset: dict) -> dict:
    created = datetime.fromtimestamp(ruleset["created_at"], UTC).isoformat().replace("+00:00", "Z")
    return {"id": ruleset["id"], "name": ruleset["name"], "region": _region(ruleset["region"]),
            "rules": ruleset["rules"], "created": created, "instance_ids": ruleset["instance_ids"]}


def _add_ruleset(app: SimulatorApp, slug: str, body: object) -> Response:
    if not isinstance(body, dict):
        return error("invalid_request", "body must be a JSON object")
    if not isinstance(body.get("name"), str) or not body["name"] or len(body["name"]) > 64:
        return error("invalid_request", "name is required (at most 64 characters)")
    if not isinstance(body.get("region"), str) or body["region"] not in {o["region"] for o in app.store.offers(slug)}:
        return error("invalid_request", "region must name one of the account's regions")
    rules = body.get("rules")
    if not isinstance(rules, list) or (problem := next(filter(None, map(_invalid_rule, rules)), None)):
        return error("invalid_request", problem if isinstance(rules, list) else "rules must be a list")
    ruleset = app.store.add_firewall_ruleset(slug, body["name"], body["region"], rules)
    return Response(200, {"data": _ruleset_json(ruleset)})


def _invalid_rule(rule: object) -> str | None:
    if not isinstance(rule, dict) or rule.get("protocol") not in PROTOCOLS:
        return f"rules[].protocol must be one of {', '.join(PROTOCOLS)}"
    ports = rule.get("port_range")
    if rule["protocol"] == "icmp":
        if ports is not None:
            return "rules[].port_range is not allowed for icmp"
    elif not (isinstance(ports, list) and len(ports) == 2 and all(
            isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 65535 for p in ports) and ports[0] <= ports[1]):
        return "rules[].port_range must be [min, max] with ports between 1 and 65535"
    try:
        network = ipaddress.ip_network(rule.get("source_network"), strict=False)
    except (TypeError, ValueError):
        return "rules[].source_network must be an IPv4 network in CIDR notation"
    if network.version != 4:
        return "rules[].source_network must be an IPv4 network in CIDR notation"
    if not isinstance(rule.get("description"), str) or len(rule["description"]) > 128:
        return "rules[].description is required (at most 128 characters)"
    return None
