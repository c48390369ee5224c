"""The pod's `ssh_public_key`: an OpenSSH public key, parsed by `cryptography`; a private key is refused.

Error messages never repeat the value: a private key pasted by mistake must not reach a log or an answer.
"""

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import load_ssh_private_key, load_ssh_public_key

from marketplace.errors import InvalidInput

FIELD = "ssh_public_key"
MAX_LENGTH = 16384
PRIVATE_MARKERS = ("PRIVATE KEY", "openssh-key-v1", "PuTTY-User-Key-File")


def _looks_private(text: str) -> bool:
    if any(marker in text for marker in PRIVATE_MARKERS):
        return True
    try:
        load_ssh_private_key(text.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):  # not a private key this loader reads
        return False
    return True


def parse_public_key(value) -> str:
    """The key as one `type base64 [comment]` line; InvalidInput naming the field otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput({FIELD: ["required: an OpenSSH public key, e.g. the contents of ~/.ssh/id_ed25519.pub"]})
    text = value.strip()
    if len(text) > MAX_LENGTH:
        raise InvalidInput({FIELD: [f"at most {MAX_LENGTH} characters"]})
    if _looks_private(text):
        raise InvalidInput({FIELD: ["this is a private key: paste the public key instead (the .pub file, "
                                    "'ssh-ed25519 AAAA…'); the private key was not stored — keep it secret"]})
    if "\n" in text or "\r" in text:
        raise InvalidInput({FIELD: ["one public key on one line"]})
    try:
        load_ssh_public_key(text.encode())
    except UnsupportedAlgorithm:
        raise InvalidInput({FIELD: ["an OpenSSH public key of a type this broker does not support"]}) from None
    except (ValueError, TypeError):
        raise InvalidInput({FIELD: ["not an OpenSSH public key (expected 'ssh-ed25519 AAAA…' or similar)"]}) from None
    return text
