"""A small Jupyter Server double for simulated pod nodes: the REST API the broker and its agent use.

`GET /api/status`, `GET /api/kernels` (each with `execution_state` and `last_activity`), `POST /api/kernels`,
`GET /api/kernels/{id}`, `DELETE /api/kernels/{id}`, `POST /api/kernels/{id}/interrupt` (the kernel goes
idle) and `GET /lab`, behind Jupyter's token auth (`Authorization: token …` or `?token=…`; anything else is
403). The token comes from `JUPYTER_TOKEN`, as Jupyter Server reads it. The double runs no code:
`POST /api/kernels/{id}/execute` (its own, in place of an `execute_request` on the kernel's channels) makes a
kernel busy until it is interrupted. Stdlib only: it starts as fast as a simulated container should.

    JUPYTER_TOKEN=… python -m providers.simulator.jupyter_double --host IP --port PORT
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

VERSION = "2.14.2"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class JupyterState:
    def __init__(self, token: str):
        self.token, self.started, self.last_activity = token, _now(), _now()
        self.kernels: dict[str, dict] = {}
        self.lock = threading.Lock()

    def start_kernel(self, name: str) -> dict:
        with self.lock:
            kernel = {"id": str(uuid.uuid4()), "name": name or "python3", "last_activity": _now(),
                      "execution_state": "idle", "connections": 0}
            self.kernels[kernel["id"]] = kernel
            self.last_activity = kernel["last_activity"]
            return dict(kernel)

    def set_execution_state(self, kernel_id: str, execution_state: str) -> dict | None:
        with self.lock:
            kernel = self.kernels.get(kernel_id)
            if kernel is not None:
                kernel.update(execution_state=execution_state, last_activity=_now())
                self.last_activity = kernel["last_activity"]
                return dict(kernel)
            return None


class Handler(BaseHTTPRequestHandler):
    server_version = f"TornadoServer/6.4 jupyter_server/{VERSION}"
    state: JupyterState

    def log_message(self, format, *args):  # noqa: A002  (quiet, as the container's log would be elsewhere)
        return

    def _authorized(self) -> bool:
        scheme, _, given = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "token":
            given = (parse_qs(urlsplit(self.path).query).get("token") or [""])[0]
        return bool(given) and hmac.compare_digest(given.strip(), self.state.token)

    def _send(self, status: int, body, content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        if not self._authorized():
            self._send(403, {"message": "Forbidden", "reason": None})
            return
        state = self.state
        if method == "GET" and path == "/api":
            self._send(200, {"version": VERSION})
        elif method == "GET" and path == "/api/status":
            self._send(200, {"started": state.started, "last_activity": state.last_activity,
                             "connections": 0, "kernels": len(state.kernels)})
        elif method == "GET" and path == "/api/kernels":
            with state.lock:
                self._send(200, [dict(kernel) for kernel in state.kernels.values()])
        elif method == "POST" and path == "/api/kernels":
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            self._send(201, state.start_kernel(str(body.get("name") or "")))
        elif method == "POST" and path.startswith("/api/kernels/") and path.endswith(("/execute", "/interrupt")):
            kernel_id, _, action = path.removeprefix("/api/kernels/").partition("/")
            kernel = state.set_execution_state(kernel_id, "busy" if action == "execute" else "idle")
            if kernel is None:
                self._send(404, {"message": f"Kernel does not exist: {kernel_id}", "reason": None})
            elif action == "execute":
                self._send(200, kernel)
            else:
                self.send_response(204)
                self.end_headers()
        elif path.startswith("/api/kernels/") and method in ("GET", "DELETE"):
            kernel_id = path.rsplit("/", 1)[1]
            with state.lock:
                kernel = state.kernels.get(kernel_id) if method == "GET" else state.kernels.pop(kernel_id, None)
            if kernel is None:
                self._send(404, {"message": f"Kernel does not exist: {kernel_id}", "reason": None})
            elif method == "GET":
                self._send(200, dict(kernel))
            else:
                self.send_response(204)
                self.end_headers()
        elif method == "GET" and path in ("/lab", ""):
            self._send(200, "<!doctype html><title>JupyterLab</title>", "text/html")
        else:
            self._send(404, {"message": "Not Found", "reason": None})

    def do_GET(self):  # noqa: N802
        self._route("GET")

    def do_POST(self):  # noqa: N802
        self._route("POST")

    def do_DELETE(self):  # noqa: N802
        self._route("DELETE")


def make_server(host: str, port: int, token: str) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"state": JupyterState(token)})
    return ThreadingHTTPServer((host, port), handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m providers.simulator.jupyter_double", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8888)
    args = parser.parse_args(argv)
    token = os.environ.get("JUPYTER_TOKEN", "")
    if not token:
        parser.error("JUPYTER_TOKEN must be set (a server without a token is never started)")
    make_server(args.host, args.port, token).serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
