"""GPU variants (form factor, true memory per GPU) read from every catalogue's strings."""

import csv

import pytest

from marketplace.catalog.gpus import CANONICAL_GPUS, canonical_gpu
from marketplace.catalog.skypilot import _gcp_host_gpu, parse_catalog
from marketplace.catalog.snapshot import load_snapshot
from marketplace.catalog.variants import FORM_FACTORS, UnknownVariant, gpu_memory_gib, resolve_variant
from marketplace.models import FormFactor
from tests.conftest import SHARED_CATALOG

needs_shared = pytest.mark.skipif(not SHARED_CATALOG.is_dir(), reason="../shared/catalog not beside the checkout")


def _info(name: str, mib: int, count: int = 1, total: int | None = None) -> str:
    return (f"{{'Gpus': [{{'Name': '{name}', 'Count': {count}, 'MemoryInfo': {{'SizeInMiB': {mib}}}}}], "
            f"'TotalGpuMemoryInMiB': {total or mib}}}")


@pytest.mark.parametrize("cloud,accelerator,instance_type,gpu_info,gpus,expected", [
    ("vast", "H100", "1x-H100_NVL-32-65536", _info("H100", 95830), 1, ("H100", "nvl", 94)),
    ("vast", "H100", "2x-H100_SXM-32-65536", _info("H100", 163118, 2), 2, ("H100", "sxm", 80)),
    ("hyperstack", "H100-80G-PCIe", "n3-H100x1", _info("H100-80G-PCIe", 81920), 1, ("H100", "pcie", 80)),
    ("hyperstack", "H100-80G-PCIe-NVLink", "n3-H100x8-NVLink", _info("H100-80G-PCIe-NVLink", 81920, 8, 655360),
     8, ("H100", "pcie", 80)),  # an NVLink bridge between PCIe cards, not an H100 NVL
    ("lambda", "H100", "gpu_1x_h100_pcie", _info("H100", 81920), 1, ("H100", "pcie", 80)),
    ("lambda", "H100", "gpu_8x_h100_sxm5", _info("H100", 81920, 8, 81920), 8, ("H100", "sxm", 80)),
    ("hyperbolic", "H100", "1x-H100-75-722", _info("NVIDIA-H100-80GB-HBM3", 81559), 1, ("H100", "sxm", 80)),
    ("aws", "A100", "p4d.24xlarge", _info("A100", 40960, 8, 327680), 8, ("A100", "sxm", 40)),
    ("aws", "A100-80GB", "p4de.24xlarge", _info("A100", 81920, 8, 655360), 8, ("A100-80GB", "sxm", 80)),
    ("vast", "A100", "1x-A100_PCIE-32-65536", _info("A100", 81920), 1, ("A100-80GB", "pcie", 80)),
    ("vast", "A100", "4x-A100_SXM4-32-65536", _info("A100", 163840, 4), 4, ("A100", "sxm", 40)),
    ("hyperstack", "A100-80G-PCIe", "n3-A100x2", _info("A100-80G-PCIe", 81920, 2, 163840), 2,
     ("A100-80GB", "pcie", 80)),
    ("shadeform", "H200", "excesssupply_H200x8", "{'Gpus': [{'MemoryInfo': {'SizeInMiB': 141}}]}", 8,
     ("H200", "sxm", 141)),  # Shadeform gives GB under the MiB key
    ("vast", "RTX4060", "1x-RTX_4060_Ti-32-65536", _info("RTX4060", 16380), 1, ("RTX4060", "pcie", 16)),
    ("vast", "RTX3060", "2x-RTX_3060_Ti-32-65536", _info("RTX3060", 16384, 2), 2, ("RTX3060", "pcie", 8)),
    ("lambda", "GH200", "gpu_1x_gh200", _info("GH200", 98304), 1, ("GH200", "superchip", 96)),
    ("shadeform", "GAUDI2", "denvr_Gaudi2x8", _info("GAUDI2", 96, 8, 768), 8, ("GAUDI2", "oam", 96)),
    ("verda", "H100", "1H100.80S.32V", "", 1, ("H100", "sxm", 80)),
    ("simulated", "H100", "1x-H100_NVL-32-65536", "", 1, ("H100", "nvl", 94)),  # a live API gives no GpuInfo
    ("hyperstack", "L40", "n3-L40x1", _info("L40", 49152), 1, ("L40", "pcie", 48)),
    ("aws", "L40S", "g6e.xlarge", _info("L40S", 45776), 1, ("L40S", "pcie", 48)),
])
def test_variant_read_from_catalogue_strings(cloud, accelerator, instance_type, gpu_info, gpus, expected):
    variant = resolve_variant(cloud, canonical_gpu(accelerator), instance_type=instance_type,
                              accelerator=accelerator, gpu_info=gpu_info, gpus=gpus)
    assert (variant.model, variant.form_factor, variant.memory_gb) == expected


