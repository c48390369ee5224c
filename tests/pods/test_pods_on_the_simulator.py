"""A pod end to end on a simulated partner whose VM boots the pod's real cloud-init plan.

The test thread does the worker's job (the rental pipeline), and the idle sweep runs at a controlled `now`.
"""

import time
from datetime import timedelta

import requests

from marketplace.models import Node, Rental
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
