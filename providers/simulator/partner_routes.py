"""The GPU Broker Partner API (docs/partner-api.yaml) over the simulator's store."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .messages import Request, Response
from .store import SimError

if TYPE_CHECKING:
    from .app import SimulatorApp

STATUS_BY_KIND = {"invalid_request": 400, "auth_failed": 401, "quota_exceeded": 403, "not_found": 404,
                  "no_capacity": 409, "transient": 503}
NODE_FIELDS = ("id", "state", "region", "instance_type", "ip", "tags", "created_at", "spot", "ports")


def error(kind: str, message: str) -> Response:
    return Response(STATUS_BY_KIND[kind], {"error": {"kind": kind, "message": message}})


def server_error(status: int, message: str) -> Response:
    return Response(status, {"error": {"kind": "transient", "message": message}})


def rate_limits(request: Request, faults) -> list[tuple[str, float]]:
    return [("requests", faults.request_interval_s)]


def rate_limited(wait_s: int) -> Response:
    return Response(429, {"error": {"kind": "transient", "message": "rate limited"}},
                    {"Retry-After": str(wait_s)})


def handle(app: SimulatorApp, slug: str, request: Request) -> Response:
    if not app.authorized(slug, request):
        return error("auth_failed", "missing or invalid bearer token")
    route = request.parts[2:]
    try:
        if route == ["v1", "offers"] and request.method == "GET":
            return Response(200, {"offers": app.store.offers(slug)})
        if route == ["v1", "nodes"] and request.method == "GET":
            nodes = app.store.list_nodes(slug, tag=request.query.get("tag"))
            return Response(200, {"nodes": [_public(n) for n in nodes]})
        if route == ["v1", "nodes"] and request.method == "POST":
            return _create(app, slug, request)
        if len(route) == 3 and route[:2] == ["v1", "nodes"] and request.method == "GET":
            return Response(200, _public(app.store.get_node(slug, route[2])))
        if len(route) == 3 and route[:2] == ["v1", "nodes"] and request.method == "DELETE":
            node = app.store.terminate_node(slug, route[2])
            app.node_stopped(node["id"])
            return Response(200, _public(node))
    except SimError as exc:
        return error(exc.kind, exc.message)
    return error("not_found", "no such path")


def _create(app: SimulatorApp, slug: str, request: Request) -> Response:
    key = request.headers.get("idempotency-key", "").strip()
    body = request.body
    problem = _invalid_create(key, body)
    if problem:
        return error("invalid_request", problem)
    faults = app.store.faults(slug)
    node, created = app.store.create_node(
        slug, instance_type=body["instance_type"], region=body["region"], idempotency_key=key,
        tags=body.get("tags") or {}, user_data=body.get("user_data") or "",
        ssh_public_key=body.get("ssh_public_key") or "", capacity_error=app.chance(faults.capacity_error_rate),
        spot=body.get("spot", False), ports=body.get("ports") or [], loopback=app.run_user_data)
    if created:
        node = app.node_started(slug, node, body.get("user_data") or "")
    return Response(201 if created else 200, _public(node))


def _invalid_create(key: str, body: object) -> str | None:
    if not key:
        return "the Idempotency-Key header is required"
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if not isinstance(body.get("instance_type"), str) or not body["instance_type"]:
        return "instance_type is required"
    if not isinstance(body.get("region"), str):  # "" = the offer's unspecified location
        return "region is required"
    tags = body.get("tags") or {}
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        return "tags must be an object of strings"
    for name in ("user_data", "ssh_public_key"):
        if not isinstance(body.get(name) or "", str):
            return f"{name} must be a string"
    if not isinstance(body.get("spot", False), bool):
        return "spot must be a boolean"
    return _invalid_ports(body.get("ports") or [])


def _invalid_ports(ports: object) -> str | None:
    if not isinstance(ports, list):
        return "ports must be a list of {port, source}"
    for rule in ports:
        if not isinstance(rule, dict) or isinstance(rule.get("port"), bool) or not isinstance(rule.get("port"), int) \
                or not 1 <= rule["port"] <= 65535:
            return "ports[].port must be an integer between 1 and 65535"
        try:
            ipaddress.IPv4Network(rule.get("source", "0.0.0.0/0"), strict=False)
        except (TypeError, ValueError):
            return "ports[].source must be an IPv4 network in CIDR notation"
    return None


def _public(node: dict) -> dict:
    """A node as docs/partner-api.yaml shows it: `preempted` once taken back, `preempt_at` from the notice on."""
    public = {name: node[name] for name in NODE_FIELDS}
    if node["preempted_at"] is not None:
        public.update(state="preempted", ended_at=_iso(node["preempted_at"]))
    elif node["preempt_at"] is not None:
        public["preempt_at"] = _iso(node["preempt_at"])
    return public


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")
