"""Whether someone uses this node: SSH sessions, busy Jupyter kernels, GPU utilisation (for idle stop).

SSH sessions are the session processes sshd names `sshd: USER@pts/N` (or `sshd-session: …` from OpenSSH 9.8),
read from /proc; Jupyter's kernels come from its own REST API with the token it was started with. The broker
decides what counts as idle; the report says what the node sees.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from .options import JUPYTER_TOKEN_ENV, JUPYTER_URL_ENV
from .readings import GpuReading

SSH_SESSION = re.compile(r"^sshd(?:-session)?: [^\s@]+@(?:pts/\d+|notty)")
JUPYTER_TIMEOUT_S = 3


def ssh_sessions(proc: Path = Path("/proc")) -> int:
    """The number of live SSH login sessions (one unprivileged sshd process each)."""
    count = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace")
        except OSError:
            continue  # the process ended meanwhile, or is not ours to read
        count += bool(SSH_SESSION.match(title))
    return count


def kernel_summary(kernels: Sequence[Mapping]) -> dict:
    """What Jupyter's `GET /api/kernels` says: how many kernels, how many busy, their latest activity."""
    stamps = [str(k["last_activity"]) for k in kernels if k.get("last_activity")]
    return {"jupyter_kernels": len(kernels),
            "jupyter_busy_kernels": sum(1 for k in kernels if k.get("execution_state") == "busy"),
            "jupyter_last_activity": max(stamps) if stamps else None}


@dataclass(frozen=True)
class JupyterServer:
    url: str
    token: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> JupyterServer | None:
        url, token = environ.get(JUPYTER_URL_ENV, ""), environ.get(JUPYTER_TOKEN_ENV, "")
        return cls(url.rstrip("/"), token) if url and token else None

    def kernels(self, http: requests.Session | None = None) -> list[dict]:
        response = (http or requests).get(f"{self.url}/api/kernels", timeout=JUPYTER_TIMEOUT_S,
                                          headers={"Authorization": f"token {self.token}"})
        response.raise_for_status()
        return response.json()


def read_activity(gpus: Sequence[GpuReading], jupyter: JupyterServer | None = None,
                  proc: Path = Path("/proc")) -> dict:
    """The heartbeat's `activity` object; a source that cannot be read is null with its reason in `errors`."""
    errors: list[str] = []
    try:
        sessions: int | None = ssh_sessions(proc)
    except OSError as exc:
        sessions = None
        errors.append(f"ssh sessions: {exc}")
    utilisation = [g.gpu_utilization_pct for g in gpus if g.gpu_utilization_pct is not None]
    activity = {"ssh_sessions": sessions, "jupyter_kernels": None, "jupyter_busy_kernels": None,
                "jupyter_last_activity": None, "gpu_utilization_pct": max(utilisation) if utilisation else None}
    if jupyter is not None:
        try:
            activity.update(kernel_summary(jupyter.kernels()))
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            errors.append(f"jupyter: {type(exc).__name__}")
    return {**activity, "errors": errors}
