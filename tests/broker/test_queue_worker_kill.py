"""Real Celery workers on the SQLite queue: a SIGKILLed worker loses no task, and no task is applied twice.

Publishers in their own processes keep sending while the worker is killed; a second worker takes over.
Effects are counted in a SQLite file by an idempotent task (tests/broker/effects.py).
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
CONCURRENCY = 4
PUBLISH = """
import sys, time
import django
django.setup()
from tests.broker.effects import record_effect
prefix, count, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
for i in range(count):
    record_effect.delay(f"{prefix}-{i}", time.time(), 0.01)
    time.sleep(pause)
"""


@pytest.fixture
def stack_env(tmp_path) -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "DJANGO_SETTINGS_MODULE": "broker.settings",
            "VAR_DIR": str(tmp_path), "CELERY_BROKER_URL": f"sqlite:///{tmp_path / 'queue.sqlite3'}",
            "QUEUE_LEASE_S": "3", "QUEUE_TEST_EFFECTS": str(tmp_path / "effects.sqlite3"), "LOG_LEVEL": "WARNING"}


def _worker(env: dict, name: str, log_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "broker", "worker", "-I", "tests.broker.effects",
                             "--pool", "threads", "--concurrency", str(CONCURRENCY), "--hostname", f"{name}@%h",
                             "--loglevel", "WARNING"], cwd=REPO, env=env, start_new_session=True,
                            stdout=(log_dir / f"{name}.log").open("w"), stderr=subprocess.STDOUT)


def _publishers(env: dict, count: int, pause: float) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", PUBLISH, prefix, str(count), str(pause)], cwd=REPO, env=env)
            for prefix in ("web", "beat")]


def _effects(env: dict, sql: str) -> list[tuple]:
    path = env["QUEUE_TEST_EFFECTS"]
    if not Path(path).exists():
        return []
    with sqlite3.connect(path, timeout=30) as conn:
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:  # the first task has not created the tables yet
            return []


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _applied(env: dict) -> int:
    return (_effects(env, "SELECT COUNT(*) FROM effects") or [(0,)])[0][0]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def test_sigkilled_worker_loses_no_task_and_applies_none_twice(stack_env, tmp_path):
    count = 150  # per publisher, about 5 s of publishing each
    first = _worker(stack_env, "first", tmp_path)
    publishers, second = [], None
    try:
        publishers = _publishers(stack_env, count, 0.03)
        assert _wait(lambda: _applied(stack_env) >= 40, 60), (tmp_path / "first.log").read_text()
        os.killpg(first.pid, signal.SIGKILL)  # mid-stream: tasks held, half-run and still being published
        first.wait(10)
        second = _worker(stack_env, "second", tmp_path)
        for publisher in publishers:
            assert publisher.wait(60) == 0
        assert _wait(lambda: _applied(stack_env) == 2 * count, 60), _applied(stack_env)
    finally:
        for process in (first, second, *publishers):
            if process is not None:
                _stop(process)
    keys = {f"{p}-{i}" for p in ("web", "beat") for i in range(count)}
    assert {key for (key,) in _effects(stack_env, "SELECT key FROM effects")} == keys  # none lost
    runs = _effects(stack_env, "SELECT key, COUNT(*), COUNT(DISTINCT pid) FROM runs GROUP BY key")
    assert {key for key, _, _ in runs} == keys
    repeated = [(key, n, pids) for key, n, pids in runs if n > 1]
    # only messages the killed worker held can come twice, each once more, from the second worker
    assert len(repeated) <= CONCURRENCY and all(n == 2 and pids == 2 for _, n, pids in repeated), repeated
    pids = {pid for (pid,) in _effects(stack_env, "SELECT DISTINCT pid FROM runs")}
    assert first.pid in pids and second.pid in pids
    with sqlite3.connect(tmp_path / "queue.sqlite3") as queue:
        assert queue.execute("SELECT COUNT(*) FROM kombu_messages").fetchone() == (0,)  # every message acked


def test_competing_workers_run_each_task_exactly_once(stack_env, tmp_path):
    workers = [_worker(stack_env, f"w{i}", tmp_path) for i in range(2)]
    publishers = []
    try:
        publishers = _publishers(stack_env, 100, 0.0)
        for publisher in publishers:
            assert publisher.wait(60) == 0
        assert _wait(lambda: _applied(stack_env) == 200, 60), _applied(stack_env)
    finally:
        for process in (*workers, *publishers):
            _stop(process)
    assert _effects(stack_env, "SELECT COUNT(*), COUNT(DISTINCT key) FROM runs") == [(200, 200)]
