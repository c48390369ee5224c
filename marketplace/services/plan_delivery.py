"""The launch plan over SSH, for nodes of partners whose create call takes no user data (`SshLaunchedAdapter`).

When such a rental's nodes run, a task per node logs in to the address the partner reports with the partner's own
SSH key and starts the plan (`providers.ssh_launch`). While the node's sshd is not up yet the task is retried with
backoff, SSH_PLAN_ATTEMPTS times at most; a refused key, a changed host key or the last try failing fails the
rental with the reason and terminates its nodes, so nothing is left running (and billed) without its plan.
"""

import logging

from django.conf import settings
from django.utils import timezone

from marketplace.models import Node, NodeState, RentalState
from marketplace.services.adapters import adapter_for
from marketplace.services.launch import render_user_data
from marketplace.services.rentals import rental_fail
from marketplace.states import record_event
from providers.base import TRANSIENT, ProviderError, is_ssh_launched
from providers.ssh_launch import deliver_plan

log = logging.getLogger(__name__)


def plan_delivery_due(node: Node) -> bool:
    """A running node with a plan, on an SSH-launched partner, that has not been handed its plan yet."""
    return (node.state == NodeState.RUNNING and node.rental.state == RentalState.RUNNING and bool(node.launch_plan)
            and node.plan_delivered_at is None and is_ssh_launched(adapter_for(node.partner)))


def node_plan_deliver(node_id: int, *, last_try: bool = False) -> bool:
    """Hand the node its plan; True once settled (delivered, not needed, or the rental failed), False to retry."""
    node = Node.objects.select_related("partner", "rental").get(pk=node_id)
    if not plan_delivery_due(node):
        return True
    adapter = adapter_for(node.partner)
    try:
        target = adapter.ssh_target(adapter.describe(node.provider_ref))
        if target is None:
            raise ProviderError(TRANSIENT, "the partner reports no SSH address for the node yet")
        delivery = deliver_plan(target, render_user_data(node.rental, node), host_key=node.ssh_host_key,
                                timeout=settings.SSH_PLAN_TIMEOUT_S)
    except ProviderError as exc:
        if exc.permanent or last_try:
            rental_fail(node.rental, f"the launch plan could not be handed to node {node.pk} over SSH "
                                     f"({exc.kind}: {exc.message})")
            return True
        log.info("node %s: SSH not ready yet (%s)", node.pk, exc.kind)
        return False
    Node.objects.filter(pk=node.pk).update(ssh_host_key=delivery.host_key, ssh_user=target.user,
                                           ssh_port=target.port, plan_delivered_at=timezone.now())
    again = "" if delivery.started else "; an earlier delivery had started it already"
    record_event(node, f"launch plan delivered over SSH to {target.user}@{target.host}:{target.port} "
                       f"(host key {delivery.host_key}, trusted from now on){again}")
    return True


def plan_retry_countdown(retries: int) -> float:
    """Seconds before the next try: SSH_PLAN_BACKOFF_S doubled per try already made, a minute at most."""
    return min(60.0, settings.SSH_PLAN_BACKOFF_S * 2 ** min(retries, 10))
