"""Keys and bodies for pod tests."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


@pytest.fixture(scope="session")
def key_pair() -> tuple[str, str]:
    """(OpenSSH public key line, OpenSSH private key PEM) of a fresh Ed25519 key."""
    private = ed25519.Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    return public.decode() + " dev@laptop", pem.decode()


def pod_body(public_key: str, **extra) -> dict:
    return {"name": "scratch", "ssh_public_key": public_key, "jupyter": True, "idle_timeout_minutes": 1,
            "policy": {"jurisdictions": ["EU"]}, "max_hours": 2, **extra}
