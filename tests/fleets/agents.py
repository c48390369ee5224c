"""Fleet agents as real local processes (`python -m nim_launcher.agent join …`), GPUs from the NVML double."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NVML_SHIM = Path(__file__).with_name("nvml_shim")


def agent_env(home: Path, nvml_gpus: str | None) -> dict[str, str]:
    """A clean environment: the checkout on the path, and the NVML double first when GPUs are given."""
    paths = ([str(NVML_SHIM)] if nvml_gpus else []) + [str(ROOT)]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": os.pathsep.join(paths)}
    if nvml_gpus:
        env["GPUB_TEST_NVML_GPUS"] = nvml_gpus
    return env


def join_argv(broker: str, token: str, credentials: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "nim_launcher.agent", "join", "--broker", broker, "--token", token,
            "--credentials", str(credentials), "--state-file", str(credentials.with_name("state.json")), *extra]


def start_agent(broker: str, token: str, home: Path, *, nvml_gpus: str | None, extra=()) -> subprocess.Popen:
    """`join --run`: register, then go on with the pull loop in the same process (the service would)."""
    home.mkdir(parents=True, exist_ok=True)
    argv = join_argv(broker, token, home / "machine.json", "--country", "DE", "--no-service", "--run",
                     "--wait", "1", "--sandbox", str(home / "sandbox"), *extra)
    return subprocess.Popen(argv, env=agent_env(home, nvml_gpus), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
