"""The HTTP seam retries only what is safe to repeat; the registry resolves adapters lazily."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from providers.base import ProviderError, ProvisionSpec
from providers.http import HttpClient
from providers.lambda_cloud import gpu_from_description, node_name, rental_from_name
from providers.nvml import gpu_model_name, local_gpus
from providers.registry import ADAPTERS, get_adapter


class _Always503(BaseHTTPRequestHandler):
    hits: list[str] = []

    def _answer(self):
        self.hits.append(self.command)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def failing_server():
    _Always503.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Always503)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Always503.hits
    server.shutdown()
    server.server_close()


def _client(url: str, sleeps: list) -> HttpClient:
    return HttpClient(url, retries=3, backoff=0.5, sleep=sleeps.append)


def test_get_is_retried_with_exponential_backoff(failing_server):
    url, hits = failing_server
    sleeps: list[float] = []
    assert _client(url, sleeps).request("GET", "/x").status_code == 503
    assert hits == ["GET"] * 4 and sleeps == [0.5, 1.0, 2.0]


def test_post_without_idempotency_key_is_sent_once(failing_server):
    url, hits = failing_server
    _client(url, []).request("POST", "/launch", json={})
    assert hits == ["POST"]


def test_post_with_idempotency_key_is_retried(failing_server):
    url, hits = failing_server
    _client(url, []).request("POST", "/v1/nodes", json={}, headers={"Idempotency-Key": "k"})
    assert hits == ["POST"] * 4


def test_a_put_marked_not_idempotent_is_sent_once(failing_server):
    url, hits = failing_server
    _client(url, []).request("PUT", "/asks/1/", json={}, idempotent=False)
    assert hits == ["PUT"]


def test_a_post_marked_idempotent_is_retried(failing_server):
    url, hits = failing_server
    _client(url, []).request("POST", "/bundles/", json={}, idempotent=True)
    assert hits == ["POST"] * 4


class _RateLimitedTwice(BaseHTTPRequestHandler):
    """429 + Retry-After for the first two requests (as Lambda's CDN answers), then 200."""

    hits: list[str] = []

    def _answer(self):
        self.hits.append(self.command)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        limited = len(self.hits) <= 2
        self.send_response(429 if limited else 200)
        body = b"error code: 1015" if limited else b"{}"
        if limited:
            self.send_header("Retry-After", "7")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def rate_limited_server():
    _RateLimitedTwice.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RateLimitedTwice)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _RateLimitedTwice.hits
    server.shutdown()
    server.server_close()


def test_a_rate_limited_post_is_repeated_after_retry_after_because_it_was_never_acted_on(rate_limited_server):
    url, hits = rate_limited_server
    sleeps: list[float] = []
    response = HttpClient(url, retries=0, sleep=sleeps.append).request("POST", "/launch", json={})
    assert response.status_code == 200 and hits == ["POST"] * 3 and sleeps == [7.0, 7.0]


def test_a_rate_limit_longer_than_the_patience_is_returned_not_slept_through(rate_limited_server):
    url, hits = rate_limited_server
    sleeps: list[float] = []
    response = HttpClient(url, rate_limit_wait_s=10, sleep=sleeps.append).request("GET", "/x")
    assert response.status_code == 429 and sleeps == [7.0] and len(hits) == 2


def test_unreachable_partner_raises_transient():
    with pytest.raises(ProviderError) as err:
        HttpClient("http://127.0.0.1:9", retries=1, sleep=lambda s: None).request("GET", "/")
    assert err.value.kind == "transient" and not err.value.permanent


def test_registry_builds_every_kind_from_its_dotted_path(tmp_path):
    assert set(ADAPTERS) == {"aws", "lambda", "partner_api", "local", "shadeform", "vast", "verda",
                             "hyperstack", "gcp", "lium", "jarvislabs", "mithril", "nebius", "yotta",
                             "hyperbolic", "seeweb"}
    assert get_adapter("partner_api", base_url="http://x", credentials={"api_key": "k"}).kind == "partner_api"
    assert get_adapter("local", state_dir=tmp_path).kind == "local"
    with pytest.raises(ValueError):
        get_adapter("nope")


def test_unknown_error_kind_is_refused():
    with pytest.raises(ValueError):
        ProviderError("weird", "x")


def test_lambda_name_carries_the_rental_id_and_a_key_hash():
    name = node_name(ProvisionSpec("key-1", "rent-42", "t", "r"))
    assert name.startswith("gpub-rent-42-") and len(name) <= 64
    assert rental_from_name(name) == "rent-42"
    assert rental_from_name("someone-elses-box") is None
    assert node_name(ProvisionSpec("key-2", "rent-42", "t", "r")) != name


def test_lambda_gpu_description_keeps_a100_memory():
    assert gpu_from_description("A100 (80 GB SXM4)") == "A100-80GB"
    assert gpu_from_description("H100 (80 GB PCIe)") == "H100"


class _FakeNvml:
    """NVML's Python API for two H100s (this machine has no GPU driver)."""

    class _Memory:
        total = 85_520_809_984

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        pass

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetName(self, handle):
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetMemoryInfo(self, handle):
        return self._Memory()


class _BrokenNvml(_FakeNvml):
    def nvmlInit(self):
        raise RuntimeError("NVML Shared Library Not Found")


def test_local_gpus_reads_nvml_devices():
    gpus = local_gpus(_FakeNvml())
    assert [g.name for g in gpus] == ["NVIDIA H100 80GB HBM3"] * 2 and gpus[0].memory_gb == 79.6


def test_local_gpus_is_empty_when_nvml_is_missing():
    assert local_gpus(_BrokenNvml()) == []


def test_nvml_names_map_to_model_names():
    assert gpu_model_name("NVIDIA H100 80GB HBM3") == "H100"
    assert gpu_model_name("NVIDIA A100-SXM4-80GB") == "A100-80GB"
    assert gpu_model_name("NVIDIA L40S") == "L40S"


def test_local_adapter_offers_one_node_with_the_machine_gpus(tmp_path):
    offers = get_adapter("local", state_dir=tmp_path, nvml=_FakeNvml()).list_offers()
    assert [(o.gpu, o.gpus_per_node, o.available_nodes) for o in offers] == [("H100", 2, 1)]
