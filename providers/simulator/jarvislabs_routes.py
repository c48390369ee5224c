"""A JarvisLabs API-shaped API (docs/vendor/jarvislabs-openapi.yaml): bearer auth, `misc/server_meta` (free
devices and prices per GPU type and region), `templates/{template}/create`, `users/fetch`, `misc/destroy`,
startup scripts (a multipart upload) and SSH keys.

A seeded instance type in the catalogue's JarvisLabs spelling `<n>x_<gpu>_<vCPUs>V_<RAM>G` in region IN1, IN2
or EU1 (seeds elsewhere are not shown) gives the GPU type, the CPUs and RAM per GPU and the price per GPU; one server_meta row per GPU type
and region reports as free devices the most any of its node sizes has free. A create for `num_gpus` takes
a node of the seeded size with that many GPUs. A refused create answers 200 with `success: false`, as
JarvisLabs does. Destroyed instances are forgotten. Scripts live beside the SSH keys, under a name prefix.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from .messages import Request, Response
from .ratelimit import launch_limits
from .store import SimError

if TYPE_CHECKING:
    from .app import SimulatorApp

REGION_BY_CODE = {"IN1": "india-01", "IN2": "india-noida-01", "EU1": "europe-01"}
SHAPE_RE = re.compile(r"^(?P<n>\d+)x_(?P<gpu>.+)_(?P<cpus>\d+)V_(?P<ram>\d+)G$")
STATUS_BY_STATE = {"pending": "Creating", "running": "Running", "failed": "Failed"}
SCRIPT_PREFIX = "script:"


def error(kind: str, message: str) -> Response:
    if kind in ("no_capacity", "invalid_request"):
        return Response(200 if kind == "no_capacity" else 400, {"success": False, "message": message})
    status = {"auth_failed": 401, "quota_exceeded": 403, "not_found": 404}[kind]
    prefix = "Insufficient balance: " if kind == "quota_exceeded" else ""
    return Response(status, {"detail": prefix + message})


def server_error(status: int, message: str) -> Response:
    return Response(status, {"detail": message})


def rate_limits(request: Request, faults) -> list[tuple[str, float]]:
    """The simulator's request and launch intervals (the vendor publishes no figures of its own)."""
    return launch_limits(request, faults, "POST", ("create",))


def rate_limited(wait_s: int) -> Response:
    return Response(429, {"detail": f"Rate limit exceeded: retry in {wait_s} s"}, {"Retry-After": str(wait_s)})


def handle(app: SimulatorApp, slug: str, request: Request) -> Response:
    if not app.authorized(slug, request):
        return error("auth_failed", "Invalid or expired token")
    route, method = request.parts[2:], request.method
    try:
        return _route(app, slug, route, method, request)
    except SimError as exc:
        return error(exc.kind, exc.message)


def _route(app: SimulatorApp, slug: str, route: list[str], method: str, request: Request) -> Response:
    if route == ["misc", "server_meta"] and method == "GET":
        return Response(200, {"server_meta": _server_meta(app, slug), "cpu_meta": {}})
    if len(route) == 3 and route[0] == "templates" and route[2] == "create" and method == "POST":
        return _create(app, slug, route[1], request.body)
    if route == ["users", "fetch"] and method == "GET":
        return Response(200, {"success": True, "instances": [_instance(app, slug, n)
                                                             for n in app.store.list_nodes(slug)]})
    if len(route) == 3 and route[:2] == ["users", "fetch"] and method == "GET":
        return Response(200, {"success": True, "instance": _instance(app, slug, _live_node(app, slug, route[2]))})
    if route in (["misc", "destroy"], ["templates", "vm", "destroy"]) and method == "POST":
        node = app.store.terminate_node(slug, _live_node(app, slug, request.query.get("machine_id", ""))["id"])
        app.node_stopped(node["id"])
        return Response(200, {"success": True})
    if route == ["scripts"] and method == "GET":
        return Response(200, {"success": True, "script_meta": [
            {"script_id": s["script_id"], "script_name": s["script_name"]} for s in _scripts(app, slug)]})
    if route == ["scripts", "add"] and method == "POST":
        return _add_script(app, slug, request)
    if route == ["ssh"] and method == "GET":
        return Response(200, [{"ssh_key": k["public_key"], "key_name": k["name"], "key_id": k["name"]}
                              for k in app.store.ssh_keys(slug) if not k["name"].startswith(SCRIPT_PREFIX)])
    if route == ["ssh"] and method == "POST":
        body = request.body if isinstance(request.body, dict) else {}
        if not isinstance(body.get("ssh_key"), str) or not isinstance(body.get("key_name"), str):
            return Response(422, {"detail": [{"loc": ["body", "ssh_key"], "msg": "field required", "type": "missing"}]})
        app.store.add_ssh_key(slug, body["key_name"], body["ssh_key"])
        return Response(200, {"success": True})
    return Response(404, {"detail": "Not Found"})


