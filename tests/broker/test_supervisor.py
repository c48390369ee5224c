"""The supervisor: Procfile parsing, backoff, and with real processes: restart on crash, clean stop, clean restart."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from broker.supervisor import backoff_s, describe_exit, parse_procfile

REPO = Path(__file__).resolve().parents[2]


def test_procfile_lines_become_named_commands():
    text = "web: uvicorn app --port $PORT\n\n# a comment\nworker: celery -A broker worker\n"
    assert parse_procfile(text) == {"web": "uvicorn app --port $PORT", "worker": "celery -A broker worker"}


@pytest.mark.parametrize("line", ["no colon here", ": nameless", "empty:", "two words: cmd"])
def test_malformed_procfile_line_is_named(line):
    with pytest.raises(ValueError, match="Procfile line 1"):
        parse_procfile(line)


def test_backoff_doubles_up_to_its_cap():
    assert [backoff_s(n, 1.0, 30.0) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_exit_is_described_by_code_or_signal():
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(137) == "killed by SIGKILL"  # the shell's 128 + N


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait(predicate, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _supervise(tmp_path: Path, procfile: str) -> subprocess.Popen:
    (tmp_path / "Procfile").write_text(procfile)
    return subprocess.Popen([sys.executable, "-m", "broker.supervisor", "--procfile", str(tmp_path / "Procfile"),
                             "--state", str(tmp_path / "run" / "supervisor.json"), "--backoff", "0.1",
                             "--grace", "3"], cwd=tmp_path, stdout=(tmp_path / "out.log").open("w"),
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(REPO)})


def _state(tmp_path: Path) -> dict:
    try:
        return json.loads((tmp_path / "run" / "supervisor.json").read_text())
    except (OSError, ValueError):
        return {}


def _pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


@pytest.mark.slow
def test_crashed_process_is_restarted_with_backoff_and_the_others_stay_up(tmp_path):
    supervisor = _supervise(tmp_path, "steady: exec sleep 600\ncrasher: echo $$ >> crasher.pids; exit 3\n")
    try:
        assert _wait(lambda: len(_pids(tmp_path / "crasher.pids")) >= 3)
        steady = _state(tmp_path)["processes"]["steady"]
        assert steady["restarts"] == 0 and _alive(steady["pid"])
        assert _wait(lambda: _state(tmp_path)["processes"]["crasher"]["restarts"] >= 3)
        exits = _state(tmp_path)["processes"]["crasher"]["exits"]
        assert {e["exit"] for e in exits} == {"exited with code 3"}
    finally:
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(20) == 0
    out = (tmp_path / "out.log").read_text()
    assert "crasher (pid" in out and "exited with code 3" in out
    assert "restart #1 in 0.1 s" in out and "restart #2 in 0.2 s" in out and "restart #3 in 0.4 s" in out


@pytest.mark.slow
def test_sigterm_stops_every_process_and_what_they_detached(tmp_path):
    # `detacher` starts a process in its own session and exits, as the simulator's node runtimes do
    procfile = ("web: exec sleep 600\n"
                "stubborn: trap '' TERM; echo $$ > stubborn.pid; while true; do sleep 0.1; done\n"
                "detacher: setsid sleep 600 & echo $! > detached.pid; exec sleep 600\n")
    supervisor = _supervise(tmp_path, procfile)
    assert _wait(lambda: _pids(tmp_path / "detached.pid") and _pids(tmp_path / "stubborn.pid"))
    assert _wait(lambda: all(p["pid"] for p in _state(tmp_path).get("processes", {}).values()))
    children = [p["pid"] for p in _state(tmp_path)["processes"].values()]
    watched = children + _pids(tmp_path / "detached.pid") + _pids(tmp_path / "stubborn.pid")
    assert all(_alive(pid) for pid in watched)
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(20) == 0
    assert not [pid for pid in watched if _alive(pid)]  # no orphans, the one ignoring SIGTERM included
    assert not (tmp_path / "run" / "supervisor.json").exists()  # no stale state file


@pytest.mark.slow
def test_second_start_refuses_a_live_supervisor_and_cleans_up_after_a_killed_one(tmp_path):
    first = _supervise(tmp_path, "web: exec sleep 600\n")
    assert _wait(lambda: _state(tmp_path).get("processes", {}).get("web", {}).get("pid"))
    web = _state(tmp_path)["processes"]["web"]["pid"]
    second = subprocess.run([sys.executable, "-m", "broker.supervisor", "--procfile", str(tmp_path / "Procfile"),
                             "--state", str(tmp_path / "run" / "supervisor.json")], capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=30)
    assert second.returncode == 1 and "already running" in second.stderr
    first.kill()  # SIGKILL: no chance to stop its children
    first.wait(10)
    assert _alive(web)
    third = _supervise(tmp_path, "web: exec sleep 600\n")
    try:
        assert _wait(lambda: not _alive(web))  # the killed supervisor's leftover is gone
        assert _wait(lambda: _state(tmp_path).get("pid") == third.pid)
    finally:
        third.send_signal(signal.SIGTERM)
        assert third.wait(20) == 0
