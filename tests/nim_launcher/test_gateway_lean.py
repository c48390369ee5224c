"""The lean ASGI app answers the gateway's routes exactly as Django's handler of the same views does."""

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from nim_launcher.gateway.asgi import GatewayApp

from .conftest import add_replica, make_deployment, serve

pytestmark = pytest.mark.django_db(transaction=True)
IGNORED_HEADERS = {"date", "server", "content-length", "transfer-encoding"}


@pytest.fixture(scope="module")
def both_urls(django_db_setup) -> Iterator[tuple[str, str]]:
    from broker.asgi import GatewayASGIHandler

    django_handler = GatewayASGIHandler()
    with serve(GatewayApp(fallback=django_handler)) as lean, serve(django_handler) as django:
        yield lean, django


def _answer(base: str, method: str, path: str, **kwargs) -> tuple[int, dict, bytes]:
    response = httpx.request(method, base + path, timeout=10, **kwargs)
    headers = {name: value for name, value in response.headers.items() if name not in IGNORED_HEADERS}
    return response.status_code, headers, response.content


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("POST", "/v1/chat/completions", {"json": {"model": "bot", "messages": []}}),
    ("GET", "/v1/chat/completions", {"auth": True}),
    ("POST", "/v1/embeddings", {"auth": True, "content": b"{not json"}),
    ("POST", "/v1/completions", {"auth": True, "json": {"prompt": "hi"}}),
    ("POST", "/v1/chat/completions", {"auth": True, "json": {"model": "nobody", "messages": []}}),
    ("POST", "/v1/chat/completions?x=%00", {"auth": True, "json": {"model": "bot", "messages": []}}),
    ("POST", "/v1/chat/completions", {"wrong_key": True, "json": {"model": "bot", "messages": []}}),
    ("GET", "/v1/models", {"auth": True}),
    ("POST", "/v1/models", {"auth": True}),
    ("GET", "/v1/nothing-here", {"auth": True}),
])
def test_same_status_headers_and_body(both_urls, owner, runtime_url, method, path, kwargs):
    add_replica(make_deployment(owner.workspace, "bot"), runtime_url)
    kwargs = dict(kwargs)
    headers = kwargs.pop("headers", {})
    if kwargs.pop("auth", False):
        headers["Authorization"] = f"Bearer {owner.token}"
    if kwargs.pop("wrong_key", False):
        headers["Authorization"] = "Bearer gpub_not-a-key"
    lean, django = (_answer(base, method, path, headers=headers, **kwargs) for base in both_urls)
    assert lean == django


def test_a_completion_through_the_lean_app(both_urls, owner, runtime_url):
    add_replica(make_deployment(owner.workspace, "bot"), runtime_url)
    body = {"model": "bot", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}
    auth = {"Authorization": f"Bearer {owner.token}"}
    lean, django = (httpx.post(f"{base}/v1/chat/completions", json=body, headers=auth, timeout=10)
                    for base in both_urls)
    assert lean.status_code == django.status_code == 200
    assert lean.json()["choices"] == django.json()["choices"]
    assert lean.headers["content-type"] == django.headers["content-type"]
    assert lean.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("stream", [False, True])
def test_a_relayed_answer_has_the_same_status_and_headers(both_urls, owner, runtime_url, stream):
    """The lean app sends the replica's answer without an HttpResponse; what Django would add is there alike."""
    add_replica(make_deployment(owner.workspace, "bot"), runtime_url)
    body = {"model": "bot", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4, "stream": stream}
    lean, django = (_answer(base, "POST", "/v1/chat/completions", json=body,
                            headers={"Authorization": f"Bearer {owner.token}"})[:2] for base in both_urls)
    assert lean == django
    assert lean[0] == 200 and "x-content-type-options" in lean[1]


def _raw(base: str, head: bytes) -> tuple[bytes, bytes]:
    """Send a request head as is (a Content-Length no client would send with its body); the answer's status
    line and body."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status, _, rest = answer.partition(b"\r\n")
    return status, rest.partition(b"\r\n\r\n")[2]


def test_a_declared_length_over_the_limit_is_refused_before_the_body_arrives(both_urls):
    """Django's handler reads the whole body first (and here would wait for it); the lean app answers at once."""
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Content-Length: 99999999\r\n\r\n")
    status, body = _raw(both_urls[0], head)
    assert status == b"HTTP/1.1 413 Request Entity Too Large"
    assert json.loads(body)["error"]["code"] == "request_too_large"
