"""What a node is started with: its heartbeat token and its launch plan (user data)."""

import hashlib
import hmac

from django.conf import settings

from marketplace.models import Node, Rental
from marketplace.secrets import hash_token


def node_token(node: Node) -> str:
    """The node's heartbeat token, derived (not stored) so a resumed launch renders the same plan."""
    message = f"node-token:{node.pk}:{node.idempotency_key}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def node_token_store(node: Node) -> str:
    token = node_token(node)
    Node.objects.filter(pk=node.pk).update(token_hash=hash_token(token))
    node.token_hash = hash_token(token)
    return token


def render_user_data(rental: Rental, node: Node) -> str:
    """The launch plan for this node in the form its partner takes (cloud-init, local process …)."""
    from nim_launcher.services.launch_plans import launch_plan_for

    return launch_plan_for(rental, node, node_token(node))
