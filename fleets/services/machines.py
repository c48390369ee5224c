"""Machines: what their agent reports (the long poll), cordon/uncordon/drain, and the offline sweep."""

import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from fleets.flows import MACHINE_CORDONABLE, MACHINE_DRAINABLE, MACHINE_HEARD, WORK_LIVE
from fleets.models import Machine, MachineState, Work, WorkState
from fleets.services.offers import fleet_offers_refresh
from fleets.services.work import work_plan, work_report
from marketplace.errors import Conflict
from marketplace.flows import RENTAL_TERMINABLE
from marketplace.models import HealthState, NodeState, Rental, RentalState
from marketplace.scheduling import enqueue
from marketplace.services.node_health import node_health_record
from marketplace.services.rentals import POLL_TASK, rental_fail, rental_terminate
from marketplace.states import transition

M = MachineState
POLL_STEP_S = 0.5
SWEEP_BATCH = 200


@dataclass(frozen=True)
class Instructions:
    """What the agent is told: its machine's state, the work to start (with its plan) and the work to stop."""

    state: str
    start: list[tuple[int, dict]]
    stop: list[int]

    @property
    def empty(self) -> bool:
        return not self.start and not self.stop


def machine_heard(machine: Machine, *, health: str, reason: str, works: list[dict], now=None) -> Machine:
    """Record a poll: the machine was heard (joining/offline → ready), its health, its works' states."""
    now = now or timezone.now()
    changed = health != machine.health or machine.state in (M.JOINING, M.OFFLINE)
    if health != machine.health:
        _nodes_health(machine, health, reason, now)
    Machine.objects.filter(pk=machine.pk).update(last_seen_at=now, health=health, health_reason=reason[:2000])
    machine.last_seen_at, machine.health, machine.health_reason = now, health, reason[:2000]
    if machine.state in (M.JOINING, M.OFFLINE):
        transition(machine, M.READY, reason="agent heard" if machine.state == M.OFFLINE else "first poll",
                   actor="agent")
    moved = [work_report(machine, report) for report in works]
    _finish_drain(machine)
    if changed or any(moved):  # a plain heartbeat changes no count: thousands of machines poll without a refresh each
        fleet_offers_refresh(machine.fleet)
    return machine


def _nodes_health(machine: Machine, health: str, reason: str, now) -> None:
    """The machine's verdict is its running nodes' health: a deployment replaces a replica on a sick machine."""
    report = {"state": health, "repair": "none", "reasons": [reason] if reason else [], "source": "fleet machine"}
    for work in Work.objects.filter(machine=machine, state=WorkState.RUNNING, node__state=NodeState.RUNNING
                                    ).select_related("node"):
        node_health_record(node=work.node, report=report, now=now)


def instructions(machine: Machine) -> Instructions:
    """What the agent must do now; a machine deleted meanwhile (its fleet deleted) is told it is removed."""
    try:
        machine.refresh_from_db(fields=["state"])
    except Machine.DoesNotExist:
        return Instructions(M.REMOVED, [], [])
    works = list(Work.objects.filter(machine=machine, state__in=(WorkState.ASSIGNED, WorkState.STOPPING)))
    return Instructions(machine.state, [(w.pk, work_plan(w)) for w in works if w.state == WorkState.ASSIGNED],
                        [w.pk for w in works if w.state == WorkState.STOPPING])


def instructions_wait(machine: Machine, wait_s: float, *, clock=time.monotonic, sleep=time.sleep) -> Instructions:
    """The long poll: answer as soon as there is something to do, or after `wait_s` with nothing."""
    deadline = clock() + min(wait_s, settings.FLEET_POLL_WAIT_MAX_S)
    while True:
        answer = instructions(machine)
        if not answer.empty or clock() >= deadline or answer.state == M.REMOVED:
            return answer
        close_old_connections()  # hold no connection (nor transaction) between looks
        sleep(POLL_STEP_S)


def machine_cordon(machine: Machine, *, actor: str) -> Machine:
    """No new work lands on the machine; what runs there keeps running."""
    if machine.state != M.CORDONED:
        if machine.state not in MACHINE_CORDONABLE:
            raise Conflict(f"machine {machine.pk} is {machine.state}: only a ready machine can be cordoned")
        transition(machine, M.CORDONED, reason="cordoned", actor=actor)
        fleet_offers_refresh(machine.fleet)
    return machine


def machine_uncordon(machine: Machine, *, actor: str) -> Machine:
    if machine.state != M.READY:
        if machine.state != M.CORDONED:
            raise Conflict(f"machine {machine.pk} is {machine.state}: only a cordoned machine can be uncordoned")
        transition(machine, M.READY, reason="uncordoned", actor=actor)
        fleet_offers_refresh(machine.fleet)
    return machine


def machine_drain(machine: Machine, *, actor: str) -> Machine:
    """Cordon, then terminate the rentals on the machine (their owners place them elsewhere); removed once idle."""
    if machine.state != M.DRAINING:
        if machine.state not in MACHINE_DRAINABLE:
            raise Conflict(f"machine {machine.pk} is {machine.state}: it cannot be drained")
        transition(machine, M.DRAINING, reason="draining", actor=actor)
    for rental in _rentals_on(machine).filter(state__in=RENTAL_TERMINABLE):
        rental_terminate(rental, reason=f"machine {machine.hostname} drained", actor=actor)
    _finish_drain(machine)
    fleet_offers_refresh(machine.fleet)
    return machine


def _finish_drain(machine: Machine) -> None:
    if machine.state == M.DRAINING and not Work.objects.filter(machine=machine, state__in=WORK_LIVE).exists():
        transition(machine, M.REMOVED, reason="drained: no work left", actor="fleet")


def _rentals_on(machine: Machine):
    node_ids = Work.objects.filter(machine=machine, state__in=WORK_LIVE).values_list("node_id", flat=True)
    return Rental.objects.filter(nodes__pk__in=node_ids).distinct()


def machines_offline_sweep(now=None, *, batch: int = SWEEP_BATCH) -> int:
    """Machines silent for FLEET_MACHINE_OFFLINE_AFTER_S turn offline; their work fails and fails over."""
    now = now or timezone.now()
    silent_before = now - timedelta(seconds=settings.FLEET_MACHINE_OFFLINE_AFTER_S)
    quiet = (Machine.objects.filter(state__in=MACHINE_HEARD, last_seen_at__lt=silent_before)
             .select_related("fleet__partner").order_by("last_seen_at")[:batch])
    count = 0
    for machine in quiet:
        silent_s = int((now - machine.last_seen_at).total_seconds())
        if transition(machine, M.OFFLINE, reason=f"agent silent for {silent_s} s", actor="fleet",
                      health=HealthState.UNKNOWN):
            _fail_work(machine, f"machine {machine.hostname} offline (agent silent for {silent_s} s)")
            fleet_offers_refresh(machine.fleet)
            count += 1
    return count


def _fail_work(machine: Machine, reason: str) -> None:
    """A provisioning rental fails over to its next placement; a running one fails (its owner replaces it)."""
    for work in Work.objects.filter(machine=machine, state__in=WORK_LIVE).select_related("node__rental"):
        transition(work, WorkState.FAILED, reason=reason, actor="fleet")
        node = work.node
        if node is None:
            continue
        if node.rental.state == RentalState.PROVISIONING:
            enqueue(POLL_TASK, node.rental_id)
        elif node.rental.state == RentalState.RUNNING:
            transition(node, NodeState.FAILED, reason=reason, actor="fleet", terminated_at=timezone.now())
            rental_fail(node.rental, reason, actor="fleet")
