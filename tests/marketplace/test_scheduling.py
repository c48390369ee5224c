"""The scheduling seam: work is enqueued by registered task name, and only once the transaction commits."""

import ast

import pytest
from django.db import transaction

from broker.celery import app as celery_app
from marketplace.scheduling import enqueue
from tests.test_architecture import modules

ran: list[tuple] = []


@celery_app.task(name="tests.scheduling.record")
def record_task(*args) -> None:
    ran.append(args)


def _constants(tree: ast.Module) -> dict[str, str]:
    return {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            for target in node.targets if isinstance(target, ast.Name)}


def _enqueued_names() -> dict[str, str]:
    """Every task name passed to `enqueue(...)` anywhere in the code → where; a name that cannot be read
    statically (not a literal nor a module constant) is reported as such, so none can escape the check."""
    trees = {name: ast.parse(path.read_text()) for name, path in modules().items()}
    constants = {name: _constants(tree) for name, tree in trees.items()}
    found = {}
    for name, tree in trees.items():
        imported = {alias.asname or alias.name: constants.get(node.module, {}).get(alias.name)
                    for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
        for call in ast.walk(tree):
            if not (isinstance(call, ast.Call) and getattr(call.func, "id", getattr(call.func, "attr", "")) == "enqueue"
                    and call.args):
                continue
            arg = call.args[0]
            if isinstance(arg, ast.Constant):
                value = arg.value
            elif isinstance(arg, ast.Name):
                value = constants[name].get(arg.id) or imported.get(arg.id)
            else:
                value = None
            if name == "marketplace.scheduling":
                continue  # the seam's own definition
            found[value or f"<unreadable at {name}:{call.lineno}>"] = f"{name}:{call.lineno}"
    return found


def test_every_enqueued_name_is_a_registered_task():
    names = _enqueued_names()
    assert {"marketplace.tasks.rentals.provision_rental_task", "nim_launcher.tasks.deployment_reconcile_task"} <= set(names)
    missing = {name: where for name, where in names.items() if name not in celery_app.tasks}
    assert not missing, missing


def test_every_beat_entry_is_a_registered_task():
    missing = [entry["task"] for entry in celery_app.conf.beat_schedule.values() if entry["task"] not in celery_app.tasks]
    assert not missing, missing


@pytest.fixture
def eager(monkeypatch):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    ran.clear()


def test_enqueue_waits_for_the_commit_then_runs_the_task(db, eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            enqueue("tests.scheduling.record", 7, "x")
            assert ran == []
    assert ran == [(7, "x")]


def test_enqueue_inside_a_rolled_back_transaction_sends_nothing(db, eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            enqueue("tests.scheduling.record", 1)
            raise RuntimeError("rolled back")
    assert ran == []


def test_an_unregistered_name_is_refused_when_sent(db, eager, django_capture_on_commit_callbacks):
    with pytest.raises(KeyError), django_capture_on_commit_callbacks(execute=True):
        enqueue("marketplace.tasks.no_such_task")
