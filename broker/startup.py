"""The check every server process (web, worker, beat) runs before it serves: its own secrets.

Partner credentials are encrypted at rest; with the public development SECRET_KEY, or keys derived from it,
anyone holding a database dump could decrypt them. Only development (`DEV_SECRETS`, on with DEBUG and in
`make run`) may run on those defaults, and it says so.
"""

import sys

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def secret_problems() -> list[str]:
    problems = []
    if settings.SECRET_KEY == settings.DEV_SECRET_KEY or not settings.SECRET_KEY:
        problems.append("SECRET_KEY is unset (the public development default)")
    if not settings.FIELD_ENCRYPTION_KEYS:
        problems.append("FIELD_ENCRYPTION_KEYS is unset (secrets would be encrypted with a key derived from "
                        "SECRET_KEY)")
    return problems


def require_own_secrets() -> None:
    """Refuse to start on development secrets outside development; warn on stderr in development."""
    for key in settings.FIELD_ENCRYPTION_KEYS:
        try:
            Fernet(key.encode())
        except ValueError as exc:
            raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key "
                                       "(32 url-safe base64-encoded bytes)") from exc
    problems = secret_problems()
    if not problems:
        return
    if not settings.DEV_SECRETS:
        raise ImproperlyConfigured("refusing to start: " + "; ".join(problems) + ". Set them (see .env.example), "
                                   "or DEV_SECRETS=true on a development machine.")
    print("WARNING: development secrets in use, never for production: " + "; ".join(problems), file=sys.stderr)
