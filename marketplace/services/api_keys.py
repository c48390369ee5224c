"""Creating, resolving and revoking workspace API keys (only a hash is stored).

Authenticating a request reads the key and its user through a short in-process cache: a key revoked (or a
user deactivated) by another process stops working within API_KEY_CACHE_TTL_S seconds (2 by default);
one revoked by this process stops at once.
"""

import hmac
import secrets
import threading
import time

from django.conf import settings
from django.contrib.auth.models import User
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from marketplace.models import ApiKey, Membership, Role, Workspace
from marketplace.secrets import hash_token

KEY_PREFIX = "gpub_"
LAST_USED_RESOLUTION_S = 60
MAX_CACHED_KEYS = 10_000


def api_key_create(*, workspace: Workspace, user: User, name: str = "default") -> tuple[ApiKey, str]:
    """Create a key and return it with its plain text, which is never stored and shown once."""
    prefix = secrets.token_hex(6)
    token = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(workspace=workspace, user=user, name=name, prefix=prefix, key_hash=hash_token(token))
    return key, token


def resolve_api_key(token: str) -> ApiKey | None:
    if not token.startswith(KEY_PREFIX):
        return None
    prefix = token[len(KEY_PREFIX):].split("_", 1)[0]
    key = (ApiKey.objects.select_related("workspace", "user")
           .filter(prefix=prefix, revoked_at__isnull=True).first())
    if key is None or not hmac.compare_digest(key.key_hash, hash_token(token)):
        return None
    return key


def api_key_revoke(*, key: ApiKey) -> None:
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    forget_cached_keys()
    transaction.on_commit(forget_cached_keys)  # and again once no reader can see the old row


class _KeyCache:
    """token hash → (expiry, the key's and its user's column values, or None for an unknown key)."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[float, tuple | None]] = {}
        self.lock = threading.Lock()


_cache = _KeyCache()


def authenticate_api_key(token: str) -> ApiKey | None:
    """The live key for this token (with its user), or None; notes its use at most once a minute."""
    ttl = float(settings.API_KEY_CACHE_TTL_S)
    if ttl <= 0:
        key = resolve_api_key(token)
    else:
        key = _cached_key(token, ttl)
    if key is not None and (key.last_used_at is None or
                            (timezone.now() - key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_S):
        key.last_used_at = timezone.now()
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=key.last_used_at)
        if ttl > 0:
            _remember(hash_token(token), key, ttl)
    return key


def _cached_key(token: str, ttl: float) -> ApiKey | None:
    digest = hash_token(token)
    entry = _cache.entries.get(digest)
    if entry is None or entry[0] <= time.monotonic():
        key = resolve_api_key(token)
        _remember(digest, key, ttl)
        return key
    if entry[1] is None:
        return None
    key_values, user_values = entry[1]
    key = ApiKey.from_db(DEFAULT_DB_ALIAS, _attnames(ApiKey), key_values)  # a fresh instance per request
    key.user = User.from_db(DEFAULT_DB_ALIAS, _attnames(User), user_values)
    return key


def _remember(digest: str, key: ApiKey | None, ttl: float) -> None:
    values = None if key is None else (_values(key), _values(key.user))
    with _cache.lock:
        if len(_cache.entries) >= MAX_CACHED_KEYS:
            _cache.entries.clear()
        _cache.entries[digest] = (time.monotonic() + ttl, values)


def _attnames(model) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


def _values(instance) -> tuple:
    return tuple(getattr(instance, name) for name in _attnames(type(instance)))


def forget_cached_keys() -> None:
    """Drop every cached key (after revoking keys in this process)."""
    with _cache.lock:
        _cache.entries.clear()


def workspace_ensure(*, name: str, owner_email: str | None = None, staff: bool = False) -> tuple[Workspace, User]:
    """Return the workspace and its owner, creating either if missing."""
    workspace, _ = Workspace.objects.get_or_create(name=name)
    email = owner_email or f"owner@{name.lower().replace(' ', '-')}.local"
    user, created = User.objects.get_or_create(username=email, defaults={"email": email})
    if created:
        user.set_unusable_password()
    if staff and not user.is_staff:
        user.is_staff = True
    user.save()
    Membership.objects.get_or_create(user=user, workspace=workspace, defaults={"role": Role.OWNER})
    return workspace, user
