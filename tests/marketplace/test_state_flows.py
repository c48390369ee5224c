"""Every registered state flow, one generic test: allowed moves write one event, others raise, races lose cleanly."""

import ast
import itertools
import threading
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connections

from fleets.models import Fleet, Machine, Work
from jobs.models import Job
from marketplace.models import Node, Partner, Rental, Workspace
from marketplace.signals import state_changed
from marketplace.states import FLOWS, IllegalTransition, StateFlow, flow_for, record_event, transition
from nim_launcher.models import Deployment, Replica
from pods.models import Pod

_serial = itertools.count()


def _workspace() -> Workspace:
    return Workspace.objects.get_or_create(name="flows")[0]


def _rental(state: str = "pending") -> Rental:
    return Rental.objects.create(workspace=_workspace(), request={}, request_hash="x", max_hours=1, state=state)


def _partner(state: str = "pending") -> Partner:
    return Partner.objects.create(slug=f"flow-partner-{next(_serial)}", name="flow partner", status=state)


def _deployment(state: str = "pending") -> Deployment:
    return Deployment.objects.create(workspace=_workspace(), name=f"flow-{next(_serial)}", model="m", state=state)


def _machine(state: str = "joining") -> Machine:
    partner = _partner("active")
    fleet = Fleet.objects.create(workspace=_workspace(), partner=partner, name=partner.slug)
    return Machine.objects.create(fleet=fleet, hostname="m", token_hash="x", state=state)


MAKERS = {
    Rental: _rental,
    Node: lambda state: Node.objects.create(rental=_rental(), partner=_partner(), state=state),
    Partner: _partner,
    Deployment: _deployment,
    Replica: lambda state: Replica.objects.create(deployment=_deployment(), rental=_rental(), state=state),
    Job: lambda state: Job.objects.create(workspace=_workspace(), name="flow-job", state=state),
    Machine: _machine,
    Work: lambda state: Work.objects.create(machine=_machine(), idempotency_key=f"flow-{next(_serial)}",
                                            instance_type="t", region_code="r", state=state),
    Pod: lambda state: Pod.objects.create(workspace=_workspace(), name=f"pod-{next(_serial)}", state=state,
                                          ssh_public_key="ssh-ed25519 AAAA", rental=_rental()),
}
FLOW_IDS = [model.__name__ for model in FLOWS]
STATE_FIELDS = {flow.state_field for flow in FLOWS.values()}


def _state(obj) -> str:
    flow = flow_for(obj)
    return flow.model.objects.values_list(flow.state_field, flat=True).get(pk=obj.pk)


def _events(obj) -> list:
    flow = flow_for(obj)
    return list(flow.event_model.objects.filter(**{flow.event_fk: obj}))


@pytest.fixture
def signals():
    sent = []

    def receiver(sender, **kwargs):
        sent.append((sender, kwargs))

    state_changed.connect(receiver)
    yield sent
    state_changed.disconnect(receiver)


def test_every_model_with_a_state_column_has_a_flow_and_a_maker():
    stateful = {m for app in ("marketplace", "nim_launcher", "jobs", "fleets", "pods")
                for m in apps.get_app_config(app).get_models()
                if any(f.name == "state" for f in m._meta.fields)} | {Partner}
    assert stateful == set(FLOWS) == set(MAKERS)
    for flow in FLOWS.values():
        choices = {value for value, _ in flow.model._meta.get_field(flow.state_field).choices}
        assert set(flow.moves) <= choices
        assert flow.live | flow.final == set(flow.moves) and not flow.live & flow.final


@pytest.mark.django_db
@pytest.mark.parametrize("flow", FLOWS.values(), ids=FLOW_IDS)
def test_allowed_moves_change_the_state_write_one_event_and_signal(flow: StateFlow, signals):
    for from_state, targets in flow.moves.items():
        for to in targets:
            obj = MAKERS[flow.model](from_state)
            signals.clear()
            assert transition(obj, to, reason=f"{from_state} to {to}", actor="tester") is True
            assert _state(obj) == to and getattr(obj, flow.state_field) == to
            [event] = _events(obj)
            assert (event.from_state, event.to_state, event.reason, event.actor) == (
                from_state, to, f"{from_state} to {to}", "tester")
            assert event.at is not None
            [(sender, sent)] = signals
            assert sender is flow.model and sent["instance"] is obj
            assert (sent["from_state"], sent["to_state"], sent["reason"], sent["actor"]) == (
                from_state, to, f"{from_state} to {to}", "tester")


