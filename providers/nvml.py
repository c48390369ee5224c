"""Read this machine's GPUs through NVML; a machine without NVML simply has no GPUs."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class LocalGpu:
    name: str
    memory_gb: float


def _load_pynvml() -> ModuleType | None:
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def local_gpus(nvml: ModuleType | None = None) -> list[LocalGpu]:
    """The GPUs NVML reports, or [] when the library, the driver or a device cannot be read."""
    nvml = nvml or _load_pynvml()
    if nvml is None:
        return []
    try:
        nvml.nvmlInit()
    except Exception:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded, …: no GPUs here
        return []
    try:
        gpus = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = nvml.nvmlDeviceGetName(handle)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle).total
            gpus.append(LocalGpu(name.decode() if isinstance(name, bytes) else name, round(memory / 2**30, 1)))
        return gpus
    except Exception:  # noqa: BLE001 - a device that cannot be read is reported as none
        return []
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001, S110
            pass


def gpu_model_name(nvml_name: str) -> str:
    """'NVIDIA H100 80GB HBM3' → 'H100'; 'NVIDIA A100-SXM4-80GB' → 'A100-80GB'; the raw name otherwise."""
    name = nvml_name.upper().replace("NVIDIA", "").strip()
    for model in ("GH200", "GB200", "H200", "H100", "B200", "B300", "L40S", "L40", "L4", "A10G", "A100"):
        if name.startswith(model):
            return "A100-80GB" if model == "A100" and "80G" in name else model
    return nvml_name.replace("NVIDIA", "").strip()
