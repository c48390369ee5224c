"""The simulator's WSGI app: routing, bearer auth, injected faults, and node processes.

Paths: `/p/<slug>/v1/...` (Partner API), `/lambda/<slug>/api/v1/...` (Lambda-shaped API),
`/shadeform/<slug>/v1/...` (Shadeform-shaped), `/vast/<slug>/api/v0/...` (Vast.ai-shaped),
`/verda/<slug>/v1/...` (Verda-shaped), `/hyperstack/<slug>/v1/...` (Hyperstack-shaped),
`/gcp/<slug>/{token,compute/v1,cloudbilling/v1}/...` (Google Cloud-shaped), `/lium/<slug>/api/...` (Lium-shaped),
`/jarvislabs/<slug>/...` (JarvisLabs-shaped), `/mithril/<slug>/v2/...` (Mithril-shaped),
`/yotta/<slug>/{openapi,v2}/...` (Yotta-shaped),
`/hyperbolic/<slug>/v1/marketplace...` (Hyperbolic-shaped; its nodes' sshd is `ssh_server`),
`/seeweb/<slug>/ecs/v2/...` (Seeweb-shaped),
`/_control/<slug>` (faults and capacity), `/healthz`.
"""

from __future__ import annotations

import base64
import email.policy
import json
import random
import shlex
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from email.parser import BytesParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from providers.processes import kill_group, start_process

from . import (
    checkout,
    gcp_routes,
    hyperbolic_routes,
    hyperstack_routes,
    jarvislabs_routes,
    lambda_routes,
    lium_routes,
    mithril_routes,
    partner_routes,
    seeweb_routes,
    shadeform_routes,
    vast_routes,
    verda_routes,
    yotta_routes,
)
from .messages import Request, Response
from .ratelimit import RateLimiter
from .store import SimError, Store
from .vm import service_port

if TYPE_CHECKING:
    from .ssh_server import SshServer


STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
               403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 429: "Too Many Requests",
               500: "Internal Server Error", 503: "Service Unavailable", 504: "Gateway Timeout"}


