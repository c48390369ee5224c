"""Rentals: request → reserve → provision at the partner (with failover) → running → terminate.

Claim in a short transaction, call the partner outside any transaction with an idempotency key, then
record. Every step is safe to run twice: a worker that dies mid-way is resumed by reconciliation.
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from marketplace.errors import Conflict, KeyReused
from marketplace.flows import RENTAL_TERMINABLE, RENTAL_UNPLACED
from marketplace.matching import Explanation, PlacementRequest
from marketplace.models import AttemptOutcome, Node, NodeState, Offer, Rental, RentalAttempt, RentalState, Workspace
from marketplace.money import price_decimal
from marketplace.scheduling import enqueue
from marketplace.services.adapters import adapter_for, owner_tag
from marketplace.services.capacity import offer_claim, rental_release_capacity
from marketplace.services.launch import launch_ports, render_user_data
from marketplace.services.metering import budget_check
from marketplace.services.node_health import node_token_issue
from marketplace.services.placing import placements_for
from marketplace.spot import on_demand_price
from marketplace.states import record_event, transition
from providers.base import ENDED_NODE_STATES, NO_CAPACITY, ProviderError, ProvisionSpec, is_ssh_launched

log = logging.getLogger(__name__)
S = RentalState
CANDIDATE_WINDOW = 25
PROVISION_TASK = "marketplace.tasks.rentals.provision_rental_task"
POLL_TASK = "marketplace.tasks.rentals.poll_rental_task"
TERMINATE_TASK = "marketplace.tasks.rentals.terminate_rental_task"
DELIVER_PLAN_TASK = "marketplace.tasks.rentals.deliver_plan_task"


class NoPlacement(Conflict):
    """Nothing can serve the request under its policy; the explanation says which rule excluded what."""

    def __init__(self, explanation: Explanation,
                 message: str = "no offer satisfies the request; relax the rule that excluded the most"):
        super().__init__(message)
        self.explanation = explanation

    def extra(self) -> dict:
        return {"explanation": {"considered": self.explanation.considered,
                                "excluded": dict(self.explanation.excluded), "matched": self.explanation.matched}}


class IdempotencyConflict(KeyReused):
    pass


@dataclass(frozen=True)
class RentalInput:
    request: PlacementRequest
    max_hours: Decimal
    ssh_public_key: str = ""
    user_data: str = ""
    replaces_id: int | None = None  # the preempted rental this one recovers (its owner says so)


def request_hash(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def rental_create(*, workspace: Workspace, user, data: RentalInput, body_hash: str,
                  idempotency_key: str | None = None) -> tuple[Rental, bool]:
    """Accept a rental (202): check a placement exists and the budget allows it; provisioning runs async.

    Returns (rental, created). The same Idempotency-Key with the same body returns the first rental.
    """
    if idempotency_key:
        existing = Rental.objects.filter(workspace=workspace, idempotency_key=idempotency_key).first()
        if existing:
            return _same_request_or_conflict(existing, body_hash), False
    result = placements_for(data.request, workspace.pk, limit=1)
    if not result.placements:
        raise NoPlacement(result.explanation)
    best = result.placements[0]
    budget_check(workspace, Decimal(str(best.price_per_hour)) * data.max_hours)
    try:
        with transaction.atomic():
            rental = Rental.objects.create(
                workspace=workspace, created_by=user, request=data.request.to_dict(), request_hash=body_hash,
                idempotency_key=idempotency_key or None, nodes_count=data.request.nodes, max_hours=data.max_hours,
                ssh_public_key=data.ssh_public_key, user_data=data.user_data, replaces_id=data.replaces_id)
            record_event(rental, f"requested; best offer now {_describe(best.offer)} at ${best.price_per_hour:.2f}/h",
                         actor=getattr(user, "username", "api"), created=True)
            enqueue(PROVISION_TASK, rental.pk)
    except IntegrityError:
        existing = Rental.objects.get(workspace=workspace, idempotency_key=idempotency_key)
        return _same_request_or_conflict(existing, body_hash), False
    return rental, True


def _same_request_or_conflict(rental: Rental, body_hash: str) -> Rental:
    if rental.request_hash != body_hash:
        raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
    return rental


def _describe(offer) -> str:
    return f"{offer.partner}/{offer.region} {offer.instance_type}"


# --- provisioning -------------------------------------------------------------------------------

def _lease(rental_id: int) -> bool:
    now = timezone.now()
    return bool(Rental.objects.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now), pk=rental_id)
                .update(lease_until=now + timedelta(seconds=settings.PROVISION_LEASE_S)))


def _unlease(rental_id: int) -> None:
    Rental.objects.filter(pk=rental_id).update(lease_until=None)


def rental_provision(rental_id: int) -> None:
    """Drive a pending/provisioning rental to a launched attempt, failing over until none is left."""
    if not _lease(rental_id):
        return  # another worker is on it
    try:
        rental = Rental.objects.select_related("workspace").get(pk=rental_id)
        while rental.state in RENTAL_UNPLACED:
            attempt = _open_attempt(rental) or _claim_next(rental)
            if attempt is None:
                return
            if _launch(rental, attempt):
                enqueue(POLL_TASK, rental.pk, countdown=settings.PROVISION_POLL_S)
                return
            rental.refresh_from_db()
    finally:
        _unlease(rental_id)


def _open_attempt(rental: Rental) -> RentalAttempt | None:
    if rental.state != S.PROVISIONING:
        return None
    return rental.attempts.filter(outcome=AttemptOutcome.STARTED).select_related("offer__region", "offer__partner").last()


def _claim_next(rental: Rental) -> RentalAttempt | None:
    """Reserve the best untried placement under the rental's own request and policy, or fail the rental."""
    request = PlacementRequest.from_dict(rental.request)
    tried = set(rental.attempts.values_list("offer_id", "spot"))
    result = placements_for(request, rental.workspace_id, limit=len(tried) + CANDIDATE_WINDOW)
    for placement in result.placements:
        if (placement.offer.id, placement.spot) in tried:
            continue
        attempt = _claim(rental, placement)
        if attempt is not None:
            return attempt
        tried.add((placement.offer.id, placement.spot))
    rental_fail(rental, _failure_summary(rental, result.explanation))
    return None


