"""A Yotta Labs OpenAPI-shaped API (docs/vendor/yotta-openapi.yaml): `X-API-KEY` auth, the `{code, message, data}`
envelope with business codes on HTTP 200 (10000 success, 10001 invalid parameters, 12001 resource status invalid,
44003 cluster not found), the key check, GPU availability per region (`/v2/vms/types`), one-pod clusters
(create, status, create pod, list its pods, release) and the organisation's pods.

A seeded instance type in the catalogue's Yotta spelling `<n>x<vCPUs>v<RAM>g_<gpuType>_SECURE` is a shape a
cluster create takes; the cluster is the simulator's node (it takes the capacity), `INITIALIZE` for the
partner's `delay_s`, then `RUNNING`. Its pod, created later, is `INITIALIZE` for `delay_s` more; while it runs
each `expose` entry has a `host` (the node's address) and a `proxyPort` of its own, and the pod's
`initializationCommand` runs as the container's shell command on a simulated VM whose first non-SSH port is
that port's proxy port, so what the pod serves is reached at the mapped port only. Released clusters read
`TERMINATING` for `terminate_delay_s`, then `TERMINATED`, and are kept (Yotta shows ended pods for a day).
A cluster create Yotta cannot place answers 10001 with "Insufficient system resources" (its docs' cause of a
failed deployment); a bad key is HTTP 401 in the envelope.
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

SUCCESS, INVALID, STATUS_INVALID, CLUSTER_NOT_FOUND = 10000, 10001, 12001, 44003
SHAPE_RE = re.compile(r"^(?P<gpus>\d+)x(?P<vcpus>\d+)v(?P<ram>\d+)g_(?P<gpu_type>.+)_(?P<cloud>SECURE|COMMUNITY)$")
CLUSTER_TAG, POD_TAG, POD_AT_TAG = "yotta:cluster", "yotta:pod", "yotta:pod_at"
MESSAGE_BY_KIND = {"invalid_request": "Invalid request parameters: ", "no_capacity": "Insufficient system resources: ",
                   "quota_exceeded": "Insufficient balance: "}


def org_id(slug: str) -> str:
    """The organisation the simulator's key `sim-<slug>` belongs to."""
    return f"org-{slug}"


def _result(data: object = None, *, code: int = SUCCESS, message: str = "success", status: int = 200) -> Response:
    return Response(status, {"message": message, "code": code, "data": data})


def error(kind: str, message: str) -> Response:
    if kind == "auth_failed":
        return _result(code=401, message=message, status=401)
    if kind == "not_found":
        return _result(code=CLUSTER_NOT_FOUND, message=f"Cluster not found: {message}")
    return _result(code=INVALID, message=MESSAGE_BY_KIND.get(kind, "") + message)


def server_error(status: int, message: str) -> Response:
    return _result(code=10002, message=f"System error: {message}", status=status)


def rate_limits(request: Request, faults) -> list[tuple[str, float]]:
    """The simulator's request and launch intervals (the vendor publishes no figures of its own)."""
    return launch_limits(request, faults, "POST", ("cluster", "create"))


def rate_limited(wait_s: int) -> Response:
    response = _result(code=429, message=f"Too many requests: retry in {wait_s} s", status=429)
    response.headers["Retry-After"] = str(wait_s)
    return response


def handle(app: SimulatorApp, slug: str, request: Request) -> Response:
    if request.headers.get("x-api-key", "") != app.store.token(slug):
        return error("auth_failed", "Invalid or missing API key")
    route, method = request.parts[2:], request.method
    try:
        return _route(app, slug, route, method, request)
    except SimError as exc:
        return error(exc.kind, exc.message)


