"""`offers` (browse the catalogue) and `match` (dry-run a placement request)."""

import argparse
from typing import Any

from broker.cli.context import Context
from broker.cli.errors import NoCapacity
from broker.cli.output import emit, emit_json, money, render_table
from broker.cli.placement import (
    ARCHITECTURES,
    INTERCONNECTS,
    add_policy_options,
    add_shape_options,
    placement_request,
    positive_float,
    positive_int,
)

OFFER_COLUMNS = [
    ("ID", lambda o: o.get("id")),
    ("PARTNER", lambda o: o.get("partner")),
    ("REGION", lambda o: o.get("region")),
    ("CC", lambda o: o.get("country")),
    ("JUR", lambda o: o.get("jurisdiction")),
    ("INSTANCE", lambda o: o.get("instance_type")),
    ("GPU", lambda o: o.get("gpu")),
    ("GPUS", lambda o: o.get("gpus_per_node")),
    ("FORM", lambda o: o.get("form_factor")),
    ("MEM/GPU", lambda o: o.get("gpu_memory_gb")),
    ("LINK", lambda o: o.get("interconnect")),
    ("$/GPU-H", lambda o: money(o.get("price_per_gpu_hour"), 3)),
    ("$/H", lambda o: money(o.get("price_per_hour"))),
    ("SPOT $/H", lambda o: money(o.get("spot_price_per_hour"))),
    ("AVAIL", lambda o: o.get("available_nodes")),
    ("PRICE", lambda o: o.get("price_status")),
]

FORM_FACTORS = ("sxm", "pcie", "nvl", "superchip", "oam")  # the API's form_factor choices
OFFER_FILTERS = {  # option dest → API query parameter
    "gpu": "gpu", "min_gpus": "min_gpus", "min_gpu_memory": "min_gpu_memory_gb", "architecture": "architecture",
    "form_factor": "form_factor",
    "partner": "partner", "region": "region", "country": "country", "jurisdiction": "jurisdiction",
    "max_price": "max_price_per_gpu_hour", "interconnect": "interconnect", "ordering": "ordering",
}


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    offers = subparsers.add_parser(
        "offers", parents=[common], help="list GPU offers, cheapest per GPU-hour first",
        description="List catalogue offers matching the filters, as a table sorted by price per GPU-hour "
                    "(or by --ordering).")
    offers.add_argument("--gpu", help="GPU model, e.g. H100")
    offers.add_argument("--min-gpus", type=positive_int, metavar="N", help="at least N GPUs per node")
    offers.add_argument("--min-gpu-memory", type=positive_int, metavar="GB", help="at least GB GiB per GPU")
    offers.add_argument("--architecture", choices=ARCHITECTURES)
    offers.add_argument("--form-factor", choices=FORM_FACTORS, help="e.g. nvl for H100 NVL (94 GB), pcie, sxm")
    offers.add_argument("--partner", metavar="SLUG")
    offers.add_argument("--region", metavar="CODE", help="partner region code")
    offers.add_argument("--country", type=str.upper, metavar="CC", help="ISO 3166-1 alpha-2 country")
    offers.add_argument("--jurisdiction", type=str.upper, metavar="J", help="e.g. EU, UK, US")
    offers.add_argument("--spot", action="store_true", help="only offers with a spot price")
    offers.add_argument("--max-price", type=positive_float, metavar="USD", help="at most USD per GPU-hour")
    offers.add_argument("--interconnect", choices=INTERCONNECTS, help="minimum interconnect")
    offers.add_argument("--ordering", metavar="FIELD",
                        help="server ordering, e.g. price_per_gpu_hour or --ordering=-available_nodes "
                             "(use = for a descending field; default: cheapest per GPU-hour first)")
    offers.add_argument("--limit", type=positive_int, default=50, metavar="N", help="show at most N offers (default 50)")
    offers.set_defaults(handler=offers_command)

    match = subparsers.add_parser(
        "match", parents=[common], help="show where a request would be placed, and why (reserves nothing)",
        description="Send a placement request to POST /api/v1/match and show the ranked placements and what "
                    "each rule excluded. Exits 3 when nothing matches.")
    add_shape_options(match)
    add_policy_options(match)
    match.set_defaults(handler=match_command)


def offer_params(args: argparse.Namespace) -> dict[str, Any]:
    params = {api: getattr(args, dest) for dest, api in OFFER_FILTERS.items() if getattr(args, dest) is not None}
    if args.spot:
        params["spot"] = "true"
    params["page_size"] = max(1, min(args.limit, 500))
    return params


def sort_offers(offers: list[dict]) -> list[dict]:
    """Cheapest per GPU-hour first, unpriced last, then by id — the order when no --ordering is given."""
    def key(offer: dict) -> tuple:
        price = offer.get("price_per_gpu_hour")
        return (price is None, float(price) if price is not None else 0.0, offer.get("id") or 0)
    return sorted(offers, key=key)


def offers_command(ctx: Context) -> int:
    args = ctx.args
    offers = list(ctx.client().paginate("/api/v1/offers", offer_params(args), limit=args.limit))
    if not args.ordering:
        offers = sort_offers(offers)
    if ctx.json:
        emit_json(offers)
    elif offers:
        emit(render_table(offers, OFFER_COLUMNS))
    else:
        emit("no offers match these filters")
    return 0


PLACEMENT_COLUMNS = [
    ("#", lambda p: p["_rank"]),
    ("PARTNER", lambda p: _offer(p).get("partner")),
    ("REGION", lambda p: _offer(p).get("region")),
    ("CC", lambda p: _offer(p).get("country")),
    ("INSTANCE", lambda p: _offer(p).get("instance_type")),
    ("GPU", lambda p: _offer(p).get("gpu")),
    ("GPUS", lambda p: _offer(p).get("gpus_per_node")),
    ("NODES", lambda p: p.get("nodes")),
    ("SPOT", lambda p: p.get("spot")),
    ("$/GPU-H", lambda p: money(p.get("price_per_gpu_hour"), 3)),
    ("$/H TOTAL", lambda p: money(p.get("price_per_hour"))),
]


def _offer(placement: dict) -> dict:
    offer = placement.get("offer")
    return offer if isinstance(offer, dict) else {"partner": offer}


def explanation_lines(explanation: dict) -> list[str]:
    """`considered 120, matched 3` then one line per rule, largest exclusion first."""
    lines = [f"considered {explanation.get('considered', '?')} offers, matched {explanation.get('matched', '?')}"]
    excluded = explanation.get("excluded") or {}
    for rule, count in sorted(excluded.items(), key=lambda item: (-_as_int(item[1]), item[0])):
        lines.append(f"  excluded by {rule}: {count}")
    return lines


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def match_command(ctx: Context) -> int:
    answer = ctx.client().post("/api/v1/match", placement_request(ctx.args)) or {}
    placements = answer.get("placements") or []
    explanation = answer.get("explanation") or {}
    if not placements:
        raise NoCapacity("no placement matches the request; relax the rule that excluded the most offers",
                         details={"explanation": explanation}, resource=answer)
    if ctx.json:
        emit_json(answer)
        return 0
    ranked = [{**placement, "_rank": rank} for rank, placement in enumerate(placements, start=1)]
    emit(render_table(ranked, PLACEMENT_COLUMNS))
    emit("\n".join(["", *explanation_lines(explanation)]))
    return 0
