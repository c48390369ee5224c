"""The one seam to NVML: everything the agent asks of `pynvml` goes through `NvmlSession`.

The session takes the module object, so tests pass a double with the same functions, constants
and error classes. Any NVML error on one call (not supported, no permission, ...) yields None for
that field; a lost GPU is recorded on its reading.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .readings import GpuReading, XidEvent

log = logging.getLogger(__name__)
MIB = 1024 * 1024
MAX_EVENTS_PER_WAIT = 256
_MISSING = object()


def open_nvml(module: Any = None) -> tuple[NvmlSession | None, str]:
    """Initialise NVML; return the session, or None and why NVML is unavailable."""
    if module is None:
        try:
            import pynvml as module
        except ImportError:
            return None, "the nvidia-ml-py package is not installed"
    try:
        return NvmlSession(module), ""
    except module.NVMLError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"NVML cannot be loaded: {exc}"


class NvmlSession:
    def __init__(self, nvml: ModuleType | Any):
        self.nv = nvml
        nvml.nvmlInit()
        self.handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        self.uuids = [_text(self._call(nvml.nvmlDeviceGetUUID, h)) for h in self.handles]
        self.pci_ids = [self._pci_bus_id(h) for h in self.handles]
        self._event_set = None

    def close(self) -> None:
        if self._event_set is not None:
            self._call(self.nv.nvmlEventSetFree, self._event_set)
            self._event_set = None
        self._call(self.nv.nvmlShutdown)

    def driver_version(self) -> str | None:
        return _text(self._call(self.nv.nvmlSystemGetDriverVersion))

    # --- calls -------------------------------------------------------------------------------

    def _call(self, fn: Callable, *args: Any, reading: GpuReading | None = None) -> Any:
        try:
            return fn(*args)
        except self.nv.NVMLError as exc:
            if reading is not None and getattr(exc, "value", None) == self.nv.NVML_ERROR_GPU_IS_LOST:
                reading.error = "GPU is lost"
            return None

    def _fn(self, *names: str) -> Callable | None:
        """The first of these functions the installed pynvml has (older releases lack newer names)."""
        for name in names:
            fn = getattr(self.nv, name, _MISSING)
            if fn is not _MISSING:
                return fn
        return None

    def _const(self, *names: str) -> Any:
        for name in names:
            value = getattr(self.nv, name, _MISSING)
            if value is not _MISSING:
                return value
        return None

    def _pci_bus_id(self, handle: Any) -> str | None:
        info = self._call(self.nv.nvmlDeviceGetPciInfo, handle)
        return normalize_pci(_text(getattr(info, "busId", None))) if info is not None else None

    # --- readings ----------------------------------------------------------------------------

    def read_gpus(self) -> list[GpuReading]:
        return [self.read_gpu(index) for index in range(len(self.handles))]

    def read_gpu(self, index: int) -> GpuReading:
        nv, h = self.nv, self.handles[index]
        r = GpuReading(index=index, uuid=self.uuids[index], pci_bus_id=self.pci_ids[index])
        r.name = _text(self._call(nv.nvmlDeviceGetName, h, reading=r))
        self._read_thermal(h, r)
        self._read_power_and_clocks(h, r)
        r.ecc = self._read_ecc(h, r)
        r.retired_pages = self._read_retired_pages(h, r)
        r.remapped_rows = self._read_remapped_rows(h, r)
        r.clock_events = self._read_clock_events(h, r)
        r.nvlink = self._read_nvlink(h, r)
        return r

    def _read_thermal(self, h: Any, r: GpuReading) -> None:
        nv = self.nv
        r.temperature_c = self._call(nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU, reading=r)
        threshold = nv.nvmlDeviceGetTemperatureThreshold
        r.temperature_slowdown_c = self._call(threshold, h, nv.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN, reading=r)
        r.temperature_shutdown_c = self._call(threshold, h, nv.NVML_TEMPERATURE_THRESHOLD_SHUTDOWN, reading=r)
        r.memory_temperature_max_c = self._call(threshold, h, nv.NVML_TEMPERATURE_THRESHOLD_MEM_MAX, reading=r)
        values = self._call(nv.nvmlDeviceGetFieldValues, h, [nv.NVML_FI_DEV_MEMORY_TEMP], reading=r)
        r.memory_temperature_c = field_value(nv, values[0]) if values else None
        # Some drivers report 0 for a memory sensor they do not have.
        if r.memory_temperature_c == 0:
            r.memory_temperature_c = None

    def _read_power_and_clocks(self, h: Any, r: GpuReading) -> None:
        nv = self.nv
        r.power_w = _scaled(self._call(nv.nvmlDeviceGetPowerUsage, h, reading=r), 1000)
        r.power_limit_w = _scaled(self._call(nv.nvmlDeviceGetEnforcedPowerLimit, h, reading=r), 1000)
        r.sm_clock_mhz = self._call(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM, reading=r)
        r.memory_clock_mhz = self._call(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_MEM, reading=r)
        util = self._call(nv.nvmlDeviceGetUtilizationRates, h, reading=r)
        r.gpu_utilization_pct = getattr(util, "gpu", None)
        r.memory_utilization_pct = getattr(util, "memory", None)
        memory = self._call(nv.nvmlDeviceGetMemoryInfo, h, reading=r)
        r.memory_used_mib = int(memory.used // MIB) if memory is not None else None
        r.memory_total_mib = int(memory.total // MIB) if memory is not None else None

    def _read_ecc(self, h: Any, r: GpuReading) -> dict | None:
        nv = self.nv
        kinds = {"corrected": nv.NVML_MEMORY_ERROR_TYPE_CORRECTED, "uncorrected": nv.NVML_MEMORY_ERROR_TYPE_UNCORRECTED}
        counters = {"volatile": nv.NVML_VOLATILE_ECC, "aggregate": nv.NVML_AGGREGATE_ECC}
        ecc = {f"{c}_{k}": self._call(nv.nvmlDeviceGetTotalEccErrors, h, kv, cv, reading=r)
               for c, cv in counters.items() for k, kv in kinds.items()}
        return ecc if any(v is not None for v in ecc.values()) else None

    def _read_retired_pages(self, h: Any, r: GpuReading) -> dict | None:
        nv = self.nv
        single = self._call(nv.nvmlDeviceGetRetiredPages, h,
                            nv.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS, reading=r)
        double = self._call(nv.nvmlDeviceGetRetiredPages, h, nv.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR,
                            reading=r)
        pending = self._call(nv.nvmlDeviceGetRetiredPagesPendingStatus, h, reading=r)
        if single is None and double is None and pending is None:
            return None
        return {"single_bit": _count(single), "double_bit": _count(double),
                "pending": None if pending is None else bool(pending)}

    def _read_remapped_rows(self, h: Any, r: GpuReading) -> dict | None:
        rows = self._call(self.nv.nvmlDeviceGetRemappedRows, h, reading=r)
        if rows is None:
            return None
        corrected, uncorrected, pending, failure = rows
        return {"corrected": corrected, "uncorrected": uncorrected, "pending": bool(pending), "failure": bool(failure)}

    def _read_clock_events(self, h: Any, r: GpuReading) -> dict | None:
        fn = self._fn("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons")
        mask = self._call(fn, h, reading=r) if fn else None
        if mask is None:
            return None
        bits = {
            "hw_slowdown": ("nvmlClocksEventReasonHwSlowdown", "nvmlClocksThrottleReasonHwSlowdown"),
            "hw_thermal_slowdown": ("nvmlClocksEventReasonHwThermalSlowdown", "nvmlClocksThrottleReasonHwThermalSlowdown"),
            "hw_power_brake": ("nvmlClocksEventReasonHwPowerBrakeSlowdown",
                               "nvmlClocksThrottleReasonHwPowerBrakeSlowdown"),
            "sw_thermal_slowdown": ("nvmlClocksEventReasonSwThermalSlowdown", "nvmlClocksThrottleReasonSwThermalSlowdown"),
            "sw_power_cap": ("nvmlClocksEventReasonSwPowerCap", "nvmlClocksThrottleReasonSwPowerCap"),
        }
        events: dict[str, Any] = {"mask": int(mask)}
        for name, constants in bits.items():
            bit = self._const(*constants)
            events[name] = bool(mask & bit) if bit is not None else None
        return events

    def _read_nvlink(self, h: Any, r: GpuReading) -> list | None:
        nv = self.nv
        counters = {"replay": "NVML_NVLINK_ERROR_DL_REPLAY", "recovery": "NVML_NVLINK_ERROR_DL_RECOVERY",
                    "crc_flit": "NVML_NVLINK_ERROR_DL_CRC_FLIT", "crc_data": "NVML_NVLINK_ERROR_DL_CRC_DATA"}
        links = []
        for link in range(self._const("NVML_NVLINK_MAX_LINKS") or 0):
            state = self._call(nv.nvmlDeviceGetNvLinkState, h, link, reading=r)
            if state is None:
                continue
            errors = {name: self._call(nv.nvmlDeviceGetNvLinkErrorCounter, h, link, getattr(nv, const), reading=r)
                      for name, const in counters.items()}
            links.append({"link": link, "active": bool(state), "errors": errors})
        return links or None

    # --- Xid events --------------------------------------------------------------------------

    def _open_event_set(self) -> Any:
        nv = self.nv
        event_set = self._call(nv.nvmlEventSetCreate)
        if event_set is None:
            return None
        registered = [self._registered(h, event_set) for h in self.handles]
        if not any(registered):
            self._call(nv.nvmlEventSetFree, event_set)
            return None
        return event_set

    def _registered(self, handle: Any, event_set: Any) -> bool:
        try:
            self.nv.nvmlDeviceRegisterEvents(handle, self.nv.nvmlEventTypeXidCriticalError, event_set)
        except self.nv.NVMLError:
            return False
        return True

    def xid_events_supported(self) -> bool:
        if self._event_set is None:
            self._event_set = self._open_event_set()
        return self._event_set is not None

    def wait_xid_events(self, timeout_ms: int, clock: Callable[[], float] = time.time) -> list[XidEvent]:
        """Xid events that arrive within `timeout_ms`; after the first, drain the rest without waiting."""
        if not self.xid_events_supported():
            return []
        events: list[XidEvent] = []
        wait = timeout_ms
        while len(events) < MAX_EVENTS_PER_WAIT:
            try:
                data = self.nv.nvmlEventSetWait(self._event_set, wait)
            except self.nv.NVMLError as exc:
                if getattr(exc, "value", None) != self.nv.NVML_ERROR_TIMEOUT:
                    log.warning("NVML event wait failed: %s", exc)
                break
            if data.eventType & self.nv.nvmlEventTypeXidCriticalError:
                events.append(self._xid_event(data, clock()))
            wait = 0
        return events

    def _xid_event(self, data: Any, at: float) -> XidEvent:
        uuid = _text(self._call(self.nv.nvmlDeviceGetUUID, data.device))
        index = self.uuids.index(uuid) if uuid in self.uuids else None
        pci = self.pci_ids[index] if index is not None else None
        return XidEvent(xid=int(data.eventData), at=at, source="nvml", gpu=index, pci_bus_id=pci)


def field_value(nv: Any, value: Any) -> int | float | None:
    """The number in one nvmlFieldValue_t, or None when NVML returned an error for that field."""
    if value is None or getattr(value, "nvmlReturn", 1) != nv.NVML_SUCCESS:
        return None
    members = {
        nv.NVML_VALUE_TYPE_DOUBLE: "dVal", nv.NVML_VALUE_TYPE_UNSIGNED_INT: "uiVal",
        nv.NVML_VALUE_TYPE_UNSIGNED_LONG: "ulVal", nv.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: "ullVal",
        nv.NVML_VALUE_TYPE_SIGNED_LONG_LONG: "sllVal", nv.NVML_VALUE_TYPE_SIGNED_INT: "siVal",
    }
    member = members.get(value.valueType)
    return getattr(value.value, member) if member else None


def normalize_pci(bus_id: str | None) -> str | None:
    """`00000000:1B:00.0` (NVML) and `0000:1b:00` (kernel log) both become `0000:1b:00`."""
    if not bus_id:
        return None
    parts = bus_id.strip().lower().split(":")
    if len(parts) < 3:
        return bus_id.strip().lower()
    try:
        domain, bus, device = int(parts[-3], 16), int(parts[-2], 16), int(parts[-1].split(".")[0], 16)
    except ValueError:
        return bus_id.strip().lower()
    return f"{domain:04x}:{bus:02x}:{device:02x}"


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _scaled(value: Any, divisor: int) -> float | None:
    return None if value is None else round(value / divisor, 1)


def _count(pages: Any) -> int | None:
    return None if pages is None else len(pages)
