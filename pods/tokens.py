"""A pod's JupyterLab token: random to everyone else, derived here so a resumed launch renders the same plan.

Only its hash and a random salt are stored; the plain token is shown once (the create answer) and reaches the
node only in its launch plan's root-only env file, as node tokens do.
"""

import hashlib
import hmac
import secrets

from django.conf import settings

from marketplace.secrets import hash_token
from pods.models import Pod

TOKEN_PREFIX = "gpbj_"


def jupyter_token(pod: Pod) -> str:
    message = f"jupyter-token:{pod.pk}:{pod.jupyter_token_salt}".encode()
    return TOKEN_PREFIX + hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def jupyter_token_issue(pod: Pod) -> str:
    """Arm the pod's token (a fresh salt; its hash stored) and return the plain token, to show once."""
    pod.jupyter_token_salt = secrets.token_hex(16)
    token = jupyter_token(pod)
    pod.jupyter_token_hash = hash_token(token)
    Pod.objects.filter(pk=pod.pk).update(jupyter_token_salt=pod.jupyter_token_salt,
                                         jupyter_token_hash=pod.jupyter_token_hash)
    return token