def machine_id(node_id: str) -> int:
    """A stable positive integer id (JarvisLabs machine ids are integers)."""
    return int(hashlib.sha256(node_id.encode()).hexdigest()[:10], 16)


def _live_node(app: SimulatorApp, slug: str, ref: str) -> dict:
    node = next((n for n in app.store.list_nodes(slug) if str(machine_id(n["id"])) == ref), None)
    if node is None:
        raise SimError("not_found", f"Instance {ref} not found")
    return node


def _shape(seed: dict) -> dict:
    """The seed's GPU type, GPU count, vCPUs and RAM, and its region's JarvisLabs id."""
    match = SHAPE_RE.match(seed["instance_type"])
    n, gpu, cpus, ram = ((int(match["n"]), match["gpu"], int(match["cpus"]), int(match["ram"])) if match else
                         (seed["gpus_per_node"], seed["gpu"], int(seed["vcpus"]), int(seed["memory_gb"])))
    return {"n": n, "gpu_type": gpu, "cores": cpus, "ram": ram,
            "region": REGION_BY_CODE.get(seed["region"], seed["region"])}


def _server_meta(app: SimulatorApp, slug: str) -> list[dict]:
    rows: dict[tuple[str, str], dict] = {}
    for seed in app.store.offers(slug):
        if seed["region"] not in REGION_BY_CODE:
            continue  # JarvisLabs sells only in its own regions
        shape = _shape(seed)
        n = shape["n"]
        row = rows.setdefault((shape["gpu_type"], shape["region"]), {
            "gpu_type": shape["gpu_type"], "region": shape["region"], "num_free_devices": 0,
            "effective_num_free_devices": 0, "price_per_hour": round(seed["price_per_hour"] / n, 4),
            "spot_price": round(seed["spot_price_per_hour"] / n, 4) if seed["spot_price_per_hour"] else None,
            "vram": "24GB", "arc": "ada", "cpus_per_gpu": shape["cores"] // n, "ram_per_gpu": shape["ram"] // n,
            "workload_type": "container"})
        free = max(row["num_free_devices"], seed["available_nodes"] * n)
        row["num_free_devices"] = row["effective_num_free_devices"] = free
    return list(rows.values())


