"""`gpubroker-agent join`: register this machine with a fleet, keep its credential (0600), run as a service.

The inventory comes from NVML (model, count, memory per GPU), or with `--simulated-gpus H100:2` from the
declaration (marked simulated everywhere the broker shows the machine); CPUs and RAM from the OS.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import requests

from .nvml import open_nvml

log = logging.getLogger(__name__)
TIMEOUT_S = 30
SERVICE = "gpubroker-agent.service"
SYSTEM_CREDENTIALS = Path("/var/lib/gpubroker-agent/machine.json")
USER_CREDENTIALS = Path("~/.config/gpubroker-agent/machine.json")


class JoinError(Exception):
    pass


def default_credentials_path() -> Path:
    return SYSTEM_CREDENTIALS if os.geteuid() == 0 else USER_CREDENTIALS.expanduser()


def parse_simulated(text: str) -> tuple[str, int]:
    """`H100:2` → ("H100", 2)."""
    name, _, count = text.partition(":")
    if not name or not (count or "1").isdigit() or int(count or "1") < 1:
        raise ValueError(f"--simulated-gpus takes MODEL:COUNT (e.g. H100:2), not {text!r}")
    return name, int(count or "1")


def _memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def read_inventory(simulated: str | None = None, nvml_module=None) -> dict:
    """GPUs (one NVML name each), memory per GPU, vCPUs, RAM; the simulated declaration wins when given."""
    base = {"vcpus": os.cpu_count() or 0, "memory_gb": _memory_gb()}
    if simulated:
        name, count = parse_simulated(simulated)
        return {**base, "gpus": [name] * count, "simulated": True}
    session, reason = open_nvml(nvml_module)
    if session is None:
        log.warning("no NVIDIA GPU / NVML not available (%s): joining with no GPU", reason)
        return {**base, "gpus": [], "simulated": False}
    try:
        readings = session.read_gpus()
    finally:
        session.close()
    memory = max((r.memory_total_mib or 0 for r in readings), default=0)
    return {**base, "gpus": [r.name or "unknown" for r in readings], "gpu_memory_gb": round(memory / 1024),
            "simulated": False}


def _local_ip(broker: str) -> str:
    """The address this machine reaches the broker from (no packet is sent)."""
    host = requests.utils.urlparse(broker).hostname or "127.0.0.1"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((host, 9))
            return probe.getsockname()[0]
    except OSError:
        return ""


def register(*, broker: str, token: str, country: str, region: str, inventory: dict) -> dict:
    body = {"token": token, "hostname": socket.gethostname(), "country": country, "region": region,
            "ip": _local_ip(broker), "inventory": inventory}
    response = requests.post(f"{broker.rstrip('/')}/api/v1/fleets/join", json=body, timeout=TIMEOUT_S,
                             headers={"User-Agent": "gpubroker-agent"})
    if response.status_code != 201:
        raise JoinError(f"the broker refused to join (HTTP {response.status_code}): {response.text[:500]}")
    return response.json()


def write_credentials(path: Path, content: dict) -> None:
    """Readable by its owner only, from the first byte (created 0600, then renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_suffix(".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(content, out)
    os.chmod(temp, 0o600)
    os.replace(temp, path)


def read_credentials(path: Path) -> dict:
    return json.loads(path.read_text())


def install_service(credentials: Path, extra: list[str]) -> bool:
    """A systemd unit running `work` (root with systemd only); False when it cannot be installed here."""
    if os.geteuid() != 0 or shutil.which("systemctl") is None:
        return False
    program = Path(sys.argv[0]).resolve()
    unit = Path("/etc/systemd/system") / SERVICE
    unit.write_text("[Unit]\nDescription=GPU Broker fleet agent\nAfter=network-online.target\n\n[Service]\n"
                    f"ExecStart={sys.executable} {program} work --credentials {credentials} {' '.join(extra)}\n"
                    "Restart=always\nRestartSec=5\n\n[Install]\nWantedBy=multi-user.target\n")
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    subprocess.run(["systemctl", "enable", "--now", SERVICE], check=True)
    return True
