"""Parse a SkyPilot-layout catalogue (`<cloud>/vms.csv`) into normalised offer rows.

Pure (no ORM): the importer, the bundled snapshot and the partner simulator share it.
Real data is messy: columns differ per cloud, GCP prices host VM and accelerator in separate rows,
"0.00" spot means no spot, some rows carry no region. Bad rows are reported, never silently dropped.
"""

import csv
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .gpus import UnknownGpu, canonical_gpu
from .regions import RegionInfo, UnmappedRegion, locate_region
from .variants import UnknownVariant, resolve_variant

INFINIBAND_PREFIXES = {
    "aws": ("p4d.", "p4de.", "p5.48xlarge", "p5e.", "p5en.", "p6-"),
    "gcp": ("a3-megagpu", "a3-ultragpu", "a4-highgpu"),
}
SXM_CLASS = {"H100", "H200", "B200", "B300", "GB200", "GH200", "A100", "A100-80GB"}

# GCP host machine type → (accelerator name in the price rows, GPUs)
_GCP_HOSTS = [
    (re.compile(r"^a2-highgpu-(\d+)g$"), "A100", None),
    (re.compile(r"^a2-megagpu-16g$"), "A100", 16),
    (re.compile(r"^a2-ultragpu-(\d+)g$"), "A100-80GB", None),
    (re.compile(r"^a3-highgpu-(\d+)g$"), "H100", None),
    (re.compile(r"^a3-edgegpu-8g(-nolssd)?$"), "H100", 8),
    (re.compile(r"^a3-megagpu-8g$"), "H100-MEGA", 8),
    (re.compile(r"^a3-ultragpu-8g(-nolssd)?$"), "H200", 8),
    (re.compile(r"^a4-highgpu-8g$"), "B200", 8),
]


@dataclass(frozen=True)
class OfferRow:
    partner: str
    region: str
    instance_type: str
    gpu: str
    gpus_per_node: int
    vcpus: float
    memory_gb: float
    interconnect: str
    price_per_hour: float | None
    spot_price_per_hour: float | None
    form_factor: str = ""  # "" = the model's usual one (rows built before variants were read)
    gpu_memory_gb: int = 0  # per GPU; 0 = the model's usual memory

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RowProblem:
    partner: str
    line: int
    reason: str


@dataclass
class CatalogParse:
    offers: list[OfferRow] = field(default_factory=list)
    regions: dict[tuple[str, str], RegionInfo] = field(default_factory=dict)
    problems: list[RowProblem] = field(default_factory=list)
    partners: list[str] = field(default_factory=list)


class MalformedRow(ValueError):
    pass


def _price(raw: str | None, column: str) -> float | None:
    raw = (raw or "").strip()
    if raw == "":
        return None
    try:
        value = float(raw)
    except ValueError as exc:
        raise MalformedRow(f"{column} {raw!r} is not a number") from exc
    if value < 0:
        raise MalformedRow(f"{column} {raw!r} is negative")
    return value


def _number(raw: str | None, column: str) -> float:
    return _price(raw, column) or 0.0


def _gpu_count(raw: str | None) -> int:
    count = _number(raw, "AcceleratorCount")
    if count < 1 or count != int(count):
        raise MalformedRow(f"AcceleratorCount {raw!r} is not a whole number of GPUs")
    return int(count)


def infer_interconnect(cloud: str, instance_type: str, gpu: str, count: int) -> str:
    lowered = instance_type.lower()
    if lowered.startswith(INFINIBAND_PREFIXES.get(cloud, ())) or (cloud in ("nebius", "mithril") and count == 8):
        return "infiniband"
    if "nvlink" in lowered or "sxm" in lowered or (count >= 8 and gpu in SXM_CLASS):
        return "nvlink"
    return "pcie"


def _spot(raw: str | None) -> float | None:
    value = _price(raw, "SpotPrice")
    return value if value else None  # "0.00" / empty mean "no spot offer"


def _keep_cheapest(rows: list[OfferRow]) -> list[OfferRow]:
    """One offer per (region, instance type): zones of one region collapse to the cheapest."""
    best: dict[tuple[str, str], OfferRow] = {}
    for row in rows:
        key = (row.region, row.instance_type)
        current = best.get(key)
        if current is None or (row.price_per_hour or float("inf")) < (current.price_per_hour or float("inf")):
            best[key] = row
    return list(best.values())