def test_memory_no_variant_has_is_an_error_not_a_guess():
    with pytest.raises(UnknownVariant, match="H100 with 60.0 GiB"):
        resolve_variant("vast", canonical_gpu("H100"), instance_type="1x-H100", gpu_info=_info("H100", 61440))


def test_a_form_factor_the_model_never_ships_in_is_an_error():
    with pytest.raises(UnknownVariant, match="L40S does not come as sxm"):
        resolve_variant("lium", canonical_gpu("L40S"), instance_type="L40S-SXM_1x")


def test_every_model_form_factor_is_a_model_choice():
    assert set(FORM_FACTORS) == set(FormFactor.values)
    assert all(spec.form_factors and set(spec.form_factors) <= set(FORM_FACTORS) for spec in CANONICAL_GPUS.values())


def _gpu_rows(path):
    cloud = path.parent.name
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            accelerator = (row.get("AcceleratorName") or "").strip()
            if cloud == "gcp":
                host = _gcp_host_gpu((row.get("InstanceType") or "").strip())
                if accelerator and not (row.get("InstanceType") or "").strip():
                    yield line, row, accelerator, int(float(row["AcceleratorCount"])), ""
                elif host:
                    yield line, row, host[0], host[1], row["InstanceType"].strip()
            elif accelerator:
                yield line, row, accelerator, int(float(row["AcceleratorCount"])), row["InstanceType"].strip()


@needs_shared
def test_every_gpu_string_in_the_shared_catalogue_maps_to_a_model_form_factor_and_memory():
    seen = set()
    for path in sorted(SHARED_CATALOG.glob("*/vms.csv")):
        cloud = path.parent.name
        for line, row, accelerator, gpus, instance_type in _gpu_rows(path):
            spec = canonical_gpu(accelerator)
            variant = resolve_variant(cloud, spec, instance_type=instance_type, accelerator=accelerator,
                                      gpu_info=row.get("GpuInfo") or "", gpus=gpus)
            model = CANONICAL_GPUS[variant.model]
            assert variant.form_factor in model.form_factors, (cloud, line)
            assert variant.memory_gb in model.memories, (cloud, line)
            gib = gpu_memory_gib(cloud, row.get("GpuInfo") or "", gpus)
            assert gib is None or abs(gib - variant.memory_gb) / variant.memory_gb < 0.12, (cloud, line)
            seen.add((variant.model, variant.form_factor, variant.memory_gb))
    assert {("H100", "sxm", 80), ("H100", "pcie", 80), ("H100", "nvl", 94), ("A100", "sxm", 40),
            ("A100-80GB", "sxm", 80), ("A100-80GB", "pcie", 80)} <= seen


@needs_shared
def test_parse_reports_no_variant_problem_and_every_offer_carries_its_variant(parsed_catalog):
    assert not [p for p in parsed_catalog.problems if "variant" in p.reason or "come as" in p.reason]
    assert all(o.form_factor in FORM_FACTORS and o.gpu_memory_gb > 0 for o in parsed_catalog.offers)


@needs_shared
def test_bundled_snapshot_is_the_parsed_shared_catalogue():
    """`build_catalog_snapshot` was re-run after the last parser change: `make run` sees the same offers."""
    snapshot, parsed = load_snapshot(), parse_catalog(SHARED_CATALOG)
    assert snapshot.offers == parsed.offers and snapshot.partners == parsed.partners
