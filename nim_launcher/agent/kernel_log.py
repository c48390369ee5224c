"""Xid lines from the kernel log (`/dev/kmsg`, `dmesg`, `journalctl -k`), whichever this node lets us read.

The driver logs every Xid as `NVRM: Xid (PCI:0000:1b:00): 79, pid=..., ...`; NVLink Xids 144-150
add the unit, the driver's severity and the interrupt info word whose bits 20-25 are the subcode.
Reading the log is optional: when no source is readable the agent still runs on NVML events.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import subprocess
from collections.abc import Callable, Iterable, Sequence

from .nvml import normalize_pci
from .readings import XidEvent
from .xid import NVLINK_XIDS

log = logging.getLogger(__name__)
XID_LINE = re.compile(r"NVRM: Xid \(PCI:(?P<pci>[0-9a-fA-F:.]+)\): (?P<xid>\d+),?\s*(?P<rest>.*)")
LOG_SEVERITY = re.compile(r"\b(fatal|non-?fatal)\b", re.IGNORECASE)
INTRINFO = re.compile(r"\((0x[0-9a-fA-F]+)")
MONOTONIC_PREFIX = re.compile(r"^\[\s*(?P<ts>\d+\.\d+)\]\s*(?P<msg>.*)$")
COMMAND_TIMEOUT_S = 10
MAX_KMSG_RECORDS = 200_000

Line = tuple[float | None, str]  # (seconds since boot, message)


class KernelLogUnavailable(Exception):
    pass


def parse_xid_line(message: str, *, at: float, source: str = "kernel") -> XidEvent | None:
    """The Xid event in one kernel log message, or None when the message is no Xid line."""
    match = XID_LINE.search(message)
    if match is None:
        return None
    xid, rest = int(match["xid"]), match["rest"]
    subcode = severity = None
    if xid in NVLINK_XIDS:
        severity_match = LOG_SEVERITY.search(rest)
        if severity_match:
            severity = "nonfatal" if severity_match[1].lower().startswith("non") else "fatal"
        intrinfo = INTRINFO.search(rest)
        if intrinfo:
            subcode = (int(intrinfo[1], 16) >> 20) & 0x3F
    return XidEvent(xid=xid, at=at, source=source, pci_bus_id=normalize_pci(match["pci"]), subcode=subcode,
                    log_severity=severity, message=message.strip()[:300])


def read_kmsg(path: str = "/dev/kmsg") -> list[Line]:
    """Every record still in the kernel ring buffer, without blocking."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise KernelLogUnavailable(f"{path}: {exc.strerror}") from exc
    lines: list[Line] = []
    try:
        while len(lines) < MAX_KMSG_RECORDS:
            try:
                record = os.read(fd, 8192)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # records overwritten while reading: carry on from the next
                    continue
                raise KernelLogUnavailable(f"{path}: {exc.strerror}") from exc
            if not record:
                break
            lines.append(_kmsg_record(record.decode("utf-8", "replace")))
    finally:
        os.close(fd)
    return lines


def _kmsg_record(record: str) -> Line:
    prefix, _, message = record.partition(";")
    fields = prefix.split(",")
    try:
        return int(fields[2]) / 1_000_000, message.split("\n", 1)[0]
    except (IndexError, ValueError):
        return None, message


def _run(command: Sequence[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KernelLogUnavailable(f"{command[0]}: {exc}") from exc
    if done.returncode != 0:
        raise KernelLogUnavailable(f"{command[0]} exited {done.returncode}: {done.stderr.strip()[:200]}")
    return done.stdout


def parse_monotonic_lines(text: str) -> list[Line]:
    """Lines as `dmesg` and `journalctl -o short-monotonic` print them: `[  123.456789] message`."""
    lines: list[Line] = []
    for raw in text.splitlines():
        match = MONOTONIC_PREFIX.match(raw)
        lines.append((float(match["ts"]), match["msg"]) if match else (None, raw))
    return lines


def read_dmesg() -> list[Line]:
    return parse_monotonic_lines(_run(["dmesg", "--kernel"]))


def read_journal() -> list[Line]:
    return parse_monotonic_lines(_run(["journalctl", "-k", "-b", "--no-pager", "-o", "short-monotonic"]))


DEFAULT_SOURCES: tuple[tuple[str, Callable[[], list[Line]]], ...] = (
    ("/dev/kmsg", read_kmsg), ("dmesg", read_dmesg), ("journalctl", read_journal),
)


class KernelLogReader:
    """Reads new Xid lines since the last call from the first kernel log source that works."""

    def __init__(self, boot_time: float, sources: Iterable[tuple[str, Callable[[], list[Line]]]] = DEFAULT_SOURCES):
        self.boot_time = boot_time
        self.sources = tuple(sources)
        self.source_name: str | None = None
        self.unavailable_reason = ""
        self._warned = False

    def read(self, after: float | None) -> tuple[list[XidEvent], float | None]:
        """Xid events logged after `after` (seconds since boot), and the newest timestamp seen."""
        lines = self._lines()
        events, newest = [], after
        for ts, message in lines:
            if ts is not None and after is not None and ts <= after:
                continue
            event = parse_xid_line(message, at=self.boot_time + (ts or 0.0))
            if event is not None:
                events.append(event)
            if ts is not None and (newest is None or ts > newest):
                newest = ts
        return events, newest

    def _lines(self) -> list[Line]:
        failures = []
        for name, source in self.sources:
            try:
                lines = source()
            except KernelLogUnavailable as exc:
                failures.append(str(exc))
                continue
            self.source_name, self.unavailable_reason = name, ""
            return lines
        self.source_name, self.unavailable_reason = None, "; ".join(failures) or "no kernel log source"
        if not self._warned:
            log.warning("kernel log not readable, Xids come from NVML events only: %s", self.unavailable_reason)
            self._warned = True
        return []


def boot_time(clock_now: float, uptime_path: str = "/proc/uptime") -> float:
    """Wall-clock time of this boot, to date kernel log lines stamped in seconds since boot."""
    try:
        with open(uptime_path, encoding="ascii") as handle:
            return clock_now - float(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return clock_now
