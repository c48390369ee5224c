"""Run the Procfile's processes and keep them up: `python -m broker.supervisor [--procfile Procfile]`.

Unlike honcho (one process dies, all stop), a process that exits is logged (which one, exit code or signal)
and restarted with exponential backoff; a process that stayed up `STABLE_S` starts its backoff afresh.
SIGINT/SIGTERM stop every process group (SIGTERM, then SIGKILL after the grace period). The supervisor is a
Linux child subreaper, so processes its children detach (the simulator's node runtimes) are adopted and
stopped too. A state file records every process group; the next start refuses to run beside a live
supervisor and stops what a killed one left behind, so a second `make run` starts clean.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

STABLE_S = 30.0
PR_SET_CHILD_SUBREAPER = 36
_print_lock = threading.Lock()


def parse_procfile(text: str) -> dict[str, str]:
    """`name: command` lines, in order; blank lines and `#` comments skipped."""
    processes = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, command = line.partition(":")
        if not sep or not name.strip() or not command.strip() or " " in name.strip():
            raise ValueError(f"Procfile line {number}: expected 'name: command', got {line!r}")
        processes[name.strip()] = command.strip()
    return processes


def backoff_s(restarts: int, base: float, cap: float) -> float:
    """Delay before restart number `restarts` (1, 2, …): base, 2·base, 4·base … up to cap."""
    return min(cap, base * 2 ** max(0, restarts - 1))


def describe_exit(code: int) -> str:
    """Popen's return code in words: a negative code, or a shell's 128+N, is signal N."""
    number = -code if code < 0 else code - 128 if 128 < code <= 128 + 64 else 0
    if number:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(number).name}"
        return f"killed by signal {number}"
    return f"exited with code {code}"


def log(name: str, message: str) -> None:
    with _print_lock:
        sys.stdout.write(f"{time.strftime('%H:%M:%S')} {name:<10} | {message}\n")
        sys.stdout.flush()


def _pump(name: str, stream) -> None:
    for raw in iter(stream.readline, b""):
        log(name, raw.decode(errors="replace").rstrip("\n"))
    stream.close()


def _start_ticks(pid: int) -> str | None:
    """The kernel's start time of `pid` (field 22 of /proc/pid/stat), so a recycled pid is not mistaken."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass
class Supervised:
    name: str
    command: str
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    crashes: int = 0  # in a row, each within STABLE_S of its start: sets the backoff
    restart_at: float | None = None
    history: list[dict] = field(default_factory=list)


