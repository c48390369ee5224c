"""Workspace API key → workspace id, with a short in-process cache (a revoked key stops within the TTL)."""

from dataclasses import dataclass

from django.utils import timezone

from marketplace.secrets import hash_token
from marketplace.services.api_keys import resolve_api_key

from . import database
from .errors import GatewayError
from .ttl_cache import TtlCache, is_missing

LAST_USED_RESOLUTION_S = 60
_keys = TtlCache()


@dataclass(frozen=True)
class Caller:
    workspace_id: int
    workspace_name: str


def _resolve(token: str) -> Caller | None:
    api_key = resolve_api_key(token)
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_S:
        type(api_key).objects.filter(pk=api_key.pk).update(last_used_at=now)
    return Caller(api_key.workspace_id, api_key.workspace.name)


def bearer_token(header: str) -> str:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise GatewayError(401, "Missing API key: send 'Authorization: Bearer <api key>'.", code="missing_api_key")
    return token.strip()


async def authenticate(header: str) -> Caller:
    """The caller's workspace; GatewayError 401 for a missing, wrong or revoked key."""
    token = bearer_token(header)
    cache_key = hash_token(token)
    caller = _keys.get(cache_key)
    if is_missing(caller):
        caller = await database.read(_resolve, token)
        _keys.set(cache_key, caller)
    if caller is None:
        raise GatewayError(401, "Invalid or revoked API key.", code="invalid_api_key")
    return caller


def clear_cache() -> None:
    _keys.clear()
