"""The simulated VM runs cloud-init user data: write_files below the node's root, runcmd in order, and
`systemctl` starting units as systemd would (clean environment + EnvironmentFile)."""

import os
import stat
import sys
import time
from pathlib import Path

import pytest

from providers.processes import is_running, kill_group, start_process
from providers.simulator.vm import reroot

PLAN = """#cloud-config
write_files:
- path: /etc/demo/demo.env
  owner: root:root
  permissions: '0600'
  content: |
    DEMO_SETTING=from-the-env-file
- path: /etc/systemd/system/demo.service
  permissions: '0644'
  content: |
    [Unit]
    Description=demo

    [Service]
    EnvironmentFile=/etc/demo/demo.env
    ExecStartPre=-/usr/bin/docker rm -f nothing-here
    ExecStart=/bin/sh -c 'env > /var/lib/demo/unit.env; exec sleep 60'
runcmd:
- [mkdir, -p, /var/lib/demo]
- [systemctl, daemon-reload]
- [systemctl, enable, --now, demo.service]
- echo "$PATH" > /var/lib/demo/runcmd.path
"""
NODE_HOST = "127.0.0.9"
LOOPBACK_PLAN = """#cloud-config
write_files:
- path: /etc/demo/agent.env
  content: |
    TO_THE_CONTAINER=http://127.0.0.1:9251/api/kernels
    TO_THE_BROKER=http://localhost:9252/api
- path: /etc/systemd/system/container.service
  content: |
    [Service]
    ExecStart=/usr/bin/docker run --rm --name box -p 9251:9251 example.org/box@sha256:00 sleep 60
- path: /etc/systemd/system/agent.service
  content: |
    [Service]
    ExecStart=/bin/sh -c 'env > /var/lib/demo/unit.env; exec sleep 60'
- path: /etc/systemd/system/agent.service.d/box.conf
  content: |
    [Service]
    EnvironmentFile=-/etc/demo/agent.env
runcmd:
- [mkdir, -p, /var/lib/demo]
- [systemctl, enable, --now, agent.service]
"""


def _wait_for(path: Path, timeout: float = 20.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text():
            return path
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


@pytest.fixture
def boot(tmp_path):
    names = []

    def run(user_data: str) -> Path:
        name = f"node-{len(names)}"
        names.append(name)
        root, data = tmp_path / name, tmp_path / f"{name}.user-data"
        data.write_text(user_data)
        start_process(f"exec {sys.executable} -m providers.simulator.vm --root {root} --host {NODE_HOST} --port 1 "
                      f"--user-data {data}",
                      state_dir=tmp_path, name=name)
        return root

    yield run
    for name in names:
        kill_group(tmp_path, name)


def test_paths_under_the_system_folders_move_below_the_root():
    root = Path("/tmp/n1")
    assert reroot(["-v", "/opt/nim/cache:/opt/nim/.cache", "/etc/x", "http://h/etc/x", "/usr/bin/docker",
                   {"path": "/var/lib/a", "content": "EnvironmentFile=/etc/a.env\nEnvironmentFile=-/etc/b.env\n"},
                   "not-/etc/x"], root) == [
        "-v", "/tmp/n1/opt/nim/cache:/tmp/n1/opt/nim/.cache", "/tmp/n1/etc/x", "http://h/etc/x", "/usr/bin/docker",
        {"path": "/tmp/n1/var/lib/a",
         "content": "EnvironmentFile=/tmp/n1/etc/a.env\nEnvironmentFile=-/tmp/n1/etc/b.env\n"},
        "not-/etc/x"]


def test_cloud_config_writes_files_runs_commands_and_starts_units_like_systemd(boot, tmp_path, monkeypatch):
    monkeypatch.setenv("DEMO_SETTING", "leaked-from-the-simulator")
    root = boot(PLAN)
    unit_env = dict(line.split("=", 1) for line in _wait_for(root / "var/lib/demo/unit.env").read_text().splitlines()
                    if "=" in line)
    assert unit_env["DEMO_SETTING"] == "from-the-env-file"
    assert "PYTHONPATH" not in unit_env and "VIRTUAL_ENV" not in unit_env  # systemd's clean environment
    assert stat.S_IMODE(os.stat(root / "etc/demo/demo.env").st_mode) == 0o600
    # runcmd finds the node's systemctl and docker before the machine's
    assert _wait_for(root / "var/lib/demo/runcmd.path").read_text().startswith(f"{root}/.sim/bin:")
    assert is_running(tmp_path, "node-0")  # the VM stays up with what it started


def test_a_units_loopback_url_to_a_published_port_reaches_the_nodes_own_address(boot):
    """As on a real VM, where `docker run -p` publishes on loopback too; other loopback URLs stay."""
    root = boot(LOOPBACK_PLAN)
    unit_env = dict(line.split("=", 1) for line in _wait_for(root / "var/lib/demo/unit.env").read_text().splitlines()
                    if "=" in line)
    assert unit_env["TO_THE_CONTAINER"] == f"http://{NODE_HOST}:9251/api/kernels"
    assert unit_env["TO_THE_BROKER"] == "http://localhost:9252/api"


def test_a_unit_restarted_from_outside_the_vm_ends_with_it(boot, tmp_path):
    """As under systemd: whoever runs `systemctl restart` (an operator's session, a test), the unit is the
    machine's, so terminating the node stops it."""
    import subprocess

    root = boot(PLAN)
    first = _wait_for(root / "var/lib/demo/unit.env")
    first.unlink()
    subprocess.run([str(root / ".sim/bin/systemctl"), "restart", "demo.service"], check=True, timeout=30)
    _wait_for(root / "var/lib/demo/unit.env")
    pid = int(next((root / ".sim/run").glob("unit-demo*.pid")).read_text())
    assert os.getpgid(pid) == os.getpgrp()  # the restart's own process group, not the VM's

    kill_group(tmp_path, "node-0")

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"  # a zombie has ended
