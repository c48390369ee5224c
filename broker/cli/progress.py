"""Progress on stderr: a live spinner line on a terminal, plain timestamped state lines otherwise."""

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

SPINNER = "|/-\\"


def utc_stamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Progress:
    """`update(subject, state)` on every poll; `note(text)` for one-off messages (retries)."""

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None,
                 clock: Callable[[], float] = time.time):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.clock = clock
        self._started = clock()
        self._last: tuple[str, str] | None = None
        self._frame = 0
        self._live = False

    def update(self, subject: str, state: str) -> None:
        if self.tty:
            self._draw(f"{SPINNER[self._frame % len(SPINNER)]} {subject}: {state} ({self._elapsed()})")
            self._frame += 1
        elif self._last != (subject, state):
            self._line(f"{subject}: {state}")
        self._last = (subject, state)

    def note(self, text: str) -> None:
        self._clear()
        if self.tty:
            self.stream.write(text + "\n")
        else:
            self._line(text)
        self.stream.flush()

    def done(self) -> None:
        """End the live line so later output starts on a fresh line."""
        if self._live:
            self.stream.write("\n")
            self.stream.flush()
            self._live = False

    def _elapsed(self) -> str:
        seconds = int(self.clock() - self._started)
        return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"

    def _draw(self, text: str) -> None:
        self.stream.write("\r\x1b[2K" + text)
        self.stream.flush()
        self._live = True

    def _clear(self) -> None:
        if self._live:
            self.stream.write("\r\x1b[2K")
            self._live = False

    def _line(self, text: str) -> None:
        self.stream.write(f"{utc_stamp(self.clock())} {_printable(text)}\n")
        self.stream.flush()


def _printable(text: str) -> str:
    """Drop control characters a server-provided reason might carry into a CI log."""
    return "".join(ch if ch.isprintable() else " " for ch in text)