def _route(app: SimulatorApp, slug: str, route: list[str], method: str, request: Request) -> Response:
    body = request.body if isinstance(request.body, dict) else None
    if route == ["openapi", "key", "check"] and method == "GET":
        return _result(request.query.get("orgId") == org_id(slug))
    if route == ["v2", "vms", "types"] and method == "GET":
        return _result(_vm_types(app, slug))
    if route == ["openapi", "v1", "pods", "list"] and method == "GET":
        return _result([_pod(app, slug, n) for n in _clusters(app, slug) if POD_TAG in n["tags"]])
    if route[:4] != ["openapi", "v1", "pods", "cluster"]:
        return Response(404, {"message": "Not Found", "code": 404, "data": None})
    action = route[4:]
    if action == ["create"] and method == "POST":
        return _create_cluster(app, slug, body)
    if len(action) == 2 and action[0] == "status" and method == "GET":
        node = next((n for n in _clusters(app, slug) if str(cluster_id(n["id"])) == action[1]), None)
        if node is None:
            return error("not_found", action[1])
        return _result({"clusterId": cluster_id(node["id"]), "clusterName": node["name"],
                        "status": _cluster_status(app, slug, node)})
    if action == ["create", "pod"] and method == "POST":
        return _create_pod(app, slug, body)
    if action == ["pods", "list"] and method == "POST":
        node = _named(app, slug, body)
        return _result([_pod(app, slug, node)] if POD_TAG in node["tags"] else [])
    if action == ["release"] and method == "POST":
        node = _named(app, slug, body)
        app.store.terminate_node(slug, node["id"])
        app.node_stopped(node["id"])
        return _result(True)
    return Response(404, {"message": "Not Found", "code": 404, "data": None})


def cluster_id(node_id: str) -> int:
    """A stable positive integer id (Yotta ids are integers)."""
    return int(hashlib.sha256(node_id.encode()).hexdigest()[:12], 16)


def pod_id(node_id: str) -> int:
    return int(hashlib.sha256(f"{node_id}:pod".encode()).hexdigest()[:12], 16)


def proxy_port(node_id: str, port: int) -> int:
    """The outside port Yotta maps a pod's port to (30000-59999, stable per pod and port)."""
    return 30000 + int(hashlib.sha256(f"{node_id}:{port}".encode()).hexdigest()[:8], 16) % 30000


def _clusters(app: SimulatorApp, slug: str) -> list[dict]:
    return [n for n in app.store.list_nodes(slug, include_terminated=True) if CLUSTER_TAG in n["tags"]]


def _named(app: SimulatorApp, slug: str, body: dict | None) -> dict:
    """The latest cluster of the body's `clusterName`."""
    name = (body or {}).get("clusterName")
    if not isinstance(name, str) or not name:
        raise SimError("invalid_request", "clusterName is required")
    found = [n for n in _clusters(app, slug) if n["name"] == name]
    if not found:
        raise SimError("not_found", name)
    return found[-1]


def _vm_types(app: SimulatorApp, slug: str) -> list[dict]:
    """Per GPU type (the GPU Types Reference's spelling), each region it is sold in and whether any is free."""
    types: dict[str, dict[str, bool]] = {}
    for seed in app.store.offers(slug):
        if match := SHAPE_RE.match(seed["instance_type"]):
            regions = types.setdefault(match["gpu_type"].replace("_GeForce_", "_"), {})
            regions[seed["region"]] = regions.get(seed["region"], False) or seed["available_nodes"] > 0
    return [{"gpuType": gpu_type, "regions": [
        {"region": region, "regionName": region, "available": available,
         "vmTypeId": int(hashlib.sha256(f"{gpu_type}|{region}".encode()).hexdigest()[:6], 16)}
        for region, available in sorted(regions.items())]} for gpu_type, regions in sorted(types.items())]


def _invalid_expose(expose: object) -> str | None:
    if not isinstance(expose, list) or not all(
            isinstance(e, dict) and isinstance(e.get("port"), int) and not isinstance(e["port"], bool)
            and isinstance(e.get("protocol"), str) for e in expose):
        return "expose must be a list of {port, protocol}"
    return None


def _create_cluster(app: SimulatorApp, slug: str, body: dict | None) -> Response:
    if body is None:
        return error("invalid_request", "body must be a JSON object")
    for name in ("clusterName", "instanceType", "region", "imageName"):
        if not isinstance(body.get(name), str) or not body[name]:
            return error("invalid_request", f"{name} is required")
    if problem := _invalid_expose(body.get("expose", [])):
        return error("invalid_request", problem)
    if body.get("nodeNum", 1) != 1:
        return error("invalid_request", "nodeNum: this account's clusters hold one node")
    if any(n["name"] == body["clusterName"] and n["state"] not in ("terminated", "failed")
           for n in _clusters(app, slug)):
        return error("invalid_request", f"cluster {body['clusterName']} already exists")
    node, _ = app.store.create_node(
        slug, instance_type=body["instanceType"], region=body["region"], name=body["clusterName"],
        tags={CLUSTER_TAG: "1"}, ssh_public_key=str(body.get("publicKey") or ""), loopback=app.run_user_data,
        capacity_error=app.chance(app.store.faults(slug).capacity_error_rate))
    return _result({"clusterId": cluster_id(node["id"])})