class SimulatorApp:
    def __init__(self, store: Store, *, seed: int | None = None, run_user_data: bool = False,
                 runtime_dir: Path | None = None, sleep: Callable[[float], None] = time.sleep):
        self.store = store
        self.rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self.run_user_data = run_user_data
        self.runtime_dir = runtime_dir or Path("var/simulator-nodes")
        self.sleep = sleep
        self.rate_limiter = RateLimiter(store.clock)
        self.ssh: SshServer | None = None  # the nodes' sshd, when the simulator serves one (SimulatorServer does)
        self.apis = {"p": partner_routes, "lambda": lambda_routes, "shadeform": shadeform_routes, "vast": vast_routes,
                     "verda": verda_routes, "hyperstack": hyperstack_routes,
                     "gcp": gcp_routes, "lium": lium_routes, "jarvislabs": jarvislabs_routes,
                     "mithril": mithril_routes, "yotta": yotta_routes,
                     "hyperbolic": hyperbolic_routes, "seeweb": seeweb_routes}

    # -- WSGI ----------------------------------------------------------------------------------
    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        response = self.dispatch(_parse(environ))
        text = isinstance(response.body, str)
        payload = (response.body if text else json.dumps(response.body)).encode()
        headers = [("Content-Type", "text/plain" if text else "application/json"),
                   ("Content-Length", str(len(payload))), *response.headers.items()]
        start_response(f"{response.status} {STATUS_TEXT.get(response.status, '')}", headers)
        return [payload]

    def dispatch(self, request: Request) -> Response:
        parts = request.parts
        if isinstance(request.body, _BadJson):
            return Response(400, {"error": {"kind": "invalid_request", "message": "body is not valid JSON"}})
        if parts == ["healthz"]:
            return Response(200, {"status": "ok"})
        if len(parts) == 2 and parts[0] == "_control":
            return self.control(parts[1], request)
        if len(parts) >= 2 and parts[0] in self.apis and parts[1] in self.store.partner_slugs():
            api = self.apis[parts[0]]
            return self.with_faults(parts[1], request, api, lambda: api.handle(self, parts[1], request))
        return Response(404, {"error": {"kind": "not_found", "message": "no such path"}})

    # -- faults and auth -------------------------------------------------------------------------
    def chance(self, rate: float) -> bool:
        with self._rng_lock:
            return rate > 0 and self.rng.random() < rate

    def with_faults(self, slug: str, request: Request, api: Any, call: Callable[[], Response]) -> Response:
        """Latency, injected 5xx and timeouts, then the API's own rate limits, then the call."""
        faults = self.store.faults(slug)
        if faults.latency_ms:
            self.sleep(faults.latency_ms / 1000)
        if self.store.take_error_next(slug) or self.chance(faults.error_rate):
            return api.server_error(503, "simulated server error")
        if self.chance(faults.timeout_rate):
            self.sleep(faults.timeout_s)
            return api.server_error(504, "simulated timeout")
        for bucket, interval in api.rate_limits(request, faults):
            wait = self.rate_limiter.wait_s(slug, bucket, interval)
            if wait:
                return api.rate_limited(wait)
        return call()

    def authorized(self, slug: str, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                value = base64.b64decode(value).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                return False
        elif scheme.lower() != "bearer":
            return False
        return value == self.store.token(slug)

    # -- nodes that run their user data ---------------------------------------------------------------
    def node_started(self, slug: str, node: dict, user_data: str) -> dict:
        """Boot a simulated VM that runs the node's user data as cloud-init would, on the node's own address.

        The node's address is a loopback address of its own (see `simulated_ip`), so what its plan
        serves is reached the way a real node is: the reported IP and the port the launch opened.
        A spot node is preempted later at the partner's `preemption_rate` (see `preempt_due`).
        """
        faults = self.store.faults(slug)
        if node["spot"] and self.chance(faults.preemption_rate):
            node = self.store.schedule_preemption(slug, node["id"], after_s=faults.preemption_after_s,
                                                  notice_s=faults.preemption_notice_s)
        if not (self.run_user_data and user_data.strip()):
            return node
        port = service_port(node["ports"])
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        user_data_file = (self.runtime_dir / f"{node['id']}.user-data").resolve()
        user_data_file.write_text(user_data, encoding="utf-8")
        command = shlex.join([sys.executable, "-m", "providers.simulator.vm", "--root",
                              str((self.runtime_dir / node["id"]).resolve()), "--host", node["ip"],
                              "--port", str(port), "--user-data", str(user_data_file)])
        env = {"NODE_ID": node["id"], "NODE_HOST": node["ip"], "NODE_PORT": str(port), "PORT": str(port),
               "PYTHONPATH": checkout.pythonpath()}
        start_process(f"exec {command}", state_dir=self.runtime_dir, name=node["id"], env=env)
        return node

    def node_stopped(self, node_id: str) -> None:
        kill_group(self.runtime_dir, node_id)
        if self.ssh is not None:
            self.ssh.forget(node_id)

    def ssh_address(self, slug: str, node: dict, user: str, port: int = 0) -> tuple[str, int]:
        """Where a running node's sshd listens: the simulator's SSH server on the node's own address when nodes
        run their plans here (at `port`, or one of its own), else port 22 of its (data only) address."""
        if self.ssh is None or not self.run_user_data or node["state"] != "running":
            return node["ip"], 22
        return node["ip"], self.ssh.listen(slug, node, user, port)

    def preempt(self, slug: str, node_id: str) -> dict:
        """The partner takes a node back now: it ends (capacity returns) and its processes stop."""
        node = self.store.preempt_node(slug, node_id)
        self.node_stopped(node["id"])
        return node

    def preempt_due(self) -> int:
        """Preempt every node whose scheduled time has come (the server runs this about every 0.1 s)."""
        due = self.store.due_preemptions()
        for slug, node_id in due:
            self.preempt(slug, node_id)
        return len(due)

    # -- control -----------------------------------------------------------------------------------
    def control(self, slug: str, request: Request) -> Response:
        try:
            if request.method == "POST":
                self._apply_control(slug, request.body or {})
            elif request.method != "GET":
                return Response(405, {"error": {"kind": "invalid_request", "message": "GET or POST"}})
            faults = self.store.faults(slug)
        except SimError as exc:
            status = 404 if exc.kind == "not_found" else 400
            return Response(status, {"error": {"kind": exc.kind, "message": exc.message}})
        return Response(200, {"slug": slug, "faults": asdict(faults), "offers": self.store.offers(slug),
                              "live_nodes": len(self.store.list_nodes(slug))})

    def _apply_control(self, slug: str, body: Any) -> None:
        if not isinstance(body, dict):
            raise SimError("invalid_request", "body must be a JSON object")
        changes = dict(body)
        capacity = changes.pop("capacity", None)
        instance_type = changes.pop("instance_type", None)
        token = changes.pop("token", None)
        preempt, fail = changes.pop("preempt", None), changes.pop("fail", None)
        faults = self.store.faults(slug).updated(changes)
        if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0):
            raise SimError("invalid_request", "capacity must be an integer >= 0")
        if token is not None and (not isinstance(token, str) or not token):
            raise SimError("invalid_request", "token must be a non-empty string")
        if capacity is not None:
            self.store.set_capacity(slug, capacity, instance_type)
        if token is not None:
            self.store.set_token(slug, token)
        if preempt is not None:
            self.preempt(slug, str(preempt))
        if fail is not None:
            self.store.fail_node(slug, str(fail))
        self.store.set_faults(slug, faults)


class _BadJson:
    pass


def _form_parts(raw: bytes, content_type: str) -> dict[str, str]:
    """A multipart/form-data body (a file upload) as {field name: text}."""
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    if not message.is_multipart():
        raise ValueError("not a multipart body")
    return {part.get_param("name", header="content-disposition"): part.get_payload(decode=True).decode()
            for part in message.iter_parts()}


def _parse(environ: dict) -> Request:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    content_type = environ.get("CONTENT_TYPE", "")
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):  # OAuth token requests
            body = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
        elif content_type.startswith("multipart/form-data"):  # file uploads
            body = _form_parts(raw, content_type)
        else:
            body = json.loads(raw) if raw else None
    except ValueError:
        body = _BadJson()
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    parts = [p for p in environ.get("PATH_INFO", "").split("/") if p]
    return Request(environ["REQUEST_METHOD"].upper(), parts, query, headers, body)
