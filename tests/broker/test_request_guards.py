"""Input no view can handle is refused with a 4xx in the caller's API shape, never a 500: NUL bytes, deep
nesting, oversized bodies, over-long idempotency keys, OPTIONS on every resource."""

import json

import pytest

from marketplace.json_body import MAX_DEPTH

DEEP = b"[" * 100_000 + b"]" * 100_000


def _nested(depth: int) -> dict:
    value: object = "x"
    for _ in range(depth):
        value = {"a": value}
    return {"gpu": "H100", "policy": value}


@pytest.mark.parametrize("path", ["/api/v1/gpus/H%00", "/api/v1/offers?gpu=H%00", "/api/v1/rentals?state=%00"])
def test_a_nul_byte_in_the_url_is_400(owner, path):
    response = owner.client.get(path)
    assert response.status_code == 400
    assert response.json() == {"errors": {"url": ["NUL characters are not allowed in the URL."]}}


@pytest.mark.parametrize("body", [DEEP, json.dumps(_nested(MAX_DEPTH + 1)).encode()])
def test_json_nested_too_deeply_is_400_on_every_api_endpoint(owner, body):
    for path in ("/api/v1/match", "/api/v1/rentals", "/api/v1/deployments"):
        response = owner.client.post(path, body, content_type="application/json")
        assert response.status_code == 400, (path, response.content[:200])
        assert "nested deeper" in response.json()["errors"]["body"][0]


def test_a_nul_byte_in_a_json_string_is_400_naming_the_field(owner):
    response = owner.client.post("/api/v1/match", {"gpu": "H1\x0000", "policy": {"countries": ["D\x00E"]}},
                                 format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) & {"gpu", "policy.countries.0"}


def test_a_body_over_the_limit_is_413_in_the_api_shape(owner, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = owner.client.post("/api/v1/match", {"gpu": "H100", "pad": "x" * 2000}, format="json")
    assert response.status_code == 413
    assert "larger than 1000 bytes" in response.json()["errors"]["body"][0]


def test_an_idempotency_key_over_128_characters_is_400_for_deployments_too(owner):
    response = owner.client.post("/api/v1/deployments", {"name": "chat", "model": "gpu-broker/tiny-cpu-chat"},
                                 format="json", HTTP_IDEMPOTENCY_KEY="k" * 129)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["errors"]


@pytest.mark.parametrize("path", ["/api/v1/rentals", "/api/v1/deployments", "/api/v1/offers", "/api/v1/match"])
def test_options_describes_the_endpoint(owner, path):
    response = owner.client.options(path)
    assert response.status_code == 200 and response.json()["name"]