def _create_pod(app: SimulatorApp, slug: str, body: dict | None) -> Response:
    if body is None:
        return error("invalid_request", "body must be a JSON object")
    for name in ("name", "image", "clusterName"):
        if not isinstance(body.get(name), str) or not body[name]:
            return error("invalid_request", f"{name} is required")
    if problem := _invalid_expose(body.get("expose", [])):
        return error("invalid_request", problem)
    command = body.get("initializationCommand", "")
    if not isinstance(command, str):
        return error("invalid_request", "initializationCommand must be a string")
    node = _named(app, slug, body)
    if str(body.get("clusterId", cluster_id(node["id"]))) != str(cluster_id(node["id"])):
        return error("not_found", f"{body['clusterName']} has no id {body.get('clusterId')}")
    if POD_TAG in node["tags"] or _cluster_status(app, slug, node) != "RUNNING":
        return _result(code=STATUS_INVALID, message=f"Resource status invalid: cluster {node['name']} is "
                                                   f"{_cluster_status(app, slug, node)} or already holds its pod")
    ports = [{"port": e["port"], "protocol": e["protocol"], "source": "0.0.0.0/0"} for e in body.get("expose", [])]
    script = f"#!/bin/sh\n{command}\n" if command.strip() else ""
    node = app.store.set_launch(slug, node["id"], user_data=script, ports=ports)
    node = app.store.tag_node(slug, node["id"], **{POD_TAG: str(pod_id(node["id"])),
                                                   POD_AT_TAG: repr(app.store.clock())})
    mapped = [{"port": proxy_port(node["id"], p["port"])} for p in ports if p["protocol"] != "SSH"]
    app.node_started(slug, {**node, "ports": mapped}, script)
    return _result(pod_id(node["id"]))


def _ended_status(app: SimulatorApp, slug: str, node: dict) -> str | None:
    if node["state"] == "failed":
        return "FAILED"
    if node["state"] == "terminated":
        linger = app.store.faults(slug).terminate_delay_s
        return "TERMINATING" if app.store.clock() < node["terminated_at"] + linger else "TERMINATED"
    return None


def _cluster_status(app: SimulatorApp, slug: str, node: dict) -> str:
    ended = _ended_status(app, slug, node)
    if ended:
        return "TERMINATED" if ended == "FAILED" else ended
    return "RUNNING" if node["state"] == "running" else "INITIALIZE"


def _pod_status(app: SimulatorApp, slug: str, node: dict) -> str:
    ended = _ended_status(app, slug, node)
    if ended:
        return ended
    started = float(node["tags"][POD_AT_TAG]) + app.store.faults(slug).delay_s
    return "RUNNING" if node["state"] == "running" and app.store.clock() >= started else "INITIALIZE"


def _pod(app: SimulatorApp, slug: str, node: dict) -> dict:
    match = SHAPE_RE.match(node["instance_type"])
    status = _pod_status(app, slug, node)
    running = status == "RUNNING"
    expose = []
    for port in node["ports"]:
        entry = {"port": port["port"], "protocol": port["protocol"], "serviceName": f"{port['protocol']} Port",
                 "healthy": running}
        if running:
            outside = proxy_port(node["id"], port["port"])
            entry |= {"host": node["ip"], "proxyPort": outside,
                      "ingressUrl": f"ssh root@{node['ip']} -p {outside}" if port["protocol"] == "SSH"
                      else f"{node['ip']}:{outside}"}
        expose.append(entry)
    return {"id": pod_id(node["id"]), "podName": node["name"], "status": status, "region": node["region"],
            "gpuType": match["gpu_type"] if match else "", "gpuCount": int(match["gpus"]) if match else 0,
            "clusterId": cluster_id(node["id"]), "clusterName": node["name"], "expose": expose,
            "internalIp": node["ip"], "createdAt": int(float(node["tags"][POD_AT_TAG]) * 1000)}
