"""Node health at the broker: node tokens, heartbeats, the stale-heartbeat sweep, partner reliability."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from marketplace.models import (
    HealthState,
    Node,
    NodeHealthEvent,
    NodeState,
    Partner,
    Rental,
    RentalAttempt,
    Repair,
)
from marketplace.secrets import hash_token
from marketplace.signals import node_health_changed
from marketplace.states import record_event

TOKEN_PREFIX = "gpbn_"
SWEEP_BATCH = 500
CAS_ATTEMPTS = 3


def node_token(node: Node) -> str:
    """The node's heartbeat token, derived (never stored) so a resumed launch renders the same plan."""
    message = f"node-token:{node.pk}:{node.idempotency_key}".encode()
    return TOKEN_PREFIX + hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def node_token_issue(node: Node) -> str:
    """Arm the node's token: only its hash is stored; the plain token goes into the node's launch plan."""
    token = node_token(node)
    Node.objects.filter(pk=node.pk).update(token_hash=hash_token(token))
    node.token_hash = hash_token(token)
    return token


def node_token_check(node: Node, token: str) -> bool:
    """Constant-time comparison of the token's hash with the node's."""
    if not node.token_hash or not token:
        return False
    return hmac.compare_digest(node.token_hash, hash_token(token))


def _reason(reasons: list[str]) -> str:
    return "; ".join(reasons)[:2000]


@transaction.atomic
def node_health_record(*, node: Node, report: dict, now: datetime | None = None) -> Node:
    """Store a validated heartbeat report on the node; add an event row only when the state changes."""
    now = now or timezone.now()
    state, repair = report["state"], report.get("repair") or Repair.NONE
    reason = _reason(report.get("reasons", []))
    fields = {"health": state, "health_repair": repair, "health_reason": reason, "health_report": report,
              "last_heartbeat_at": now}
    if (active_at := activity_seen_at(report.get("activity"), now)) and (
            node.last_activity_at is None or active_at > node.last_activity_at):
        fields["last_activity_at"] = active_at
    for _ in range(CAS_ATTEMPTS):
        previous = Node.objects.filter(pk=node.pk).values_list("health", flat=True).first()
        if Node.objects.filter(pk=node.pk, health=previous).update(**fields):
            break
    else:
        raise RuntimeError(f"node {node.pk} health kept changing under the heartbeat")
    if previous != state:
        _health_changed(node.pk, previous, state, repair, reason or "heartbeat")
    for name, value in fields.items():
        setattr(node, name, value)
    return node


def activity_seen_at(activity: dict | None, now: datetime) -> datetime | None:
    """When the report last saw the node in use: now for an SSH session, a busy kernel or a busy GPU, else
    Jupyter's own last kernel activity (never later than now); None when it saw no use at all."""
    if not activity:
        return None
    if (activity.get("ssh_sessions") or activity.get("jupyter_busy_kernels")
            or (activity.get("gpu_utilization_pct") or 0) >= settings.NODE_GPU_BUSY_PCT):
        return now
    if last := activity.get("jupyter_last_activity"):
        return min(datetime.fromisoformat(last.replace("Z", "+00:00")), now)
    return None


def node_health_sweep(now: datetime | None = None, *, batch: int = SWEEP_BATCH) -> dict[str, int]:
    """Running nodes whose agent went quiet: `unknown` after HEARTBEAT_UNKNOWN_AFTER_S, `unhealthy`
    (repair `replace`) after HEARTBEAT_UNHEALTHY_AFTER_S. Nodes that never sent a heartbeat are left alone.
    """
    now = now or timezone.now()
    unhealthy_before = now - timedelta(seconds=settings.HEARTBEAT_UNHEALTHY_AFTER_S)
    unknown_before = now - timedelta(seconds=settings.HEARTBEAT_UNKNOWN_AFTER_S)
    running = Node.objects.filter(state=NodeState.RUNNING, last_heartbeat_at__isnull=False)
    to_unhealthy = running.filter(last_heartbeat_at__lt=unhealthy_before).exclude(
        health=HealthState.UNHEALTHY, health_repair=Repair.REPLACE)
    to_unknown = running.filter(last_heartbeat_at__lt=unknown_before, last_heartbeat_at__gte=unhealthy_before,
                                health__in=[HealthState.HEALTHY, HealthState.DEGRADED])
    return {
        "unhealthy": _mark_stale(to_unhealthy, HealthState.UNHEALTHY, Repair.REPLACE, now, batch),
        "unknown": _mark_stale(to_unknown, HealthState.UNKNOWN, Repair.NONE, now, batch),
    }


