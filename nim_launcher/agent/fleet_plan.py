"""Running a launch plan on a fleet machine, as cloud-init would on a partner's VM: `write_files` (modes kept),
then `runcmd` in order; a `#!` script runs as is. The broker sends the plan as JSON (the agent has no YAML).

Under `--sandbox ROOT` (demos and tests on a machine that is not the fleet's) every absolute path below /etc,
/opt, /var, /root and /srv moves under the work's own folder, and `--sandbox-bin DIR` goes first on PATH so
`systemctl`/`docker` can be mapped to local processes, as the partner simulator's VM does.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import threading
from collections import deque
from pathlib import Path
from typing import Any

REROOTED = re.compile(r"(?<![\w.~/-])/(?=(?:etc|opt|var|root|srv)(?:/|\b))")
UNIT_DIR = "etc/systemd/system"
SANDBOX_DIRS = ("etc", "opt", "var/lib", "var/log", "root", "srv")  # what a fresh VM already has
LOG_LINES = 200


def reroot(value: Any, root: Path) -> Any:
    """Every absolute path under /etc, /opt, /var, /root, /srv in strings (recursively) moved below `root`."""
    if isinstance(value, str):
        return REROOTED.sub(f"{root.as_posix()}/", value)
    if isinstance(value, list):
        return [reroot(item, root) for item in value]
    if isinstance(value, dict):
        return {key: reroot(item, root) for key, item in value.items()}
    return value


class PlanRun:
    """One work's plan, run in a thread: `state` is running (plan done), failed (with its exit status) or stopped."""

    def __init__(self, work_id: int, plan: dict, *, sandbox: Path | None = None, sandbox_bin: Path | None = None):
        self.work_id, self.plan = work_id, plan
        self.root = (sandbox / f"work-{work_id}") if sandbox else None
        self.env = dict(os.environ)
        if sandbox_bin is not None:
            self.env["PATH"] = f"{sandbox_bin}{os.pathsep}{self.env.get('PATH', '')}"
        self.state, self.exit_code = "starting", None
        self.lines: deque[str] = deque(maxlen=LOG_LINES)
        self.units: list[str] = []
        self.groups: list[int] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"work-{work_id}", daemon=True)

    def start(self) -> PlanRun:
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def report(self) -> dict | None:
        """What the broker is told (None while the plan is still starting)."""
        if self.state == "starting":
            return None
        return {"id": self.work_id, "state": self.state, "exit_code": self.exit_code, "log": "\n".join(self.lines)}

    def _run(self) -> None:
        try:
            status = self._execute()
        except (OSError, ValueError, KeyError) as exc:
            self.lines.append(f"plan error: {exc}")
            status = 1
        with self._lock:
            if self.state == "starting":
                self.state, self.exit_code = ("running", 0) if status == 0 else ("failed", status)

    def _execute(self) -> int:
        kind = self.plan.get("format", "none")
        cwd = self.root or Path.cwd()
        for folder in SANDBOX_DIRS if self.root else ():
            (cwd / folder).mkdir(parents=True, exist_ok=True)
        if kind == "none":
            self.lines.append("no launch plan: the machine runs as it is")
            return 0
        if kind == "script":
            script = cwd / "var/lib/cloud/instance/scripts/part-001"
            script.parent.mkdir(parents=True, exist_ok=True)
            script.write_text(self.plan["script"], encoding="utf-8")
            script.chmod(0o700)
            return self._command([str(script)], cwd)
        plan = reroot(self.plan, self.root) if self.root else self.plan
        self._write_files(plan.get("write_files") or [])
        status = 0
        for command in plan.get("runcmd") or []:
            argv = [str(a) for a in command] if isinstance(command, list) else ["sh", "-c", str(command)]
            rc = self._command(argv, cwd)
            status = status or rc  # cloud-init goes on with the next command too
        return status

    def _write_files(self, entries: list[dict]) -> None:
        for entry in entries:
            path = Path(entry["path"])
            if self.root is not None and not path.is_relative_to(self.root):
                raise ValueError(f"write_files path {entry['path']!r} is outside the sandbox")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(entry.get("content", ""), encoding="utf-8")
            path.chmod(int(str(entry.get("permissions", "0644")), 8))
            if path.parent.as_posix().endswith(UNIT_DIR) and path.suffix == ".service":
                self.units.append(path.name)

    def _command(self, argv: list[str], cwd: Path) -> int:
        self.lines.append(f"$ {shlex.join(argv)}")
        proc = subprocess.Popen(argv, cwd=cwd, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
        self.groups.append(proc.pid)
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))
        rc = proc.wait()
        if rc:
            self.lines.append(f"exit status {rc}")
        return rc

    def stop(self) -> None:
        """Stop what the plan started (its units, then every process group it made); the work is stopped."""
        for unit in self.units:
            subprocess.run(["systemctl", "stop", unit], env=self.env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        for group in self.groups:
            try:
                os.killpg(group, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        with self._lock:
            self.state = "stopped"
