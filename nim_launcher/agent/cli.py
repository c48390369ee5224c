"""`python -m nim_launcher.agent`: read the GPUs, judge their health, heartbeat to the broker."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import fleet_cli, job_runner
from .activity import JupyterServer
from .collector import Collector
from .heartbeat import send_heartbeat
from .kernel_log import KernelLogReader, boot_time
from .nvml import NvmlSession, open_nvml
from .options import BROKER_URL, INTERVAL, NODE_ID, NODE_TOKEN, SPOT_METADATA_URL, STATE_FILE
from .spot import SpotWatch, wait_watching
from .state import default_state_path, read_boot_id

log = logging.getLogger("nim_launcher.agent")
DEFAULT_INTERVAL_S = 60.0


def parse_args(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> argparse.Namespace:
    """Options win over their environment variables (`options.py` names both)."""
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog="python -m nim_launcher.agent", description=__doc__)
    for setting in (BROKER_URL, NODE_TOKEN, NODE_ID, SPOT_METADATA_URL):
        parser.add_argument(setting.option, dest=setting.dest, default=env.get(setting.env, ""),
                            help=f"{setting.help} (env {setting.env})")
    parser.add_argument(INTERVAL.option, dest=INTERVAL.dest, type=float,
                        default=env.get(INTERVAL.env, DEFAULT_INTERVAL_S), help=f"{INTERVAL.help} (env {INTERVAL.env})")
    parser.add_argument("--once", action="store_true", help="one reading: print it, send one heartbeat, exit")
    parser.add_argument(STATE_FILE.option, dest=STATE_FILE.dest, type=Path, default=env.get(STATE_FILE.env) or None,
                        help=f"{STATE_FILE.help} (env {STATE_FILE.env})")
    parser.add_argument("--no-kernel-log", action="store_true", help="take Xids from NVML events only")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.broker and not (args.node_id and args.node_token):
        parser.error(f"{BROKER_URL.option} needs {NODE_ID.option} and {NODE_TOKEN.option} "
                     f"(or {NODE_ID.env} / {NODE_TOKEN.env})")
    if args.interval <= 0:
        parser.error(f"{INTERVAL.option} must be positive")
    return args


def build_collector(args: argparse.Namespace, nvml_module=None) -> Collector:
    session, reason = open_nvml(nvml_module)
    if session is None:
        log.warning("no NVIDIA GPU / NVML not available: %s", reason)
    booted_at = boot_time(time.time())
    kernel = None if args.no_kernel_log else KernelLogReader(booted_at)
    return Collector(session=session, unavailable_reason=reason, state_path=args.state_file or default_state_path(),
                     kernel=kernel, boot_id=read_boot_id(), booted_at=booted_at,
                     jupyter=JupyterServer.from_environ(os.environ))


def heartbeat(args: argparse.Namespace, report: dict) -> bool:
    if not args.broker:
        return True
    result = send_heartbeat(report, broker=args.broker, node_id=args.node_id, token=args.node_token)
    if result.ok:
        log.info("heartbeat sent: state %s", report["state"])
    return result.ok


def run_once(args: argparse.Namespace, collector: Collector) -> int:
    report = collector.collect()
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if heartbeat(args, report) else 1


def emit(args: argparse.Namespace, report: dict) -> None:
    """Heartbeat to the broker, or without one print the report as one JSON line."""
    if args.broker:
        heartbeat(args, report)
    else:
        sys.stdout.write(json.dumps(report) + "\n")
        sys.stdout.flush()


def run_forever(args: argparse.Namespace, collector: Collector) -> int:
    """Read, heartbeat, then wait for Xid events (or sleep) until the next interval."""
    events: list = []
    watch = SpotWatch(args.spot_metadata_url) if args.spot_metadata_url else None
    while True:
        started = time.monotonic()
        emit(args, {**collector.collect(events), **(watch.report_fields() if watch else {})})
        remaining = max(0.0, args.interval - (time.monotonic() - started))
        events = wait_watching(lambda s: wait_for_xids(collector.session, s), remaining, watch)


def wait_for_xids(session: NvmlSession | None, seconds: float) -> list:
    """NVML's event wait doubles as the sleep, so a critical Xid is reported at once."""
    if session is not None and session.xid_events_supported():
        return session.wait_xid_events(int(seconds * 1000))
    time.sleep(seconds)
    return []


def _stop(signum, frame):  # noqa: ARG001
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [job_runner.VERB]:  # a batch job's worker wrapper (job_runner.py)
        return job_runner.main(argv[1:])
    if argv and argv[0] in fleet_cli.VERBS:  # `join` / `work`: a fleet machine (fleet_cli.py)
        return fleet_cli.main(argv)
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    collector = build_collector(args)
    signal.signal(signal.SIGTERM, _stop)
    try:
        return run_once(args, collector) if args.once else run_forever(args, collector)
    except KeyboardInterrupt:
        return 0
    finally:
        if collector.session is not None:
            collector.session.close()
