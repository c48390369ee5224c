"""The local NIM runtime: each endpoint of the contract, SSE framing, readiness delay, metrics."""

import base64
import json
import struct
import subprocess
import sys
import time

import httpx
import pytest

from nim_launcher.profiles import TINY_CHAT_MODEL, TINY_EMBED_MODEL
from nim_launcher.runtime import RuntimeApp
from nim_launcher.runtime.textmodel import BigramModel, HashedEmbedder

from .conftest import free_port

pytestmark = pytest.mark.anyio

CHAT = {"model": TINY_CHAT_MODEL, "messages": [{"role": "user", "content": "How are prices set?"}]}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def client_for(app: RuntimeApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://runtime")


@pytest.fixture
def app() -> RuntimeApp:
    return RuntimeApp([TINY_CHAT_MODEL, TINY_EMBED_MODEL])


async def test_readiness_is_503_until_the_startup_delay_has_passed():
    clock = Clock()
    app = RuntimeApp([TINY_CHAT_MODEL], startup_delay=30, clock=clock)
    async with client_for(app) as client:
        assert (await client.get("/v1/health/ready")).status_code == 503
        assert (await client.get("/v1/health/live")).status_code == 200
        assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 503
        clock.now += 30
        assert (await client.get("/v1/health/ready")).status_code == 200


async def test_models_names_the_built_in_cpu_models(app):
    async with client_for(app) as client:
        data = (await client.get("/v1/models")).json()["data"]
    assert [m["id"] for m in data] == [TINY_CHAT_MODEL, TINY_EMBED_MODEL]
    assert all("built-in CPU model" in m["description"] for m in data)


async def test_a_gpu_model_id_is_served_by_the_tiny_model_and_says_so():
    app = RuntimeApp(["meta/llama-3.1-8b-instruct"])
    async with client_for(app) as client:
        card = (await client.get("/v1/models")).json()["data"][0]
        reply = await client.post("/v1/chat/completions", json={**CHAT, "model": "meta/llama-3.1-8b-instruct"})
    assert card["root"] == TINY_CHAT_MODEL and TINY_CHAT_MODEL in card["description"]
    assert reply.status_code == 200


async def test_chat_answer_is_the_bigram_models_output_with_token_usage(app):
    async with client_for(app) as client:
        body = (await client.post("/v1/chat/completions", json={**CHAT, "max_tokens": 10, "seed": 1})).json()
    text = body["choices"][0]["message"]["content"]
    model = BigramModel.from_corpus()
    words = [w.lower() for w in text.replace(".", " .").replace(",", " ,").split()]
    assert all(b in model.next_counts[a] for a, b in zip(words, words[1:], strict=False) if a != ".")
    assert body["usage"]["completion_tokens"] == len(words) <= 10
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + len(words)


async def test_same_request_same_answer_and_seed_changes_it(app):
    async with client_for(app) as client:
        answers = [(await client.post("/v1/chat/completions", json={**CHAT, "seed": seed, "max_tokens": 30}))
                   .json()["choices"][0]["message"]["content"] for seed in (1, 1, 2)]
    assert answers[0] == answers[1] != answers[2]


async def test_stop_string_cuts_the_answer(app):
    async with client_for(app) as client:
        full = (await client.post("/v1/completions", json={"model": TINY_CHAT_MODEL, "prompt": "The model",
                                                           "max_tokens": 30, "seed": 4})).json()
        text = full["choices"][0]["text"]
        stop = text.split()[2]
        cut = (await client.post("/v1/completions", json={"model": TINY_CHAT_MODEL, "prompt": "The model",
                                                          "max_tokens": 30, "seed": 4, "stop": stop})).json()
    assert cut["choices"][0]["text"] == text[:text.find(stop)]
    assert cut["choices"][0]["finish_reason"] == "stop"


async def test_stream_is_sse_chunks_ending_with_done(app):
    async with client_for(app) as client:
        response = await client.post("/v1/chat/completions", json={
            **CHAT, "stream": True, "max_tokens": 6, "stream_options": {"include_usage": True}})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e for e in response.text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-2]["choices"][0]["finish_reason"] in ("stop", "length")
    pieces = [c["choices"][0]["delta"]["content"] for c in chunks[1:-2]]
    assert chunks[-1]["usage"]["completion_tokens"] == len(pieces)


