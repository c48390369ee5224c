"""A local process that serves the built-in runtime (the `local` adapter and simulated nodes)."""

import shlex
import sys
from dataclasses import dataclass, field

from nim_launcher.profiles import ModelSpec


@dataclass(frozen=True)
class LocalProcessPlan:
    argv: list[str]
    port: int
    startup_delay: float
    env: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def command_line(self) -> str:
        return shlex.join(self.argv)


def local_process_plan(model: ModelSpec, *, port: int, startup_delay: float = 0.0,
                       python: str | None = None) -> LocalProcessPlan:
    """argv for `python -m nim_launcher.runtime` serving `model` (by the built-in CPU model) on `port`."""
    argv = [python or sys.executable, "-m", "nim_launcher.runtime", "--host", "127.0.0.1",
            "--port", str(port), "--model", model.id, "--startup-delay", f"{startup_delay:g}"]
    return LocalProcessPlan(argv=argv, port=port, startup_delay=startup_delay,
                            env={"PYTHONUNBUFFERED": "1"})
