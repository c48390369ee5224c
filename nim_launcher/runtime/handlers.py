"""The NIM/OpenAI inference contract over the built-in models: validate a request, build the answer."""

import base64
import json
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from nim_launcher.profiles import CHAT, EMBEDDING, TINY_CHAT_MODEL, TINY_EMBED_MODEL, get_model

from .textmodel import BigramModel, HashedEmbedder, render_tokens, tokenize

MAX_TOKENS_LIMIT = 4096
DEFAULT_MAX_TOKENS = 64
PER_MESSAGE_OVERHEAD = 3


class ApiError(Exception):
    """An OpenAI-format error; `param` names the offending field (also given as `errors`)."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 type: str = "invalid_request_error", code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.type, self.code = status, message, param, type, code

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": {"message": self.message, "type": self.type,
                                          "param": self.param, "code": self.code or self.status}}
        if self.param:
            body["errors"] = {self.param: [self.message]}
        return body


@dataclass(frozen=True)
class ServedModel:
    id: str
    kind: str

    @property
    def root(self) -> str:
        return TINY_CHAT_MODEL if self.kind == CHAT else TINY_EMBED_MODEL

    def card(self, created: int) -> dict[str, Any]:
        note = "built-in CPU model" if self.id == self.root else f"served by the built-in CPU model {self.root}"
        return {"id": self.id, "object": "model", "created": created, "owned_by": "gpu-broker",
                "root": self.root, "parent": None, "kind": self.kind, "description": note}


def served_models(ids: list[str]) -> dict[str, ServedModel]:
    """Map model ids to what serves them; an unknown id raises UnknownModel."""
    return {model_id: ServedModel(model_id, get_model(model_id).kind) for model_id in ids}


class Engine:
    def __init__(self, models: dict[str, ServedModel], *, embedding_dimensions: int = 256) -> None:
        self.models = models
        self.text = BigramModel.from_corpus()
        self.embedder = HashedEmbedder(embedding_dimensions)
        self.created = int(time.time())

    def model_list(self) -> dict[str, Any]:
        return {"object": "list", "data": [m.card(self.created) for m in self.models.values()]}

    def _model(self, body: dict, kind: str) -> ServedModel:
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise ApiError(400, "model is required", param="model")
        served = self.models.get(name)
        if served is None:
            raise ApiError(404, f"The model `{name}` does not exist.", param="model", code="model_not_found")
        if served.kind != kind:
            raise ApiError(400, f"model `{name}` is a {served.kind} model", param="model")
        return served

    def chat(self, body: dict) -> "Completion":
        served = self._model(body, CHAT)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ApiError(400, "messages must be a non-empty list", param="messages")
        texts = [_message_text(message, i) for i, message in enumerate(messages)]
        prompt_tokens = sum(len(tokenize(t)) + PER_MESSAGE_OVERHEAD for t in texts)
        return self._generate(served, body, "\n".join(texts), prompt_tokens, chat=True)

    def completions(self, body: dict) -> "Completion":
        served = self._model(body, CHAT)
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise ApiError(400, "prompt must be a string", param="prompt")
        return self._generate(served, body, prompt, len(tokenize(prompt)), chat=False)

    def _generate(self, served: ServedModel, body: dict, prompt: str, prompt_tokens: int, *,
                  chat: bool) -> "Completion":
        max_tokens = _int(body, "max_completion_tokens" if chat and "max_completion_tokens" in body
                          else "max_tokens", DEFAULT_MAX_TOKENS, 1, MAX_TOKENS_LIMIT)
        if _int(body, "n", 1, 1, 1) != 1:
            raise ApiError(400, "only n=1 is supported", param="n")
        temperature = _number(body, "temperature", 1.0, 0.0, 2.0)
        seed = _int(body, "seed", None, -(2**63), 2**63 - 1)
        stops = _stops(body)
        generated = self.text.complete(prompt, max_tokens=max_tokens, temperature=temperature, seed=seed)
        pieces, finish = _apply_stops(list(render_tokens(generated.tokens)), stops, generated.finish_reason)
        return Completion(served.id, pieces, finish, prompt_tokens, chat=chat,
                          stream=_bool(body, "stream"), include_usage=_include_usage(body))

    def embeddings(self, body: dict) -> dict[str, Any]:
        served = self._model(body, EMBEDDING)
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if (not isinstance(inputs, list) or not inputs
                or not all(isinstance(item, str) and item for item in inputs)):
            raise ApiError(400, "input must be a non-empty string or a list of non-empty strings", param="input")
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise ApiError(400, "encoding_format must be 'float' or 'base64'", param="encoding_format")
        dimensions = body.get("dimensions")
        if dimensions is not None and dimensions != self.embedder.dimensions:
            raise ApiError(400, f"this model has {self.embedder.dimensions} dimensions", param="dimensions")
        data = [{"object": "embedding", "index": i, "embedding": _encode(self.embedder.embed(text), encoding)}
                for i, text in enumerate(inputs)]
        tokens = sum(len(tokenize(text)) for text in inputs)
        return {"object": "list", "data": data, "model": served.id,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


@dataclass
class Completion:
    model: str
    pieces: list[str]
    finish_reason: str
    prompt_tokens: int
    chat: bool
    stream: bool = False
    include_usage: bool = False

    def __post_init__(self) -> None:
        self.id = ("chatcmpl-" if self.chat else "cmpl-") + uuid.uuid4().hex
        self.created = int(time.time())

    @property
    def usage(self) -> dict[str, int]:
        completion = len(self.pieces)
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion,
                "total_tokens": self.prompt_tokens + completion}

    def _envelope(self, choices: list[dict], *, chunk: bool) -> dict[str, Any]:
        kind = "chat.completion" if self.chat else "text_completion"
        return {"id": self.id, "object": kind + (".chunk" if chunk and self.chat else ""),
                "created": self.created, "model": self.model, "choices": choices}

    def response(self) -> dict[str, Any]:
        text = "".join(self.pieces)
        choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": self.finish_reason}
        if self.chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        return {**self._envelope([choice], chunk=False), "usage": self.usage}

    def chunks(self) -> Iterator[dict[str, Any]]:
        """Stream chunks: role first (chat), one per token, the finish reason, then usage if asked."""
        if self.chat:
            yield self._envelope([{"index": 0, "delta": {"role": "assistant", "content": ""},
                                   "logprobs": None, "finish_reason": None}], chunk=True)
        for piece in self.pieces:
            yield self._envelope([self._delta(piece, None)], chunk=True)
        yield self._envelope([self._delta("", self.finish_reason)], chunk=True)
        if self.include_usage:
            yield {**self._envelope([], chunk=True), "usage": self.usage}

    def _delta(self, text: str, finish: str | None) -> dict[str, Any]:
        body = {"delta": {"content": text}} if self.chat else {"text": text}
        return {"index": 0, **body, "logprobs": None, "finish_reason": finish}


def sse_event(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


def _message_text(message: Any, index: int) -> str:
    field = f"messages[{index}]"
    if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant", "tool"):
        raise ApiError(400, f"{field} needs a role of system, user, assistant or tool", param=field)
    content = message.get("content")
    if isinstance(content, list):
        content = " ".join(part.get("text", "") for part in content
                           if isinstance(part, dict) and part.get("type") == "text")
    if not isinstance(content, str):
        raise ApiError(400, f"{field}.content must be a string or a list of text parts", param=f"{field}.content")
    return content


def _int(body: dict, name: str, default: int | None, low: int, high: int) -> Any:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ApiError(400, f"{name} must be an integer between {low} and {high}", param=name)
    return value


def _number(body: dict, name: str, default: float, low: float, high: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ApiError(400, f"{name} must be a number between {low:g} and {high:g}", param=name)
    return float(value)


def _bool(body: dict, name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ApiError(400, f"{name} must be true or false", param=name)
    return value


def _include_usage(body: dict) -> bool:
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise ApiError(400, "stream_options must be an object", param="stream_options")
    return bool(options.get("include_usage"))


def _stops(body: dict) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or len(stops) > 4 or not all(isinstance(s, str) and s for s in stops):
        raise ApiError(400, "stop must be a string or a list of up to 4 strings", param="stop")
    return stops


def _apply_stops(pieces: list[str], stops: list[str], finish: str) -> tuple[list[str], str]:
    """Cut the output before the first stop string (the stop itself is not returned)."""
    text = "".join(pieces)
    hits = [text.find(stop) for stop in stops if stop in text]
    if not hits:
        return pieces, finish
    cut, kept, length = min(hits), [], 0
    for piece in pieces:
        if length + len(piece) > cut:
            kept.append(piece[:cut - length])
            break
        kept.append(piece)
        length += len(piece)
    return [piece for piece in kept if piece], "stop"


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


