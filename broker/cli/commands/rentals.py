"""`rent`, `rentals`, `status` and `terminate`."""

import argparse
from pathlib import Path
from typing import Any

from broker.cli.commands.common import (
    add_idempotency_option,
    add_wait_options,
    failure_error,
    idempotency_key,
    timeout_message,
    wait_resource,
)
from broker.cli.context import Context
from broker.cli.errors import ResourceFailed, UsageError, WaitTimeout
from broker.cli.output import emit, emit_json, money, render_table
from broker.cli.placement import (
    add_policy_options,
    add_shape_options,
    placement_request,
    positive_float,
    positive_int,
)

RENTALS = "/api/v1/rentals"


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    rent = subparsers.add_parser(
        "rent", parents=[common], help="rent GPU nodes under a policy",
        description="Rent the cheapest placement that satisfies the request and policy (POST /api/v1/rentals). "
                    "Every invocation sends an Idempotency-Key. With --wait, poll until the rental is running "
                    "(exit 0), failed (exit 5, or 3 when out of capacity) or --timeout passes (exit 4; the "
                    "rental keeps running).")
    add_shape_options(rent)
    add_policy_options(rent)
    lease = rent.add_argument_group("lease")
    lease.add_argument("--max-hours", type=positive_float, required=True, metavar="H",
                       help="maximum lease duration in hours; the broker terminates the rental after it (required)")
    lease.add_argument("--ssh-public-key", type=Path, metavar="FILE", help="public key file to install on the nodes")
    add_idempotency_option(rent)
    add_wait_options(rent, until="the rental is running")
    rent.set_defaults(handler=rent_command)

    rentals = subparsers.add_parser("rentals", parents=[common], help="list this workspace's rentals",
                                    description="List rentals, newest first.")
    rentals.add_argument("--state", action="append", metavar="STATE",
                         help="only rentals in this state (repeatable), e.g. running")
    rentals.add_argument("--limit", type=positive_int, default=50, metavar="N", help="show at most N rentals (default 50)")
    rentals.set_defaults(handler=rentals_command)

    status = subparsers.add_parser("status", parents=[common], help="show one rental: state, nodes, events, cost",
                                   description="Show a rental. With --wait, behave like `rent --wait` for an "
                                               "existing rental (useful after `rent` in CI, see docs/cli.md).")
    status.add_argument("id", metavar="ID", help="rental id")
    status.add_argument("--events", action="store_true", help="also list the rental's state events")
    add_wait_options(status, until="the rental is running")
    status.set_defaults(handler=status_command)

    terminate = subparsers.add_parser("terminate", parents=[common], help="terminate a rental (idempotent)",
                                      description="Terminate a rental. Safe to run twice.")
    terminate.add_argument("id", metavar="ID", help="rental id")
    add_wait_options(terminate, until="the rental is terminated", default_timeout="10m")
    terminate.set_defaults(handler=terminate_command)


