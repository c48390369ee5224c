"""Reconciliation: what each partner runs for us must equal what the database says (no leaks, no losses).

For each partner with a live API: terminate orphans (tagged nodes no live rental owns), fail rentals whose
node vanished, resume provisioning a dead worker left behind, and time out provisioning that never ends.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, F, Q
from django.utils import timezone

from marketplace.flows import NODE_FLOW, RENTAL_FLOW, RENTAL_UNPLACED
from marketplace.models import Node, NodeState, Partner, PartnerKind, PartnerStatus, Rental, RentalState
from marketplace.scheduling import enqueue
from marketplace.services.adapters import adapter_for, owned_by
from marketplace.services.preemption import parse_instant, rental_preempt
from marketplace.services.rentals import POLL_TASK, PROVISION_TASK, TERMINATE_TASK, rental_fail
from marketplace.states import record_event, transition
from providers.base import ENDED_NODE_STATES, ProviderAdapter, ProviderError

log = logging.getLogger(__name__)
S = RentalState
BATCH = 500


def reconcile_all(*, now=None) -> dict[str, int]:
    totals: dict[str, int] = {"orphans": 0, "vanished": 0, "nodeless": 0, "resumed": 0, "timed_out": 0, "terminations": 0}
    for partner in Partner.objects.exclude(kind=PartnerKind.CATALOG).exclude(status=PartnerStatus.PENDING):
        try:
            counts = reconcile_partner(partner, now=now)
        except Exception:  # one broken partner (or adapter bug) must not stop reconciliation for the others
            log.exception("reconcile %s: skipped after an unexpected error", partner.slug)
            continue
        for key, value in counts.items():
            totals[key] += value
    for key, value in resume_stalled(now=now).items():
        totals[key] += value
    return totals


def reconcile_partner(partner: Partner, *, now=None) -> dict[str, int]:
    try:
        adapter = adapter_for(partner)
        remote = adapter.list_nodes()
    except ProviderError as exc:
        log.warning("reconcile %s: cannot list nodes: %s", partner.slug, exc.kind)
        return {"nodeless": _fail_nodeless(partner)}
    remote = [n for n in remote if n.state not in ENDED_NODE_STATES and owned_by(partner, n)][:BATCH]
    refs = {n.ref for n in remote}
    known = {n.provider_ref: n for n in Node.objects.filter(partner=partner, provider_ref__in=refs)
             .select_related("rental")}
    orphans = 0
    for info in remote:
        node = known.get(info.ref)
        if _is_orphan(node, info):
            _terminate_remote(adapter, partner, info.ref, node)
            orphans += 1
    return {"orphans": orphans, "vanished": _fail_vanished(adapter, partner, refs), "nodeless": _fail_nodeless(partner)}


def _is_orphan(node: Node | None, info) -> bool:
    if node is None:
        rental = Rental.objects.filter(pk=info.rental_id).only("state").first() if (info.rental_id or "").isdigit() \
            else None
        # a node launched by a worker that died before recording it is adopted on resume, unless its rental ended
        return rental is None or rental.state not in RENTAL_UNPLACED
    return node.state in NODE_FLOW.final or node.rental.state in RENTAL_FLOW.final


def _terminate_remote(adapter: ProviderAdapter, partner: Partner, ref: str, node: Node | None) -> None:
    try:
        adapter.terminate(ref)
    except ProviderError as exc:
        log.warning("reconcile %s: terminating orphan %s failed: %s", partner.slug, ref, exc.kind)
        return
    if node is None:
        return
    reason = f"still running at {partner.slug} after its rental ended: terminated"
    if not transition(node, NodeState.TERMINATED, reason=reason, actor="reconciliation", terminated_at=timezone.now()):
        record_event(node, reason, actor="reconciliation")


def _fail_vanished(adapter: ProviderAdapter, partner: Partner, live_refs: set[str]) -> int:
    """A running rental whose node the partner no longer runs has lost its node; a spot node taken back
    (the partner says `preempted`, or it is gone and nobody stopped it) ends its rental `preempted` instead."""
    vanished = 0
    gone = (Node.objects.filter(partner=partner, state=NodeState.RUNNING, rental__state=S.RUNNING)
            .exclude(provider_ref__in=live_refs).select_related("rental")[:BATCH])
    for node in gone:
        info = None
        try:
            info = adapter.describe(node.provider_ref)
            if info.state in ("running", "pending"):
                continue
        except ProviderError as exc:
            if exc.kind != "not_found":
                continue
        if node.rental.spot and (info is None or info.state in ("preempted", "terminated")):
            vanished += rental_preempt(node.rental, node=node, at=parse_instant(info.ended_at if info else None),
                                       actor="reconciliation",
                                       reason=f"spot node {node.provider_ref} taken back by {partner.slug} "
                                              f"(found by reconciliation)")
            continue
        reason = f"node {node.provider_ref} vanished at {partner.slug}"
        transition(node, NodeState.FAILED, reason=reason, actor="reconciliation", terminated_at=timezone.now())
        vanished += rental_fail(node.rental, reason, actor="reconciliation")
    return vanished


def _fail_nodeless(partner: Partner) -> int:
    """A running rental with fewer running nodes than it rents is billed for nodes it does not have."""
    short = (Rental.objects.filter(partner=partner, state=S.RUNNING)
             .annotate(running=Count("nodes", filter=Q(nodes__state=NodeState.RUNNING)))
             .filter(running__lt=F("nodes_count"))[:BATCH])
    return sum(rental_fail(rental, f"running with {rental.running} of {rental.nodes_count} node(s) running at "
                                   f"{partner.slug}", actor="reconciliation") for rental in short)


def _launched(rental: Rental) -> bool:
    """Every node of the rental's open attempt was provisioned at the partner."""
    return rental.state == S.PROVISIONING and rental.nodes.filter(attempt__outcome="started").exclude(
        provider_ref="").count() >= rental.nodes_count


def resume_stalled(*, now=None) -> dict[str, int]:
    """Re-drive rentals a worker left behind; fail provisioning that outlived PROVISION_TIMEOUT_S."""
    now = now or timezone.now()
    stalled_before = now - timedelta(seconds=settings.PROVISION_RESUME_AFTER_S)
    timeout_before = now - timedelta(seconds=settings.PROVISION_TIMEOUT_S)
    counts = {"resumed": 0, "timed_out": 0, "terminations": 0}
    stuck = Rental.objects.filter(state__in=RENTAL_UNPLACED, state_changed_at__lt=stalled_before)
    for rental in stuck.order_by("state_changed_at")[:BATCH]:
        if rental.state == S.PROVISIONING and rental.state_changed_at < timeout_before:
            try:
                rental_fail(rental, f"provisioning did not finish within {settings.PROVISION_TIMEOUT_S} s")
            except Exception:
                log.exception("reconcile: timing out rental %s failed", rental.pk)
                continue
            counts["timed_out"] += 1
            continue
        if rental.lease_until and rental.lease_until > now:
            continue
        if not _launched(rental):  # nodes still booting only need polling, not another launch
            enqueue(PROVISION_TASK, rental.pk)
        if rental.state == S.PROVISIONING:
            enqueue(POLL_TASK, rental.pk)
        counts["resumed"] += 1
    for rental in Rental.objects.filter(state=S.TERMINATING, state_changed_at__lt=stalled_before)[:BATCH]:
        enqueue(TERMINATE_TASK, rental.pk)
        counts["terminations"] += 1
    return counts
