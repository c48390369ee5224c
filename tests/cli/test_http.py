"""The HTTP seam against a real loopback server: retries, Retry-After, error mapping, pagination."""

import socket

import pytest

from broker.cli.errors import ApiError, AuthError, ExitCode, NoCapacity, ValidationFailed
from broker.cli.http import ApiClient, retry_after_seconds
from tests.cli.conftest import Reply


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(stub, sleeps):
    return ApiClient(stub.url, "gpub_k", max_retries=3, backoff=0.5, sleep=sleeps.append)


def test_429_is_retried_after_the_servers_retry_after(stub, client, sleeps):
    stub.on("GET", "/api/v1/offers", Reply(429, {"detail": "slow down"}, {"Retry-After": "7"}),
            Reply(429, {"detail": "slow down"}, {"Retry-After": "2"}), Reply(200, {"results": []}))
    assert client.get("/api/v1/offers") == {"results": []}
    assert sleeps == [7.0, 2.0]
    assert len(stub.calls("GET", "/api/v1/offers")) == 3


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried_with_exponential_backoff(stub, client, sleeps, status):
    stub.on("GET", "/api/v1/rentals/1", Reply(status, {}), Reply(status, {}), Reply(200, {"id": 1}))
    assert client.get("/api/v1/rentals/1") == {"id": 1}
    assert sleeps == [0.5, 1.0]


def test_retries_are_bounded_then_the_error_surfaces_as_exit_1(stub, client, sleeps):
    stub.on("GET", "/api/v1/offers", Reply(503, {"detail": "maintenance"}))
    with pytest.raises(ApiError) as caught:
        client.get("/api/v1/offers")
    assert caught.value.exit_code == ExitCode.ERROR and "503" in caught.value.message
    assert len(sleeps) == 3 and len(stub.calls("GET", "/api/v1/offers")) == 4


def test_retry_after_is_capped(stub, sleeps):
    capped = ApiClient(stub.url, "k", max_retries=1, max_delay=30, sleep=sleeps.append)
    stub.on("GET", "/x", Reply(429, {}, {"Retry-After": "3600"}), Reply(200, {}))
    capped.get("/x")
    assert sleeps == [30]


def test_connection_errors_are_retried_then_reported(sleeps):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = ApiClient(f"http://127.0.0.1:{port}", "k", max_retries=2, backoff=1, sleep=sleeps.append)
    with pytest.raises(ApiError, match="cannot reach"):
        dead.get("/api/v1/offers")
    assert sleeps == [1, 2]


def test_client_errors_are_not_retried(stub, client, sleeps):
    stub.on("GET", "/api/v1/rentals/9", Reply(404, {"detail": "Not found."}))
    with pytest.raises(ApiError):
        client.get("/api/v1/rentals/9")
    assert sleeps == [] and len(stub.seen) == 1


def test_400_maps_to_validation_error_with_fields(stub, client):
    stub.on("POST", "/api/v1/rentals", Reply(400, {"errors": {"gpus_per_node": ["Must be at most 8."]}}))
    with pytest.raises(ValidationFailed) as caught:
        client.post("/api/v1/rentals", {})
    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.details["errors"] == {"gpus_per_node": ["Must be at most 8."]}


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_map_to_exit_6(stub, client, status):
    stub.on("GET", "/api/v1/usage", Reply(status, {"detail": "no"}))
    with pytest.raises(AuthError) as caught:
        client.get("/api/v1/usage")
    assert caught.value.exit_code == ExitCode.AUTH == 6


def test_409_with_explanation_maps_to_no_capacity_and_plain_409_does_not(stub, client):
    stub.on("POST", "/api/v1/rentals", Reply(409, {"detail": "no placement", "explanation": {"considered": 3}}))
    with pytest.raises(NoCapacity) as caught:
        client.post("/api/v1/rentals", {})
    assert caught.value.exit_code == 3 and caught.value.details["explanation"] == {"considered": 3}
    stub.on("POST", "/api/v1/rentals/1/terminate", Reply(409, {"detail": "conflict"}))
    with pytest.raises(ApiError) as plain:
        client.post("/api/v1/rentals/1/terminate")
    assert plain.value.exit_code == 1


def test_idempotency_key_and_bearer_token_are_sent(stub, client):
    stub.on("POST", "/api/v1/rentals", Reply(202, {"id": 1}))
    client.post("/api/v1/rentals", {"gpu": "H100"}, idempotency_key="ci-run-42")
    seen = stub.calls("POST", "/api/v1/rentals")[0]
    assert seen.headers["Idempotency-Key"] == "ci-run-42"
    assert seen.headers["Authorization"] == "Bearer gpub_k"
    assert seen.body == {"gpu": "H100"}


def test_pagination_follows_next_on_the_configured_origin_only(stub, client):
    stub.on("GET", "/api/v1/offers",
            Reply(200, {"count": 3, "next": "http://evil.example/api/v1/offers?page=2", "results": [{"id": 1}]}),
            Reply(200, {"count": 3, "next": None, "results": [{"id": 2}, {"id": 3}]}))
    assert [item["id"] for item in client.paginate("/api/v1/offers")] == [1, 2, 3]
    assert stub.seen[1].query == "page=2"


def test_pagination_stops_at_the_limit_without_fetching_more_pages(stub, client):
    stub.on("GET", "/api/v1/offers", Reply(200, {"next": "http://x/api/v1/offers?page=2",
                                                 "results": [{"id": 1}, {"id": 2}]}))
    assert len(list(client.paginate("/api/v1/offers", limit=2))) == 2
    assert len(stub.seen) == 1


def test_retry_after_accepts_http_dates():
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
