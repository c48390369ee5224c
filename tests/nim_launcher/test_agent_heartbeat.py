"""Heartbeats over real HTTP on loopback: the header, retries with backoff, final 4xx, no token in logs."""

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nim_launcher.agent.heartbeat import health_url, send_heartbeat

TOKEN = "node-secret-token-123"
REPORT = {"state": "healthy", "repair": "none", "reasons": [], "gpus": [], "xid_events": [],
          "agent_version": "0.1.0", "reported_at": "2026-01-01T00:00:00+00:00"}


class Broker:
    """A tiny broker stand-in that answers with a queue of status codes and records each request."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        broker = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                broker.requests.append({"path": self.path, "auth": self.headers["Authorization"],
                                        "body": json.loads(body)})
                status = broker.statuses.pop(0) if broker.statuses else 200
                payload = json.dumps({"state": "healthy"} if status < 400 else {"errors": {"state": ["bad"]}})
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(payload.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def broker():
    server = Broker([])
    yield server
    server.close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_url_is_the_nodes_health_endpoint():
    assert health_url("http://b:8000/", 7) == "http://b:8000/api/v1/nodes/7/health"


def test_heartbeat_posts_the_report_with_the_node_token(broker):
    result = send_heartbeat(REPORT, broker=broker.url, node_id=7, token=TOKEN)

    assert result.ok and result.status == 200 and result.body == {"state": "healthy"}
    (request,) = broker.requests
    assert request == {"path": "/api/v1/nodes/7/health", "auth": f"Node {TOKEN}", "body": REPORT}


def test_server_errors_are_retried_with_growing_backoff(broker):
    broker.statuses = [503, 502]
    pauses = []

    result = send_heartbeat(REPORT, broker=broker.url, node_id=7, token=TOKEN, sleep=pauses.append)

    assert result.ok and len(broker.requests) == 3
    assert pauses == [1.0, 2.0]


def test_a_rejected_heartbeat_is_not_retried(broker):
    broker.statuses = [400]

    result = send_heartbeat(REPORT, broker=broker.url, node_id=7, token=TOKEN, sleep=lambda s: None)

    assert not result.ok and result.status == 400 and len(broker.requests) == 1
    assert result.body == {"errors": {"state": ["bad"]}}


def test_connection_errors_are_retried_then_given_up_without_logging_the_token(caplog):
    pauses = []
    caplog.set_level(logging.DEBUG)

    result = send_heartbeat(REPORT, broker=closed_port_url(), node_id=7, token=TOKEN, retries=3,
                            sleep=pauses.append)

    assert not result.ok and "ConnectionError" in result.error
    assert pauses == [1.0, 2.0, 4.0]
    assert TOKEN not in caplog.text and "attempt 4 failed" in caplog.text


def test_server_errors_that_never_stop_give_up_with_the_last_status(broker):
    broker.statuses = [500, 500, 500]

    result = send_heartbeat(REPORT, broker=broker.url, node_id=7, token=TOKEN, retries=2, sleep=lambda s: None)

    assert not result.ok and result.status == 500 and len(broker.requests) == 3
