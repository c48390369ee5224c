"""`pynvml` for an agent process under test: the NVML double, with the GPUs GPUB_TEST_NVML_GPUS names.

GPUB_TEST_NVML_GPUS="NVIDIA H200:2:141" → two H200s of 141 GB. Put this folder first on PYTHONPATH.
"""

import os

from tests.nim_launcher.nvml_double import FakeGpu, FakeNvml

_name, _count, _memory_gb = os.environ.get("GPUB_TEST_NVML_GPUS", "NVIDIA H200:1:141").rsplit(":", 2)
_nvml = FakeNvml([FakeGpu(name=_name, uuid=f"GPU-{i:08d}-0000-0000-0000-000000000000",
                          pci_bus_id=f"00000000:{0x1B + i:02X}:00.0", memory_total=int(_memory_gb) * 1024 ** 3)
                  for i in range(int(_count))])


def __getattr__(name: str):
    return getattr(_nvml, name)