def _claim(rental: Rental, placement) -> RentalAttempt | None:
    offer = placement.offer
    with transaction.atomic():
        ok, reserved = offer_claim(offer_id=offer.id, nodes=rental.nodes_count)
        attempt = RentalAttempt.objects.create(
            rental=rental, offer_id=offer.id, partner_slug=offer.partner, region_code=offer.region,
            instance_type=offer.instance_type, spot=placement.spot, outcome=AttemptOutcome.STARTED if ok else AttemptOutcome.FAILED,
            error_kind="" if ok else NO_CAPACITY, error_message="" if ok else "sold out (broker capacity count)")
        if not ok:
            return None
        fields = {"offer_id": offer.id, "partner_id": Offer.objects.values_list("partner_id", flat=True).get(
            pk=offer.id), "region_code": offer.region, "reserved_nodes": reserved, "reserved_at": timezone.now(),
            "locked_price_per_hour": price_decimal(placement.price_per_hour), "spot": placement.spot,
            "on_demand_price_per_hour": None if (od := on_demand_price(placement)) is None else price_decimal(od)}
        reason = (f"reserved {rental.nodes_count}× {_describe(offer)} {'spot' if placement.spot else 'on demand'} "
                  f"at ${placement.price_per_hour:.2f}/h")
        if placement.spot != PlacementRequest.from_dict(rental.request).spot:
            reason += " (spot_fallback: no spot placement left under the policy; billed at the on-demand price)"
        if rental.state == S.PENDING:
            moved = transition(rental, S.PROVISIONING, reason=reason, **fields)
        else:
            moved = bool(Rental.objects.filter(pk=rental.pk, state=S.PROVISIONING).update(**fields))
            if moved:
                record_event(rental, f"failover: {reason}")
        if not moved:
            transaction.set_rollback(True)
            return None
    rental.refresh_from_db()
    return RentalAttempt.objects.select_related("offer__region", "offer__partner").get(pk=attempt.pk)


def _launch(rental: Rental, attempt: RentalAttempt) -> bool:
    """Provision every node of the attempt; on a partner error undo the attempt and return False."""
    offer = attempt.offer
    try:
        if offer is None:
            raise ProviderError("invalid_request", "the offer left the catalogue")
        adapter = adapter_for(offer.partner)
        spot, ports = rental.spot, launch_ports(rental)
        for index in range(rental.nodes_count):
            node = _node_row(rental, attempt, index)
            info = adapter.provision(ProvisionSpec(
                idempotency_key=node.idempotency_key, rental_id=str(rental.pk), instance_type=offer.instance_type,
                region=offer.region.code, user_data=render_user_data(rental, node),
                ssh_public_key=rental.ssh_public_key or settings.NODE_DEFAULT_SSH_PUBLIC_KEY,
                tags={"gpu-broker:node": str(node.pk), **owner_tag(offer.partner)}, spot=spot, ports=ports))
            Node.objects.filter(pk=node.pk).update(provider_ref=info.ref, ip=info.ip or "", endpoint=info.endpoint or "",
                                                   ssh_port=info.ssh_port or node.ssh_port, region_code=info.region)
            if info.region != offer.region.code:
                raise ProviderError("invalid_request", f"node {info.ref} came up in {info.region!r}, "
                                                       f"not in the offer's region {offer.region.code!r}")
            if info.spot != spot:  # the locked price is the spot or on-demand price of what was asked for
                raise ProviderError("invalid_request", f"node {info.ref} was launched "
                                                       f"{'spot' if info.spot else 'on demand'}, not as priced")
    except ProviderError as exc:
        _abandon_attempt(rental, attempt, exc)
        return False
    rental.refresh_from_db()
    # Only an ending rental gives its nodes up: one that went on to `running` meanwhile (a poll task won the
    # race with this resumed launch) runs on exactly these nodes.
    if rental.state in (S.TERMINATING, S.TERMINATED, S.FAILED):
        closed_early = list(rental.nodes.filter(attempt=attempt, state=NodeState.TERMINATED)
                            .exclude(provider_ref="").select_related("partner"))
        nodes_terminate(rental, rental.nodes.filter(attempt=attempt))
        _terminate_at_partner(closed_early)
        return False
    return True


