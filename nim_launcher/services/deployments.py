"""Deployments: pick the cheapest (profile, GPU) placement, keep min..max replicas ready, tear down.

`deployment_reconcile` is the control loop: idempotent, run after every replica change and periodically.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import requests
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from marketplace.errors import Conflict
from marketplace.flows import RENTAL_FLOW, RENTAL_TERMINABLE
from marketplace.matching import PlacementRequest, match
from marketplace.models import HealthState, NodeState, RentalState, Workspace
from marketplace.placement import parse_placement_request
from marketplace.scheduling import enqueue
from marketplace.selectors.offer_index import get_offer_index
from marketplace.services.rentals import (
    IdempotencyConflict,
    NoPlacement,
    RentalInput,
    rental_create,
    rental_terminate,
    request_hash,
)
from marketplace.states import record_event, transition
from nim_launcher.flows import DEPLOYMENT_ENDING, DEPLOYMENT_FLOW, REPLICA_FLOW
from nim_launcher.models import Deployment, DeploymentState, Replica, ReplicaState
from nim_launcher.profiles import UnknownModel, placement_candidates, profile_for_request

log = logging.getLogger(__name__)
D, R = DeploymentState, ReplicaState
READY_TIMEOUT_S = 2.0
NODE_PORT = 8000
RECONCILE_TASK = "nim_launcher.tasks.deployment_reconcile_task"


class NameTaken(Conflict):
    pass


@dataclass(frozen=True)
class DeploymentInput:
    name: str
    model: str
    replicas_min: int
    replicas_max: int
    policy: dict
    request_extras: dict  # spot, max_price_per_gpu_hour, interconnect, near …
    gpu: str | None
    max_hours: Decimal


def choose_placement(model: str, *, gpu: str | None, policy: dict, extras: dict) -> dict:
    """The cheapest (profile, GPU) shape under the user's policy, as a placement request dict."""
    index = get_offer_index()
    best, best_price, explanation = None, None, None
    candidates = placement_candidates(model, policy=policy, gpu=gpu, request=extras)
    if not candidates:
        raise UnknownModel(f"model {model!r} has no profile that runs on {gpu}")
    for candidate in candidates:
        request = parse_placement_request(candidate)
        result = match(request, index, limit=1)
        explanation = explanation or result.explanation
        if result.placements and (best_price is None or result.placements[0].price_per_hour < best_price):
            best, best_price = request.to_dict(), result.placements[0].price_per_hour
    if best is None:
        raise NoPlacement(explanation, "no offer can serve this model under the policy")
    return best


def deployment_create(*, workspace: Workspace, user, data: DeploymentInput, idempotency_key: str | None = None,
                      body_hash: str = "") -> tuple[Deployment, bool]:
    """Accept a deployment (202). The same Idempotency-Key with the same body returns the first deployment;
    with another body it is refused (IdempotencyConflict), as for rentals. A taken live name is NameTaken."""
    if idempotency_key and (existing := _by_key(workspace, idempotency_key)):
        return _same_request_or_conflict(existing, body_hash), False
    if _live_named(workspace, data.name).exists():
        return _taken(workspace, data.name, idempotency_key, body_hash), False
    request = choose_placement(data.model, gpu=data.gpu, policy=data.policy, extras=data.request_extras)
    profile = profile_for_request(data.model, request)
    try:
        with transaction.atomic():
            deployment = Deployment.objects.create(
                workspace=workspace, name=data.name, model=data.model, profile=profile.name,
                replicas_min=data.replicas_min, replicas_max=data.replicas_max, replicas_desired=data.replicas_min,
                request=request, max_hours=data.max_hours, idempotency_key=idempotency_key, request_hash=body_hash)
            record_event(deployment, f"{data.model} {profile.name} on {request['gpus_per_node']}× "
                                     f"{request['gpu'] or 'any GPU'}", actor=getattr(user, "username", "api"),
                         created=True)
            enqueue_reconcile(deployment.pk)
    except IntegrityError:  # a concurrent create won the key or the name: the constraints decide, not the checks
        return _taken(workspace, data.name, idempotency_key, body_hash), False
    return deployment, True


def _taken(workspace: Workspace, name: str, key: str | None, body_hash: str) -> Deployment:
    """The name is taken: by this very request's first try when the key names it (another create with the same
    key may have committed between our two reads), else NameTaken."""
    if key and (existing := _by_key(workspace, key)):
        return _same_request_or_conflict(existing, body_hash)
    raise NameTaken(f"a live deployment named {name!r} already exists in this workspace")


def _by_key(workspace: Workspace, key: str) -> Deployment | None:
    return Deployment.objects.filter(workspace=workspace, idempotency_key=key).first()


def _live_named(workspace: Workspace, name: str):
    return Deployment.objects.filter(workspace=workspace, name=name).exclude(state__in=DEPLOYMENT_FLOW.final)


def _same_request_or_conflict(deployment: Deployment, body_hash: str) -> Deployment:
    if deployment.request_hash != body_hash:
        raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
    return deployment


