"""Every GPU string the Shadeform, Vast, Verda, Hyperstack, Google Cloud, Lium, JarvisLabs, Mithril, Nebius, Yotta,
Hyperbolic and Seeweb APIs report for the catalogue's supply maps to a canonical model."""

import pytest

from marketplace.catalog.gpus import UnknownGpu, canonical_gpu
from marketplace.catalog.snapshot import load_snapshot
from providers.gcp import GcpAdapter
from providers.hyperbolic import HyperbolicAdapter
from providers.hyperstack import HyperstackAdapter
from providers.jarvislabs import JarvisLabsAdapter
from providers.lium import LiumAdapter
from providers.mithril import MithrilAdapter
from providers.nebius import NebiusAdapter
from providers.seeweb import SeewebAdapter
from providers.shadeform import ShadeformAdapter
from providers.simulator import SimulatorServer
from providers.simulator.gcp_routes import billing_url, service_account_key
from providers.simulator.hyperbolic_routes import MODEL_BY_GPU
from providers.simulator.yotta_routes import org_id
from providers.vast import VastAdapter
from providers.verda import VerdaAdapter
from providers.yotta import YottaAdapter

SEEN = {
    "shadeform": {
        "A10": "A10", "A100": "A100", "A100_80G": "A100-80GB", "A16": "A16", "A4000": "A4000", "A5000": "A5000",
        "A6000": "A6000", "GAUDI2": "GAUDI2", "H100": "H100", "H200": "H200", "L4": "L4", "L40": "L40",
        "L40S": "L40S", "RTX6000-Ada": "RTX6000-Ada", "RTXPRO6000": "RTXPRO6000", "V100": "V100",
        "V100_32G": "V100-32GB",
    },
    "vast": {
        "A100 PCIE 80GB": "A100-80GB", "A100 SXM4": "A100", "A40": "A40", "B200": "B200", "H100 NVL": "H100",
        "H100 SXM": "H100", "H200": "H200", "L40S": "L40S", "RTX 3060": "RTX3060", "RTX 3060 Ti": "RTX3060",
        "RTX 3070": "RTX3070", "RTX 3080": "RTX3080", "RTX 3090": "RTX3090", "RTX 4060 Ti": "RTX4060",
        "RTX 4070S Ti": "RTX4070", "RTX 4090": "RTX4090", "RTX 5090": "RTX5090", "RTX 6000Ada": "RTX6000-Ada",
        "RTX A2000": "A2000", "RTX A6000": "A6000", "RTX PRO 6000 S": "RTXPRO6000", "Tesla V100": "V100",
    },
    "verda": {
        "A100-80GB": "A100-80GB", "B200": "B200", "B300": "B300", "H100": "H100", "H200": "H200",
        "RTX6000-Ada": "RTX6000-Ada", "RTXPRO6000": "RTXPRO6000", "V100": "V100",
    },
    "hyperstack": {
        "A100-80G-PCIe": "A100-80GB", "A100-80G-PCIe-NVLink": "A100-80GB", "H100-80G-PCIe": "H100",
        "H100-80G-PCIe-NVLink": "H100", "H100-80G-SXM5": "H100", "L40": "L40", "RTX-A4000": "A4000",
        "RTX-A6000": "A6000",
    },
    "gcp": {
        "nvidia-tesla-a100": "A100", "nvidia-a100-80gb": "A100-80GB", "nvidia-h100-80gb": "H100",
        "nvidia-h100-mega-80gb": "H100", "nvidia-h200-141gb": "H200", "nvidia-b200": "B200",
    },
    "lium": {
        "B200": "B200", "B300 SXM6 AC": "B300", "H100 80GB HBM3": "H100", "H100 PCIe": "H100", "H200": "H200",
        "L40": "L40", "L40S": "L40S", "RTX 3090": "RTX3090", "RTX 4090": "RTX4090", "RTX 5090": "RTX5090",
        "RTX 6000 Ada Generation": "RTX6000-Ada", "RTX PRO 6000 Blackwell Server Edition": "RTXPRO6000",
        "RTX PRO 6000 Blackwell Workstation Edition": "RTXPRO6000",
    },
    "jarvislabs": {"H100": "H100", "H200": "H200", "L4": "L4", "RTXPRO6000": "RTXPRO6000"},
    "mithril": {"H100": "H100", "H200": "H200"},  # the instance types' gpu_type
    "hyperbolic": {"NVIDIA-H100-80GB-HBM3": "H100"},  # the machines' hardware.gpus[].model
    "seeweb": {  # the plans' gpu_label, for the plans sold in a location
        "A100 80GB": "A100-80GB", "A30": "A30", "H200 141GB": "H200", "L40s 48GB": "L40S",
        "RTX 6000 24GB": "RTX6000", "RTX A6000 48GB": "A6000",
    },
    "nebius": {
        "gpu-b200-sxm": "B200", "gpu-h100-sxm": "H100", "gpu-h200-sxm": "H200", "gpu-l40s-a": "L40S",
        "gpu-l40s-d": "L40S",
    },
    "yotta": {"NVIDIA_GeForce_RTX_5090_32G": "RTX5090"},  # the catalogue's instance types' gpuType
}
# Yotta's GPU Types Reference (docs.yottalabs.ai, API Guides) and the pod reference's examples; Trainium and MI300X have
# no canonical model here (the broker sells NVIDIA and Gaudi only).
YOTTA_GPU_TYPES = {
    "NVIDIA_RTX_4090_24G": "RTX4090", "NVIDIA_RTX_5090_32G": "RTX5090", "NVIDIA_RTX_A6000_48G": "A6000",
    "NVIDIA_RTX_6000_Ada_48G": "RTX6000-Ada", "NVIDIA_A100_PCIe_40G": "A100", "NVIDIA_A100_40G": "A100",
    "NVIDIA_A100_PCIe_80G": "A100-80GB", "NVIDIA_A100_80G": "A100-80GB", "NVIDIA_H100_PCIe_80G": "H100",
    "NVIDIA_H100_80G": "H100", "NVIDIA_RTX_PRO_6000_96G": "RTXPRO6000", "NVIDIA_H200_141G": "H200",
    "NVIDIA_B200_180G": "B200", "NVIDIA_B300_262G": "B300", "NVIDIA_L4_24G": "L4", "NVIDIA_H100_80GB_HBM3_80G": "H100",
    "NVIDIA_GeForce_RTX_4090_24G": "RTX4090", "NVIDIA_GeForce_RTX_5090_32G": "RTX5090",
}
ADAPTERS = {"shadeform": (ShadeformAdapter, "shadeform_url", {}), "vast": (VastAdapter, "vast_url", {}),
            "verda": (VerdaAdapter, "verda_url", {"client_id": "broker"}),
            "hyperstack": (HyperstackAdapter, "hyperstack_url", {}), "lium": (LiumAdapter, "lium_url", {}),
            "jarvislabs": (JarvisLabsAdapter, "jarvislabs_url", {}), "mithril": (MithrilAdapter, "mithril_url", {}),
            "yotta": (YottaAdapter, "yotta_url", {}),
            "hyperbolic": (HyperbolicAdapter, "hyperbolic_url", {}),
            "seeweb": (SeewebAdapter, "seeweb_url", {})}


@pytest.fixture(scope="module")
def catalogue_simulator():
    offers = [o for o in load_snapshot().offers if o.partner in ADAPTERS or o.partner in ("gcp", "nebius")]
    server = SimulatorServer(offers, capacity=1).start()
    yield server
    server.stop()


def _adapter(server: SimulatorServer, slug: str):
    if slug == "gcp":
        url = server.gcp_url(slug)
        return GcpAdapter(base_url=url, billing_url=billing_url(url),
                          credentials={"service_account_key": service_account_key(f"sim-{slug}", url)})
    if slug == "nebius":
        return NebiusAdapter(base_url=server.nebius_url(slug),
                             credentials={"iam_token": f"sim-{slug}", "tenant_id": f"tenant-{slug}"})
    if slug == "yotta":
        return YottaAdapter(base_url=server.yotta_url(slug), credentials={"api_key": f"sim-{slug}", "org_id": org_id(slug)})
    cls, url, extra = ADAPTERS[slug]
    secret = "client_secret" if extra else "api_key"
    return cls(base_url=getattr(server, url)(slug), credentials={secret: f"sim-{slug}", **extra})


@pytest.mark.parametrize("slug", sorted([*ADAPTERS, "gcp", "nebius"]))
def test_every_gpu_string_the_vendor_reports_maps_to_its_canonical_model(catalogue_simulator, slug):
    seen = {offer.gpu for offer in _adapter(catalogue_simulator, slug).list_offers()}
    assert seen == set(SEEN[slug])
    assert {name: canonical_gpu(name).name for name in seen} == SEEN[slug]


def test_an_80_gb_vast_a100_is_told_apart_from_a_40_gb_one():
    assert canonical_gpu("A100 SXM4 80GB").name == "A100-80GB"
    assert canonical_gpu("A100 SXM4").name == "A100"


def test_every_yotta_gpu_type_code_maps_to_its_canonical_model():
    assert {code: canonical_gpu(code).name for code in YOTTA_GPU_TYPES} == YOTTA_GPU_TYPES
    for code in ("AWS_Trainium_32G", "AMD_MI300X_192G"):
        with pytest.raises(UnknownGpu):
            canonical_gpu(code)


def test_every_hyperbolic_model_string_maps_to_the_catalogue_gpu_it_stands_for():
    """Hyperbolic's model strings beyond the catalogue's H100 machines (its marketplace lists them all)."""
    seen = {"NVIDIA-H100-80GB-HBM3": "H100", "NVIDIA-H200": "H200", "NVIDIA-A100-SXM4-80GB": "A100-80GB",
            "NVIDIA-GeForce-RTX-4090": "RTX4090", "NVIDIA-GeForce-RTX-3090": "RTX3090", "NVIDIA-RTX-A6000": "A6000",
            "NVIDIA-L40S": "L40S"}
    assert set(MODEL_BY_GPU.values()) == set(seen)
    assert {model: canonical_gpu(model).name for model in seen} == seen
