"""Encryption at rest for partner credentials and workspace secrets (Fernet, rotatable keys)."""

import base64
import hashlib
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    keys = list(settings.FIELD_ENCRYPTION_KEYS)
    if not keys:
        digest = hashlib.sha256(("field-encryption:" + settings.SECRET_KEY).encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt_text(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode() if plain else ""


def decrypt_text(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("secret cannot be decrypted with the configured keys") from exc


def encrypt_json(value: dict) -> str:
    return encrypt_text(json.dumps(value, sort_keys=True)) if value else ""


def decrypt_json(token: str) -> dict:
    text = decrypt_text(token)
    return json.loads(text) if text else {}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