def enqueue_reconcile(deployment_id: int, *, countdown: float | None = None) -> None:
    """Run the deployment's control loop (after the current transaction commits)."""
    enqueue(RECONCILE_TASK, deployment_id, countdown=countdown)


def deployment_wake_for_rental(rental_id: int) -> None:
    """A replica's rental changed: run its deployment's control loop now rather than at the next sweep."""
    deployment_id = Replica.objects.filter(rental_id=rental_id).values_list("deployment_id", flat=True).first()
    if deployment_id is not None:
        enqueue_reconcile(deployment_id)


def deployment_delete(deployment: Deployment, *, actor: str) -> Deployment:
    """Tear down every replica's rental from whatever live state the row is in now; the deployment ends
    `terminated` once all are gone. The returned deployment is `terminating`/`terminated`, or `failed`."""
    while deployment.state not in DEPLOYMENT_ENDING:
        if transition(deployment, D.TERMINATING, reason=f"deleted by {actor}", actor=actor):
            enqueue_reconcile(deployment.pk)
            return deployment
        deployment.refresh_from_db()  # the control loop moved it since it was read
    return deployment


def deployment_reconcile(deployment_id: int) -> bool:
    """One pass of the control loop; returns True when the deployment is steady (nothing in progress)."""
    deployment = Deployment.objects.select_related("workspace").get(pk=deployment_id)
    if deployment.state in DEPLOYMENT_FLOW.final:
        return True
    replicas = list(deployment.replicas.select_related("rental").exclude(state__in=REPLICA_FLOW.final))
    for replica in replicas:
        _follow_rental(replica)
    live = [r for r in replicas if r.state not in REPLICA_FLOW.final]
    if deployment.state == D.TERMINATING:
        return _tear_down(deployment, live)
    _replace_unhealthy(live)
    live = [r for r in live if r.state != R.TERMINATING]
    # A replica whose spot node has a preemption notice keeps serving but no longer counts: its replacement
    # starts now, and it is retired once enough others are ready (or the partner takes it first).
    leaving = [r for r in live if r.rental.preempt_at is not None]
    live = [r for r in live if r.rental.preempt_at is None]
    for _ in range(deployment.replicas_desired - len(live)):
        replica = _add_replica(deployment)
        if replica is None:
            break
        live.append(replica)
    for replica in live[deployment.replicas_desired:]:
        _retire(replica, "scaled in")
    live = live[:deployment.replicas_desired]
    if sum(1 for r in live if r.state == R.READY) >= deployment.replicas_desired:
        for replica in leaving:
            _retire(replica, "replaced ahead of its spot preemption")
    return _settle_state(deployment, live + [r for r in leaving if r.state == R.READY])


def _follow_rental(replica: Replica) -> None:
    """Move a replica along with its rental and its server's readiness."""
    rental = replica.rental
    if rental.state in RENTAL_FLOW.final:
        retired = replica.state == R.TERMINATING and replica.reason  # keep why it was retired
        reason = replica.reason if retired else rental.failure_reason or f"rental {rental.state}"
        _replica_move(replica, R.FAILED if rental.state == RentalState.FAILED else R.TERMINATED, reason)
        if rental.state == RentalState.PREEMPTED and not retired:
            record_event(replica.deployment, f"replica {replica.pk} preempted ({reason}); replacing it under the "
                                             f"same request and policy")
        return
    if rental.state != RentalState.RUNNING or replica.state not in (R.PROVISIONING, R.STARTING):
        return
    node = rental.nodes.filter(state=NodeState.RUNNING).first()
    endpoint = replica.endpoint or _node_endpoint(node)
    ready = bool(endpoint) and _is_ready(endpoint)
    if ready:
        transition(replica, R.READY, reason=f"NIM server ready at {endpoint}", endpoint=endpoint,
                   ready_at=timezone.now())
    elif not transition(replica, R.STARTING, reason="node running; NIM server starting", endpoint=endpoint) \
            and endpoint != replica.endpoint:
        Replica.objects.filter(pk=replica.pk).update(endpoint=endpoint)
        replica.endpoint = endpoint


def _replica_move(replica: Replica, to: str, reason: str, *, actor: str = "system") -> None:
    """A transition that also keeps its reason on the replica row (the API shows why a replica ended)."""
    with transaction.atomic():
        if transition(replica, to, reason=reason, actor=actor):
            Replica.objects.filter(pk=replica.pk).update(reason=reason)
            replica.reason = reason


def _node_endpoint(node) -> str:
    if node is None:
        return ""
    if node.endpoint:
        return node.endpoint.rstrip("/")
    return f"http://{node.ip}:{NODE_PORT}" if node.ip else ""


def _is_ready(endpoint: str) -> bool:
    try:
        return requests.get(f"{endpoint}/v1/health/ready", timeout=READY_TIMEOUT_S).status_code == 200
    except requests.RequestException:
        return False


def _replace_unhealthy(replicas: list[Replica]) -> None:
    for replica in replicas:
        node = replica.rental.nodes.filter(state=NodeState.RUNNING, health=HealthState.UNHEALTHY).first()
        if node is not None and replica.state != R.TERMINATING:
            _retire(replica, f"node {node.pk} unhealthy ({node.health_reason or node.health_repair}); replacing")


