"""A simulated VM: runs a node's user data the way cloud-init does, inside the node's own root directory.

`#cloud-config` user data: `write_files` (modes kept) and then `runcmd` in order, every absolute
path under /etc, /opt, /var, /root, /srv and /home moved below the node's root (`owner` is not applied:
the simulator has no users; `append` is). A `#!` script runs with its paths moved the same way.
`systemctl`, `docker`, `chown`, `base64` and `sudo` are the only programs replaced (by `node_shims`; `chown`
does nothing and `sudo` runs its command as it is, for the same reason; a decoded script has its paths moved
too); curl, sha256sum, python3 -m venv … run for real. The process then stays up as the VM until it is terminated (SIGTERM to
its process group stops the VM with everything it started).

    python -m providers.simulator.vm --root DIR --host IP --port PORT --user-data FILE
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from . import checkout
from .node_shims import REROOTED, RUN_DIR

DEFAULT_SERVICE_PORT = 8000  # where a node's plan serves when its launch opened no other port
USER_DATA = "var/lib/cloud/instance/user-data.txt"
SHIM_DIR = ".sim/bin"
SHIMS = ("systemctl", "docker", "chown", "base64", "sudo")
NODE_SHIMS = Path(__file__).with_name("node_shims.py")  # run as a script: stdlib only, starts fast


def reroot(value: Any, root: Path) -> Any:
    """Every absolute path under /etc, /opt, /var, /root, /srv, /home in strings (recursively) moved below `root`."""
    if isinstance(value, str):
        return REROOTED.sub(f"{root.as_posix()}/", value)
    if isinstance(value, list):
        return [reroot(item, root) for item in value]
    if isinstance(value, dict):
        return {key: reroot(item, root) for key, item in value.items()}
    return value


def service_port(ports: list[dict]) -> int:
    """The port a node's plan serves on: the first opened port other than SSH."""
    return next((int(p["port"]) for p in ports if int(p["port"]) != 22), DEFAULT_SERVICE_PORT)


def install_shims(root: Path, host: str, port: int) -> Path:
    """`systemctl` and `docker` for this node: small scripts that call `node_shims` with the node's settings."""
    bin_dir = root / SHIM_DIR
    bin_dir.mkdir(parents=True, exist_ok=True)
    pythonpath = checkout.pythonpath()
    for tool in SHIMS:
        script = bin_dir / tool
        script.write_text("#!/bin/sh\n"
                          f"export GPUB_SIM_ROOT={shlex.quote(str(root))} GPUB_SIM_NODE_HOST={shlex.quote(host)} "
                          f"GPUB_SIM_NODE_PORT={port} "
                          f"PYTHONPATH={shlex.quote(pythonpath)}\n"
                          f"exec {shlex.quote(sys.executable)} -I -S {shlex.quote(str(NODE_SHIMS))} {tool} \"$@\"\n")
        script.chmod(0o755)
    return bin_dir


def write_files(entries: list[dict], root: Path) -> None:
    for entry in entries:
        path = Path(entry["path"])
        if not path.is_relative_to(root):
            raise ValueError(f"write_files path {entry['path']!r} is outside the node's root")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a" if entry.get("append") else "w", encoding="utf-8") as file:
            file.write(entry.get("content", ""))
        path.chmod(int(str(entry.get("permissions", "0644")), 8))


def run_cloud_config(user_data: str, root: Path, host: str, port: int) -> int:
    """write_files, then each runcmd entry (list → argv, string → `sh -c`); the exit status of the first failure."""
    config = reroot(yaml.safe_load(user_data) or {}, root)
    write_files(config.get("write_files") or [], root)
    env = {**os.environ, "PATH": f"{install_shims(root, host, port)}{os.pathsep}{os.environ.get('PATH', '')}"}
    status = 0
    for command in config.get("runcmd") or []:
        argv = [str(a) for a in command] if isinstance(command, list) else ["sh", "-c", command]
        log(f"runcmd: {shlex.join(argv)}")
        rc = subprocess.run(argv, env=env, cwd=root, stdin=subprocess.DEVNULL).returncode
        if rc:
            log(f"runcmd failed with exit status {rc}")  # cloud-init goes on with the next command too
            status = status or rc
    return status


def run_script(user_data: str, root: Path, host: str, port: int) -> int:
    script = root / "var/lib/cloud/instance/scripts/part-001"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(reroot(user_data, root))
    script.chmod(0o700)
    env = {**os.environ, "PATH": f"{install_shims(root, host, port)}{os.pathsep}{os.environ.get('PATH', '')}",
           "NODE_HOST": host, "NODE_PORT": str(port), "PORT": str(port)}
    return subprocess.run([str(script)], env=env, cwd=root, stdin=subprocess.DEVNULL).returncode


def boot(root: Path, host: str, port: int, user_data: str) -> int:
    (root / USER_DATA).parent.mkdir(parents=True, exist_ok=True)
    (root / USER_DATA).write_text(user_data, encoding="utf-8")  # where cloud-init keeps it
    if user_data.startswith("#cloud-config"):
        return run_cloud_config(user_data, root, host, port)
    if user_data.startswith("#!"):
        return run_script(user_data, root, host, port)
    log("user data is neither #cloud-config nor a #! script: nothing to run (as cloud-init)")
    return 0


def shut_down(root: Path) -> None:
    """Stop every unit and container, as systemd does at shutdown: also those started from outside the VM's
    process group (`systemctl restart` from an operator's session), which its termination would not reach."""
    for pid_file in (root / RUN_DIR).glob("*.pid"):
        try:
            pid = int(pid_file.read_text())
            if Path(f"/proc/{pid}/cwd").resolve() == root:  # still this node's process, not a reused pid
                os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            continue
    sys.exit(0)


def log(message: str) -> None:
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} simulated-vm: {message}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m providers.simulator.vm", description=__doc__)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1", help="the node's own address (its reported IP)")
    parser.add_argument("--port", type=int, required=True, help="the host port a container's -p maps to")
    parser.add_argument("--user-data", type=Path, required=True, help="the user data the partner was given")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: shut_down(args.root.resolve()))
    status = boot(args.root.resolve(), args.host, args.port, args.user_data.read_text(encoding="utf-8"))
    log(f"user data finished with exit status {status}")
    while True:  # the VM stays up, with what its plan started, until it is terminated
        signal.pause()


if __name__ == "__main__":
    raise SystemExit(main())
