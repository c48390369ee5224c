"""One reading of the node: NVML readings + new Xid events → state file → verdict → the report."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from . import AGENT_VERSION
from .activity import JupyterServer, read_activity
from .health import XID_LOOKBACK_S, HealthResult, evaluate, unavailable
from .kernel_log import KernelLogReader
from .nvml import NvmlSession
from .readings import GpuReading, XidEvent
from .state import AgentState, load_state, note_boot, note_slowdown, note_xids, prune, save_state

log = logging.getLogger(__name__)
REPORT_XID_EVENTS_MAX = 50


class Collector:
    def __init__(self, *, session: NvmlSession | None, unavailable_reason: str = "", state_path: Path,
                 kernel: KernelLogReader | None = None, boot_id: str = "", booted_at: float | None = None,
                 clock: Callable[[], float] = time.time, jupyter: JupyterServer | None = None):
        self.session, self.unavailable_reason = session, unavailable_reason
        self.state_path, self.kernel, self.clock = state_path, kernel, clock
        self.boot_id, self.booted_at = boot_id, booted_at
        self.jupyter = jupyter

    def collect(self, xid_events: Sequence[XidEvent] = ()) -> dict:
        """Take one reading and return the report the broker receives."""
        now = self.clock()
        state = load_state(self.state_path)
        note_boot(state, self.boot_id, self.booted_at if self.booted_at is not None else now)
        gpus: list[GpuReading] = []
        if self.session is None:
            result = unavailable(self.unavailable_reason)
        else:
            gpus = self.session.read_gpus()
            events = [_attach_gpu(e, gpus) for e in [*xid_events, *self._kernel_events(state)]]
            note_xids(state, events)
            note_slowdown(state, gpus, now)
            result = evaluate(gpus, state.history, state.slowdown, now)
        prune(state, now)
        self._save(state)
        return self._report(result, gpus, state, now)

    def _kernel_events(self, state: AgentState) -> list[XidEvent]:
        if self.kernel is None:
            return []
        after = state.kernel_cursor.get("ts") if state.kernel_cursor.get("boot_id") == self.boot_id else None
        events, newest = self.kernel.read(after)
        if newest is not None:
            state.kernel_cursor = {"boot_id": self.boot_id, "ts": newest}
        return events

    def _save(self, state: AgentState) -> None:
        try:
            save_state(self.state_path, state)
        except OSError as exc:
            log.warning("cannot write state file %s: %s", self.state_path, exc)

    def _report(self, result: HealthResult, gpus: list[GpuReading], state: AgentState, now: float) -> dict:
        recent = [e for e in state.history if e["kind"] == "xid" and now - e["at"] <= XID_LOOKBACK_S]
        return {
            **result.as_dict(),
            "gpus": [{**gpu.as_dict(), "health": result.gpu_states.get(gpu.index, "healthy")} for gpu in gpus],
            "xid_events": [_wire_event(e) for e in recent[-REPORT_XID_EVENTS_MAX:]],
            "reboots": state.reboots(),
            "activity": read_activity(gpus, self.jupyter),
            "driver_version": self.session.driver_version() if self.session else None,
            "kernel_log": self._kernel_log_status(),
            "hostname": socket.gethostname(),
            "agent_version": AGENT_VERSION,
            "reported_at": datetime.fromtimestamp(now, timezone.utc).isoformat(),
        }

    def _kernel_log_status(self) -> str:
        if self.kernel is None:
            return "disabled"
        if self.kernel.source_name:
            return self.kernel.source_name
        return f"unavailable: {self.kernel.unavailable_reason}" if self.kernel.unavailable_reason else "not read"


def _attach_gpu(event: XidEvent, gpus: Sequence[GpuReading]) -> XidEvent:
    """Kernel log lines name the GPU by PCI address; give them the GPU index too."""
    if event.gpu is not None or event.pci_bus_id is None:
        return event
    for gpu in gpus:
        if gpu.pci_bus_id == event.pci_bus_id:
            return replace(event, gpu=gpu.index)
    return event


def _wire_event(entry: dict) -> dict:
    wire = {key: value for key, value in entry.items() if key != "kind"}
    wire["at"] = datetime.fromtimestamp(entry["at"], timezone.utc).isoformat()
    return wire
