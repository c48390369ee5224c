"""The agent's small state file: Xid and reboot history, hardware-slowdown samples, kernel log cursor.

It survives reboots, which is the point: the same rebooting Xid seen again after two reboots is
escalated to hardware inspection. Writes are atomic (temp file + rename); a corrupt file starts over.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .health import SLOWDOWN_WINDOW_S, hardware_slowdown_active
from .readings import GpuReading, XidEvent

log = logging.getLogger(__name__)
HISTORY_KEEP_S = 30 * 24 * 3600
HISTORY_MAX = 1000
DUPLICATE_WINDOW_S = 10.0
DEFAULT_PATHS = ("/var/lib/gpu-broker-agent/state.json", "~/.cache/gpu-broker-agent/state.json")


@dataclass
class AgentState:
    boot_id: str = ""
    history: list[dict] = field(default_factory=list)
    slowdown: dict[str, list[float]] = field(default_factory=dict)
    kernel_cursor: dict = field(default_factory=dict)

    def reboots(self) -> int:
        return sum(1 for entry in self.history if entry["kind"] == "reboot")


def default_state_path() -> Path:
    """The first default location whose folder exists or can be made and is writable."""
    for candidate in DEFAULT_PATHS:
        path = Path(candidate).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(path.parent, os.W_OK):
            return path
    return Path(tempfile.gettempdir()) / "gpu-broker-agent-state.json"


def load_state(path: Path) -> AgentState:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return AgentState(boot_id=str(raw.get("boot_id", "")), history=list(raw.get("history", [])),
                          slowdown=dict(raw.get("slowdown", {})), kernel_cursor=dict(raw.get("kernel_cursor", {})))
    except FileNotFoundError:
        return AgentState()
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        log.warning("state file %s unreadable (%s); starting a new one", path, exc)
        return AgentState()


def save_state(path: Path, state: AgentState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(asdict(state), handle)
    os.replace(tmp, path)


def note_boot(state: AgentState, boot_id: str, booted_at: float) -> bool:
    """Record a reboot, dated when this boot began, if the kernel's boot id changed since the last run.

    The first run records none: there is no earlier boot to compare with.
    """
    rebooted = bool(state.boot_id) and bool(boot_id) and boot_id != state.boot_id
    if rebooted:
        state.history.append({"kind": "reboot", "at": booted_at, "boot_id": boot_id})
        state.kernel_cursor = {}
    state.boot_id = boot_id or state.boot_id
    return rebooted


def note_xids(state: AgentState, events: Iterable[XidEvent]) -> list[XidEvent]:
    """Add new events; one Xid reported by both NVML and the kernel log within seconds is kept once."""
    added = []
    for event in events:
        if any(_same_event(entry, event) for entry in state.history):
            continue
        state.history.append(event.as_history())
        added.append(event)
    return added


def _same_event(entry: dict, event: XidEvent) -> bool:
    if entry["kind"] != "xid" or entry["xid"] != event.xid:
        return False
    same_gpu = entry.get("gpu") == event.gpu or entry.get("pci_bus_id") == event.pci_bus_id
    if entry.get("source") == event.source:
        return same_gpu and entry["at"] == event.at
    return same_gpu and abs(entry["at"] - event.at) <= DUPLICATE_WINDOW_S


def note_slowdown(state: AgentState, gpus: Iterable[GpuReading], now: float) -> None:
    """One sample per GPU per minute while hardware slowdown is active, so the rate does not depend on the interval."""
    minute = now - now % 60
    for gpu in gpus:
        key = gpu.uuid or str(gpu.index)
        samples = [t for t in state.slowdown.get(key, []) if now - t < SLOWDOWN_WINDOW_S * 2]
        if hardware_slowdown_active(gpu) and minute not in samples:
            samples.append(minute)
        state.slowdown[key] = samples


def prune(state: AgentState, now: float) -> None:
    state.history = [e for e in state.history if now - e["at"] <= HISTORY_KEEP_S][-HISTORY_MAX:]
    state.slowdown = {key: samples for key, samples in state.slowdown.items() if samples}


def read_boot_id(path: str = "/proc/sys/kernel/random/boot_id") -> str:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return ""
