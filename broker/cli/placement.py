"""The DESIGN §2 placement request as command-line options, shared by `match`, `rent` and `deploy`."""

import argparse
from typing import Any

from broker.cli.errors import UsageError

INTERCONNECTS = ("pcie", "nvlink", "infiniband")
CAPACITY_MODES = ("fleet_first", "fleet_only", "marketplace_only")
ARCHITECTURES = ("blackwell", "hopper", "ada", "ampere", "turing", "volta", "gaudi")


def csv_list(text: str) -> list[str]:
    """argparse `type=` for repeatable, comma-separated values (`--country DE,FR --country NL`)."""
    return [item.strip() for item in text.split(",") if item.strip()]


def upper_csv_list(text: str) -> list[str]:
    return [item.upper() for item in csv_list(text)]


def lat_lon(text: str) -> dict[str, float]:
    try:
        lat, lon = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LAT,LON (e.g. 50.1,8.7), got {text!r}") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid latitude,longitude")
    return {"lat": lat, "lon": lon}


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than zero, got {text}")
    return value


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    """The `policy` object: every list option is repeatable and accepts comma-separated values."""
    group = parser.add_argument_group("policy (hard constraints; empty = no restriction)")
    group.add_argument("--region", dest="regions", action="extend", type=csv_list, default=[], metavar="CODE",
                       help="allowed partner region codes, e.g. eu-central-1")
    group.add_argument("--country", dest="countries", action="extend", type=upper_csv_list, default=[],
                       metavar="CC", help="allowed countries (ISO 3166-1 alpha-2), e.g. DE,FR")
    group.add_argument("--jurisdiction", dest="jurisdictions", action="extend", type=upper_csv_list, default=[],
                       metavar="J", help="allowed jurisdictions, e.g. EU, UK, US, CH")
    group.add_argument("--partner", dest="partners_allow", action="extend", type=csv_list, default=[],
                       metavar="SLUG", help="only these partners")
    group.add_argument("--deny-partner", dest="partners_deny", action="extend", type=csv_list, default=[],
                       metavar="SLUG", help="never these partners")
    group.add_argument("--partner-hq", dest="partner_hq_jurisdictions", action="extend", type=upper_csv_list,
                       default=[], metavar="J", help="only partners headquartered in these jurisdictions")
    group.add_argument("--certification", dest="certifications", action="extend", type=csv_list, default=[],
                       metavar="CERT", help="required partner certifications, e.g. ISO27001, SOC2, C5")


def add_shape_options(parser: argparse.ArgumentParser, *, nodes: bool = True) -> None:
    """GPU, node shape, price cap and proximity."""
    group = parser.add_argument_group("what to place")
    group.add_argument("--gpu", help="canonical GPU model, e.g. H100, H200, A100-80GB, L40S")
    group.add_argument("--min-gpu-memory", type=positive_int, metavar="GB",
                       help="minimum memory per GPU in GiB (instead of or with --gpu)")
    group.add_argument("--architecture", choices=ARCHITECTURES, help="GPU architecture")
    if nodes:
        group.add_argument("--gpus-per-node", type=positive_int, default=1, metavar="N", help="GPUs per node (default 1)")
        group.add_argument("--nodes", type=positive_int, default=1, metavar="N",
                           help="number of nodes; more than 1 is a gang from one partner region (default 1)")
        group.add_argument("--interconnect", choices=INTERCONNECTS, help="minimum interconnect: pcie < nvlink < infiniband")
        group.add_argument("--spot", action="store_true", help="spot capacity (cheaper, can be reclaimed)")
        group.add_argument("--spot-fallback", action="store_true",
                           help="with --spot: on-demand capacity when no spot placement is left")
        group.add_argument("--capacity", choices=CAPACITY_MODES,
                           help="own fleet machines first (the broker's default), only them, or only partners")
    group.add_argument("--max-price", type=positive_float, metavar="USD", help="price cap per GPU-hour in USD")
    group.add_argument("--allow-suspect-prices", action="store_true",
                       help="let offers whose price is marked suspect or stale win (off by default)")
    group.add_argument("--near", type=lat_lon, metavar="LAT,LON", help="prefer low latency to this point, e.g. 50.1,8.7")


def policy_from_args(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "regions": args.regions,
        "countries": args.countries,
        "jurisdictions": args.jurisdictions,
        "partners": {"allow": args.partners_allow, "deny": args.partners_deny},
        "partner_hq_jurisdictions": args.partner_hq_jurisdictions,
        "certifications": args.certifications,
    }


def placement_request(args: argparse.Namespace) -> dict[str, Any]:
    """Build the DESIGN §2 request body from parsed options."""
    if not (args.gpu or args.min_gpu_memory or args.architecture):
        raise UsageError("say what to place: --gpu, --min-gpu-memory or --architecture")
    request: dict[str, Any] = {
        "gpu": args.gpu,
        "min_gpu_memory_gb": args.min_gpu_memory,
        "gpus_per_node": args.gpus_per_node,
        "nodes": args.nodes,
        "spot": args.spot,
        "max_price_per_gpu_hour": args.max_price,
        "policy": policy_from_args(args),
    }
    if args.architecture:
        request["architecture"] = args.architecture
    if args.interconnect:
        request["interconnect"] = args.interconnect
    if args.near:
        request["near"] = args.near
    if args.allow_suspect_prices:
        request["allow_suspect_prices"] = True
    if args.spot_fallback:
        request["spot_fallback"] = True
    if getattr(args, "capacity", None):
        request["capacity"] = args.capacity
    return request
