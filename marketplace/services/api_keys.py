"""Creating, resolving and revoking workspace API keys (only a hash is stored)."""

import hmac
import secrets

from django.contrib.auth.models import User
from django.utils import timezone

from marketplace.models import ApiKey, Membership, Role, Workspace
from marketplace.secrets import hash_token

KEY_PREFIX = "gpub_"


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