def _parse_plain(cloud: str, reader: csv.DictReader, result: CatalogParse) -> list[OfferRow]:
    rows = []
    for line, rec in enumerate(reader, start=2):
        if not (rec.get("AcceleratorName") or "").strip():
            continue  # CPU-only instance
        try:
            count = _gpu_count(rec.get("AcceleratorCount"))
            instance_type = (rec.get("InstanceType") or "").strip()
            if not instance_type:
                raise MalformedRow("InstanceType is empty")
            variant = resolve_variant(cloud, canonical_gpu(rec["AcceleratorName"]), instance_type=instance_type,
                                      accelerator=rec["AcceleratorName"], gpu_info=rec.get("GpuInfo") or "",
                                      gpus=count)
            region = _region(cloud, rec.get("Region") or "", result)
            rows.append(OfferRow(
                partner=cloud, region=region.code, instance_type=instance_type, gpu=variant.model,
                gpus_per_node=count, vcpus=_number(rec.get("vCPUs"), "vCPUs"),
                memory_gb=_number(rec.get("MemoryGiB"), "MemoryGiB"),
                interconnect=infer_interconnect(cloud, instance_type, variant.model, count),
                price_per_hour=_price(rec.get("Price"), "Price"), spot_price_per_hour=_spot(rec.get("SpotPrice")),
                form_factor=variant.form_factor, gpu_memory_gb=variant.memory_gb,
            ))
        except (MalformedRow, UnknownGpu, UnknownVariant, UnmappedRegion) as exc:
            result.problems.append(RowProblem(cloud, line, str(exc)))
    return rows


def _region(cloud: str, code: str, result: CatalogParse) -> RegionInfo:
    info = locate_region(cloud, code)
    result.regions[(cloud, info.code)] = info
    return info


def _gcp_host_gpu(instance_type: str) -> tuple[str, int] | None:
    for pattern, accelerator, fixed_count in _GCP_HOSTS:
        if match := pattern.match(instance_type):
            return accelerator, fixed_count or int(match.group(1))
    return None


def _sum(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a + b, 6)


def _parse_gcp(reader: csv.DictReader, result: CatalogParse) -> list[OfferRow]:
    """GCP: a GPU VM's price = host VM row + accelerator row of the same zone."""
    hosts, accelerators = [], {}
    for line, rec in enumerate(reader, start=2):
        try:
            if (rec.get("InstanceType") or "").strip():
                hosts.append((line, rec))
            elif (rec.get("AcceleratorName") or "").strip():
                key = (rec["AcceleratorName"].strip(), _gpu_count(rec.get("AcceleratorCount")),
                       rec.get("AvailabilityZone", "").strip())
                accelerators[key] = (line, rec)
            else:
                raise MalformedRow("row has neither an instance type nor an accelerator")
        except MalformedRow as exc:
            result.problems.append(RowProblem("gcp", line, str(exc)))
    rows, used = [], set()
    for line, host in hosts:
        gpu = _gcp_host_gpu(host["InstanceType"].strip())
        if gpu is None:
            continue  # not a GPU host type
        key = (gpu[0], gpu[1], host.get("AvailabilityZone", "").strip())
        if key not in accelerators:
            result.problems.append(RowProblem("gcp", line, f"no {gpu[1]}×{gpu[0]} price row in zone {key[2]!r}"))
            continue
        used.add(key)
        _, acc = accelerators[key]
        try:
            instance_type = host["InstanceType"].strip()
            variant = resolve_variant("gcp", canonical_gpu(gpu[0]), instance_type=instance_type,
                                      accelerator=gpu[0], gpu_info=acc.get("GpuInfo") or "", gpus=gpu[1])
            region = _region("gcp", host.get("Region") or "", result)
            host_spot, acc_spot = _spot(host.get("SpotPrice")), _spot(acc.get("SpotPrice"))
            rows.append(OfferRow(
                partner="gcp", region=region.code, instance_type=instance_type, gpu=variant.model,
                gpus_per_node=gpu[1], vcpus=_number(host.get("vCPUs"), "vCPUs"),
                memory_gb=_number(host.get("MemoryGiB"), "MemoryGiB"),
                interconnect=infer_interconnect("gcp", instance_type, variant.model, gpu[1]),
                price_per_hour=_sum(_price(host.get("Price"), "Price"), _price(acc.get("Price"), "Price")),
                spot_price_per_hour=_sum(host_spot or 0.0, acc_spot) if acc_spot else None,
                form_factor=variant.form_factor, gpu_memory_gb=variant.memory_gb,
            ))
        except (MalformedRow, UnknownGpu, UnknownVariant, UnmappedRegion) as exc:
            result.problems.append(RowProblem("gcp", line, str(exc)))
    for key, (line, _) in accelerators.items():
        if key not in used and not any(k[:2] == key[:2] for k in used):
            result.problems.append(RowProblem("gcp", line, f"{key[1]}×{key[0]} price has no host VM type in the data"))
    return rows


def parse_catalog(directory: str | Path) -> CatalogParse:
    """Parse every `<cloud>/vms.csv` under `directory`; each folder becomes a partner."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"catalogue directory {directory} does not exist")
    result = CatalogParse()
    for path in sorted(directory.glob("*/vms.csv")):
        cloud = path.parent.name
        result.partners.append(cloud)
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = _parse_gcp(reader, result) if cloud == "gcp" else _parse_plain(cloud, reader, result)
        result.offers.extend(_keep_cheapest(rows))
    if not result.partners:
        raise FileNotFoundError(f"no <cloud>/vms.csv files under {directory}")
    return result


def summarize(result: CatalogParse) -> dict[str, dict[str, int]]:
    """Offers per partner and GPU model."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in result.offers:
        table[row.partner][row.gpu] += 1
    return {partner: dict(gpus) for partner, gpus in table.items()}
