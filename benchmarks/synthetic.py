"""Synthetic offer catalogues with a realistic shape, for benchmarks."""

import random
from collections.abc import Iterator

from marketplace.catalog.gpus import CANONICAL_GPUS
from marketplace.matching import OfferSnapshot

# GPU model → (share of offers, typical on-demand price per GPU-hour in USD)
GPU_MIX = {
    "H100": (0.25, 2.9), "L4": (0.20, 0.8), "A100": (0.10, 1.6), "A100-80GB": (0.08, 2.0), "L40S": (0.15, 1.3),
    "B200": (0.06, 5.5), "H200": (0.06, 3.8), "A10G": (0.04, 1.0), "RTX4090": (0.03, 0.5), "V100": (0.03, 0.9),
}
HQS = ["US"] * 10 + ["EU"] * 7 + ["UK"] * 3 + ["IN", "IN", "CA", "JP"]
CERTS = ["ISO27001", "SOC2", "C5", "HDS"]
# (region code, country, jurisdiction, lat, lon); '' country = unspecified location
PLACES = [
    ("us-east-1", "US", "US", 38.9, -77.4), ("us-west-2", "US", "US", 45.8, -119.7),
    ("us-central1", "US", "US", 41.3, -95.9), ("ca-central-1", "CA", "CA", 45.5, -73.6),
    ("eu-central-1", "DE", "EU", 50.1, 8.7), ("eu-west-3", "FR", "EU", 48.9, 2.4),
    ("eu-north-1", "SE", "EU", 59.3, 18.1), ("europe-west4", "NL", "EU", 53.4, 6.8),
    ("eu-south-1", "IT", "EU", 45.5, 9.2), ("uk-london", "GB", "UK", 51.5, -0.1),
    ("ap-south-1", "IN", "IN", 19.1, 72.9), ("ap-northeast-1", "JP", "JP", 35.7, 139.7),
    ("ap-southeast-1", "SG", "SG", 1.35, 103.8), ("default", "", "", None, None),
]
NODE_SIZES = [1, 1, 2, 4, 8, 8]


def partner_profiles(count: int, rng: random.Random) -> list[dict]:
    return [{
        "partner": f"partner-{i:02d}", "partner_active": rng.random() > 0.08,
        "partner_reliability": round(rng.uniform(0.9, 1.0), 3), "partner_hq_jurisdiction": HQS[i % len(HQS)],
        "partner_certifications": frozenset(c for c in CERTS if rng.random() < 0.45),
    } for i in range(count)]


def synthetic_offers(count: int, *, seed: int = 7, partners: int = 25) -> Iterator[OfferSnapshot]:
    """`count` offers: ~25 partners, mixed locations, 10% unknown capacity, a few % suspect prices."""
    rng = random.Random(seed)
    profiles = partner_profiles(partners, rng)
    gpu_names, weights = list(GPU_MIX), [share for share, _ in GPU_MIX.values()]
    for offer_id in range(1, count + 1):
        gpu = rng.choices(gpu_names, weights)[0]
        spec, base = CANONICAL_GPUS[gpu], GPU_MIX[gpu][1]
        gpus = rng.choice(NODE_SIZES)
        place = rng.choice(PLACES)
        price = round(base * gpus * rng.uniform(0.7, 1.6), 4)
        suspect = rng.random() < 0.03
        yield OfferSnapshot(
            id=offer_id, gpu=gpu, gpu_memory_gb=spec.memory_gb, architecture=spec.architecture, gpus_per_node=gpus,
            instance_type=f"{gpu.lower()}-x{gpus}-{offer_id}", price_per_hour=price * (0.1 if suspect else 1),
            spot_price_per_hour=round(price * rng.uniform(0.3, 0.6), 4) if rng.random() < 0.4 else None,
            interconnect="infiniband" if gpus == 8 and rng.random() < 0.5 else ("nvlink" if gpus > 1 else "pcie"),
            region=place[0], country=place[1], jurisdiction=place[2], latitude=place[3], longitude=place[4],
            available_nodes=None if rng.random() < 0.1 else rng.randint(0, 32),
            price_status="suspect" if suspect else "ok", price_status_reason="synthetic" if suspect else "",
            vcpus=16.0 * gpus, memory_gb=120.0 * gpus, **rng.choice(profiles))
