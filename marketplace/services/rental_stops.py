"""Stopping a running rental and starting it again, where its partner can stop nodes (DESIGN §12).

An optional adapter capability (`providers.base.StoppableAdapter`): a stopped node keeps its disk and is not
billed. Billing stops the moment the stop is decided (a pause opens on the rental); a task stops the nodes at the
partner. Starting waits for every node to be stopped there, starts them, and the rental runs (and is billed)
again once all of them run, with their new addresses.
"""

import logging

from django.db import transaction
from django.utils import timezone

from marketplace.errors import Conflict
from marketplace.models import NodeState, Rental, RentalState
from marketplace.scheduling import enqueue
from marketplace.services.adapters import adapter_for
from marketplace.services.rentals import rental_fail
from marketplace.states import record_event, transition
from providers.base import ProviderError, can_stop

log = logging.getLogger(__name__)
S, N = RentalState, NodeState
STOP_TASK = "marketplace.tasks.rentals.stop_rental_task"
START_TASK = "marketplace.tasks.rentals.start_rental_task"


def rental_can_stop(rental: Rental) -> bool:
    """Whether the rental's partner can stop its nodes and start them again."""
    if rental.partner is None:
        return False
    try:
        return can_stop(adapter_for(rental.partner))
    except ProviderError:
        return False


def rental_stop(rental: Rental, *, reason: str, actor: str, at=None) -> bool:
    """Stop a running rental: billing stops at `at` (default now); False when it was not running."""
    at = at or timezone.now()
    with transaction.atomic():  # the pause is written by the compare-and-set itself
        if not transition(rental, S.STOPPED, reason=reason, actor=actor,
                          pauses=[*rental.pauses, [at.isoformat(), None]]):
            return False
        enqueue(STOP_TASK, rental.pk)
    return True


def rental_stop_nodes(rental_id: int) -> bool:
    """Stop the stopped rental's nodes at the partner; True when all are stopped (or the rental moved on)."""
    rental = Rental.objects.get(pk=rental_id)
    if rental.state != S.STOPPED:
        return True
    done = True
    for node in rental.nodes.filter(state=N.RUNNING).select_related("partner"):
        try:
            adapter_for(node.partner).stop(node.provider_ref)
        except ProviderError as exc:
            log.warning("stop %s at %s failed: %s", node.provider_ref, node.partner.slug, exc.kind)
            done = False
            continue
        transition(node, N.STOPPED, reason=f"stopped at {node.partner.slug}")
    return done


def rental_start(rental: Rental, *, actor: str) -> None:
    """Ask for a stopped rental's nodes to start; it runs again once every one of them does."""
    if rental.state != S.STOPPED:
        raise Conflict(f"rental {rental.pk} is {rental.state}; only a stopped rental can be started")
    record_event(rental, "start requested", actor=actor)
    enqueue(START_TASK, rental.pk)


def rental_start_poll(rental_id: int) -> bool:
    """One step of starting: start what is stopped at the partner, and once every node runs, run the rental.
    True when done (or the rental left `stopped`); False to look again later."""
    rental = Rental.objects.get(pk=rental_id)
    if rental.state != S.STOPPED:
        return True
    nodes = list(rental.nodes.filter(state__in=[N.RUNNING, N.STOPPED]).select_related("partner"))
    if any(node.state == N.RUNNING for node in nodes):
        return False  # the stop has not reached the partner yet: start after it did
    ready = []
    for node in nodes:
        adapter = adapter_for(node.partner)
        try:
            info = adapter.describe(node.provider_ref)
            if info.state == "stopped":
                adapter.start(node.provider_ref)
        except ProviderError as exc:
            if exc.permanent:
                rental_fail(rental, f"node {node.provider_ref} could not be started: {exc.message}")
                return True
            return False
        if info.state in ("terminated", "failed"):
            rental_fail(rental, f"node {node.provider_ref} was {info.state} at {node.partner.slug} while stopped")
            return True
        if info.state == "running":
            ready.append((node, info))
    if len(ready) < len(nodes):
        return False
    resumed = [[stopped, started or timezone.now().isoformat()] for stopped, started in rental.pauses]
    with transaction.atomic():
        for node, info in ready:
            transition(node, N.RUNNING, reason=f"started again at {node.partner.slug}", ip=info.ip or node.ip)
        transition(rental, S.RUNNING, reason=f"{len(ready)} node(s) running again", pauses=resumed)
    return True