def _terminate_at_partner(nodes: list[Node]) -> None:
    """Nodes whose row a termination closed before the partner answered with their ref: stop them there.

    One that fails here is an orphan for reconciliation (no live rental owns it).
    """
    for node in nodes:
        try:
            adapter_for(node.partner).terminate(node.provider_ref)
        except ProviderError as exc:
            log.warning("terminate %s at %s failed: %s", node.provider_ref, node.partner.slug, exc.kind)


def _node_row(rental: Rental, attempt: RentalAttempt, index: int) -> Node:
    node, created = Node.objects.get_or_create(
        rental=rental, attempt=attempt, index=index,
        defaults={"partner_id": rental.partner_id, "region_code": attempt.region_code,
                  "idempotency_key": f"rental-{rental.pk}-attempt-{attempt.pk}-node-{index}"})
    if created:
        node_token_issue(node)
    return node


def _abandon_attempt(rental: Rental, attempt: RentalAttempt, exc: ProviderError) -> None:
    """Give up a started attempt: terminate its nodes and release its reservation.

    The compare-and-set on the attempt's outcome decides between this and the poll that marks it succeeded:
    an attempt another task already settled is left alone (its nodes may serve a running rental).
    """
    if not RentalAttempt.objects.filter(pk=attempt.pk, outcome=AttemptOutcome.STARTED).update(
            outcome=AttemptOutcome.FAILED, error_kind=exc.kind, error_message=exc.message[:2000]):
        return
    nodes_terminate(rental, rental.nodes.filter(attempt=attempt))
    rental.refresh_from_db()
    rental_release_capacity(rental)
    record_event(rental, f"attempt on {attempt.partner_slug}/{attempt.region_code} {attempt.instance_type} "
                         f"failed: {exc.kind}: {exc.message}")


def nodes_terminate(rental: Rental, nodes) -> bool:
    """Terminate nodes at the partner; True when every one is confirmed gone."""
    all_gone = True
    for node in nodes.exclude(state=NodeState.TERMINATED).select_related("partner"):
        if node.provider_ref:
            try:
                adapter_for(node.partner).terminate(node.provider_ref)
            except ProviderError as exc:
                log.warning("terminate %s at %s failed: %s", node.provider_ref, node.partner.slug, exc.kind)
                if node.state != NodeState.FAILED:  # a failed node stays failed until confirmed terminated
                    transition(node, NodeState.TERMINATING, reason=f"terminate failed: {exc.kind}")
                all_gone = False
                continue
        transition(node, NodeState.TERMINATED, reason="terminated at the partner", terminated_at=timezone.now())
    return all_gone


def _failure_summary(rental: Rental, explanation: Explanation) -> str:
    failed = list(rental.attempts.filter(outcome=AttemptOutcome.FAILED))
    if not failed:
        rules = ", ".join(f"{rule} {count}" for rule, count in explanation.excluded.items() if count)
        return f"no placement satisfies the request (excluded: {rules})"
    kinds = {a.error_kind for a in failed}
    prefix = "no capacity" if kinds <= {NO_CAPACITY, "transient", "quota_exceeded"} else "provisioning failed"
    tries = "; ".join(f"{a.partner_slug}/{a.region_code}: {a.error_kind} {a.error_message}"[:200] for a in failed)
    return f"{prefix}: every candidate placement failed ({tries})"


def rental_fail(rental: Rental, reason: str, *, actor: str = "system") -> bool:
    """Terminate what runs, end the rental `failed` and give its capacity back; False if it had already moved."""
    nodes_terminate(rental, rental.nodes.all())
    if not transition(rental, S.FAILED, reason=reason, failure_reason=reason, ended_at=timezone.now(), actor=actor):
        return False
    rental_release_capacity(rental)
    return True