@pytest.mark.django_db
@pytest.mark.parametrize("flow", FLOWS.values(), ids=FLOW_IDS)
def test_moves_the_flow_does_not_allow_raise_and_change_nothing(flow: StateFlow, signals):
    for from_state, targets in flow.moves.items():
        obj = MAKERS[flow.model](from_state)
        for to in set(flow.moves) - targets - {from_state}:
            with pytest.raises(IllegalTransition):
                transition(obj, to, reason="not allowed")
            assert _state(obj) == from_state and _events(obj) == [] and signals == []


@pytest.mark.django_db
@pytest.mark.parametrize("flow", FLOWS.values(), ids=FLOW_IDS)
def test_a_lost_compare_and_set_changes_nothing_and_writes_no_event(flow: StateFlow, signals):
    for from_state, targets in flow.moves.items():
        for to in targets:
            obj = MAKERS[flow.model](from_state)
            moved_by_someone = next(s for s in flow.moves if s != from_state)
            flow.model.objects.filter(pk=obj.pk).update(**{flow.state_field: moved_by_someone})
            assert transition(obj, to, reason="too late") is False
            assert _state(obj) == moved_by_someone and _events(obj) == [] and signals == []


@pytest.mark.django_db
@pytest.mark.parametrize("flow", FLOWS.values(), ids=FLOW_IDS)
def test_a_transition_run_twice_changes_nothing_the_second_time(flow: StateFlow, signals):
    for from_state, targets in flow.moves.items():
        for to in targets:
            obj = MAKERS[flow.model](from_state)
            stale = flow.model.objects.get(pk=obj.pk)
            assert transition(obj, to, reason="once") is True
            assert transition(obj, to, reason="twice") is False  # the same caller again
            assert transition(stale, to, reason="twice") is False  # another caller that saw the old state
            assert _state(obj) == to and len(_events(obj)) == 1 and len(signals) == 1
            signals.clear()


@pytest.mark.django_db
@pytest.mark.parametrize("flow", FLOWS.values(), ids=FLOW_IDS)
def test_record_event_notes_a_fact_without_changing_the_state(flow: StateFlow, signals):
    state = next(iter(flow.moves))
    obj = MAKERS[flow.model](state)
    record_event(obj, "born", actor="tester", created=True)
    record_event(obj, "a fact")
    assert [(e.from_state, e.to_state, e.reason) for e in _events(obj)] == [("", state, "born"),
                                                                            (state, state, "a fact")]
    assert _state(obj) == state and signals == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_racing_transitions_on_postgres_exactly_one_wins():
    rental = _rental("pending")
    barrier = threading.Barrier(2)
    results: dict[str, bool] = {}

    def move(to: str) -> None:
        try:
            copy = Rental.objects.get(pk=rental.pk)  # each thread saw `pending`
            barrier.wait()
            results[to] = transition(copy, to, reason=f"race to {to}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=move, args=(to,)) for to in ("terminating", "failed")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results.values()) == [False, True]
    winner = next(to for to, won in results.items() if won)
    assert _state(rental) == winner
    assert [(e.from_state, e.to_state) for e in _events(rental)] == [("pending", winner)]


def test_no_code_writes_a_state_column_outside_the_transition_function():
    """`update(state=…)` or `obj.state = …` anywhere but `marketplace/states.py` would skip the flow and its event."""
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in [*root.glob("marketplace/**/*.py"), *root.glob("nim_launcher/**/*.py"), *root.glob("jobs/**/*.py"),
                 *root.glob("fleets/**/*.py"), *root.glob("pods/**/*.py")]:
        if path == root / "marketplace" / "states.py" or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            writes_update = (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                             and node.func.attr == "update" and any(k.arg in STATE_FIELDS for k in node.keywords))
            targets = [e for t in getattr(node, "targets", []) for e in (t.elts if isinstance(t, ast.Tuple) else [t])]
            writes_attr = any(isinstance(t, ast.Attribute) and t.attr in STATE_FIELDS
                              and not (isinstance(t.value, ast.Name) and t.value.id == "self") for t in targets)
            if writes_update or writes_attr:
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []
