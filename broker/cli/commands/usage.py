"""`usage`: cost per rental/deployment/day for the workspace, as a table, JSON or CSV."""

import argparse
import sys
from typing import Any

from broker.cli.context import Context
from broker.cli.errors import UsageError
from broker.cli.output import emit, emit_json, render_table


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    usage = subparsers.add_parser("usage", parents=[common], help="show the workspace's costs",
                                  description="Show cost per rental/deployment/day (GET /api/v1/usage).")
    usage.add_argument("--csv", action="store_true", help="print the broker's CSV export unchanged")
    usage.add_argument("--since", metavar="DATE", help="start of the period, ISO 8601 (default: 30 days ago)")
    usage.add_argument("--until", metavar="DATE", help="end of the period, ISO 8601 (default: now)")
    usage.set_defaults(handler=usage_command)


def usage_rows(document: Any) -> list[dict]:
    """The list of row objects in the usage answer, wherever the API puts it."""
    if isinstance(document, list):
        return [row for row in document if isinstance(row, dict)]
    if isinstance(document, dict):
        for key in ("results", "rows", "items", "usage", "days"):
            if isinstance(document.get(key), list):
                return usage_rows(document[key])
    return []


def scalar_summary(document: Any) -> list[str]:
    if not isinstance(document, dict):
        return []
    return [f"{key}: {value}" for key, value in document.items() if isinstance(value, str | int | float | type(None))
            and key not in ("count", "next", "previous")]


def usage_command(ctx: Context) -> int:
    period = {key: getattr(ctx.args, key) for key in ("since", "until") if getattr(ctx.args, key)}
    if ctx.args.csv:
        if ctx.json:
            raise UsageError("--csv and --json cannot be combined")
        sys.stdout.write(ctx.client().get_text("/api/v1/usage", {**period, "format": "csv"}))
        return 0
    document = ctx.client().get("/api/v1/usage", period or None)
    if ctx.json:
        emit_json(document)
        return 0
    rows = usage_rows(document)
    if rows:
        columns = [(key.upper(), lambda row, key=key: row.get(key)) for key in rows[0]
                   if not isinstance(rows[0][key], dict | list)]
        emit(render_table(rows, columns))
    summary = scalar_summary(document)
    if summary or not rows:
        emit("\n".join(summary) or "no usage yet")
    return 0
