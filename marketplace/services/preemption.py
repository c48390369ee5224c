"""Spot preemption (DESIGN §14): a partner takes a spot node back; its rental ends `preempted` at that second.

Three ways the broker learns it, fastest first: the node agent's heartbeat carries the partner's notice (AWS
instance metadata `spot/instance-action`); the spot watch describes running spot nodes every
`SPOT_WATCH_S` (a partner's `preempted` state, or its announced `preempt_at`); reconciliation finds a spot node
gone that nobody stopped. Each ends in `rental_preempt`: the rental moves `running → preempted` with `ended_at`
at the preemption second (metering stops there), its nodes end, its reservation is released, and
`state_changed` tells the owner (a deployment, a job), which places a replacement under the same request.
A notice alone records the time and sends `preemption_noticed`, so an owner may start the replacement early.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from marketplace.flows import NODE_FLOW
from marketplace.models import Node, NodeState, Rental, RentalState
from marketplace.services.adapters import adapter_for
from marketplace.services.capacity import rental_release_capacity
from marketplace.services.rentals import nodes_terminate
from marketplace.signals import preemption_noticed
from marketplace.states import record_event, transition
from providers.base import ProviderError

log = logging.getLogger(__name__)
S = RentalState
WATCH_BATCH = 500


def parse_instant(value: str | None) -> datetime | None:
    """A partner's ISO 8601 time (UTC when it names no zone); None when absent or unreadable."""
    if not value:
        return None
    try:
        moment = parse_datetime(value)
    except ValueError:
        return None
    if moment is None:
        return None
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, timezone.utc)


def preemption_second(rental: Rental, reported: datetime | None, *, now: datetime) -> datetime:
    """When metering stops: the partner's own time of the preemption, else its announced time once passed, else
    now; never in the future, never before the rental ran."""
    at = reported or (rental.preempt_at if rental.preempt_at and rental.preempt_at <= now else None) or now
    at = min(at, now)
    return max(at, rental.running_since) if rental.running_since else at


def rental_preempt(rental: Rental, *, node: Node | None, reason: str, at: datetime | None = None,
                   actor: str = "system", now: datetime | None = None) -> bool:
    """End a running rental `preempted` (billed up to `at`); False when it had already left `running`."""
    now = now or timezone.now()
    at = preemption_second(rental, at, now=now)
    with transaction.atomic():  # the owner hears of it (on commit) with the node ended and the capacity back
        if not transition(rental, S.PREEMPTED, reason=reason, actor=actor, ended_at=at, failure_reason=reason):
            return False
        if node is not None and node.state not in NODE_FLOW.final:
            transition(node, NodeState.PREEMPTED, reason=reason, actor=actor, terminated_at=at)
        rental_release_capacity(rental)
    # The rest of a gang is of no use without the preempted node: stop it (nothing is billed after `at`).
    nodes_terminate(rental, rental.nodes.exclude(state=NodeState.PREEMPTED))
    return True


def rental_preemption_notice(rental: Rental, *, at: datetime, source: str, actor: str = "system") -> bool:
    """Record the partner's announced preemption time once; True when it is new."""
    if rental.state != S.RUNNING or (rental.preempt_at is not None and rental.preempt_at <= at):
        return False
    if not Rental.objects.filter(Q(preempt_at__isnull=True) | Q(preempt_at__gt=at), pk=rental.pk,
                                 state=S.RUNNING).update(preempt_at=at):
        return False
    rental.preempt_at = at
    record_event(rental, f"preemption notice ({source}): the partner takes the spot node back at "
                         f"{at.isoformat()}", actor=actor)
    preemption_noticed.send(sender=Rental, rental_id=rental.pk, preempt_at=at)
    return True


def node_interruption_reported(node: Node, notice: dict) -> bool:
    """The node agent read an interruption notice from its instance metadata (heartbeat `spot_interruption`)."""
    at = parse_instant(notice.get("time"))
    rental = Rental.objects.filter(pk=node.rental_id).first()
    if at is None or rental is None or not rental.spot:
        return False
    return rental_preemption_notice(rental, at=at, source=f"node agent: {notice.get('action', 'terminate')}",
                                    actor="node-agent")


def spot_rentals_watch(*, now: datetime | None = None) -> dict[str, int]:
    """Describe every running spot rental's nodes: preempted ones end their rental, notices are recorded."""
    now = now or timezone.now()
    counts = {"preempted": 0, "noticed": 0}
    nodes = (Node.objects.filter(state=NodeState.RUNNING, rental__state=S.RUNNING, rental__spot=True)
             .exclude(provider_ref="").select_related("rental", "partner")[:WATCH_BATCH])
    for node in nodes:
        try:
            info = adapter_for(node.partner).describe(node.provider_ref)
        except ProviderError as exc:  # not_found and the like: reconciliation decides
            log.info("spot watch: describe %s at %s failed: %s", node.provider_ref, node.partner.slug, exc.kind)
            continue
        if info.state == "preempted":
            counts["preempted"] += rental_preempt(
                node.rental, node=node, at=parse_instant(info.ended_at), now=now,
                reason=f"spot node {node.provider_ref} preempted by {node.partner.slug}")
        elif (at := parse_instant(info.preempt_at)) is not None:
            counts["noticed"] += rental_preemption_notice(node.rental, at=at, source=node.partner.slug)
    return counts
