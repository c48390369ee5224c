"""What a node is started with: its launch plan (user data), carrying the node's heartbeat token."""

from marketplace.hooks import launch_plan
from marketplace.models import Node, Rental
from marketplace.services.node_health import node_token


def render_user_data(rental: Rental, node: Node) -> str:
    """The launch plan for this node in the form its partner takes (cloud-init, local process …)."""
    return launch_plan(rental, node, node_token(node))
