"""What the agent observes: one reading per GPU and Xid events, as plain JSON-ready dataclasses."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class GpuReading:
    """One GPU at one moment; every field NVML could not give (not supported, not present) is None."""

    index: int
    name: str | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    temperature_c: int | None = None
    memory_temperature_c: int | None = None
    temperature_slowdown_c: int | None = None
    temperature_shutdown_c: int | None = None
    memory_temperature_max_c: int | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    sm_clock_mhz: int | None = None
    memory_clock_mhz: int | None = None
    gpu_utilization_pct: int | None = None
    memory_utilization_pct: int | None = None
    memory_used_mib: int | None = None
    memory_total_mib: int | None = None
    ecc: dict | None = None
    retired_pages: dict | None = None
    remapped_rows: dict | None = None
    clock_events: dict | None = None
    nvlink: list | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class XidEvent:
    """One Xid error, from the NVML event set or from a kernel log line."""

    xid: int
    at: float
    source: str
    gpu: int | None = None
    pci_bus_id: str | None = None
    subcode: int | None = None
    log_severity: str | None = None
    message: str = field(default="", compare=False)

    def as_dict(self) -> dict:
        return asdict(self)

    def as_history(self) -> dict:
        return {"kind": "xid", **self.as_dict()}
