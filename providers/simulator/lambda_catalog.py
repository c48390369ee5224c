"""How Lambda Cloud describes its GPUs: instance-type names (`gpu_8x_h100_sxm5`) → `gpu_description`.

The strings are Lambda's own ("Tesla V100 (16 GB)", "RTX 6000 (24 GB)", "H100 (80 GB SXM5)"), so the
adapter's parsing is tested against what the real API answers, not against the broker's names.
"""

from __future__ import annotations

import re

GPU_DESCRIPTIONS = {
    "a10": "A10 (24 GB PCIe)",
    "a100": "A100 (40 GB PCIe)",
    "a100_sxm4": "A100 (40 GB SXM4)",
    "a100_80gb_sxm4": "A100 (80 GB SXM4)",
    "a6000": "RTX A6000 (48 GB)",
    "b200_sxm6": "B200 (180 GB SXM6)",
    "gh200": "GH200 (96 GB)",
    "h100_pcie": "H100 (80 GB PCIe)",
    "h100_sxm5": "H100 (80 GB SXM5)",
    "rtx6000": "RTX 6000 (24 GB)",
    "v100": "Tesla V100 (16 GB)",
    "v100_n": "Tesla V100 (16 GB)",
}
_NAME = re.compile(r"^gpu_(\d+)x_(.+)$")


def gpu_description(instance_type: str, fallback_gpu: str) -> str:
    """Lambda's GPU description for an instance type; the seed's GPU name for a shape Lambda does not sell."""
    match = _NAME.match(instance_type)
    return GPU_DESCRIPTIONS.get(match.group(2), fallback_gpu) if match else fallback_gpu
