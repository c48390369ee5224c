"""The gateway driven by the official OpenAI client against a live broker (uvicorn) and a live runtime."""

import time

import openai
import pytest

from nim_launcher.gateway.stats import deployment_stats
from nim_launcher.models import ReplicaState
from nim_launcher.profiles import TINY_EMBED_MODEL

from .conftest import add_replica, free_port, make_deployment

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def client_for(broker_url: str, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{broker_url}/v1", api_key=token, max_retries=0, timeout=10)


@pytest.fixture
def chat_deployment(owner, runtime_url):
    deployment = make_deployment(owner.workspace, "support-bot")
    add_replica(deployment, runtime_url)
    return deployment


def test_models_lists_the_callers_deployments_only(broker_url, owner, stranger, chat_deployment):
    make_deployment(stranger.workspace, "their-bot")
    models = client_for(broker_url, owner.token).models.list()
    assert [m.id for m in models.data] == ["support-bot"]


def test_chat_completion_returns_model_output_with_usage(broker_url, owner, chat_deployment):
    reply = client_for(broker_url, owner.token).chat.completions.create(
        model="support-bot", messages=[{"role": "user", "content": "How does the gateway pick a replica?"}],
        max_tokens=12, seed=7)
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content
    assert reply.usage.completion_tokens <= 12 and reply.usage.prompt_tokens > 0
    assert deployment_stats(chat_deployment.pk)["requests_total"] == 1


def test_streamed_chat_arrives_as_chunks_matching_the_unstreamed_answer(broker_url, owner, chat_deployment):
    client = client_for(broker_url, owner.token)
    messages = [{"role": "user", "content": "Tell me about memory"}]
    whole = client.chat.completions.create(model="support-bot", messages=messages, max_tokens=20, seed=3)
    chunks = list(client.chat.completions.create(model="support-bot", messages=messages, max_tokens=20,
                                                 seed=3, stream=True))
    assert len(chunks) > 3
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason


def test_stream_is_relayed_as_it_is_produced_not_buffered(broker_url, owner, slow_runtime_url):
    deployment = make_deployment(owner.workspace, "slow-bot")
    add_replica(deployment, slow_runtime_url)
    started = time.monotonic()
    stream = client_for(broker_url, owner.token).chat.completions.create(
        model="slow-bot", messages=[{"role": "user", "content": "cards"}], max_tokens=16, stream=True,
        extra_body={"stream_options": {"include_usage": False}})
    arrivals = [time.monotonic() - started for _ in stream]
    assert arrivals[-1] - arrivals[1] > 0.4  # 16 tokens at 50 ms each were not delivered in one burst


def test_embeddings_are_normalised_vectors(broker_url, owner, runtime_url):
    deployment = make_deployment(owner.workspace, "search", model=TINY_EMBED_MODEL)
    add_replica(deployment, runtime_url)
    result = client_for(broker_url, owner.token).embeddings.create(
        model="search", input=["GPU memory", "the gateway"])
    assert len(result.data) == 2
    vector = result.data[0].embedding
    assert abs(sum(v * v for v in vector) - 1.0) < 1e-4
    assert result.usage.prompt_tokens == 4


def test_wrong_key_is_an_authentication_error(broker_url, chat_deployment):
    with pytest.raises(openai.AuthenticationError):
        client_for(broker_url, "gpub_nothere_123").chat.completions.create(
            model="support-bot", messages=[{"role": "user", "content": "hi"}])


def test_another_workspaces_deployment_is_not_found(broker_url, stranger, chat_deployment):
    with pytest.raises(openai.NotFoundError) as caught:
        client_for(broker_url, stranger.token).chat.completions.create(
            model="support-bot", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["code"] == "model_not_found"


def test_unknown_model_is_not_found(broker_url, owner, chat_deployment):
    with pytest.raises(openai.NotFoundError):
        client_for(broker_url, owner.token).embeddings.create(model="no-such-deployment", input="x")


def test_deployment_without_a_ready_replica_is_unavailable(broker_url, owner, runtime_url):
    deployment = make_deployment(owner.workspace, "warming-up", state="starting")
    add_replica(deployment, runtime_url, state=ReplicaState.STARTING)
    with pytest.raises(openai.InternalServerError) as caught:
        client_for(broker_url, owner.token).chat.completions.create(
            model="warming-up", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 503
    assert "no ready replica" in caught.value.message


def test_a_replica_that_refuses_connections_is_retried_on_another(broker_url, owner, runtime_url):
    deployment = make_deployment(owner.workspace, "half-broken")
    add_replica(deployment, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    add_replica(deployment, runtime_url)
    client = client_for(broker_url, owner.token)
    for _ in range(4):  # whichever replica is tried first, every call succeeds
        reply = client.chat.completions.create(model="half-broken", messages=[{"role": "user", "content": "x"}])
        assert reply.choices[0].message.content
    assert deployment_stats(deployment.pk)["requests_total"] == 4