def _health_changed(node_id: int, previous: str, state: str, repair: str, reason: str) -> None:
    """Record the change, tell the rental's owner, and announce it (a deployment may need a replacement)."""
    NodeHealthEvent.objects.create(node_id=node_id, from_state=previous, to_state=state, repair=repair, reason=reason)
    rental = Rental.objects.filter(nodes__pk=node_id).first()
    if rental is None or state not in (HealthState.DEGRADED, HealthState.UNHEALTHY):
        return
    record_event(rental, f"node {node_id} health {previous} → {state} (repair: {repair}): {reason}"[:2000],
                 actor="health")
    node_health_changed.send(sender=Node, node_id=node_id, rental_id=rental.pk, old_health=previous,
                             new_health=state, repair=repair)


def _mark_stale(nodes, state: str, repair: str, now: datetime, batch: int) -> int:
    changed = 0
    rows = nodes.order_by("last_heartbeat_at", "pk").values_list("pk", "health", "last_heartbeat_at")[:batch]
    for pk, previous, heard_at in rows:
        silent_s = int((now - heard_at).total_seconds())
        reason = f"no heartbeat for {silent_s} s"
        with transaction.atomic():
            # A heartbeat that lands meanwhile moves last_heartbeat_at and wins.
            updated = Node.objects.filter(pk=pk, health=previous, last_heartbeat_at=heard_at).update(
                health=state, health_repair=repair, health_reason=reason)
            if updated:
                _health_changed(pk, previous, state, repair, reason)
                changed += 1
    return changed


def partner_reliability_refresh(window_days: int = 7, now: datetime | None = None) -> dict[str, float]:
    """reliability = 1 − (nodes that turned unhealthy + failed attempts) / (nodes + attempts) over the window."""
    now = now or timezone.now()
    since = now - timedelta(days=window_days)
    alive = Q(created_at__lte=now) & (Q(terminated_at__isnull=True) | Q(terminated_at__gte=since))
    nodes = dict(Node.objects.filter(alive).values("partner_id").annotate(n=Count("pk")).values_list("partner_id", "n"))
    unhealthy = dict(
        NodeHealthEvent.objects.filter(to_state=HealthState.UNHEALTHY, at__gte=since, at__lte=now)
        .values("node__partner_id").annotate(n=Count("node_id", distinct=True)).values_list("node__partner_id", "n"))
    attempts = {row["partner_slug"]: row for row in (
        RentalAttempt.objects.filter(started_at__gte=since, started_at__lte=now).values("partner_slug")
        .annotate(total=Count("pk"), failed=Count("pk", filter=Q(outcome="failed"))))}
    scores = {}
    for partner in Partner.objects.only("pk", "slug", "reliability"):
        tried = attempts.get(partner.slug, {"total": 0, "failed": 0})
        total = nodes.get(partner.pk, 0) + tried["total"]
        bad = unhealthy.get(partner.pk, 0) + tried["failed"]
        score = round(max(0.0, 1.0 - bad / total), 4) if total else 1.0
        if score != partner.reliability:
            Partner.objects.filter(pk=partner.pk).update(reliability=score)
        scores[partner.slug] = score
    return scores
