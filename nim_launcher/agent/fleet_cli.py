"""The fleet verbs of `gpubroker-agent`: `join` (register this machine, keep its credential, run as a service)
and `work` (the pull loop the service runs)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .collector import Collector
from .fleet_join import (
    JoinError,
    default_credentials_path,
    install_service,
    parse_simulated,
    read_credentials,
    read_inventory,
    register,
    write_credentials,
)
from .fleet_work import FleetWorker
from .nvml import open_nvml
from .state import default_state_path, read_boot_id

log = logging.getLogger("nim_launcher.agent")
VERBS = ("join", "work")


def _work_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--credentials", type=Path, default=None, help="the machine's credential file (0600)")
    parser.add_argument("--wait", type=float, default=20.0, help="long-poll seconds")
    parser.add_argument("--sandbox", type=Path, default=None,
                        help="run launch plans below this folder (demos and tests, not a fleet machine)")
    parser.add_argument("--sandbox-bin", type=Path, default=None, help="first on PATH for launch plans (sandbox)")
    parser.add_argument("--state-file", type=Path, default=None, help="where Xid/reboot history is kept")
    parser.add_argument("-v", "--verbose", action="store_true")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gpubroker-agent", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    join = verbs.add_parser("join", help="register this machine with a fleet")
    join.add_argument("--broker", required=True, help="broker base URL")
    join.add_argument("--token", required=True, help="the fleet's join token")
    join.add_argument("--country", required=True, help="where the machine is (ISO 3166-1 alpha-2)")
    join.add_argument("--region", default="", help="a region name of your own (policy `regions`)")
    join.add_argument("--simulated-gpus", default=None, help="declare MODEL:COUNT instead of reading NVML")
    join.add_argument("--no-service", action="store_true", help="do not install the systemd service")
    join.add_argument("--run", action="store_true", help="go on with the work loop in this process")
    _work_options(join)
    _work_options(verbs.add_parser("work", help="pull and run this machine's work (what the service runs)"))
    args = parser.parse_args(argv)
    if getattr(args, "simulated_gpus", None):
        try:
            parse_simulated(args.simulated_gpus)
        except ValueError as exc:
            parser.error(str(exc))
    return args


def health_reader(args: argparse.Namespace, simulated: str | None):
    """(state, reasons) per poll: the same NVML health verdict a partner node's agent sends."""
    if simulated:
        reason = f"simulated GPUs {simulated}: no NVML reading"
        return lambda: ("healthy", [reason])
    session, reason = open_nvml()
    collector = Collector(session=session, unavailable_reason=reason, boot_id=read_boot_id(),
                          state_path=args.state_file or default_state_path())

    def read() -> tuple[str, list[str]]:
        report = collector.collect()
        return report["state"], list(report.get("reasons", []))
    return read


def join(args: argparse.Namespace) -> int:
    path = args.credentials or default_credentials_path()
    try:
        answer = register(broker=args.broker, token=args.token, country=args.country.upper(), region=args.region,
                          inventory=read_inventory(args.simulated_gpus))
    except (JoinError, OSError) as exc:
        log.error("%s", exc)
        return 1
    machine = answer["machine"]
    write_credentials(path, {"broker": args.broker, "machine_id": machine["id"], "token": answer["machine_token"],
                             "simulated_gpus": args.simulated_gpus or ""})
    sys.stdout.write(f"joined as machine {machine['id']}: {machine['inventory']}; credential in {path}\n")
    if args.run:
        return work(args, path)
    if not args.no_service and install_service(path, []):
        sys.stdout.write("running as gpubroker-agent.service\n")
    else:
        sys.stdout.write(f"start the work loop with: gpubroker-agent work --credentials {path}\n")
    return 0


def work(args: argparse.Namespace, path: Path | None = None) -> int:
    credentials = read_credentials(path or args.credentials or default_credentials_path())
    worker = FleetWorker(credentials, health=health_reader(args, credentials.get("simulated_gpus") or None),
                         wait_s=args.wait, sandbox=args.sandbox, sandbox_bin=args.sandbox_bin)
    return worker.run_forever()


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return join(args) if args.verb == "join" else work(args)
    except KeyboardInterrupt:
        return 0
