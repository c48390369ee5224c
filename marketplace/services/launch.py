"""What a node is started with: its launch plan (user data, carrying the node's heartbeat token) and the
inbound ports it needs open."""

from django.conf import settings

from marketplace.hooks import launch_plan, public_ports, served_ports
from marketplace.models import Node, Rental
from marketplace.services.node_health import node_token
from providers.base import PortRule

SSH_PORT = 22


def render_user_data(rental: Rental, node: Node) -> str:
    """The launch plan for this node in the form its partner takes (cloud-init, local process …).

    The redacted copy is kept on the node, so its owner can read what the node was sent.
    """
    plan = launch_plan(rental, node, node_token(node))
    if node.launch_plan != plan.redacted:
        Node.objects.filter(pk=node.pk).update(launch_plan=plan.redacted)
        node.launch_plan = plan.redacted
    return plan.user_data


def launch_ports(rental: Rental) -> tuple[PortRule, ...]:
    """SSH and the ports users reach directly from anywhere; the ports the workload serves, from the gateway only."""
    gateway = settings.GATEWAY_SOURCE_CIDR
    return (PortRule(SSH_PORT), *(PortRule(port) for port in public_ports(rental)),
            *(PortRule(port, gateway) for port in served_ports(rental)))
