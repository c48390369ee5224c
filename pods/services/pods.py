"""Dev pods (DESIGN §12): one rented node with the user's key and JupyterLab; stopped when nobody uses it.

A pod owns one rental and follows its states (`pods.receivers`). Stopping for idleness or by request ends
metering at that second: where the partner can stop a node it is stopped (its disk kept, `start` brings it
back); elsewhere it is terminated, and the event says which.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from marketplace.errors import Conflict
from marketplace.matching import PlacementRequest
from marketplace.models import Node, NodeState, Rental, RentalState, Workspace
from marketplace.services.rental_stops import rental_can_stop, rental_start, rental_stop
from marketplace.services.rentals import IdempotencyConflict, RentalInput, rental_create, rental_terminate, request_hash
from marketplace.states import record_event, transition
from pods.flows import POD_ENDING, POD_FLOW
from pods.models import Pod, PodState
from pods.tokens import jupyter_token_issue

P, S = PodState, RentalState
IDLE_ACTOR = "idle"


class NameTaken(Conflict):
    pass


@dataclass(frozen=True)
class PodInput:
    name: str
    request: PlacementRequest
    max_hours: Decimal
    ssh_public_key: str
    jupyter: bool
    image: str
    idle_timeout_minutes: int


def pod_create(*, workspace: Workspace, user, data: PodInput, idempotency_key: str | None = None,
               body_hash: str = "") -> tuple[Pod, bool, str]:
    """Accept a pod (202): its rental is placed and provisioned as any rental. Returns (pod, created, the
    Jupyter token to show once — "" when replayed or without Jupyter)."""
    if idempotency_key and (existing := _by_key(workspace, idempotency_key)):
        return _same_request_or_conflict(existing, body_hash), False, ""
    if _live_named(workspace, data.name).exists():
        return _taken(workspace, data.name, idempotency_key, body_hash), False, ""
    body = {**data.request.to_dict(), "pod": data.name, "max_hours": str(data.max_hours)}
    try:
        with transaction.atomic():
            rental, _ = rental_create(workspace=workspace, user=user, body_hash=request_hash(body),
                                      data=RentalInput(request=data.request, max_hours=data.max_hours,
                                                       ssh_public_key=data.ssh_public_key))
            pod = Pod.objects.create(
                workspace=workspace, created_by=user, name=data.name, request=data.request.to_dict(),
                max_hours=data.max_hours, ssh_public_key=data.ssh_public_key, jupyter=data.jupyter,
                image=data.image, idle_timeout_minutes=data.idle_timeout_minutes, rental=rental,
                idempotency_key=idempotency_key, request_hash=body_hash)
            token = jupyter_token_issue(pod) if data.jupyter else ""
            record_event(pod, f"requested (rental {rental.pk}){'; JupyterLab' if data.jupyter else ''}; "
                              f"idle stop after {_idle_text(data.idle_timeout_minutes)}",
                         actor=getattr(user, "username", "api"), created=True)
    except IntegrityError:  # a concurrent create won the key or the name: the constraints decide
        return _taken(workspace, data.name, idempotency_key, body_hash), False, ""
    return pod, True, token


def _taken(workspace: Workspace, name: str, key: str | None, body_hash: str) -> Pod:
    """The name is taken: by this very request's first try when the key names it (another create with the same
    key may have committed between our two reads), else NameTaken."""
    if key and (existing := _by_key(workspace, key)):
        return _same_request_or_conflict(existing, body_hash)
    raise NameTaken(f"a live pod named {name!r} already exists in this workspace")


def _idle_text(minutes: int) -> str:
    return "never" if minutes == 0 else f"{minutes} min"


def _by_key(workspace: Workspace, key: str) -> Pod | None:
    return Pod.objects.filter(workspace=workspace, idempotency_key=key).first()


def _live_named(workspace: Workspace, name: str):
    return Pod.objects.filter(workspace=workspace, name=name).exclude(state__in=POD_FLOW.final)


def _same_request_or_conflict(pod: Pod, body_hash: str) -> Pod:
    if pod.request_hash != body_hash:
        raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
    return pod


# --- following the rental -----------------------------------------------------------------------

def pod_follow_rental(rental: Rental, to_state: str, reason: str) -> None:
    """Move the rental's pod along with it (the rental may end at any point)."""
    pod = Pod.objects.filter(rental_id=rental.pk).first()
    if pod is None or pod.state in POD_FLOW.final:
        return
    if to_state == S.PROVISIONING and pod.state == P.PENDING:
        transition(pod, P.PROVISIONING, reason=reason)
    elif to_state == S.RUNNING and pod.state == P.PROVISIONING:
        transition(pod, P.RUNNING, reason=reason, running_since=timezone.now())  # the idle clock starts again
    elif to_state == S.STOPPED and pod.state in (P.RUNNING, P.STOPPING):
        if pod.state == P.RUNNING:
            transition(pod, P.STOPPING, reason=reason)
        transition(pod, P.STOPPED, reason=f"its node is stopped (metering stopped): {reason}")
    elif to_state == S.TERMINATING and pod.state not in (P.STOPPING, P.TERMINATING):
        transition(pod, P.TERMINATING, reason=f"its node is being terminated: {reason}")
    elif to_state == S.TERMINATED:
        why = ("stopped: the node was terminated (its partner cannot stop a node)" if pod.state == P.STOPPING
               else "its node was terminated")
        transition(pod, P.TERMINATED, reason=why)
    elif to_state == S.PREEMPTED:
        transition(pod, P.TERMINATED, reason=f"its spot node was taken back by the partner: {reason}")
    elif to_state == S.FAILED:
        transition(pod, P.FAILED, reason=rental.failure_reason or reason)


