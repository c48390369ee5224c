"""Run a node's launch command as a detached local process group that survives broker restarts.

State lives in files (`<dir>/<name>.pid`, `<name>.log`) so any later process can find, check and
kill the group. A pid file also records the process start time, so a recycled pid is not mistaken
for the node's process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name: [0] is the state, [19] the start time."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _start_time(pid: int) -> str | None:
    fields = _stat(pid)
    return fields[19] if fields else None


def start_process(command: str, *, state_dir: Path, name: str, env: dict[str, str] | None = None) -> int:
    """Start `bash -c command` in its own session/process group; return its pid (= group id)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    log = open(state_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(
            ["bash", "-c", command], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, **(env or {})}, cwd=state_dir,
        )
    finally:
        log.close()
    record_process(state_dir, name, proc.pid)
    return proc.pid


def record_process(state_dir: Path, name: str, pid: int) -> None:
    """Write the pid file of a process group leader started elsewhere, so `is_running` and `kill_group` find it."""
    (state_dir / f"{name}.pid").write_text(f"{pid} {_start_time(pid) or ''}\n")


def _read_pid(state_dir: Path, name: str) -> tuple[int, str] | None:
    try:
        pid, _, started = (state_dir / f"{name}.pid").read_text().strip().partition(" ")
        return int(pid), started
    except (OSError, ValueError):
        return None


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: whoever started it reaps it


def is_running(state_dir: Path, name: str) -> bool:
    """True while the recorded process (not a later process that reused its pid) is alive."""
    record = _read_pid(state_dir, name)
    if record is None:
        return False
    pid, started = record
    _reap(pid)
    fields = _stat(pid)
    if fields is None or (started and fields[19] != started):
        return False
    return fields[0] != "Z"


def kill_group(state_dir: Path, name: str) -> None:
    """SIGTERM the node's whole process group, then SIGKILL whatever is left; no-op if it is gone."""
    record = _read_pid(state_dir, name)
    if record is None:
        return
    pid = record[0]
    # Signal the group even when the leader has exited: its children (same group) may live on.
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    _wait_gone(state_dir, name)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_gone(state_dir: Path, name: str, attempts: int = 40) -> bool:
    for _ in range(attempts):
        if not is_running(state_dir, name):
            return True
        time.sleep(0.05)
    return False
