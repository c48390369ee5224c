"""Durations written like `90s`, `15m`, `2h`, `1h30m` or a bare number of seconds."""

import argparse
import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(text: str) -> float:
    """Return the duration in seconds; raise ValueError for anything else, zero or negative."""
    raw = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        seconds = float(raw)
    elif raw and _PART.sub("", raw) == "":
        seconds = sum(float(value) * _UNITS[unit] for value, unit in _PART.findall(raw))
    else:
        raise ValueError(f"invalid duration {text!r}: use e.g. 90s, 15m, 2h or 1h30m")
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be greater than zero")
    return seconds


def duration_arg(text: str) -> float:
    """argparse `type=` for durations."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def format_duration(seconds: float) -> str:
    """`930` → `15m30s`; for messages such as "still provisioning after 15m"."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"
