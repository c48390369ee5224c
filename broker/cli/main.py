"""`brokerctl` entry point: parse, run one command, map every outcome to a documented exit code."""

import argparse
import sys
from collections.abc import Sequence

from broker.cli.commands import catalog, deployments, fleets, jobs, login, pods, rentals, usage
from broker.cli.context import Context
from broker.cli.errors import CliError, ExitCode, NoCapacity, UsageError
from broker.cli.output import emit_json
from broker.cli.progress import Progress

EPILOG = """\
configuration: --url/--api-key, else BROKER_URL/BROKER_API_KEY, else the file written by `brokerctl login`.
exit codes: 0 ok, 1 other API or network error, 2 usage or invalid request (HTTP 400) or bad configuration,
  3 no capacity / no placement, 4 timed out waiting (the resource keeps running), 5 failed, 6 auth (401/403),
  130 interrupted.
--json: exactly one JSON document on stdout (on error: {"error": {...}}, merged into the rental/deployment
  when there is one); progress and messages always go to stderr. See docs/cli.md."""

COMMAND_MODULES = (catalog, rentals, deployments, fleets, jobs, pods, usage, login)


class ArgumentParser(argparse.ArgumentParser):
    """Raise instead of exiting, so usage errors take the same path (and --json shape) as the rest."""

    def error(self, message: str):  # type: ignore[override]
        raise ParseError(message, parser=self)


class ParseError(UsageError):
    def __init__(self, message: str, *, parser: argparse.ArgumentParser):
        super().__init__(message)
        self.parser = parser


def common_options(*, suppress: bool) -> ArgumentParser:
    """Options valid before or after the command name; the command's copy must not reset the global one."""
    default = argparse.SUPPRESS if suppress else None
    common = ArgumentParser(add_help=False)
    group = common.add_argument_group("connection and output")
    group.add_argument("--url", default=default, help="broker base URL (default: BROKER_URL or the login file)")
    group.add_argument("--api-key", default=default,
                       help="API key (default: BROKER_API_KEY or the login file; prefer those, "
                            "a flag shows in the process list)")
    group.add_argument("--json", action="store_true", default=argparse.SUPPRESS if suppress else False,
                       help="print exactly one JSON document on stdout")
    group.add_argument("--retries", type=non_negative_int, default=argparse.SUPPRESS if suppress else 5, metavar="N",
                       help="retries on HTTP 429/502/503/504 and connection errors, with backoff (default 5)")
    return common


def non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="brokerctl", parents=[common_options(suppress=False)], epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Rent GPUs and deploy NIM models on GPU Broker from a terminal or a CI pipeline.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = common_options(suppress=True)
    for module in COMMAND_MODULES:
        module.register(subparsers, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    progress = Progress(sys.stderr)
    json_mode = "--json" in argv
    try:
        args = build_parser().parse_args(argv)
        json_mode = bool(args.json)
        return int(args.handler(Context(args, progress)))
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    except CliError as exc:
        progress.done()
        report_error(exc, json_mode=json_mode)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        progress.done()
        sys.stderr.write("brokerctl: interrupted\n")
        return int(ExitCode.INTERRUPTED)


def report_error(error: CliError, *, json_mode: bool) -> None:
    if json_mode:
        document = {"error": error.as_json()}
        emit_json({**error.resource, **document} if isinstance(error.resource, dict) else document)
    elif isinstance(error, ParseError):
        error.parser.print_usage(sys.stderr)
    sys.stderr.write("\n".join(error_lines(error)) + "\n")


def error_lines(error: CliError) -> list[str]:
    """The human message: the text, then field errors or the matching explanation when present."""
    lines = [f"brokerctl: error: {error.message}"]
    if isinstance(error.details.get("errors"), dict):
        for field, messages in sorted(error.details["errors"].items()):
            for message in messages if isinstance(messages, list) else [messages]:
                lines.append(f"  {field}: {_flatten(message)}")
    if isinstance(error, NoCapacity) and error.details.get("explanation"):
        lines.extend(catalog.explanation_lines(error.details["explanation"]))
    return lines


def _flatten(message: object) -> str:
    if isinstance(message, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in message.items())
    if isinstance(message, list):
        return "; ".join(_flatten(item) for item in message)
    return str(message)