class Supervisor:
    def __init__(self, processes: dict[str, str], *, state_path: Path, backoff: float = 1.0,
                 backoff_cap: float = 30.0, grace_s: float = 10.0) -> None:
        self.procs = [Supervised(name, command) for name, command in processes.items()]
        self.state_path, self.backoff, self.backoff_cap, self.grace_s = state_path, backoff, backoff_cap, grace_s
        self.stopping = False

    def run(self) -> int:
        """Start everything, keep it up until SIGINT/SIGTERM, stop everything; 0 on a clean stop."""
        self._claim_state()
        _become_subreaper()
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            for proc in self.procs:
                self._start(proc)
            ticks = 0
            while not self.stopping:
                self._tick(reap=ticks % 10 == 0)
                ticks += 1
                time.sleep(0.2)
        finally:
            self._stop_all()
            self.state_path.unlink(missing_ok=True)
        return 0

    def _on_signal(self, signum: int, _frame) -> None:
        if self.stopping:  # a second Ctrl-C: no more grace
            self.grace_s = 0
        self.stopping = True
        log("supervisor", f"{signal.Signals(signum).name}: stopping every process")

    def _start(self, proc: Supervised) -> None:
        proc.process = subprocess.Popen(["/bin/sh", "-c", proc.command], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        proc.started_at, proc.restart_at = time.monotonic(), None
        threading.Thread(target=_pump, args=(proc.name, proc.process.stdout), daemon=True).start()
        log("supervisor", f"{proc.name} started (pid {proc.process.pid})")
        self._write_state()

    def _tick(self, *, reap: bool) -> None:
        now = time.monotonic()
        for proc in self.procs:
            if proc.restart_at is not None:
                if now >= proc.restart_at:
                    self._start(proc)
            elif proc.process is not None and (code := proc.process.poll()) is not None:
                self._on_exit(proc, code, now)
        if reap:
            self._reap_adopted()

    def _on_exit(self, proc: Supervised, code: int, now: float) -> None:
        _kill_group(proc.process.pid, signal.SIGKILL)  # what it left in its group goes with it
        uptime = now - proc.started_at
        proc.crashes = 1 if uptime >= STABLE_S else proc.crashes + 1
        delay = backoff_s(proc.crashes, self.backoff, self.backoff_cap)
        proc.restart_at = now + delay
        proc.history.append({"pid": proc.process.pid, "exit": describe_exit(code), "uptime_s": round(uptime, 1)})
        log("supervisor", f"{proc.name} (pid {proc.process.pid}) {describe_exit(code)} after {uptime:.1f} s; "
                          f"restart #{len(proc.history)} in {delay:.1f} s")
        self._write_state()

    def _reap_adopted(self) -> None:
        """Collect exited orphans the kernel handed us; our own children are left to their Popen."""
        ours = {proc.process.pid for proc in self.procs if proc.process is not None}
        for pid in _children_of(os.getpid()):
            if pid not in ours:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)

    def _stop_all(self) -> None:
        running = [proc.process for proc in self.procs if proc.process is not None and proc.process.poll() is None]
        for process in running:
            _kill_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        while time.monotonic() < deadline and any(process.poll() is None for process in running):
            time.sleep(0.05)
        for proc in self.procs:
            if proc.process is not None:
                _kill_group(proc.process.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.process.wait(5)
        self._stop_adopted()
        log("supervisor", "stopped")

    def _stop_adopted(self) -> None:
        """Orphans re-parented to us (their own sessions): SIGTERM their groups, then SIGKILL, then reap."""
        ours = {proc.process.pid for proc in self.procs if proc.process is not None}
        orphans = [pid for pid in _children_of(os.getpid()) if pid not in ours]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in orphans:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    _kill_group(os.getpgid(pid), sig)
            deadline = time.monotonic() + (min(self.grace_s, 5) if sig == signal.SIGTERM else 5)
            while orphans and time.monotonic() < deadline:
                for pid in list(orphans):
                    with contextlib.suppress(ChildProcessError):
                        if os.waitpid(pid, os.WNOHANG)[0] == pid:
                            orphans.remove(pid)
                time.sleep(0.05)

    def _claim_state(self) -> None:
        """Refuse to run beside a live supervisor; stop the process groups a killed one left behind."""
        previous = _read_state(self.state_path)
        if previous and _start_ticks(previous["pid"]) == previous["start_ticks"]:
            raise SystemExit(f"already running (supervisor pid {previous['pid']}, state {self.state_path})")
        for entry in (previous or {}).get("processes", {}).values():
            if entry.get("pid") and _start_ticks(entry["pid"]) == entry.get("start_ticks"):
                log("supervisor", f"stopping pid {entry['pid']} left by a supervisor that was killed")
                _kill_group(entry["pid"], signal.SIGKILL)
        self.state_path.parent.mkdir(parents=True, exist_ok=True)

    def _write_state(self) -> None:
        processes = {proc.name: {"pid": proc.process.pid if proc.process else None,
                                 "start_ticks": _start_ticks(proc.process.pid) if proc.process else None,
                                 "restarts": len(proc.history), "exits": proc.history[-20:]}
                     for proc in self.procs}
        state = {"pid": os.getpid(), "start_ticks": _start_ticks(os.getpid()), "processes": processes}
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.state_path)


def _read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _become_subreaper() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procfile", type=Path, default=Path("Procfile"))
    parser.add_argument("--state", type=Path, default=Path("var/supervisor.json"),
                        help="pid/restart state file (also the single-instance lock)")
    parser.add_argument("--backoff", type=float, default=1.0, help="first restart delay, doubled each crash")
    parser.add_argument("--backoff-cap", type=float, default=30.0)
    parser.add_argument("--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL at stop")
    args = parser.parse_args(argv)
    processes = parse_procfile(args.procfile.read_text())
    return Supervisor(processes, state_path=args.state, backoff=args.backoff, backoff_cap=args.backoff_cap,
                      grace_s=args.grace).run()


if __name__ == "__main__":
    sys.exit(main())