def rental_poll(rental_id: int) -> bool:
    """Describe a provisioning rental's nodes; True once all run (or the rental left provisioning)."""
    rental = Rental.objects.get(pk=rental_id)
    if rental.state != S.PROVISIONING:
        return True
    attempt = _open_attempt(rental)
    if attempt is None:
        return True
    nodes = list(rental.nodes.filter(attempt=attempt).select_related("partner"))
    if len(nodes) < rental.nodes_count or not all(node.provider_ref for node in nodes):
        return True  # the launch itself did not finish; resuming provisioning completes it
    try:
        infos = [adapter_for(node.partner).describe(node.provider_ref) for node in nodes]
    except ProviderError as exc:
        if exc.permanent:
            _abandon_and_resume(rental, attempt, exc)
            return True
        return False
    if any(info.state in ENDED_NODE_STATES or info.state == "stopped" for info in infos):
        _abandon_and_resume(rental, attempt, ProviderError("transient", "node failed while starting"))
        return True
    if not all(info.state == "running" for info in infos):
        if (timezone.now() - rental.state_changed_at).total_seconds() > settings.PROVISION_TIMEOUT_S:
            _abandon_and_resume(rental, attempt, ProviderError("transient", "node did not start in time"))
            return True
        return False
    if not RentalAttempt.objects.filter(pk=attempt.pk, outcome=AttemptOutcome.STARTED).update(
            outcome=AttemptOutcome.SUCCEEDED):
        return True  # another task gave this attempt up meanwhile
    for node, info in zip(nodes, infos, strict=True):
        transition(node, NodeState.RUNNING, reason=f"running at {attempt.partner_slug}", ip=info.ip or node.ip,
                   endpoint=info.endpoint or node.endpoint, ssh_port=info.ssh_port or node.ssh_port,
                   ssh_user=info.ssh_user or node.ssh_user)
    transition(rental, S.RUNNING, reason=f"{len(nodes)} node(s) running at {attempt.partner_slug}",
               running_since=timezone.now())
    for node in nodes:  # a partner whose create call took no user data gets the plan over SSH now
        if node.launch_plan and is_ssh_launched(adapter_for(node.partner)):
            enqueue(DELIVER_PLAN_TASK, node.pk)
    return True


def _abandon_and_resume(rental: Rental, attempt: RentalAttempt, exc: ProviderError) -> None:
    _abandon_attempt(rental, attempt, exc)
    enqueue(PROVISION_TASK, rental.pk)


# --- termination --------------------------------------------------------------------------------

def rental_terminate(rental: Rental, *, reason: str, actor: str, billed_until=None) -> Rental:
    """Ask for termination (idempotent) from whatever live state the row is in now; a task terminates the
    partner nodes until confirmed. The returned rental is `terminating`/`terminated`, or `failed` (nothing
    left to stop). `billed_until` ends metering at that moment (an owner that stopped the node for
    idleness) rather than when the partner confirms."""
    ended = {"ended_at": billed_until} if billed_until else {}
    while rental.state in RENTAL_TERMINABLE:
        if transition(rental, S.TERMINATING, reason=reason, actor=actor, **ended):
            enqueue(TERMINATE_TASK, rental.pk)
            return rental
        rental.refresh_from_db()  # a worker moved it since it was read: states only advance, so this ends
    return rental


def rental_finish_termination(rental_id: int) -> bool:
    """Terminate every node at its partner; True when all are confirmed gone and the rental is terminated."""
    rental = Rental.objects.get(pk=rental_id)
    if rental.state != S.TERMINATING:
        return True
    if not nodes_terminate(rental, rental.nodes.all()):
        return False
    RentalAttempt.objects.filter(rental=rental, outcome=AttemptOutcome.STARTED).update(
        outcome=AttemptOutcome.CANCELLED)
    rental_release_capacity(rental)
    transition(rental, S.TERMINATED, reason="all nodes terminated at the partner",
               ended_at=rental.ended_at or timezone.now())
    return True


def rentals_expire(now=None, batch: int = 200) -> int:
    """Terminate running (or stopped) rentals that reached max_hours; returns how many were asked to stop."""
    now = now or timezone.now()
    count = 0
    for rental in Rental.objects.filter(state__in=[S.RUNNING, S.STOPPED]).order_by("running_since")[:batch * 5]:
        if rental.running_since + timedelta(hours=float(rental.max_hours)) <= now:
            rental_terminate(rental, reason=f"reached max_hours ({rental.max_hours} h)", actor="max_hours")
            count += 1
            if count >= batch:
                break
    return count