def read_public_key(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--ssh-public-key: cannot read {path}: {exc}") from None
    if "PRIVATE KEY" in text:
        raise UsageError(f"--ssh-public-key: {path} is a private key; pass the .pub file")
    if not text:
        raise UsageError(f"--ssh-public-key: {path} is empty")
    return text


def rent_command(ctx: Context) -> int:
    args = ctx.args
    body = {**placement_request(args), "max_hours": args.max_hours}
    if args.ssh_public_key:
        body["ssh_public_key"] = read_public_key(args.ssh_public_key)
    key = idempotency_key(args)
    rental = ctx.client().post(RENTALS, body, idempotency_key=key)
    ctx.progress.note(f"rental {rental.get('id')}: {rental.get('state')} (idempotency key {key})")
    return finish_rental(ctx, rental, wait=args.wait)


def finish_rental(ctx: Context, rental: dict, *, wait: bool) -> int:
    """Wait if asked, turn a failed/timed-out rental into its exit code, print the rental."""
    rental_id = rental.get("id")
    subject = f"rental {rental_id}"
    if wait:
        result = wait_resource(ctx, rental, path=f"{RENTALS}/{rental_id}", subject=subject,
                               stop_states={"running", "failed", "terminating", "terminated"})
        rental = result.resource
        if result.timed_out:
            raise WaitTimeout(timeout_message(subject, rental.get("state"), result.waited,
                                              f"terminate it with: brokerctl terminate {rental_id}"),
                              details={"state": rental.get("state"), "terminate": f"brokerctl terminate {rental_id}"},
                              resource=rental)
        if rental.get("state") in ("terminating", "terminated"):
            raise ResourceFailed(f"{subject} was terminated before it was running", resource=rental)
    if rental.get("state") == "failed":
        raise failure_error(rental, subject)
    show_rental(ctx, rental)
    return 0


def show_rental(ctx: Context, rental: dict, *, events: bool = False) -> None:
    if ctx.json:
        emit_json(rental)
    else:
        emit("\n".join(rental_lines(rental, events=events)))


def rental_lines(rental: dict, *, events: bool = False) -> list[str]:
    lines = [f"rental {rental.get('id')}: {rental.get('state')}"]
    offer = rental.get("offer")
    if isinstance(offer, dict):
        lines.append(f"  offer:   {offer.get('partner')} {offer.get('region')} {offer.get('instance_type')} "
                     f"({offer.get('gpus_per_node')}x {offer.get('gpu')})")
    lines.append(f"  price:   ${money(rental.get('locked_price_per_hour'))}/h, "
                 f"cost so far ${money(rental.get('cost_so_far'))}")
    if rental.get("failure_reason"):
        lines.append(f"  reason:  {rental['failure_reason']}")
    for node in rental.get("nodes") or []:
        lines.append(f"  node {node.get('id')}: {node.get('state')}, health {node.get('health') or '-'}"
                     + (f", {node['ssh']}" if node.get("ssh") else ""))
    for event in (rental.get("events") or []) if events else []:
        lines.append(f"  {event.get('at')}  {event.get('from') or '-'} -> {event.get('to')}  {event.get('reason') or ''}")
    return lines


RENTAL_COLUMNS = [
    ("ID", lambda r: r.get("id")),
    ("STATE", lambda r: r.get("state")),
    ("GPU", lambda r: _offer_field(r, "gpu")),
    ("PARTNER", lambda r: _offer_field(r, "partner")),
    ("REGION", lambda r: _offer_field(r, "region")),
    ("NODES", lambda r: len(r.get("nodes") or []) or (r.get("request") or {}).get("nodes")),
    ("$/H", lambda r: money(r.get("locked_price_per_hour"))),
    ("COST", lambda r: money(r.get("cost_so_far"))),
    ("CREATED", lambda r: r.get("created_at")),
]


def _offer_field(rental: dict, field: str) -> Any:
    offer = rental.get("offer")
    if isinstance(offer, dict) and offer.get(field) is not None:
        return offer.get(field)
    return (rental.get("request") or {}).get(field)


def rentals_command(ctx: Context) -> int:
    args = ctx.args
    params: dict[str, Any] = {"page_size": max(1, min(args.limit, 500))}
    if args.state and len(args.state) == 1:
        params["state"] = args.state[0]
    rentals = [rental for rental in ctx.client().paginate(RENTALS, params)
               if not args.state or rental.get("state") in args.state][: max(args.limit, 0)]
    if ctx.json:
        emit_json(rentals)
    else:
        emit(render_table(rentals, RENTAL_COLUMNS) if rentals else "no rentals")
    return 0


def status_command(ctx: Context) -> int:
    rental = ctx.client().get(f"{RENTALS}/{rental_id_arg(ctx.args.id)}")
    if ctx.args.wait:
        return finish_rental(ctx, rental, wait=True)
    if ctx.json:
        emit_json(rental)
    else:
        emit("\n".join(rental_lines(rental, events=ctx.args.events)))
    return 0


def terminate_command(ctx: Context) -> int:
    rental_id = rental_id_arg(ctx.args.id)
    rental = ctx.client().post(f"{RENTALS}/{rental_id}/terminate") or {"id": rental_id, "state": "terminating"}
    subject = f"rental {rental_id}"
    if ctx.args.wait:
        result = wait_resource(ctx, rental, path=f"{RENTALS}/{rental_id}", subject=subject,
                               stop_states={"terminated", "failed", "preempted"})
        rental = result.resource
        if result.timed_out:
            raise WaitTimeout(f"timed out: {subject} is still {rental.get('state')}; "
                              f"check it with: brokerctl status {rental_id}", resource=rental)
    show_rental(ctx, rental)
    return 0


def rental_id_arg(value: str) -> str:
    if not value.isdigit():
        raise UsageError(f"rental ID must be a number, got {value!r}")
    return value
