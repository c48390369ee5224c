"""Canonical GPU models and the names partner catalogues use for them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class GpuSpec:
    """`form_factors`: the packages the model ships in, the first one assumed when a catalogue does not say;
    `memory_options`: every memory size (GB per GPU) sold under this name, `memory_gb` the usual one."""

    name: str
    memory_gb: int
    architecture: str
    vendor: str = "NVIDIA"
    form_factors: tuple[str, ...] = ("pcie",)
    memory_options: tuple[int, ...] = ()

    @property
    def memories(self) -> tuple[int, ...]:
        return (self.memory_gb, *self.memory_options)


SXM_BOARD = ("sxm",)
SXM_OR_PCIE = ("sxm", "pcie")


CANONICAL_GPUS: dict[str, GpuSpec] = {spec.name: spec for spec in [
    GpuSpec("B300", 288, "blackwell", form_factors=SXM_BOARD),
    GpuSpec("B200", 180, "blackwell", form_factors=SXM_BOARD),
    GpuSpec("GB200", 186, "blackwell", form_factors=("superchip",)),
    GpuSpec("RTXPRO6000", 96, "blackwell"),
    GpuSpec("RTX5090", 32, "blackwell"),
    GpuSpec("H200", 141, "hopper", form_factors=("sxm", "nvl")),
    GpuSpec("GH200", 96, "hopper", form_factors=("superchip",)),
    GpuSpec("H100", 80, "hopper", form_factors=("sxm", "pcie", "nvl"), memory_options=(94,)),
    GpuSpec("L40S", 48, "ada"),
    GpuSpec("L40", 48, "ada"),
    GpuSpec("L4", 24, "ada"),
    GpuSpec("RTX6000-Ada", 48, "ada"),
    GpuSpec("RTX4090", 24, "ada", memory_options=(48,)),
    GpuSpec("RTX4070", 12, "ada", memory_options=(16,)),
    GpuSpec("RTX4060", 8, "ada", memory_options=(16,)),
    GpuSpec("A100-80GB", 80, "ampere", form_factors=SXM_OR_PCIE),
    GpuSpec("A100", 40, "ampere", form_factors=SXM_OR_PCIE),
    GpuSpec("A40", 48, "ampere"),
    GpuSpec("A30", 24, "ampere"),
    GpuSpec("A10G", 24, "ampere"),
    GpuSpec("A10", 24, "ampere"),
    GpuSpec("A16", 16, "ampere"),
    GpuSpec("A6000", 48, "ampere"),
    GpuSpec("A5000", 24, "ampere"),
    GpuSpec("A4000", 16, "ampere"),
    GpuSpec("A2000", 12, "ampere", memory_options=(6,)),
    GpuSpec("RTX3090", 24, "ampere"),
    GpuSpec("RTX3080", 10, "ampere", memory_options=(12,)),
    GpuSpec("RTX3070", 8, "ampere"),
    GpuSpec("RTX3060", 12, "ampere", memory_options=(8,)),
    GpuSpec("RTX6000", 24, "turing"),
    GpuSpec("V100-32GB", 32, "volta", form_factors=SXM_OR_PCIE),
    GpuSpec("V100", 16, "volta", form_factors=SXM_OR_PCIE),
    GpuSpec("GAUDI2", 96, "gaudi", vendor="Intel", form_factors=("oam",)),
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
    # Shadeform's configuration.gpu_type spellings.
    "A100_80G": "A100-80GB",
    "V100_32G": "V100-32GB",
    # Vast.ai's gpu_name spellings, spaces removed (as the catalogue maps them; the vast adapter adds
    # " 80GB" to an A100 with 80 GB).
    "A100PCIE": "A100",
    "A100SXM4": "A100",
    "A100PCIE80GB": "A100-80GB",
    "A100SXM480GB": "A100-80GB",
    "H100NVL": "H100",
    "H100SXM": "H100",
    "H100PCIE": "H100",
    "RTX3060TI": "RTX3060",
    "RTX4060TI": "RTX4060",
    "RTX4070STI": "RTX4070",
    "TESLAV100": "V100",
    # Google Compute Engine's accelerator type names.
    "NVIDIA-TESLA-A100": "A100",
    "NVIDIA-A100-80GB": "A100-80GB",
    "NVIDIA-H100-80GB": "H100",
    "NVIDIA-H100-MEGA-80GB": "H100",
    "NVIDIA-H200-141GB": "H200",
    "NVIDIA-B200": "B200",
    "NVIDIA-L4": "L4",
    # Lium's GPU model names, vendor prefixes ("NVIDIA ", "GeForce ") and spaces removed.
    "H10080GBHBM3": "H100",
    "B300SXM6AC": "B300",
    "RTX6000ADAGENERATION": "RTX6000-Ada",
    "RTXPRO6000BLACKWELLSERVEREDITION": "RTXPRO6000",
    "RTXPRO6000BLACKWELLWORKSTATIONEDITION": "RTXPRO6000",
    # Seeweb's plan gpu_label spellings, spaces removed.
    "H200141GB": "H200",
    "H10080GB": "H100",
    "A10080GB": "A100-80GB",
    "RTXA600048GB": "A6000",
    "L40S48GB": "L40S",
    "L424GB": "L4",
    "RTX600024GB": "RTX6000",
    # Nebius AI Cloud's GPU platform names.
    "GPU-H100-SXM": "H100",
    "GPU-H200-SXM": "H200",
    "GPU-B200-SXM": "B200",
    "GPU-B300-SXM": "B300",
    "GPU-L40S-A": "L40S",
    "GPU-L40S-D": "L40S",
    # Yotta's gpuType codes: its GPU Types Reference, and the pod reference's spellings (GeForce, HBM3).
    "NVIDIA_RTX_4090_24G": "RTX4090",
    "NVIDIA_GEFORCE_RTX_4090_24G": "RTX4090",
    "NVIDIA_RTX_5090_32G": "RTX5090",
    "NVIDIA_GEFORCE_RTX_5090_32G": "RTX5090",
    "NVIDIA_RTX_A6000_48G": "A6000",
    "NVIDIA_RTX_6000_ADA_48G": "RTX6000-Ada",
    "NVIDIA_A100_PCIE_40G": "A100",
    "NVIDIA_A100_40G": "A100",
    "NVIDIA_A100_PCIE_80G": "A100-80GB",
    "NVIDIA_A100_80G": "A100-80GB",
    "NVIDIA_H100_PCIE_80G": "H100",
    "NVIDIA_H100_80G": "H100",
    "NVIDIA_H100_80GB_HBM3_80G": "H100",
    "NVIDIA_RTX_PRO_6000_96G": "RTXPRO6000",
    "NVIDIA_H200_141G": "H200",
    "NVIDIA_B200_180G": "B200",
    "NVIDIA_B300_262G": "B300",
    "NVIDIA_L4_24G": "L4",
    # Hyperbolic's GPU model strings (its marketplace's hardware.gpus[].model).
    "NVIDIA-H100-80GB-HBM3": "H100",
    "NVIDIA-H200": "H200",
    "NVIDIA-A100-SXM4-80GB": "A100-80GB",
    "NVIDIA-GEFORCE-RTX-4090": "RTX4090",
    "NVIDIA-GEFORCE-RTX-3090": "RTX3090",
    "NVIDIA-RTX-A6000": "A6000",
    "NVIDIA-L40S": "L40S",
}
_BY_UPPER = {name.upper(): name for name in CANONICAL_GPUS} | GPU_ALIASES


class UnknownGpu(ValueError):
    pass


def canonical_gpu(raw: str) -> GpuSpec:
    """Map a catalogue's GPU name to its canonical model; raise UnknownGpu for a name we do not know."""
    key = raw.strip().upper()
    if key not in _BY_UPPER:
        key = key.replace(" ", "")  # vendors' spaced names: "RTX 4090", "RTX A6000"
    if key not in _BY_UPPER:
        raise UnknownGpu(f"unknown GPU name {raw!r}")
    return CANONICAL_GPUS[_BY_UPPER[key]]


def lookup_gpu(name: str) -> GpuSpec | None:
    try:
        return canonical_gpu(name)
    except UnknownGpu:
        return None
