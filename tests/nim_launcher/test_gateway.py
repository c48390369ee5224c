"""Gateway behaviour outside the OpenAI client: input errors, auth, balancing and traffic statistics."""

import httpx
import pytest

from nim_launcher.gateway import stats
from nim_launcher.gateway.routing import Balancer, Route, Target
from nim_launcher.profiles import TINY_CHAT_MODEL

from .conftest import add_replica, free_port, make_deployment


@pytest.fixture
def bot(owner, runtime_url):
    deployment = make_deployment(owner.workspace, "bot")
    add_replica(deployment, runtime_url)
    return deployment


def post(broker_url: str, path: str, token: str | None, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{broker_url}/v1/{path}", headers=headers, timeout=10, **kwargs)


@pytest.mark.django_db(transaction=True)
def test_missing_key_is_401_in_openai_format(broker_url, bot):
    response = post(broker_url, "chat/completions", None, json={"model": "bot", "messages": []})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_api_key"
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.django_db(transaction=True)
def test_body_that_is_not_json_is_400_naming_the_field(broker_url, owner, bot):
    response = post(broker_url, "chat/completions", owner.token, content=b"{not json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"body": ["The request body must be JSON."]}


@pytest.mark.django_db(transaction=True)
def test_missing_model_is_400_naming_model(broker_url, owner, bot):
    response = post(broker_url, "embeddings", owner.token, json={"input": "x"})
    assert response.status_code == 400
    assert "model" in response.json()["errors"]


@pytest.mark.django_db(transaction=True)
def test_replica_validation_errors_pass_through(broker_url, owner, bot):
    response = post(broker_url, "chat/completions", owner.token,
                    json={"model": "bot", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0})
    assert response.status_code == 400
    assert "max_tokens" in response.json()["errors"]


@pytest.mark.django_db(transaction=True)
def test_text_completion_is_routed(broker_url, owner, bot):
    response = post(broker_url, "completions", owner.token, json={"model": "bot", "prompt": "The cloud",
                                                                    "max_tokens": 5})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == TINY_CHAT_MODEL and body["usage"]["completion_tokens"] <= 5


@pytest.mark.django_db(transaction=True)
def test_get_on_a_post_route_is_405(broker_url, owner, bot):
    response = httpx.get(f"{broker_url}/v1/chat/completions", headers={"Authorization": f"Bearer {owner.token}"})
    assert response.status_code == 405


def _route(*ids: int) -> Route:
    return Route(1, "bot", TINY_CHAT_MODEL, "ready", tuple(Target(i, f"http://r{i}") for i in ids))


def test_balancer_picks_the_replica_with_fewest_requests_in_flight():
    balancer = Balancer()
    route = _route(1, 2, 3)
    for target in route.targets[:2]:
        balancer.acquire(target)
    assert balancer.pick(route, set()).replica_id == 3


def test_balancer_rotates_between_equally_busy_replicas():
    balancer = Balancer()
    picks = {balancer.pick(_route(1, 2), set()).replica_id for _ in range(4)}
    assert picks == {1, 2}


def test_balancer_avoids_a_recently_failed_replica_and_excluded_ones():
    balancer = Balancer()
    route = _route(1, 2)
    balancer.mark_failed(route.targets[0])
    assert {balancer.pick(route, set()).replica_id for _ in range(4)} == {2}
    assert balancer.pick(route, {2}).replica_id == 1
    assert balancer.pick(route, {1, 2}) is None


def test_stats_report_rate_percentiles_and_in_flight_over_the_last_minute():
    now = 10_000.0
    for i in range(100):
        stats.request_started(7)
        stats.request_finished(7, float(i + 1), ok=True, now=now - 30)
    stats.request_started(7)
    stats.request_started(7)
    stats.request_finished(7, 5000.0, ok=False, now=now - 120)  # outside the window
    result = stats.deployment_stats(7, now=now)
    assert result == {"requests_total": 101, "requests_per_minute": 100, "errors_total": 1,
                      "p50_ms": 51.0, "p99_ms": 100.0, "in_flight": 1}


def test_stats_without_traffic_have_no_percentiles():
    assert stats.deployment_stats(99) == {"requests_total": 0, "requests_per_minute": 0, "errors_total": 0,
                                          "p50_ms": None, "p99_ms": None, "in_flight": 0}


def test_stats_merge_snapshots_other_processes_flushed_to_the_cache(monkeypatch):
    now = 20_000.0
    stats.request_started(8)
    stats.request_finished(8, 10.0, ok=True, now=now - 1)
    stats.flush(now=now)
    monkeypatch.setattr(stats, "PROCESS_ID", "another-process")  # this process now reads as a second one
    stats.request_started(8)
    stats.request_finished(8, 30.0, ok=True, now=now - 1)
    result = stats.deployment_stats(8, now=now)
    assert result["requests_total"] == 3 and result["requests_per_minute"] == 3


@pytest.mark.django_db(transaction=True)
def test_revoked_key_is_refused_once_the_key_cache_expires(broker_url, owner, bot, settings):
    from marketplace.models import ApiKey
    from marketplace.services.api_keys import api_key_revoke

    settings.GATEWAY_CACHE_TTL_S = 0
    body = {"model": "bot", "input": "x"}
    assert post(broker_url, "completions", owner.token, json={"model": "bot", "prompt": "x"}).status_code == 200
    api_key_revoke(key=ApiKey.objects.get(workspace=owner.workspace))
    response = post(broker_url, "embeddings", owner.token, json=body)
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.django_db(transaction=True)
def test_unreachable_only_replica_gives_502_in_openai_format(broker_url, owner):
    deployment = make_deployment(owner.workspace, "gone")
    add_replica(deployment, f"http://127.0.0.1:{free_port()}")
    response = post(broker_url, "completions", owner.token, json={"model": "gone", "prompt": "x"})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "replica_failed"
    assert stats.deployment_stats(deployment.pk)["errors_total"] == 1
