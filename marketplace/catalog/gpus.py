"""Canonical GPU models and the names partner catalogues use for them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class GpuSpec:
    name: str
    memory_gb: int
    architecture: str
    vendor: str = "NVIDIA"


CANONICAL_GPUS: dict[str, GpuSpec] = {spec.name: spec for spec in [
    GpuSpec("B300", 288, "blackwell"),
    GpuSpec("B200", 180, "blackwell"),
    GpuSpec("GB200", 186, "blackwell"),
    GpuSpec("RTXPRO6000", 96, "blackwell"),
    GpuSpec("RTX5090", 32, "blackwell"),
    GpuSpec("H200", 141, "hopper"),
    GpuSpec("GH200", 96, "hopper"),
    GpuSpec("H100", 80, "hopper"),
    GpuSpec("L40S", 48, "ada"),
    GpuSpec("L40", 48, "ada"),
    GpuSpec("L4", 24, "ada"),
    GpuSpec("RTX6000-Ada", 48, "ada"),
    GpuSpec("RTX4090", 24, "ada"),
    GpuSpec("RTX4070", 12, "ada"),
    GpuSpec("RTX4060", 8, "ada"),
    GpuSpec("A100-80GB", 80, "ampere"),
    GpuSpec("A100", 40, "ampere"),
    GpuSpec("A40", 48, "ampere"),
    GpuSpec("A30", 24, "ampere"),
    GpuSpec("A10G", 24, "ampere"),
    GpuSpec("A10", 24, "ampere"),
    GpuSpec("A16", 16, "ampere"),
    GpuSpec("A6000", 48, "ampere"),
    GpuSpec("A5000", 24, "ampere"),
    GpuSpec("A4000", 16, "ampere"),
    GpuSpec("A2000", 12, "ampere"),
    GpuSpec("RTX3090", 24, "ampere"),
    GpuSpec("RTX3080", 10, "ampere"),
    GpuSpec("RTX3070", 8, "ampere"),
    GpuSpec("RTX3060", 12, "ampere"),
    GpuSpec("RTX6000", 24, "turing"),
    GpuSpec("V100-32GB", 32, "volta"),
    GpuSpec("V100", 16, "volta"),
    GpuSpec("GAUDI2", 96, "gaudi", vendor="Intel"),
]}

# Names as they appear in partner catalogues → canonical name. Canonical names map to themselves.
GPU_ALIASES: dict[str, str] = {
    "H100-SXM": "H100",
    "H100-MEGA": "H100",
    "H100-80G-SXM5": "H100",
    "H100-80G-PCIE": "H100",
    "H100-80G-PCIE-NVLINK": "H100",
    "A100-80G-PCIE": "A100-80GB",
    "A100-80G-PCIE-NVLINK": "A100-80GB",
    "RTXA6000": "A6000",
    "RTX-A6000": "A6000",
    "RTX-A4000": "A4000",
    "RTXA2000": "A2000",
    "RTX6000ADA": "RTX6000-Ada",
    "RTX-6000-ADA": "RTX6000-Ada",
    "RTX6000-ADA": "RTX6000-Ada",
    "RTXPRO6000-WK": "RTXPRO6000",
    "RTXPRO6000S": "RTXPRO6000",
    "RTX PRO 6000 96GB": "RTXPRO6000",
    "RTX-PRO-6000": "RTXPRO6000",
}
_BY_UPPER = {name.upper(): name for name in CANONICAL_GPUS} | GPU_ALIASES


class UnknownGpu(ValueError):
    pass


def canonical_gpu(raw: str) -> GpuSpec:
    """Map a catalogue's GPU name to its canonical model; raise UnknownGpu for a name we do not know."""
    key = raw.strip().upper()
    if key not in _BY_UPPER:
        raise UnknownGpu(f"unknown GPU name {raw!r}")
    return CANONICAL_GPUS[_BY_UPPER[key]]


def lookup_gpu(name: str) -> GpuSpec | None:
    try:
        return canonical_gpu(name)
    except UnknownGpu:
        return None
