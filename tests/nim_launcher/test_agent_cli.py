"""`python -m nim_launcher.agent` on this machine (no NVIDIA driver) and with the NVML double."""

import json
import subprocess
import sys

import pytest

from nim_launcher.agent import cli

from .nvml_double import FakeGpu, FakeNvml
from .test_agent_heartbeat import Broker


def run_agent(*args, env=None):
    return subprocess.run([sys.executable, "-m", "nim_launcher.agent", "--once", *args], capture_output=True,
                          text=True, timeout=60, env=env)


@pytest.fixture
def broker():
    server = Broker([])
    yield server
    server.close()


def test_without_a_gpu_the_agent_prints_unknown_and_why(tmp_path):
    done = run_agent("--state-file", str(tmp_path / "s.json"), "--no-kernel-log")

    report = json.loads(done.stdout)
    assert done.returncode == 0
    assert report["state"] == "unknown"
    assert report["reasons"][0].startswith("no NVIDIA GPU / NVML not available")
    assert "no NVIDIA GPU / NVML not available" in done.stderr


def test_without_a_gpu_the_agent_heartbeats_unknown_and_keeps_the_token_out_of_its_output(tmp_path, broker):
    env = {"GPUB_NODE_TOKEN": "tok-secret-1", "PATH": "/usr/bin:/bin"}
    done = run_agent("--broker", broker.url, "--node-id", "12", "--state-file", str(tmp_path / "s.json"), env=env)

    assert done.returncode == 0, done.stderr
    (request,) = broker.requests
    assert request["path"] == "/api/v1/nodes/12/health" and request["auth"] == "Node tok-secret-1"
    assert request["body"]["state"] == "unknown"
    assert "tok-secret-1" not in done.stdout + done.stderr


def test_failed_heartbeat_gives_a_non_zero_exit(tmp_path, broker):
    broker.statuses = [404]

    done = run_agent("--broker", broker.url, "--node-id", "12", "--node-token", "t", "--state-file",
                     str(tmp_path / "s.json"), "--no-kernel-log")

    assert done.returncode == 1


def test_the_agent_runs_without_django():
    code = ("import sys, nim_launcher.agent.cli, nim_launcher.agent.collector; "
            "sys.exit(any(m == 'django' or m.startswith('django.') for m in sys.modules))")

    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_broker_without_node_id_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_args(["--broker", "http://127.0.0.1:1", "--node-token", "t"])

    assert exit_info.value.code == 2
    assert "--node-id" in capsys.readouterr().err


def test_once_with_the_double_prints_the_gpu_report(tmp_path, capsys):
    args = cli.parse_args(["--once", "--state-file", str(tmp_path / "s.json"), "--no-kernel-log"])
    collector = cli.build_collector(args, nvml_module=FakeNvml([FakeGpu(temperature=95)]))

    assert cli.run_once(args, collector) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["state"] == "degraded" and report["gpus"][0]["temperature_c"] == 95


def test_waiting_returns_xid_events_as_soon_as_they_arrive(tmp_path):
    fake = FakeNvml([FakeGpu()])
    args = cli.parse_args(["--state-file", str(tmp_path / "s.json"), "--no-kernel-log"])
    collector = cli.build_collector(args, nvml_module=fake)
    fake.push_xid(0, 79)

    events = cli.wait_for_xids(collector.session, 30)

    assert [e.xid for e in events] == [79] and fake.waits[0] == 30_000
