"""`fleet create|list|show|cordon|uncordon|drain`: the workspace's own machines (DESIGN §13)."""

import argparse
from typing import Any

from broker.cli.context import Context
from broker.cli.errors import UsageError
from broker.cli.output import emit, emit_json, render_table

FLEETS = "/api/v1/fleets"
MACHINE_COLUMNS = [
    ("ID", lambda m: m["id"]), ("HOST", lambda m: m["hostname"]), ("STATE", lambda m: m["state"]),
    ("GPUS", lambda m: f"{m['gpus']}× {m['gpu']}" if m["gpus"] else "none"),
    ("WHERE", lambda m: "/".join(p for p in (m["country"], m["region"]) if p)),
    ("HEALTH", lambda m: m["health"]), ("SIMULATED", lambda m: "yes" if m["simulated"] else ""),
]


def _price(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a price in USD, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a price cannot be negative")
    return value


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    fleet = subparsers.add_parser("fleet", parents=[common], help="your own GPU machines (fleets)",
                                  description="Create fleets, list their machines, cordon and drain machines.")
    verbs = fleet.add_subparsers(dest="fleet_verb", metavar="VERB", required=True)
    create = verbs.add_parser("create", parents=[common], help="create a fleet; prints its join command once")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--price", type=_price, default=0.0, metavar="USD",
                        help="internal price per GPU-hour (default 0)")
    create.set_defaults(handler=create_command)
    verbs.add_parser("list", parents=[common], help="list the workspace's fleets").set_defaults(handler=list_command)
    show = verbs.add_parser("show", parents=[common], help="a fleet's machines")
    show.add_argument("fleet", metavar="FLEET", help="fleet name or id")
    show.set_defaults(handler=show_command)
    for verb, what in (("cordon", "no new work on the machine"), ("uncordon", "take new work again"),
                       ("drain", "terminate the machine's work, then remove it")):
        machine = verbs.add_parser(verb, parents=[common], help=what)
        machine.add_argument("fleet", metavar="FLEET", help="fleet name or id")
        machine.add_argument("machine", metavar="MACHINE", help="machine id or hostname")
        machine.set_defaults(handler=machine_command, verb=verb)


def _fleet(ctx: Context, name_or_id: str) -> dict:
    for fleet in ctx.client().get(FLEETS):
        if str(fleet["id"]) == name_or_id or fleet["name"] == name_or_id:
            return fleet
    raise UsageError(f"no fleet {name_or_id!r} in this workspace")


def create_command(ctx: Context) -> int:
    fleet = ctx.client().post(FLEETS, {"name": ctx.args.name, "price_per_gpu_hour": ctx.args.price})
    if ctx.json:
        emit_json(fleet)
        return 0
    emit(f"fleet {fleet['name']} (id {fleet['id']}) created. On each machine run (the token is shown only now):\n"
         f"  gpubroker-agent join --broker {ctx.client().base_url} --token {fleet['join_token']} --country CC")
    return 0


def list_command(ctx: Context) -> int:
    fleets = ctx.client().get(FLEETS)
    if ctx.json:
        emit_json(fleets)
        return 0
    emit(render_table(fleets, [("ID", lambda f: f["id"]), ("NAME", lambda f: f["name"]),
                               ("MACHINES", lambda f: len(f["machines"])),
                               ("PRICE/GPU-H", lambda f: f["price_per_gpu_hour"])]) if fleets else "no fleets")
    return 0


def show_command(ctx: Context) -> int:
    fleet = _fleet(ctx, ctx.args.fleet)
    if ctx.json:
        emit_json(fleet)
        return 0
    emit(render_table(fleet["machines"], MACHINE_COLUMNS) if fleet["machines"] else "no machine has joined yet")
    return 0


def machine_command(ctx: Context) -> int:
    fleet = _fleet(ctx, ctx.args.fleet)
    machine = next((m for m in fleet["machines"] if ctx.args.machine in (str(m["id"]), m["hostname"])), None)
    if machine is None:
        raise UsageError(f"no machine {ctx.args.machine!r} in fleet {fleet['name']}")
    answer = ctx.client().post(f"{FLEETS}/{fleet['id']}/machines/{machine['id']}/{ctx.args.verb}")
    if ctx.json:
        emit_json(answer)
        return 0
    emit(f"machine {answer['hostname']} ({answer['id']}): {answer['state']}")
    return 0
