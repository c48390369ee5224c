"""Join tokens (one per fleet, expiring) and machine credentials: random, shown once, only their hash stored."""

import hmac
import secrets

from marketplace.secrets import hash_token

JOIN_PREFIX = "gpbj_"
MACHINE_PREFIX = "gpbm_"


def new_token(prefix: str, owner_id: int) -> str:
    """`<prefix><owner id>_<secret>`: the id finds the row, the secret proves the holder."""
    return f"{prefix}{owner_id}_{secrets.token_urlsafe(32)}"


def owner_of(token: str, prefix: str) -> int | None:
    """The row id a token names, or None when it is not one of ours."""
    if not token.startswith(prefix):
        return None
    head = token[len(prefix):].split("_", 1)[0]
    return int(head) if head.isdigit() else None


def token_matches(stored_hash: str, token: str) -> bool:
    return bool(stored_hash) and hmac.compare_digest(stored_hash, hash_token(token))
