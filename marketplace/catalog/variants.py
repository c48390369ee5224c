"""Which variant of a GPU model an offer sells: its form factor and true memory per GPU.

Catalogues name the model ("H100") and leave the variant in other strings: the instance type
(`1x-H100_NVL-…`, `gpu_1x_h100_pcie`, `h100-80gb.sxm.8x`), the GPU name in GpuInfo
(`NVIDIA-H100-80GB-HBM3`) and GpuInfo's memory. Pure (no ORM), like the parser that calls it.
"""

import re
from dataclasses import dataclass

from .gpus import CANONICAL_GPUS, GpuSpec

SXM, PCIE, NVL, SUPERCHIP, OAM = "sxm", "pcie", "nvl", "superchip", "oam"
FORM_FACTORS = (SXM, PCIE, NVL, SUPERCHIP, OAM)

# Instance families the partner documents as SXM boards (HGX), though their names do not say so.
_SXM_FAMILIES = {
    "aws": ("p3dn.", "p4d.", "p4de.", "p5.", "p5e.", "p5en.", "p6-"),
    "gcp": ("a2-", "a3-", "a4-"),
}
# Verda (DataCrunch) spells SXM as an `S` after the memory: `1H100.80S.32V`.
_VERDA_SXM = re.compile(r"\.\d+S\.")
_NVL = re.compile(r"NVL(?!INK)")  # H100 NVL, not the NVLink bridge of a PCIe card
# nvidia-smi names the H100 SXM part "H100 80GB HBM3"; the PCIe card has HBM2e.
_H100_HBM3 = re.compile(r"H100.*80GB.*HBM3")
_MEMORY = re.compile(r"""SizeInMiB['"]?\s*:\s*([0-9.]+)""")
_GPU_NAME = re.compile(r"""['"]Name['"]\s*:\s*['"]([^'"]*)['"]""")
# Vast.ai's GpuInfo gives the whole node's memory as the per-GPU size.
_SIZE_IS_NODE_TOTAL = {"vast"}
# A model whose larger or smaller sibling a catalogue files under the same name ("A100" with 80 GB).
_MEMORY_SIBLINGS = {"A100": "A100-80GB", "A100-80GB": "A100", "V100": "V100-32GB", "V100-32GB": "V100"}
# A variant's memory when the catalogue gives none (live partner APIs, simulated partners).
_FORM_FACTOR_MEMORY = {("H100", NVL): 94}
# Usable memory reads up to ~10 % under the marketed size (GiB vs GB, ECC and driver reservations).
_BELOW, _ABOVE = 0.88, 1.03


class UnknownVariant(ValueError):
    pass


@dataclass(frozen=True)
class GpuVariant:
    model: str
    form_factor: str
    memory_gb: int


def gpu_memory_gib(cloud: str, gpu_info: str, gpus: int) -> float | None:
    """Memory per GPU from a GpuInfo column, in GiB; None when it gives none."""
    match = _MEMORY.search(gpu_info or "")
    if not match or float(match.group(1)) <= 0:
        return None
    size = float(match.group(1))
    if cloud in _SIZE_IS_NODE_TOTAL:
        size /= gpus
    return size if size < 1024 else size / 1024  # some catalogues give GB where the key says MiB


def _marketed(spec: GpuSpec, gib: float) -> int | None:
    fits = [m for m in spec.memories if m * _BELOW <= gib <= m * _ABOVE]
    return min(fits, key=lambda m: abs(m - gib)) if fits else None


def _model_and_memory(spec: GpuSpec, gib: float | None) -> tuple[GpuSpec, int]:
    if gib is None:
        return spec, spec.memory_gb
    for candidate in (spec, CANONICAL_GPUS.get(_MEMORY_SIBLINGS.get(spec.name, ""))):
        if candidate is not None and (memory := _marketed(candidate, gib)) is not None:
            return candidate, memory
    raise UnknownVariant(f"{spec.name} with {gib:.1f} GiB per GPU matches no known variant")


def _hinted_form_factor(cloud: str, text: str, spec: GpuSpec, memory_gb: int) -> str | None:
    if _NVL.search(text) or (spec.name == "H100" and memory_gb == 94):
        return NVL
    if "PCIE" in text:
        return PCIE
    if "SXM" in text or _H100_HBM3.search(text) or (cloud == "verda" and _VERDA_SXM.search(text)):
        return SXM
    return None


def _family_form_factor(cloud: str, instance_type: str) -> str | None:
    return SXM if instance_type.lower().startswith(_SXM_FAMILIES.get(cloud, ())) else None


def resolve_variant(cloud: str, spec: GpuSpec, *, instance_type: str, accelerator: str = "", gpu_info: str = "",
                    gpus: int = 1) -> GpuVariant:
    """The offer's model, form factor and memory per GPU; UnknownVariant when the strings contradict the model."""
    gib = gpu_memory_gib(cloud, gpu_info, gpus)
    spec, memory = _model_and_memory(spec, gib)
    names = " ".join(_GPU_NAME.findall(gpu_info or ""))
    text = f"{instance_type} {accelerator} {names}".upper()
    form_factor = (_hinted_form_factor(cloud, text, spec, memory) or _family_form_factor(cloud, instance_type)
                   or spec.form_factors[0])
    if form_factor not in spec.form_factors:
        raise UnknownVariant(f"{spec.name} does not come as {form_factor} ({instance_type!r})")
    if gib is None:
        memory = _FORM_FACTOR_MEMORY.get((spec.name, form_factor), memory)
    return GpuVariant(spec.name, form_factor, memory)
