"""The node agent reads a spot interruption notice from instance metadata and reports it at once."""

import http.server
import json
import threading

import pytest

from nim_launcher.agent import spot
from nim_launcher.agent.cli import parse_args
from nim_launcher.agent.options import SPOT_METADATA_URL


class Metadata(http.server.ThreadingHTTPServer):
    """EC2's instance metadata service: IMDSv2 token, then `spot/instance-action` (404 until a notice)."""

    def __init__(self):
        self.notice: dict | None = None
        self.require_token = True
        super().__init__(("127.0.0.1", 0), MetadataHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class MetadataHandler(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):  # noqa: N802
        ok = self.path == spot.TOKEN_PATH and self.headers.get(spot.TOKEN_TTL_HEADER)
        self._answer(200 if ok else 400, "token-123")

    def do_GET(self):  # noqa: N802
        if self.server.require_token and self.headers.get(spot.TOKEN_HEADER) != "token-123":
            return self._answer(401, "")
        if self.path != spot.ACTION_PATH or self.server.notice is None:
            return self._answer(404, "Not Found")
        return self._answer(200, json.dumps(self.server.notice))

    def _answer(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def metadata():
    server = Metadata()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_no_notice_until_the_partner_announces_one_then_the_heartbeat_carries_it(metadata):
    watch = spot.SpotWatch(metadata.url)
    assert not watch.poll() and watch.report_fields() == {}
    metadata.notice = {"action": "terminate", "time": "2026-12-02T01:02:00Z"}
    assert watch.poll()
    assert watch.report_fields() == {"spot_interruption": {"action": "terminate", "time": "2026-12-02T01:02:00Z"}}
    assert not watch.poll()  # the same notice is new once


def test_an_unreachable_or_odd_metadata_service_means_no_notice(metadata):
    assert spot.read_notice("http://127.0.0.1:9", timeout=0.2) is None
    metadata.notice = {"action": "reboot", "time": "soon"}
    assert spot.read_notice(metadata.url) is None


def test_a_new_notice_ends_the_wait_between_readings():
    ticks = iter([0.0, 0.0, 5.0, 10.0])
    polls = iter([False, True])
    waited: list[float] = []
    watch = spot.SpotWatch("unused", read=lambda url: None)
    watch.poll = lambda: next(polls)
    events = spot.wait_watching(lambda s: waited.append(s) or [], 60.0, watch, clock=lambda: next(ticks))
    assert events == [] and waited == [spot.POLL_S, spot.POLL_S]  # two slices, not the whole minute


def test_the_agent_takes_the_metadata_url_from_its_env_file_and_is_off_without_it():
    assert parse_args([], {}).spot_metadata_url == ""
    assert parse_args([], {SPOT_METADATA_URL.env: "http://169.254.169.254"}).spot_metadata_url == \
        "http://169.254.169.254"


def test_a_spot_node_on_aws_has_its_agent_poll_the_metadata_service_and_others_do_not():
    from nim_launcher.plans.cloud_init import agent_env
    from nim_launcher.plans.context import NodeContext
    from nim_launcher.services.launch_plans import AWS_METADATA_URL

    aws_spot = NodeContext(node_id=1, node_token="t", broker_url="http://b", spot_metadata_url=AWS_METADATA_URL)
    assert f"{SPOT_METADATA_URL.env}={AWS_METADATA_URL}\n" in agent_env(aws_spot)
    assert SPOT_METADATA_URL.env not in agent_env(NodeContext(node_id=1, node_token="t", broker_url="http://b"))
