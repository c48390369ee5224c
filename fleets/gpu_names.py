"""NVML's device names ("NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB") → the catalogue's canonical models."""

from marketplace.catalog.gpus import GpuSpec, lookup_gpu

VENDOR_WORDS = ("NVIDIA", "TESLA", "GEFORCE", "QUADRO")


def canonical_from_nvml(name: str, memory_gb: int = 0) -> GpuSpec | None:
    """The model NVML names, or None: the vendor's words dropped, then the model token, then its family."""
    words = [word for word in name.upper().replace("_", " ").split() if word not in VENDOR_WORDS]
    if not words:
        return None
    for candidate in (" ".join(words), "".join(words[:2]), words[0], words[0].split("-")[0]):
        spec = lookup_gpu(candidate)
        if spec is None:
            continue
        bigger = lookup_gpu(f"{spec.name}-{memory_gb}GB") if memory_gb else None
        return bigger if bigger is not None and memory_gb > spec.memory_gb else spec
    return None
