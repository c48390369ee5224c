"""Yotta's node shapes and on-demand list prices (USD per node-hour), as the shared catalogue lists them.

Yotta's API answers which GPU types are available in which region (`GET /v2/vms/types`) but publishes no
prices and no CPU/RAM per node, so the shapes come from this table. Source: the SkyPilot catalogue snapshot
in ../shared/catalog (yotta/vms.csv, the file the catalogue import reads), whose instance types are what
Yotta's cluster create takes: `<GPUs>x<vCPUs>v<RAM GiB>g_<Yotta gpuType>_<SECURE|COMMUNITY>`.
"""

from __future__ import annotations

import re
from typing import NamedTuple

INSTANCE_TYPE_RE = re.compile(r"^(?P<gpus>\d+)x(?P<vcpus>\d+)v(?P<ram>\d+)g_(?P<gpu_type>.+)_(?P<cloud>SECURE|COMMUNITY)$")


class YottaShape(NamedTuple):
    region: str
    price: float


YOTTA_SHAPES: dict[str, YottaShape] = {
    "1x14v119g_NVIDIA_GeForce_RTX_5090_32G_SECURE": YottaShape("us-east-2", 0.65),
    "2x28v238g_NVIDIA_GeForce_RTX_5090_32G_SECURE": YottaShape("us-east-2", 1.3),
    "4x56v476g_NVIDIA_GeForce_RTX_5090_32G_SECURE": YottaShape("us-east-2", 2.6),
    "8x112v952g_NVIDIA_GeForce_RTX_5090_32G_SECURE": YottaShape("us-east-2", 5.2),
    "1x30v115g_NVIDIA_GeForce_RTX_5090_32G_SECURE": YottaShape("us-central-2", 0.65),
    "2x60v230g_NVIDIA_GeForce_RTX_5090_32G_SECURE": YottaShape("us-central-2", 1.3),
    "4x120v460g_NVIDIA_GeForce_RTX_5090_32G_SECURE": YottaShape("us-central-2", 2.6),
    "8x240v920g_NVIDIA_GeForce_RTX_5090_32G_SECURE": YottaShape("us-central-2", 5.2),
}


def gpu_type_key(gpu_type: str) -> str:
    """One key for Yotta's two spellings of a GPU type: the pod reference's `NVIDIA_GeForce_RTX_5090_32G` and
    the GPU Types Reference's `NVIDIA_RTX_5090_32G`."""
    return gpu_type.replace("_GeForce_", "_").upper()
