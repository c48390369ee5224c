"""Health checks: pure functions from readings, Xid history and slowdown samples to a verdict.

The rules follow gpud: the worst recent finding decides the state (fatal → unhealthy, critical →
degraded, warning/info → healthy with the action kept) and the node is as bad as its worst GPU.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .readings import GpuReading
from .xid import reboot_escalation_threshold, xid_rule

HEALTHY, DEGRADED, UNHEALTHY, UNKNOWN = "healthy", "degraded", "unhealthy", "unknown"
STATE_RANK = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}
REPAIR_RANK = {"none": 0, "check_app": 1, "reboot": 2, "hardware_inspection": 3}
SEVERITY_STATE = {"info": HEALTHY, "warning": HEALTHY, "critical": DEGRADED, "fatal": UNHEALTHY}
NO_NVML_REASON = "no NVIDIA GPU / NVML not available"
XID_LOOKBACK_S = 24 * 3600
SLOWDOWN_WINDOW_S = 600
SLOWDOWN_EVENTS_PER_MIN = 0.6


@dataclass(frozen=True)
class Finding:
    state: str
    actions: tuple[str, ...]
    reason: str
    gpu: int | None = None

    @property
    def rank(self) -> tuple[int, int]:
        return STATE_RANK[self.state], max((REPAIR_RANK[a] for a in self.actions), default=0)


@dataclass(frozen=True)
class HealthResult:
    state: str
    repair: str
    repair_actions: tuple[str, ...]
    reasons: tuple[str, ...]
    gpu_states: Mapping[int, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"state": self.state, "repair": self.repair, "repair_actions": list(self.repair_actions),
                "reasons": list(self.reasons)}


def unavailable(detail: str = "") -> HealthResult:
    """The verdict when NVML cannot be used on this machine."""
    reason = f"{NO_NVML_REASON} ({detail})" if detail else NO_NVML_REASON
    return HealthResult(UNKNOWN, "none", (), (reason,))


def xid_findings(history: Iterable[Mapping], now: float, lookback_s: float = XID_LOOKBACK_S) -> list[Finding]:
    """Active Xid findings, walking the history in time order.

    A reboot clears the rebooting Xids seen before it and counts towards their escalation: the
    same rebooting Xid seen again after `reboot_escalation_threshold` reboots asks for inspection.
    """
    reboots_after: dict[int, int] = defaultdict(int)
    awaiting_reboot: set[int] = set()
    active: list[tuple[Mapping, Finding]] = []
    for entry in sorted(history, key=lambda e: e["at"]):
        if entry["kind"] == "reboot":
            for xid in awaiting_reboot:
                reboots_after[xid] += 1
            awaiting_reboot.clear()
            active = [(e, f) for e, f in active if "reboot" not in f.actions]
        elif entry["kind"] == "xid":
            finding = _xid_finding(entry, reboots_after[entry["xid"]])
            if "reboot" in finding.actions:
                awaiting_reboot.add(entry["xid"])
            active.append((entry, finding))
    return [finding for entry, finding in active if entry["at"] >= now - lookback_s]


def _xid_finding(entry: Mapping, reboots_after: int) -> Finding:
    xid = entry["xid"]
    rule = xid_rule(xid, subcode=entry.get("subcode"), log_severity=entry.get("log_severity"))
    state, actions = SEVERITY_STATE[rule.severity], rule.actions
    where = f"GPU {entry['gpu']}" if entry.get("gpu") is not None else "a GPU"
    reason = f"Xid {xid} on {where}: {rule.description} ({rule.severity})"
    if entry.get("subcode") is not None:
        reason += f", subcode {entry['subcode']}"
    if "reboot" in actions and reboots_after >= reboot_escalation_threshold(xid):
        actions = ("hardware_inspection",)
        reason += f"; seen again after {reboots_after} reboots"
    return Finding(state, actions, reason, entry.get("gpu"))


def temperature_findings(gpu: GpuReading) -> list[Finding]:
    """GPU over its slowdown/shutdown threshold or HBM over its limit → degraded."""
    findings = []
    gpu_limit = _lowest(gpu.temperature_slowdown_c, gpu.temperature_shutdown_c)
    if gpu.temperature_c is not None and gpu_limit is not None and gpu.temperature_c > gpu_limit:
        findings.append(Finding(DEGRADED, (), f"GPU {gpu.index} at {gpu.temperature_c} C, over its {gpu_limit} C limit",
                                gpu.index))
    hbm, hbm_limit = gpu.memory_temperature_c, gpu.memory_temperature_max_c
    if hbm is not None and hbm_limit is not None and hbm > hbm_limit:
        findings.append(Finding(DEGRADED, (), f"GPU {gpu.index} memory at {hbm} C, over its {hbm_limit} C limit",
                                gpu.index))
    return findings


def _lowest(*values: int | None) -> int | None:
    present = [v for v in values if v]
    return min(present) if present else None


def memory_findings(gpu: GpuReading) -> list[Finding]:
    """Row remapping (Ampere+) and page retirement (older GPUs): pending → reboot, failed → inspection."""
    findings = []
    rows = gpu.remapped_rows or {}
    if rows.get("failure"):
        findings.append(Finding(UNHEALTHY, ("hardware_inspection",), f"GPU {gpu.index} row remapping failed", gpu.index))
    if rows.get("pending"):
        findings.append(Finding(UNHEALTHY, ("reboot",), f"GPU {gpu.index} row remapping pending", gpu.index))
    if (gpu.retired_pages or {}).get("pending"):
        findings.append(Finding(UNHEALTHY, ("reboot",), f"GPU {gpu.index} page retirement pending", gpu.index))
    return findings


def hardware_slowdown_active(gpu: GpuReading) -> bool:
    events = gpu.clock_events or {}
    return bool(events.get("hw_slowdown") or events.get("hw_thermal_slowdown") or events.get("hw_power_brake"))


def slowdown_findings(gpu: GpuReading, samples: Sequence[float], now: float) -> list[Finding]:
    """Hardware slowdown seen at 0.6 or more events per minute over the last 10 minutes → unhealthy."""
    recent = [t for t in samples if now - SLOWDOWN_WINDOW_S < t <= now]
    per_minute = len(recent) / (SLOWDOWN_WINDOW_S / 60)
    if per_minute < SLOWDOWN_EVENTS_PER_MIN:
        return []
    reason = f"GPU {gpu.index} hardware slowdown at {per_minute:.1f} events/min over 10 minutes"
    return [Finding(UNHEALTHY, ("hardware_inspection",), reason, gpu.index)]


def gpu_error_findings(gpu: GpuReading) -> list[Finding]:
    if gpu.error:
        return [Finding(UNHEALTHY, ("reboot",), f"GPU {gpu.index}: {gpu.error}", gpu.index)]
    return []


def evaluate(gpus: Sequence[GpuReading], history: Iterable[Mapping], slowdown: Mapping[str, Sequence[float]],
             now: float) -> HealthResult:
    """The node's verdict: the worst finding over all GPUs and the node-wide Xid history."""
    if not gpus:
        return unavailable("no GPU found")
    findings = xid_findings(history, now)
    for gpu in gpus:
        findings += temperature_findings(gpu) + memory_findings(gpu) + gpu_error_findings(gpu)
        findings += slowdown_findings(gpu, slowdown.get(gpu.uuid or str(gpu.index), ()), now)
    return combine(findings, [gpu.index for gpu in gpus])


def combine(findings: Sequence[Finding], gpu_indexes: Sequence[int] = ()) -> HealthResult:
    """Worst finding decides state and repair; reasons list every finding, worst first."""
    ordered = sorted(findings, key=lambda f: f.rank, reverse=True)
    gpu_states = {index: _worst_state(f for f in findings if f.gpu == index) for index in gpu_indexes}
    if not ordered:
        return HealthResult(HEALTHY, "none", (), (), gpu_states)
    worst = ordered[0]
    reasons = tuple(dict.fromkeys(f.reason for f in ordered))
    return HealthResult(worst.state, worst.actions[0] if worst.actions else "none", worst.actions, reasons, gpu_states)


def _worst_state(findings: Iterable[Finding]) -> str:
    return max((f.state for f in findings), key=STATE_RANK.__getitem__, default=HEALTHY)
