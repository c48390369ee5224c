"""The OpenAI-compatible gateway: `model` names one of the caller's deployments.

`proxy` and `model_list` answer from a request's method, Authorization header and body alone, so the lean
ASGI app (`gateway/asgi.py`, what production serves) and these Django views give the same answers.
"""

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from marketplace.json_body import BodyError, load_json

from .auth import authenticate
from .errors import GatewayError
from .routing import list_models, resolve_route
from .upstream import Relayed, forward

MAX_EMBEDDING_INPUTS = 2048  # OpenAI's own limit per embeddings request
_compact_json = json.JSONEncoder(separators=(",", ":")).encode  # json.dumps builds an encoder per call


def _parse(raw: bytes, path: str) -> dict:
    try:
        body = load_json(raw)
    except BodyError as exc:
        code = "request_too_large" if exc.status == 413 else "invalid_json"
        raise GatewayError(exc.status, exc.message, code=code, param=exc.field) from None
    if not isinstance(body, dict):
        raise GatewayError(400, "The request body must be a JSON object.", code="invalid_json", param="body")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise GatewayError(400, "model is required: the name of one of your deployments.",
                           code="invalid_model", param="model")
    if not isinstance(body.get("stream", False), bool | None):
        raise GatewayError(400, "stream must be true or false.", code="invalid_stream", param="stream")
    inputs = body.get("input")
    if path == "/v1/embeddings" and isinstance(inputs, list) and len(inputs) > MAX_EMBEDDING_INPUTS:
        raise GatewayError(400, f"input holds {len(inputs)} items; at most {MAX_EMBEDDING_INPUTS} per request.",
                           code="too_many_inputs", param="input")
    return body


REROUTABLE = ("replica_failed", "no_ready_replica")  # the cached route may predate a replacement


async def proxy(path: str, *, method: str, authorization: str, raw: bytes) -> Relayed | HttpResponse:
    """Forward one OpenAI request to a ready replica of the caller's deployment named by `model`: the
    replica's answer, or the gateway's error response."""
    try:
        if method != "POST":
            raise GatewayError(405, "Use POST.", code="method_not_allowed")
        caller = await authenticate(authorization)
        body = _parse(raw, path)
        name = body["model"]
        route = await resolve_route(caller.workspace_id, name)
        body["model"] = route.model  # the replica serves the NIM model id, not the deployment name
        content = _compact_json(body).encode()
        try:
            return await forward(route, path, content, stream=bool(body.get("stream")))
        except GatewayError as exc:
            if exc.code not in REROUTABLE:
                raise
            fresh = await resolve_route(caller.workspace_id, name, fresh=True)
            if fresh.targets == route.targets:
                raise
            return await forward(fresh, path, content, stream=bool(body.get("stream")))
    except GatewayError as exc:
        return exc.response()


async def model_list(*, method: str, authorization: str) -> HttpResponse:
    """The caller's deployments, as OpenAI's model list."""
    try:
        if method != "GET":
            raise GatewayError(405, "Use GET.", code="method_not_allowed")
        caller = await authenticate(authorization)
    except GatewayError as exc:
        return exc.response()
    return JsonResponse(await list_models(caller.workspace_id))


async def _proxy(request: HttpRequest, path: str) -> HttpResponse:
    answer = await proxy(path, method=request.method, authorization=request.headers.get("Authorization", ""),
                         raw=request.body if request.method == "POST" else b"")
    return answer.as_django() if isinstance(answer, Relayed) else answer


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponse:
    return await _proxy(request, "/v1/chat/completions")


@csrf_exempt
async def completions(request: HttpRequest) -> HttpResponse:
    return await _proxy(request, "/v1/completions")


@csrf_exempt
async def embeddings(request: HttpRequest) -> HttpResponse:
    return await _proxy(request, "/v1/embeddings")


async def models(request: HttpRequest) -> HttpResponse:
    return await model_list(method=request.method, authorization=request.headers.get("Authorization", ""))
