"""The deployment page's "try it" box: one request through the gateway's own routing, no API key needed.

The signed-in member already acts for the workspace, so the request skips the key check and goes
straight to `resolve_route` + `forward`: the same replica choice, retry and traffic statistics as
`/v1/chat/completions`.
"""

import json
import time
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django import forms

from nim_launcher.gateway.errors import GatewayError
from nim_launcher.gateway.routing import resolve_route
from nim_launcher.gateway.upstream import Relayed, forward
from nim_launcher.models import Deployment
from nim_launcher.profiles import CHAT, MODELS

MAX_PROMPT = 4000


class TryItForm(forms.Form):
    prompt = forms.CharField(label="Prompt", max_length=MAX_PROMPT, initial="Tell me about GPUs.",
                             widget=forms.Textarea(attrs={"rows": 3}))
    max_tokens = forms.IntegerField(label="Max tokens", min_value=1, max_value=512, initial=64,
                                    widget=forms.NumberInput(attrs={"inputmode": "numeric"}))


@dataclass(frozen=True)
class TryAnswer:
    ok: bool
    text: str = ""
    error: str = ""
    latency_ms: float = 0.0
    usage: dict | None = None


def _payload(kind: str, prompt: str, max_tokens: int) -> tuple[str, dict]:
    if kind == CHAT:
        return "/v1/chat/completions", {"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens}
    return "/v1/embeddings", {"input": prompt}


async def _send(workspace_id: int, name: str, path: str, payload: dict) -> Relayed:
    route = await resolve_route(workspace_id, name)
    content = json.dumps({**payload, "model": route.model}, separators=(",", ":")).encode()
    return await forward(route, path, content, stream=False)


def _answer_text(kind: str, body: dict) -> str:
    if kind == CHAT:
        return body["choices"][0]["message"]["content"]
    vector = body["data"][0]["embedding"]
    return f"{len(vector)}-dimensional embedding: " + ", ".join(f"{v:.4f}" for v in vector[:8]) + ", …"


def try_deployment(deployment: Deployment, prompt: str, *, max_tokens: int) -> TryAnswer:
    """Ask the deployment once; a routing or replica failure comes back as the gateway's own message."""
    kind = getattr(MODELS.get(deployment.model), "kind", CHAT)
    path, payload = _payload(kind, prompt, max_tokens)
    started = time.perf_counter()
    try:
        response = async_to_sync(_send)(deployment.workspace_id, deployment.name, path, payload)
    except GatewayError as exc:
        return TryAnswer(ok=False, error=exc.message)
    latency = (time.perf_counter() - started) * 1000
    try:
        body = json.loads(response.body)
        if response.status != 200:
            return TryAnswer(ok=False, error=body.get("error", {}).get("message", f"HTTP {response.status}"),
                             latency_ms=latency)
        return TryAnswer(ok=True, text=_answer_text(kind, body), latency_ms=latency, usage=body.get("usage"))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return TryAnswer(ok=False, error=f"the replica answered HTTP {response.status} with an unexpected body",
                         latency_ms=latency)
