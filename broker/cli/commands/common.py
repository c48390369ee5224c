"""Pieces the rental and deployment commands share: wait options, polling, failure classification."""

import argparse
from collections.abc import Callable

from broker.cli.context import Context
from broker.cli.durations import duration_arg, format_duration
from broker.cli.errors import ApiError, CliError, NoCapacity, ResourceFailed, UsageError
from broker.cli.http import new_idempotency_key
from broker.cli.output import emit, emit_json, render_table
from broker.cli.waiting import WaitResult, wait_for_state

NO_CAPACITY_PREFIXES = ("no capacity", "no placement")
ENDED = ("terminated", "failed")  # the final states of deployments and pods


def add_wait_options(parser: argparse.ArgumentParser, *, until: str, default_timeout: str = "30m") -> None:
    group = parser.add_argument_group("waiting")
    group.add_argument("--wait", action="store_true", help=f"poll until {until}; progress goes to stderr")
    group.add_argument("--timeout", type=duration_arg, default=duration_arg(default_timeout), metavar="DURATION",
                       help=f"with --wait: give up after this long, e.g. 90s, 15m, 2h (default {default_timeout}); "
                            "exit 4")
    group.add_argument("--poll-interval", type=duration_arg, default=2.0, metavar="DURATION",
                       help="with --wait: time between polls (default 2s)")


def add_idempotency_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--idempotency-key", metavar="KEY",
                        help="Idempotency-Key header; pin it (e.g. to the CI job id) so a retried step returns the "
                             "same resource instead of creating another (default: random per invocation)")


def idempotency_key(args: argparse.Namespace) -> str:
    key = args.idempotency_key or new_idempotency_key()
    if not 1 <= len(key) <= 128 or not key.isprintable():
        raise UsageError("--idempotency-key must be 1 to 128 printable characters")
    return key


def wait_resource(ctx: Context, first: dict, *, path: str, subject: str, stop_states: set[str],
                  fetch: Callable[[], dict] | None = None) -> WaitResult:
    """Poll `path` from the `first` answer until a stop state or `--timeout`."""
    result = wait_for_state(
        fetch or (lambda: ctx.client().get(path)), subject=subject, stop_states=stop_states, first=first,
        timeout=ctx.args.timeout, interval=ctx.args.poll_interval, on_state=ctx.progress.update,
        sleep=ctx.sleep, clock=ctx.clock,
    )
    ctx.progress.done()
    return result


def timeout_message(subject: str, state: str, waited: float, hint: str) -> str:
    return (f"timed out after {format_duration(waited)}: {subject} is still {state}; it keeps running "
            f"(and may be billed) — {hint}")


def failure_error(resource: dict, subject: str) -> CliError:
    """`failed` with a reason starting "no capacity"/"no placement" → exit 3; any other failure → exit 5."""
    reason = str(resource.get("failure_reason") or resource.get("reason") or "no reason given")
    message = f"{subject} failed: {reason}"
    if reason.strip().lower().startswith(NO_CAPACITY_PREFIXES):
        return NoCapacity(message, details={"reason": reason}, resource=resource)
    return ResourceFailed(message, details={"reason": reason}, resource=resource)


def list_live(ctx: Context, path: str, columns: list, noun: str) -> int:
    """Print the workspace's live resources at `path` (every one with `--all`) as a table, or JSON with `--json`."""
    rows = [r for r in ctx.client().paginate(path) if ctx.args.all or r.get("state") not in ENDED]
    if ctx.json:
        emit_json(rows)
    else:
        emit(render_table(rows, columns) if rows else f"no {noun}s")
    return 0


def find_live(ctx: Context, path: str, name: str, noun: str) -> dict:
    """The live resource at `path` named `name`; a 404-like error naming it when there is none."""
    for resource in ctx.client().paginate(path):
        if resource.get("name") == name and resource.get("state") not in ENDED:
            return resource
    raise ApiError(f"no live {noun} named {name!r} in this workspace", details={"status": 404})
