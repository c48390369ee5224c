import io
import re

from broker.cli.progress import Progress

CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # anything but \n


class Ticking:
    def __init__(self, start=1795348800.0):  # 2026-11-22T12:00:00Z
        self.now = start

    def __call__(self):
        self.now += 1
        return self.now


def test_non_tty_progress_is_timestamped_state_lines_without_control_characters():
    stream = io.StringIO()
    progress = Progress(stream, tty=False, clock=Ticking())
    for state in ["pending", "provisioning", "provisioning", "running"]:
        progress.update("rental 42", state)
    progress.note("retrying\x1b[31m after HTTP 503\r")
    progress.done()
    lines = stream.getvalue().splitlines()
    assert [line.split(" ", 1)[1] for line in lines[:3]] == [
        "rental 42: pending", "rental 42: provisioning", "rental 42: running"]
    assert re.fullmatch(r"2026-11-22T12:00:\d\dZ rental 42: pending", lines[0])
    assert not CONTROL.search(stream.getvalue())


def test_tty_progress_redraws_one_live_line_with_a_spinner():
    stream = io.StringIO()
    progress = Progress(stream, tty=True, clock=Ticking())
    progress.update("rental 42", "provisioning")
    progress.update("rental 42", "provisioning")
    progress.done()
    output = stream.getvalue()
    assert output.count("\r") == 2 and output.endswith("\n") and output.count("\n") == 1
    assert "rental 42: provisioning" in output


def test_progress_follows_the_stream_being_a_terminal():
    class FakeTty(io.StringIO):
        def isatty(self):
            return True

    assert Progress(FakeTty()).tty is True
    assert Progress(io.StringIO()).tty is False
