"""The gateway refuses what it cannot serve in OpenAI's error shape: NUL bytes, deep nesting, oversized
bodies, too many embedding inputs; and it finds a deployment created a moment ago."""

import httpx
import pytest
from asgiref.sync import async_to_sync

from nim_launcher.gateway.routing import resolve_route
from nim_launcher.gateway.views import MAX_EMBEDDING_INPUTS

from .conftest import make_deployment
from .test_gateway import post

pytestmark = pytest.mark.django_db(transaction=True)


def _openai_error(response: httpx.Response, status: int, param: str) -> dict:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["param"] == param and error["message"] and error["type"] == "invalid_request_error"
    return error


def test_a_nul_byte_in_model_is_400(broker_url, owner):
    _openai_error(post(broker_url, "chat/completions", owner.token, json={"model": "bo\x00t", "messages": []}),
                  400, "model")


def test_json_nested_too_deeply_is_400(broker_url, owner):
    body = b'{"model": "bot", "messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    _openai_error(post(broker_url, "chat/completions", owner.token, content=body), 400, "body")


def test_a_body_over_the_limit_is_413_openai_json(broker_url, owner, settings):
    body = {"model": "bot", "messages": [{"role": "user", "content": "x" * 3_000_000}]}
    _openai_error(post(broker_url, "chat/completions", owner.token, json=body), 413, "body")


def test_embedding_inputs_are_bounded(broker_url, owner):
    body = {"model": "bot", "input": ["x"] * (MAX_EMBEDDING_INPUTS + 1)}
    _openai_error(post(broker_url, "embeddings", owner.token, json=body), 400, "input")


def test_a_deployment_created_after_a_miss_is_found_at_once(owner):
    with pytest.raises(Exception, match="does not exist"):
        async_to_sync(resolve_route)(owner.workspace.pk, "late")
    make_deployment(owner.workspace, "late")
    assert async_to_sync(resolve_route)(owner.workspace.pk, "late").name == "late"