def _create(app: SimulatorApp, slug: str, template: str, body: object) -> Response:
    problem = _invalid_create(body)
    if problem:
        return error("invalid_request", problem)
    code = next((c for c, region in REGION_BY_CODE.items() if region == body["region"]), body["region"])
    seed = next((s for s in app.store.offers(slug) if (_shape(s)["gpu_type"], _shape(s)["n"], _shape(s)["region"])
                 == (body["gpu_type"], body["num_gpus"], body["region"])), None)
    if seed is None:
        return error("invalid_request", f"{body['gpu_type']} x{body['num_gpus']} is not available in {code}.")
    user_data = ""
    if body.get("script_id") is not None:
        script = next((s for s in _scripts(app, slug) if s["script_id"] == body["script_id"]), None)
        if script is None:
            return error("invalid_request", f"script {body['script_id']} not found")
        user_data = script["script"]
    ports = [{"port": 22, "source": "0.0.0.0/0"}] + [
        {"port": int(p), "source": "0.0.0.0/0"} for p in str(body.get("http_ports") or "").split(",") if p.strip()]
    try:
        node, _ = app.store.create_node(
            slug, instance_type=seed["instance_type"], region=seed["region"], name=body["name"],
            tags={"jarvislabs:template": template}, user_data=user_data, spot=bool(body.get("is_spot")), ports=ports,
            loopback=app.run_user_data, capacity_error=app.chance(app.store.faults(slug).capacity_error_rate))
    except SimError as exc:
        if exc.kind == "no_capacity":
            return error("no_capacity", f"No free {body['gpu_type']} GPUs in {code} right now. Try again later.")
        raise
    app.node_started(slug, node, user_data)
    return Response(200, {"success": True, "machine_id": machine_id(node["id"])})


def _invalid_create(body: object) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    for name in ("gpu_type", "region", "name"):
        if not isinstance(body.get(name), str) or not body[name]:
            return f"{name} is required"
    if len(body["name"]) > 40 or not re.fullmatch(r"[a-zA-Z0-9 _-]+", body["name"]):
        return "name: at most 40 letters, digits, spaces, hyphens and underscores"
    num_gpus = body.get("num_gpus")
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, int) or num_gpus < 1:
        return "num_gpus must be a positive integer"
    if not isinstance(body.get("is_spot", False), bool):
        return "is_spot must be a boolean"
    ports = str(body.get("http_ports") or "")
    if ports and not re.fullmatch(r"\d+(,\d+)*", ports):
        return "http_ports must be comma-separated port numbers"
    if body.get("script_id") is not None and (isinstance(body["script_id"], bool)
                                              or not isinstance(body["script_id"], int)):
        return "script_id must be an integer"
    return None


def _instance(app: SimulatorApp, slug: str, node: dict) -> dict:
    seed = next((o for o in app.store.offers(slug) if o["instance_type"] == node["instance_type"]
                 and o["region"] == node["region"]), None)
    shape = _shape(seed) if seed else {"n": 0, "gpu_type": "", "cores": 0, "ram": 0, "region": node["region"]}
    running = node["state"] == "running"
    http_ports = ",".join(str(p["port"]) for p in node["ports"] if p["port"] != 22)
    return {
        "machine_id": machine_id(node["id"]), "name": node["name"], "status": STATUS_BY_STATE[node["state"]],
        "gpu_type": shape["gpu_type"], "num_gpus": shape["n"], "cores": shape["cores"], "ram": shape["ram"],
        "hdd": 40, "template": node["tags"].get("jarvislabs:template", "pytorch"), "region": shape["region"],
        "is_spot": node["spot"], "http_ports": http_ports, "cost": 0.0, "duration": "hour",
        "ssh_str": f"ssh -p 22 root@{node['ip']}" if running else None,
        "public_ip": node["ip"] if running else None,
    }


def _scripts(app: SimulatorApp, slug: str) -> list[dict]:
    return [{"script_id": int(k["name"].split(":")[1]), "script_name": k["name"].split(":", 2)[2],
             "script": k["public_key"]} for k in app.store.ssh_keys(slug) if k["name"].startswith(SCRIPT_PREFIX)]


def _add_script(app: SimulatorApp, slug: str, request: Request) -> Response:
    body = request.body if isinstance(request.body, dict) else {}
    script = body.get("script")
    if not isinstance(script, str) or not script.strip():
        return Response(422, {"detail": [{"loc": ["body", "script"], "msg": "field required", "type": "missing"}]})
    script_id = len(_scripts(app, slug)) + 1
    name = request.query.get("name") or f"script-{script_id}"
    app.store.add_ssh_key(slug, f"{SCRIPT_PREFIX}{script_id}:{name}", script)
    return Response(200, {"success": True, "script_id": script_id})