async def test_streamed_completion_uses_text_completion_chunks(app):
    async with client_for(app) as client:
        response = await client.post("/v1/completions", json={"model": TINY_CHAT_MODEL, "prompt": "A cloud",
                                                               "stream": True, "max_tokens": 3})
    chunks = [json.loads(e[6:]) for e in response.text.split("\n\n") if e and e != "data: [DONE]"]
    assert {c["object"] for c in chunks} == {"text_completion"}
    assert "text" in chunks[0]["choices"][0]


async def test_embeddings_are_unit_vectors_close_for_shared_words(app):
    async with client_for(app) as client:
        body = (await client.post("/v1/embeddings", json={
            "model": TINY_EMBED_MODEL, "input": ["gpu memory", "gpu memory prices", "the cat sat"]})).json()
    a, b, c = (d["embedding"] for d in body["data"])
    dot = lambda x, y: sum(p * q for p, q in zip(x, y, strict=True))  # noqa: E731
    assert abs(dot(a, a) - 1) < 1e-9 and len(a) == 256
    assert dot(a, b) > 0.5 > dot(a, c)
    assert body["usage"]["prompt_tokens"] == 8


async def test_embeddings_in_base64_decode_to_the_float_vector(app):
    async with client_for(app) as client:
        body = (await client.post("/v1/embeddings", json={"model": TINY_EMBED_MODEL, "input": "hello world",
                                                          "encoding_format": "base64"})).json()
    decoded = struct.unpack("<256f", base64.b64decode(body["data"][0]["embedding"]))
    expected = HashedEmbedder().embed("hello world")
    assert max(abs(x - y) for x, y in zip(decoded, expected, strict=True)) < 1e-6


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v1/chat/completions", {"model": TINY_CHAT_MODEL, "messages": []}, "messages"),
    ("/v1/chat/completions", {**CHAT, "temperature": 5}, "temperature"),
    ("/v1/chat/completions", {**CHAT, "model": TINY_EMBED_MODEL}, "model"),
    ("/v1/completions", {"model": TINY_CHAT_MODEL, "prompt": 3}, "prompt"),
    ("/v1/embeddings", {"model": TINY_EMBED_MODEL, "input": ""}, "input"),
    ("/v1/embeddings", {"model": TINY_EMBED_MODEL, "input": "x", "encoding_format": "hex"}, "encoding_format"),
])
async def test_bad_input_is_400_naming_the_field(app, path, body, field):
    async with client_for(app) as client:
        response = await client.post(path, json=body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_unknown_model_is_404_and_non_json_is_400(app):
    async with client_for(app) as client:
        missing = await client.post("/v1/chat/completions", json={**CHAT, "model": "nope"})
        garbage = await client.post("/v1/embeddings", content=b"[1,")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
    assert garbage.status_code == 400


async def test_metrics_count_requests_tokens_and_latency(app):
    async with client_for(app) as client:
        await client.post("/v1/chat/completions", json={**CHAT, "max_tokens": 4})
        await client.post("/v1/chat/completions", json={**CHAT, "messages": []})
        text = (await client.get("/v1/metrics")).text
    assert 'nim_requests_total{path="/v1/chat/completions",status="200"} 1' in text
    assert 'nim_requests_total{path="/v1/chat/completions",status="400"} 1' in text
    assert 'nim_request_duration_seconds_count{path="/v1/chat/completions"} 2' in text
    assert "nim_ready 1" in text
    assert "nim_generation_tokens_total 0" not in text


@pytest.mark.slow
def test_command_line_serves_after_the_startup_delay():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "nim_launcher.runtime", "--port", str(port),
                             "--startup-delay", "1"])
    try:
        statuses = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and 200 not in statuses:
            try:
                statuses.append(httpx.get(f"http://127.0.0.1:{port}/v1/health/ready").status_code)
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        assert statuses[0] == 503 and statuses[-1] == 200
    finally:
        proc.terminate()
        proc.wait(timeout=5)
