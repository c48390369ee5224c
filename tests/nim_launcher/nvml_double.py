"""An NVML double: the pynvml functions the agent calls, with the same signatures, constants and errors.

A `FakeNvml` instance stands in for the `pynvml` module. Devices have configurable readings, any
call can be made to raise NotSupported per device, and Xid events are queued for `nvmlEventSetWait`.
`test_agent_nvml_contract.py` checks the signatures and constants against the real pynvml.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from types import SimpleNamespace

# Constants, with pynvml's values.
NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_GPU_IS_LOST = 15
NVML_TEMPERATURE_GPU = 0
NVML_TEMPERATURE_THRESHOLD_SHUTDOWN = 0
NVML_TEMPERATURE_THRESHOLD_SLOWDOWN = 1
NVML_TEMPERATURE_THRESHOLD_MEM_MAX = 2
NVML_FI_DEV_MEMORY_TEMP = 82
NVML_VALUE_TYPE_DOUBLE = 0
NVML_VALUE_TYPE_UNSIGNED_INT = 1
NVML_VALUE_TYPE_UNSIGNED_LONG = 2
NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3
NVML_VALUE_TYPE_SIGNED_LONG_LONG = 4
NVML_VALUE_TYPE_SIGNED_INT = 5
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
NVML_VOLATILE_ECC = 0
NVML_AGGREGATE_ECC = 1
NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS = 0
NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR = 1
NVML_NVLINK_MAX_LINKS = 36
NVML_NVLINK_ERROR_DL_REPLAY = 0
NVML_NVLINK_ERROR_DL_RECOVERY = 1
NVML_NVLINK_ERROR_DL_CRC_FLIT = 2
NVML_NVLINK_ERROR_DL_CRC_DATA = 3
nvmlEventTypeXidCriticalError = 0x8
nvmlClocksEventReasonSwPowerCap = 0x4
nvmlClocksEventReasonHwSlowdown = 0x8
nvmlClocksEventReasonSwThermalSlowdown = 0x20
nvmlClocksEventReasonHwThermalSlowdown = 0x40
nvmlClocksEventReasonHwPowerBrakeSlowdown = 0x80

CONSTANTS = {name: value for name, value in dict(globals()).items()
             if name.startswith(("NVML_", "nvmlEventType", "nvmlClocksEventReason"))}


class NVMLError(Exception):
    """Like pynvml's: `NVMLError(code)` builds the subclass for that code; `.value` is the code."""

    code: int | None = None
    _by_value: dict[int, type[NVMLError]] = {}
    _strings = {NVML_ERROR_UNINITIALIZED: "Uninitialized", NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
                NVML_ERROR_NOT_SUPPORTED: "Not Supported", NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
                NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded", NVML_ERROR_TIMEOUT: "Timeout",
                NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found", NVML_ERROR_GPU_IS_LOST: "GPU is lost"}

    def __new__(cls, value: int | None = None):
        if cls is NVMLError:
            cls = NVMLError._by_value.get(value, cls)
        obj = Exception.__new__(cls)
        obj.value = value if value is not None else cls.code
        return obj

    def __init__(self, value: int | None = None):
        super().__init__(self.value)

    def __str__(self) -> str:
        return self._strings.get(self.value, f"NVML Error with code {self.value}")


def _error_class(name: str, code: int) -> type[NVMLError]:
    cls = type(name, (NVMLError,), {"code": code})
    NVMLError._by_value[code] = cls
    return cls


NVMLError_Uninitialized = _error_class("NVMLError_Uninitialized", NVML_ERROR_UNINITIALIZED)
NVMLError_InvalidArgument = _error_class("NVMLError_InvalidArgument", NVML_ERROR_INVALID_ARGUMENT)
NVMLError_NotSupported = _error_class("NVMLError_NotSupported", NVML_ERROR_NOT_SUPPORTED)
NVMLError_NoPermission = _error_class("NVMLError_NoPermission", NVML_ERROR_NO_PERMISSION)
NVMLError_DriverNotLoaded = _error_class("NVMLError_DriverNotLoaded", NVML_ERROR_DRIVER_NOT_LOADED)
NVMLError_Timeout = _error_class("NVMLError_Timeout", NVML_ERROR_TIMEOUT)
NVMLError_LibraryNotFound = _error_class("NVMLError_LibraryNotFound", NVML_ERROR_LIBRARY_NOT_FOUND)
NVMLError_GpuIsLost = _error_class("NVMLError_GpuIsLost", NVML_ERROR_GPU_IS_LOST)


@dataclass
class FakeGpu:
    """One device's readings; `not_supported` names the calls that raise NotSupported on it."""

    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    pci_bus_id: str = "00000000:1B:00.0"
    temperature: int = 41
    memory_temperature: int = 48
    thresholds: dict = field(default_factory=lambda: {NVML_TEMPERATURE_THRESHOLD_SHUTDOWN: 92,
                                                      NVML_TEMPERATURE_THRESHOLD_SLOWDOWN: 89,
                                                      NVML_TEMPERATURE_THRESHOLD_MEM_MAX: 95})
    power_mw: int = 118_000
    power_limit_mw: int = 700_000
    clocks: dict = field(default_factory=lambda: {NVML_CLOCK_SM: 1980, NVML_CLOCK_MEM: 2619})
    utilization: tuple[int, int] = (12, 3)
    memory_used: int = 1024 * 1024 * 1024
    memory_total: int = 80 * 1024 * 1024 * 1024
    ecc: dict = field(default_factory=dict)
    retired_pages: dict = field(default_factory=dict)
    retired_pages_pending: int = 0
    remapped_rows: tuple[int, int, int, int] = (0, 0, 0, 0)
    clock_event_reasons: int = 0
    nvlink_links: int = 0
    nvlink_errors: dict = field(default_factory=dict)
    not_supported: set = field(default_factory=set)
    lost: bool = False


@dataclass(frozen=True)
class _Handle:
    index: int


class FakeNvml:
    """Stands in for the pynvml module; build it with the GPUs the test wants."""

    NVMLError = NVMLError
    NVMLError_Uninitialized = NVMLError_Uninitialized
    NVMLError_InvalidArgument = NVMLError_InvalidArgument
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_NoPermission = NVMLError_NoPermission
    NVMLError_DriverNotLoaded = NVMLError_DriverNotLoaded
    NVMLError_Timeout = NVMLError_Timeout
    NVMLError_LibraryNotFound = NVMLError_LibraryNotFound
    NVMLError_GpuIsLost = NVMLError_GpuIsLost

    def __init__(self, gpus: list[FakeGpu] | None = None, *, library_missing: bool = False,
                 events_supported: bool = True, driver_version: str = "580.159.04"):
        for name, value in CONSTANTS.items():
            setattr(self, name, value)
        self.gpus = list(gpus if gpus is not None else [FakeGpu()])
        self.library_missing = library_missing
        self.events_supported = events_supported
        self.driver = driver_version
        self.initialized = False
        self.xid_queue: deque[tuple[int, int]] = deque()
        self.registered: set[int] = set()
        self.waits: list[int] = []

    def push_xid(self, gpu_index: int, xid: int) -> None:
        self.xid_queue.append((gpu_index, xid))

    # --- helpers -----------------------------------------------------------------------------

    def _gpu(self, handle: _Handle, call: str) -> FakeGpu:
        if not self.initialized:
            raise NVMLError_Uninitialized()
        gpu = self.gpus[handle.index]
        if gpu.lost:
            raise NVMLError_GpuIsLost()
        if call in gpu.not_supported:
            raise NVMLError_NotSupported()
        return gpu

    # --- init --------------------------------------------------------------------------------

    def nvmlInit(self):
        if self.library_missing:
            raise NVMLError_LibraryNotFound()
        self.initialized = True

    def nvmlShutdown(self):
        self.initialized = False

    def nvmlSystemGetDriverVersion(self):
        return self.driver

    def nvmlDeviceGetCount(self):
        if not self.initialized:
            raise NVMLError_Uninitialized()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        if not 0 <= index < len(self.gpus):
            raise NVMLError_InvalidArgument()
        return _Handle(index)

    # --- identity and readings ---------------------------------------------------------------

    def nvmlDeviceGetName(self, handle):
        return self._gpu(handle, "nvmlDeviceGetName").name

    def nvmlDeviceGetUUID(self, handle):
        return self._gpu(handle, "nvmlDeviceGetUUID").uuid

    def nvmlDeviceGetPciInfo(self, handle):
        return SimpleNamespace(busId=self._gpu(handle, "nvmlDeviceGetPciInfo").pci_bus_id)

    def nvmlDeviceGetTemperature(self, handle, sensor):
        return self._gpu(handle, "nvmlDeviceGetTemperature").temperature

    def nvmlDeviceGetTemperatureThreshold(self, handle, threshold):
        gpu = self._gpu(handle, "nvmlDeviceGetTemperatureThreshold")
        if threshold not in gpu.thresholds:
            raise NVMLError_NotSupported()
        return gpu.thresholds[threshold]

    def nvmlDeviceGetFieldValues(self, handle, fieldIds):
        gpu = self._gpu(handle, "nvmlDeviceGetFieldValues")
        return [self._field_value(gpu, field_id) for field_id in fieldIds]

    def _field_value(self, gpu: FakeGpu, field_id: int) -> SimpleNamespace:
        supported = field_id == NVML_FI_DEV_MEMORY_TEMP and "NVML_FI_DEV_MEMORY_TEMP" not in gpu.not_supported
        return SimpleNamespace(
            fieldId=field_id, scopeId=0, timestamp=0, latencyUsec=0, valueType=NVML_VALUE_TYPE_UNSIGNED_INT,
            nvmlReturn=NVML_SUCCESS if supported else NVML_ERROR_NOT_SUPPORTED,
            value=SimpleNamespace(uiVal=gpu.memory_temperature if supported else 0, dVal=0.0, ulVal=0, ullVal=0,
                                  sllVal=0, siVal=0, usVal=0),
        )

    def nvmlDeviceGetPowerUsage(self, handle):
        return self._gpu(handle, "nvmlDeviceGetPowerUsage").power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):
        return self._gpu(handle, "nvmlDeviceGetEnforcedPowerLimit").power_limit_mw

    def nvmlDeviceGetClockInfo(self, handle, type):  # noqa: A002 - pynvml's parameter name
        return self._gpu(handle, "nvmlDeviceGetClockInfo").clocks[type]

    def nvmlDeviceGetUtilizationRates(self, handle):
        gpu_pct, memory_pct = self._gpu(handle, "nvmlDeviceGetUtilizationRates").utilization
        return SimpleNamespace(gpu=gpu_pct, memory=memory_pct)

    def nvmlDeviceGetMemoryInfo(self, handle, version=None):
        gpu = self._gpu(handle, "nvmlDeviceGetMemoryInfo")
        return SimpleNamespace(total=gpu.memory_total, used=gpu.memory_used, free=gpu.memory_total - gpu.memory_used)

    def nvmlDeviceGetTotalEccErrors(self, handle, errorType, counterType):
        return self._gpu(handle, "nvmlDeviceGetTotalEccErrors").ecc.get((errorType, counterType), 0)

    def nvmlDeviceGetRetiredPages(self, device, sourceFilter):
        return list(self._gpu(device, "nvmlDeviceGetRetiredPages").retired_pages.get(sourceFilter, []))

    def nvmlDeviceGetRetiredPagesPendingStatus(self, device):
        return self._gpu(device, "nvmlDeviceGetRetiredPagesPendingStatus").retired_pages_pending

    def nvmlDeviceGetRemappedRows(self, device):
        return self._gpu(device, "nvmlDeviceGetRemappedRows").remapped_rows

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        return self._gpu(handle, "nvmlDeviceGetCurrentClocksEventReasons").clock_event_reasons

    def nvmlDeviceGetNvLinkState(self, device, link):
        gpu = self._gpu(device, "nvmlDeviceGetNvLinkState")
        if link >= gpu.nvlink_links:
            raise NVMLError_NotSupported()
        return 1

    def nvmlDeviceGetNvLinkErrorCounter(self, device, link, counter):
        return self._gpu(device, "nvmlDeviceGetNvLinkErrorCounter").nvlink_errors.get((link, counter), 0)

    # --- events ------------------------------------------------------------------------------

    def nvmlEventSetCreate(self):
        if not self.events_supported:
            raise NVMLError_NotSupported()
        return SimpleNamespace(kind="event-set")

    def nvmlDeviceRegisterEvents(self, handle, eventTypes, eventSet):
        self._gpu(handle, "nvmlDeviceRegisterEvents")
        self.registered.add(handle.index)

    def nvmlEventSetWait(self, eventSet, timeoutms):
        self.waits.append(timeoutms)
        while self.xid_queue:
            index, xid = self.xid_queue.popleft()
            if index in self.registered:
                return SimpleNamespace(device=_Handle(index), eventType=nvmlEventTypeXidCriticalError, eventData=xid,
                                       gpuInstanceId=0, computeInstanceId=0)
        raise NVMLError_Timeout()

    def nvmlEventSetFree(self, eventSet):
        return None


# --- a node under test: the double, a clock, a boot id and kernel log lines ---------------------

T0 = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeNode:
    """What the agent sees on one machine; `collector()` is the agent starting there (after each reboot too)."""

    def __init__(self, state_path, gpus: list[FakeGpu]):
        self.nvml = FakeNvml(gpus)
        self.clock = Clock()
        self.boot_id = "boot-1"
        self.booted_at = self.clock.now - 1000
        self.kernel_lines: list[tuple[float | None, str]] = []
        self.state_path = state_path

    def collector(self):
        from nim_launcher.agent.collector import Collector
        from nim_launcher.agent.kernel_log import KernelLogReader
        from nim_launcher.agent.nvml import open_nvml

        session, reason = open_nvml(self.nvml)
        kernel = KernelLogReader(boot_time=self.booted_at, sources=[("test", lambda: list(self.kernel_lines))])
        return Collector(session=session, unavailable_reason=reason, state_path=self.state_path, kernel=kernel,
                         boot_id=self.boot_id, booted_at=self.booted_at, clock=self.clock)

    def reboot(self, boot_id: str) -> None:
        self.clock.advance(600)
        self.boot_id, self.booted_at = boot_id, self.clock.now - 60
        self.kernel_lines = []