def _retire(replica: Replica, reason: str) -> None:
    _replica_move(replica, R.TERMINATING, reason, actor="deployment")
    rental_terminate(replica.rental, reason=f"replica of {replica.deployment.name}: {reason}", actor="deployment")
    record_event(replica.deployment, reason)


def _unreplaced_spot_loss(deployment: Deployment) -> int | None:
    """The oldest replica rental preempted (or noticed) that no replacement recovers yet."""
    return (Replica.objects.filter(deployment=deployment, rental__replaced_by__isnull=True, rental__spot=True)
            .filter(Q(rental__state=RentalState.PREEMPTED) | Q(rental__preempt_at__isnull=False))
            .order_by("rental_id").values_list("rental_id", flat=True).first())


def _add_replica(deployment: Deployment) -> Replica | None:
    request = PlacementRequest.from_dict(deployment.request)
    replaces = _unreplaced_spot_loss(deployment)
    body = {**deployment.request, "max_hours": str(deployment.max_hours), "deployment": deployment.pk,
            "replaces": replaces}
    try:
        with transaction.atomic():
            # The row lock orders this against deletion: a deployment deleted meanwhile gets no new rental.
            if not Deployment.objects.select_for_update().filter(pk=deployment.pk).exclude(
                    state__in=(D.TERMINATING, D.TERMINATED, D.FAILED)).exists():
                return None
            rental, _ = rental_create(workspace=deployment.workspace, user=None, body_hash=request_hash(body),
                                      data=RentalInput(request=request, max_hours=deployment.max_hours,
                                                       replaces_id=replaces))
            replica = Replica.objects.create(deployment=deployment, rental=rental)
    except NoPlacement as exc:
        reason = "no placement satisfies the deployment's policy: " + ", ".join(
            f"{rule} {count}" for rule, count in exc.explanation.excluded.items() if count)
        record_event(deployment, reason)
        return None
    except Exception as exc:  # budget refusals and the like: record, retry on the next pass
        record_event(deployment, f"cannot add a replica: {exc}")
        log.info("deployment %s: cannot add replica: %s", deployment.pk, exc)
        return None
    recovers = f", recovering preempted rental {replaces}" if replaces else ""
    record_event(deployment, f"replica {replica.pk} requested (rental {rental.pk}{recovers})")
    return replica


def _settle_state(deployment: Deployment, replicas: list[Replica]) -> bool:
    ready = sum(1 for r in replicas if r.state == R.READY)
    if ready >= deployment.replicas_min and ready:
        transition(deployment, D.READY, reason=f"{ready} replica(s) ready")
    elif ready:
        transition(deployment, D.DEGRADED, reason=f"{ready} of {deployment.replicas_min} replicas ready")
    elif any(r.state == R.STARTING for r in replicas):
        transition(deployment, D.STARTING, reason="NIM server starting")
    elif deployment.state == D.PENDING:
        transition(deployment, D.PROVISIONING, reason="renting nodes")
    return ready == len(replicas) == deployment.replicas_desired


def _tear_down(deployment: Deployment, replicas: list[Replica]) -> bool:
    for replica in replicas:
        if replica.rental.state in RENTAL_TERMINABLE:
            _retire(replica, "deployment deleted")
    pending = [r for r in replicas if r.rental.state not in RENTAL_FLOW.final]
    if pending:
        return False
    with transaction.atomic():  # under the row lock _add_replica takes: no replica is added after this check
        Deployment.objects.select_for_update().filter(pk=deployment.pk).first()
        if Replica.objects.filter(deployment=deployment).exclude(rental__state__in=RENTAL_FLOW.final).exists():
            return False
        transition(deployment, D.TERMINATED, reason="every replica's node terminated")
    return True


def deployment_autoscale(deployment: Deployment, *, requests_per_minute: float, now=None,
                         target_rpm_per_replica: float = 60.0, cooldown_s: int = 120) -> int:
    """Desired replicas from request rate per replica, within min..max and after a cool-down."""
    now = now or timezone.now()
    if deployment.last_scaled_at and now - deployment.last_scaled_at < timedelta(seconds=cooldown_s):
        return deployment.replicas_desired
    current = deployment.replicas_desired
    per_replica = requests_per_minute / max(current, 1)
    desired = current
    if per_replica > target_rpm_per_replica:
        desired = current + 1
    elif per_replica < target_rpm_per_replica / 3:
        desired = current - 1
    desired = max(deployment.replicas_min, min(deployment.replicas_max, desired))
    if desired != current:
        Deployment.objects.filter(pk=deployment.pk).update(replicas_desired=desired, last_scaled_at=now)
        record_event(deployment, f"autoscale {current} → {desired} replicas ({requests_per_minute:.0f} req/min)")
        deployment.replicas_desired, deployment.last_scaled_at = desired, now
    return desired


def live_deployments():
    return Deployment.objects.exclude(state__in=DEPLOYMENT_FLOW.final)
