"""A pod end to end on a simulated partner whose VM boots the pod's real cloud-init plan.

The test thread does the worker's job (the rental pipeline), and the idle sweep runs at a controlled `now`.
"""

import subprocess
import time
from datetime import timedelta
from pathlib import Path

import requests

from marketplace.models import Node, Rental
from nim_launcher.plans.cloud_init import AGENT_UNIT
from pods.models import Pod
from pods.plans import JUPYTER_PORT
from pods.services.pods import pods_idle_stop
from tests.conftest import drive_rental
from tests.pods.conftest import pod_body


def _wait_for(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError("timed out")


def _answers(url: str, **params) -> int | None:
    try:
        return requests.get(url, params=params, timeout=2).status_code
    except requests.RequestException:
        return None


def _reported(node: Node, root: Path, seen) -> Node:
    """The node once a heartbeat's activity satisfies `seen`: the agent is restarted on the node (as an
    operator would) so that it reports now rather than at its next interval."""
    subprocess.run([str(root / ".sim/bin/systemctl"), "restart", AGENT_UNIT], check=True, timeout=30)
    return _wait_for(lambda: (fresh := Node.objects.get(pk=node.pk)) and seen(fresh.health_report.get("activity")
                                                                             or {}) and fresh)


def test_a_pod_runs_its_plan_serves_ssh_and_jupyter_and_the_idle_sweep_stops_it(owner, stranger, key_pair,
                                                                                 live_partners, tmp_path):
    public_key, _ = key_pair
    created = owner.client.post("/api/v1/pods", pod_body(public_key), format="json")
    assert created.status_code == 202, created.content
    answer = created.json()
    token = answer["jupyter_token"]
    assert token and answer["state"] == "pending" and answer["ssh"] is None
    assert token not in Pod.objects.get(pk=answer["id"]).jupyter_token_hash  # only its hash is kept

    rental = drive_rental(answer["rental"])
    assert rental.state == "running"
    pod = owner.client.get(f"/api/v1/pods/{answer['id']}").json()
    assert pod["state"] == "running" and pod["jupyter_token"] is None  # shown once
    node = Node.objects.get(rental=rental, state="running")
    assert pod["ssh"] == f"ssh -p {node.ssh_port} {node.ssh_user}@{node.ip}"
    assert pod["jupyter_url"] == f"http://{node.ip}:{JUPYTER_PORT}/lab"

    # The VM ran the plan: the key is the login user's; JupyterLab (its double) answers only with the token.
    sent = live_partners.store.get_node(node.partner.slug, node.provider_ref)
    assert JUPYTER_PORT in [p["port"] if isinstance(p, dict) else p for p in sent["ports"]]
    keys = _wait_for(lambda: list((tmp_path / "nodes").glob(f"*/home/{node.ssh_user}/.ssh/authorized_keys")))
    assert [path.read_text() for path in keys] == [public_key + "\n"] and oct(keys[0].stat().st_mode)[-3:] == "600"
    status_url = pod["jupyter_url"].replace("/lab", "/api/status")
    assert _wait_for(lambda: _answers(status_url, token=token)) == 200
    assert _answers(status_url) == 403 and _answers(status_url, token="wrong") == 403
    kernels = requests.get(status_url.replace("status", "kernels"), headers={"Authorization": f"token {token}"},
                           timeout=2).json()
    assert kernels == []
    assert token not in node.launch_plan and "<redacted>" in node.launch_plan
    # The agent the plan started heartbeats with what it sees of the pod's use.
    beat = _wait_for(lambda: Node.objects.get(pk=node.pk).health_report.get("activity"))
    assert set(beat) >= {"ssh_sessions", "jupyter_busy_kernels", "gpu_utilization_pct"}

    assert stranger.client.get(f"/api/v1/pods/{answer['id']}").status_code == 404
    assert stranger.client.post(f"/api/v1/pods/{answer['id']}/stop").status_code == 404

    # Nobody used it: one minute after it started, the sweep stops it and metering stops at that second.
    started = Pod.objects.get(pk=answer["id"]).running_since
    assert pods_idle_stop(now=started + timedelta(seconds=59)) == []
    stop_at = started + timedelta(seconds=61)
    assert pods_idle_stop(now=stop_at) == [answer["id"]]
    stopped = Pod.objects.get(pk=answer["id"])
    assert stopped.state == "stopping"
    event = stopped.events.get(to_state="stopping")
    assert event.actor == "idle" and "cannot stop a node, so it is terminated" in event.reason
    assert Rental.objects.get(pk=rental.pk).ended_at == stop_at
    assert drive_rental(rental.pk).state == "terminated"
    assert Rental.objects.get(pk=rental.pk).ended_at == stop_at
    final = owner.client.get(f"/api/v1/pods/{answer['id']}").json()
    assert final["state"] == "terminated" and final["ssh"] is None and final["jupyter_url"] is None
    start = owner.client.post(f"/api/v1/pods/{answer['id']}/start")
    assert start.status_code == 409 and "create a new pod" in start.json()["detail"]


def test_a_busy_kernel_the_agent_sees_keeps_the_pod_until_it_is_idle_for_the_timeout(owner, key_pair, live_partners,
                                                                                     tmp_path):
    answer = owner.client.post("/api/v1/pods", pod_body(key_pair[0]), format="json").json()
    rental = drive_rental(answer["rental"])
    node = Node.objects.get(rental=rental, state="running")
    root = tmp_path / "nodes" / live_partners.store.get_node(node.partner.slug, node.provider_ref)["id"]
    kernels_url = f"http://{node.ip}:{JUPYTER_PORT}/api/kernels"
    auth = {"Authorization": f"token {answer['jupyter_token']}"}
    assert _wait_for(lambda: _answers(kernels_url, token=answer["jupyter_token"])) == 200
    started = Pod.objects.get(pk=answer["id"]).running_since
    time.sleep(1.1)  # the busy kernel is seen more than a second after the start

    kernel = requests.post(kernels_url, json={"name": "python3"}, headers=auth, timeout=2).json()
    busy = requests.post(f"{kernels_url}/{kernel['id']}/execute", headers=auth, timeout=2).json()
    assert busy["execution_state"] == "busy"
    node = _reported(node, root, lambda activity: activity.get("jupyter_busy_kernels") == 1)
    assert node.health_report["activity"]["errors"] == []  # the agent read Jupyter on the node's 127.0.0.1:8888
    assert node.last_activity_at == node.last_heartbeat_at > started + timedelta(seconds=1)
    # A minute after the start an unused pod is stopped (see above); this one was busy a second later.
    assert pods_idle_stop(now=started + timedelta(seconds=61)) == []
    assert pods_idle_stop(now=node.last_activity_at + timedelta(seconds=59)) == []

    assert requests.post(f"{kernels_url}/{kernel['id']}/interrupt", headers=auth, timeout=2).status_code == 204
    node = _reported(node, root, lambda activity: activity.get("jupyter_busy_kernels") == 0
                     and activity.get("jupyter_kernels") == 1)
    idle_since = node.last_activity_at  # Jupyter's own last activity: when the kernel went idle
    assert idle_since > started + timedelta(seconds=1)
    assert pods_idle_stop(now=idle_since + timedelta(seconds=59)) == []
    assert pods_idle_stop(now=idle_since + timedelta(seconds=61)) == [answer["id"]]
    assert Pod.objects.get(pk=answer["id"]).state == "stopping"
    assert drive_rental(rental.pk).state == "terminated"