# --- stop, start, terminate ---------------------------------------------------------------------

def pod_stop(pod: Pod, *, reason: str, actor: str, now: datetime | None = None) -> Pod:
    """Stop a running pod: metering ends now. Where the partner can stop a node it is stopped (the pod ends
    `stopped`, its disk kept); elsewhere it is terminated (the pod ends `terminated`). The event says which."""
    now = now or timezone.now()
    if pod.state in (P.STOPPING, P.STOPPED, P.TERMINATING) or pod.state in POD_FLOW.final:
        return pod
    if pod.state != P.RUNNING:
        raise Conflict(f"pod {pod.name!r} is {pod.state}; only a running pod can be stopped (terminate it instead)")
    partner = pod.rental.partner.slug if pod.rental.partner else "its partner"
    stoppable = rental_can_stop(pod.rental)
    how = (f"{partner} stops the node and keeps its disk (metering stops now; start it again later)" if stoppable
           else f"{partner} cannot stop a node, so it is terminated (metering stops now)")
    with transaction.atomic():
        if not transition(pod, P.STOPPING, reason=f"{reason}; {how}", actor=actor):
            pod.refresh_from_db()
            return pod
        if stoppable:
            rental_stop(pod.rental, reason=f"pod {pod.name} stopped: {reason}", actor=actor, at=now)
        else:
            rental_terminate(pod.rental, reason=f"pod {pod.name} stopped: {reason}", actor=actor, billed_until=now)
    return pod


def pod_start(pod: Pod, *, actor: str) -> Pod:
    """Start a stopped pod on the node it stopped on; a pod whose node was terminated is a 409 saying so."""
    if pod.state == P.RUNNING:
        raise Conflict(f"pod {pod.name!r} is already running")
    if pod.state == P.STOPPED and pod.rental.state == S.STOPPED:
        with transaction.atomic():
            if transition(pod, P.PROVISIONING, reason=f"started by {actor}", actor=actor):
                rental_start(pod.rental, actor=actor)
        return pod
    if pod.rental.state in (S.TERMINATING, S.TERMINATED) and pod.events.filter(to_state=P.STOPPING).exists():
        raise Conflict(f"pod {pod.name!r} cannot be started: when it stopped, its partner could not stop the node, "
                       f"so the node was terminated; create a new pod (the same request, a new node)")
    raise Conflict(f"pod {pod.name!r} is {pod.state}; only a stopped pod can be started")


def pod_terminate(pod: Pod, *, actor: str) -> Pod:
    """Terminate the pod's node from whatever live state the pod is in now."""
    while pod.state not in POD_ENDING:
        with transaction.atomic():
            if transition(pod, P.TERMINATING, reason=f"terminated by {actor}", actor=actor):
                if pod.rental is not None:
                    rental_terminate(pod.rental, reason=f"pod {pod.name} terminated by {actor}", actor=actor)
                return pod
        pod.refresh_from_db()
    return pod


# --- idle stop ----------------------------------------------------------------------------------

def pod_node(pod: Pod) -> Node | None:
    """The node the pod runs on now (None before it runs)."""
    if pod.rental_id is None:
        return None
    return Node.objects.filter(rental_id=pod.rental_id, state=NodeState.RUNNING).order_by("-id").first()


def idle_since(pod: Pod, node: Node | None) -> datetime | None:
    """Since when nobody used the pod: its last activity, or its start when none was seen since."""
    moments = [m for m in (pod.running_since, node.last_activity_at if node else None) if m]
    return max(moments) if moments else None


def idle_stop_at(pod: Pod, node: Node | None) -> datetime | None:
    """When the idle sweep will stop it, if nobody uses it before (None: never, or not running)."""
    since = idle_since(pod, node)
    if pod.state != P.RUNNING or pod.idle_timeout_minutes == 0 or since is None:
        return None
    return since + timedelta(minutes=pod.idle_timeout_minutes)


def pods_idle_stop(now: datetime | None = None) -> list[int]:
    """Stop every running pod idle for its `idle_timeout_minutes`; the ids of those stopped."""
    now = now or timezone.now()
    stopped = []
    running = Pod.objects.filter(state=P.RUNNING, idle_timeout_minutes__gt=0).select_related("rental__partner")
    for pod in running:
        node = pod_node(pod)
        deadline = idle_stop_at(pod, node)
        if deadline is None or deadline > now:
            continue
        since = idle_since(pod, node)
        pod_stop(pod, actor=IDLE_ACTOR, now=now,
                 reason=f"idle for {pod.idle_timeout_minutes} min (no SSH session, busy Jupyter kernel or busy GPU "
                        f"since {since:%Y-%m-%d %H:%M:%S} UTC)")
        stopped.append(pod.pk)
    return stopped
