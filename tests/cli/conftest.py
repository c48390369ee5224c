"""CLI fixtures: an isolated config home, a scripted loopback HTTP server, a fake clock, a runner."""

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from broker.cli.context import Context
from broker.cli.main import main


@pytest.fixture(autouse=True)
def isolated_config(tmp_path, monkeypatch):
    """Never read the developer's real config or environment."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("BROKER_URL", raising=False)
    monkeypatch.delenv("BROKER_API_KEY", raising=False)
    return tmp_path / "xdg" / "brokerctl" / "config.json"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys):
    def run(*argv: str) -> Result:
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)
    return run


class FakeClock:
    """Time that only moves when the code under test sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_clock(monkeypatch) -> FakeClock:
    clock = FakeClock()
    monkeypatch.setattr(Context, "sleep", staticmethod(clock.sleep))
    monkeypatch.setattr(Context, "clock", staticmethod(clock.monotonic))
    return clock


@dataclass
class Reply:
    status: int = 200
    body: object = None
    headers: dict = field(default_factory=dict)
    raw: str | None = None


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict
    body: object


class StubBroker:
    """A real HTTP server on 127.0.0.1 answering from a script: (METHOD, path) → replies, last one repeats."""

    def __init__(self):
        self.script: dict[tuple[str, str], list[Reply]] = {}
        self.seen: list[Seen] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    def on(self, method: str, path: str, *replies: Reply) -> None:
        self.script[(method, path)] = list(replies)

    def calls(self, method: str, path: str) -> list[Seen]:
        return [seen for seen in self.seen if (seen.method, seen.path) == (method, path)]

    def _next(self, method: str, path: str) -> Reply:
        replies = self.script.get((method, path))
        if not replies:
            return Reply(404, {"detail": "Not found."})
        return replies.pop(0) if len(replies) > 1 else replies[0]

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                stub.seen.append(Seen(self.command, parts.path, parts.query, dict(self.headers),
                                      json.loads(raw) if raw else None))
                reply = stub._next(self.command, parts.path)
                payload = (reply.raw if reply.raw is not None else json.dumps(reply.body)).encode()
                headers = {"Content-Type": "application/json", **reply.headers}
                self.send_response(reply.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _serve

        return Handler


@pytest.fixture
def stub():
    broker = StubBroker()
    broker.thread.start()
    yield broker
    broker.server.shutdown()
    broker.server.server_close()


@pytest.fixture
def stub_cli(cli, stub):
    """Run the CLI against the stub broker with an API key and no retries' real sleeping."""
    def run(*argv: str) -> Result:
        return cli("--url", stub.url, "--api-key", "gpub_test_key", *argv)
    return run


def make_offer(partner, region, gpu_name: str, *, instance_type: str, gpus: int, price: str,
               available_nodes: int | None = 2, spot: str | None = None):
    """An Offer row with its denormalised fields filled the way the catalogue import fills them."""
    from decimal import Decimal

    from django.utils import timezone

    from marketplace.catalog.gpus import CANONICAL_GPUS
    from marketplace.models import GpuModel, Offer

    spec = CANONICAL_GPUS[gpu_name]
    gpu, _ = GpuModel.objects.get_or_create(name=gpu_name, defaults={
        "memory_gb": spec.memory_gb, "architecture": spec.architecture, "vendor": spec.vendor})
    return Offer.objects.create(
        partner=partner, region=region, gpu=gpu, instance_type=instance_type, gpus_per_node=gpus,
        vcpus=8 * gpus, memory_gb=64 * gpus, interconnect="nvlink" if gpus > 1 else "pcie",
        price_per_hour=Decimal(price), spot_price_per_hour=None if spot is None else Decimal(spot),
        price_per_gpu_hour=(Decimal(price) / gpus).quantize(Decimal("0.0001")), available_nodes=available_nodes,
        country=region.country, jurisdiction=region.jurisdiction, gpu_memory_gb=gpu.memory_gb,
        updated_at=timezone.now())


@pytest.fixture
def cli_catalogue(transactional_db):
    """Two active partners (EU and US) and one suspended, with H100 and L4 offers; the match index refreshed."""
    from marketplace.models import Partner, PartnerStatus, Region
    from marketplace.selectors.catalog_version import bump_catalog_version
    from marketplace.selectors.offer_index import clear_offer_index_cache

    def partner(slug, hq, status=PartnerStatus.ACTIVE):
        return Partner.objects.create(slug=slug, name=slug.title(), hq_jurisdiction=hq, status=status)

    nimbus, lambda_, shady = partner("nimbus", "EU"), partner("lambda", "US"), \
        partner("shady", "US", PartnerStatus.SUSPENDED)
    fra = Region.objects.create(partner=nimbus, code="eu-central-1", country="DE", jurisdiction="EU")
    tex = Region.objects.create(partner=lambda_, code="us-south-1", country="US", jurisdiction="US")
    ams = Region.objects.create(partner=shady, code="ams-1", country="NL", jurisdiction="EU")
    offers = {
        "h100_fra": make_offer(nimbus, fra, "H100", instance_type="h100x8", gpus=8, price="28.00"),
        "h100_tex": make_offer(lambda_, tex, "H100", instance_type="gpu_8x_h100", gpus=8, price="23.92"),
        "l4_fra": make_offer(nimbus, fra, "L4", instance_type="l4x1", gpus=1, price="0.80", spot="0.30"),
        "hidden": make_offer(shady, ams, "H100", instance_type="h100x8", gpus=8, price="25.00"),
    }
    bump_catalog_version()
    clear_offer_index_cache()
    yield offers
    clear_offer_index_cache()


@pytest.fixture
def live_cli(cli, live_server, owner):
    """Run the CLI against the live broker as the workspace owner."""
    def run(*argv: str) -> Result:
        return cli("--url", live_server.url, "--api-key", owner.token, *argv)
    return run
