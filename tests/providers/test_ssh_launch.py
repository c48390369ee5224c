"""A plan delivered over SSH (providers.ssh_launch) to a simulated node's sshd (providers.simulator.ssh_server): the
real protocol, public-key logins with the account's key only, the plan started once, detached, under sudo, in the
node's root; connection and key failures mapped to error kinds."""

from __future__ import annotations

import io
import time

import paramiko
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from providers.base import ProviderError, SshTarget
from providers.simulator import SimulatorServer
from providers.simulator.ssh_server import account_private_key
from providers.ssh_launch import PLAN_LOG, deliver_plan, fingerprint, load_private_key, remote_command

from .conftest import SEED, SLUG, closed_port, eventually_status

SERVE = "#!/bin/bash\nexec python3 -m http.server $PORT --bind $NODE_HOST\n"


@pytest.fixture
def sim(tmp_path):
    server = SimulatorServer(SEED, capacity=2, run_user_data=True, runtime_dir=tmp_path / "nodes").start()
    yield server
    for node in server.store.list_nodes(SLUG):  # what the nodes' SSH sessions started
        server.app.node_stopped(node["id"])
    server.stop()


def _node(sim: SimulatorServer, user: str = "ubuntu") -> tuple[dict, SshTarget]:
    node, _ = sim.store.create_node(SLUG, instance_type="gpu_1x_a10", region="us-east-1", loopback=True,
                                    ports=[{"port": 22, "source": "0.0.0.0/0"}])
    host, port = sim.app.ssh_address(SLUG, node, user)
    return node, SshTarget(host, port, user, account_private_key(SLUG))


def _other_key() -> str:
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()


def test_a_plan_delivered_over_ssh_runs_detached_on_the_node_and_serves_at_its_address(sim):
    node, target = _node(sim)
    assert target.host == node["ip"] and target.host.startswith("127.") and target.port != 22
    delivery = deliver_plan(target, SERVE)
    assert delivery.started and delivery.host_key.startswith("SHA256:")
    assert eventually_status(f"http://{node['ip']}:8000/") == 200
    root = sim.app.runtime_dir / node["id"]
    assert (root / "var/lib/gpu-broker/plan.sh").read_text().startswith("#!/bin/bash")
    assert (root / PLAN_LOG.lstrip("/")).is_file()
    sim.app.node_stopped(node["id"])  # terminating the node stops what its SSH session started
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{node['ip']}:8000/", timeout=1)


def test_a_cloud_config_plan_arrives_as_its_script_with_its_paths_in_the_nodes_root(sim):
    node, target = _node(sim)
    plan = "#cloud-config\nwrite_files:\n- path: /etc/gpub/hello.txt\n  content: hi\n"
    deliver_plan(target, plan)
    written = sim.app.runtime_dir / node["id"] / "etc/gpub/hello.txt"
    for _ in range(50):
        if written.is_file():
            break
        time.sleep(0.1)
    assert written.read_text() == "hi"


def test_a_second_delivery_finds_the_plan_started_and_starts_nothing(sim):
    node, target = _node(sim)
    first = deliver_plan(target, SERVE)
    again = deliver_plan(target, SERVE, host_key=first.host_key)
    assert (first.started, again.started) == (True, False)
    assert again.host_key == first.host_key


def test_root_logs_in_without_sudo_and_other_users_through_it():
    assert remote_command("root").startswith("sh -c ")
    assert remote_command("ubuntu").startswith("sudo -n sh -c ")


def test_a_key_the_account_does_not_hold_is_refused_as_auth_failed(sim):
    _, target = _node(sim)
    with pytest.raises(ProviderError) as err:
        deliver_plan(SshTarget(target.host, target.port, target.user, _other_key()), SERVE)
    assert (err.value.kind, err.value.permanent) == ("auth_failed", True)


def test_a_key_registered_through_the_vendors_api_is_accepted(sim):
    private = _other_key()
    public = load_private_key(private)
    sim.store.add_ssh_key(SLUG, "laptop", f"{public.get_name()} {public.get_base64()} me@laptop")
    node, target = _node(sim)
    assert deliver_plan(SshTarget(target.host, target.port, target.user, private), SERVE).started


def test_another_user_is_refused(sim):
    _, target = _node(sim, user="ubuntu")
    with pytest.raises(ProviderError) as err:
        deliver_plan(SshTarget(target.host, target.port, "root", target.private_key), SERVE)
    assert err.value.kind == "auth_failed"


def test_a_changed_host_key_is_refused(sim):
    _, target = _node(sim)
    other = fingerprint(paramiko.Ed25519Key.from_private_key(io.StringIO(_other_key())))
    with pytest.raises(ProviderError) as err:
        deliver_plan(target, SERVE, host_key=other)
    assert err.value.kind == "auth_failed"


def test_a_node_whose_sshd_is_not_up_yet_is_transient():
    target = SshTarget("127.0.0.1", closed_port(), "ubuntu", account_private_key(SLUG))
    with pytest.raises(ProviderError) as err:
        deliver_plan(target, SERVE, timeout=2)
    assert (err.value.kind, err.value.permanent) == ("transient", False)


def test_an_unreadable_private_key_is_refused_without_showing_it():
    target = SshTarget("127.0.0.1", closed_port(), "ubuntu", "not a key SECRET")
    with pytest.raises(ProviderError) as err:
        deliver_plan(target, SERVE)
    assert err.value.kind == "invalid_request" and "SECRET" not in str(err.value)
    assert "SECRET" not in repr(target)
