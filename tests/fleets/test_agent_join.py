"""`gpubroker-agent join` as a real process against the live broker: NVML inventory, credential 0600."""

import stat
import subprocess

import pytest

from fleets.models import Machine
from tests.fleets.agents import agent_env, join_argv

pytestmark = pytest.mark.django_db(transaction=True)


def _join(live_server, fleet, tmp_path, *extra, nvml_gpus=None):
    credentials = tmp_path / "agent" / "machine.json"
    done = subprocess.run(join_argv(live_server.url, fleet["join_token"], credentials, "--no-service", *extra),
                          env=agent_env(tmp_path, nvml_gpus), capture_output=True, text=True, timeout=60)
    return done, credentials


def test_join_registers_the_nvml_inventory_and_keeps_the_credential_private(live_server, owner, fleet, tmp_path):
    done, credentials = _join(live_server, fleet, tmp_path, "--country", "de", "--region", "fra-lab",
                              nvml_gpus="NVIDIA H200:2:141")
    assert done.returncode == 0, done.stdout + done.stderr
    machine = Machine.objects.get()
    assert (machine.gpu, machine.gpu_count, machine.gpu_memory_gb) == ("H200", 2, 141)
    assert machine.gpu_name == "NVIDIA H200" and not machine.simulated
    assert (machine.country, machine.region, machine.state) == ("DE", "fra-lab", "joining")
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(credentials.parent.stat().st_mode) == 0o700
    assert "gpbm_" in credentials.read_text() and "gpbm_" not in done.stdout
    assert "work --credentials" in done.stdout  # no systemd here: it says how to run the loop


def test_join_with_simulated_gpus_marks_the_machine_simulated(live_server, owner, fleet, tmp_path):
    done, _ = _join(live_server, fleet, tmp_path, "--country", "FR", "--simulated-gpus", "H100:2")
    assert done.returncode == 0, done.stdout + done.stderr
    machine = Machine.objects.get()
    assert machine.simulated and (machine.gpu, machine.gpu_count) == ("H100", 2)
    assert "(simulated)" in done.stdout


def test_join_without_a_gpu_says_so(live_server, owner, fleet, tmp_path):
    done, _ = _join(live_server, fleet, tmp_path, "--country", "DE")
    assert done.returncode == 0, done.stdout + done.stderr
    assert Machine.objects.get().gpu_count == 0 and "no GPU" in done.stdout


def test_join_with_a_wrong_token_fails_clearly(live_server, owner, fleet, tmp_path):
    done, credentials = _join(live_server, {"join_token": "gpbj_1_wrong"}, tmp_path, "--country", "DE")
    assert done.returncode == 1 and "refused" in done.stderr and not credentials.exists()
