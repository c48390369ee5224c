"""The pods API without a partner: validation, workspaces, activity and the idle sweep at a controlled time."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.models import Node, NodeState, RentalState
from marketplace.services.node_health import node_token, node_token_issue
from pods.models import Pod, PodState
from pods.services.pods import pods_idle_stop
from tests.marketplace.node_health_helpers import make_node, report
from tests.pods.conftest import pod_body


@pytest.fixture
def running_pod(owner, key_pair):
    node = make_node(owner.workspace)
    Node.objects.filter(pk=node.pk).update(idempotency_key=f"pod-node-{node.pk}", ip="10.0.0.5")
    node.refresh_from_db()
    node_token_issue(node)
    started = timezone.now() - timedelta(minutes=5)
    pod = Pod.objects.create(workspace=owner.workspace, name="busy", state=PodState.RUNNING, rental=node.rental,
                             ssh_public_key=key_pair[0], idle_timeout_minutes=1, running_since=started)
    return pod, node


def _heartbeat(node: Node, activity: dict) -> None:
    agent = APIClient()
    agent.credentials(HTTP_AUTHORIZATION=f"Node {node_token(node)}")
    answer = agent.post(f"/api/v1/nodes/{node.pk}/health", report(activity=activity), format="json")
    assert answer.status_code == 200, answer.content


IDLE = {"ssh_sessions": 0, "jupyter_kernels": 1, "jupyter_busy_kernels": 0, "jupyter_last_activity": None,
        "gpu_utilization_pct": 0.0, "errors": []}


def test_a_private_key_is_refused_naming_the_field_and_never_stored(owner, key_pair, caplog):
    _, private = key_pair
    caplog.set_level(logging.DEBUG)
    answer = owner.client.post("/api/v1/pods", pod_body(private), format="json")
    assert answer.status_code == 400
    (message,) = answer.json()["errors"]["ssh_public_key"]
    assert "private key" in message and private not in answer.content.decode()
    assert not Pod.objects.exists() and private.splitlines()[1] not in caplog.text


@pytest.mark.parametrize("value, says", [("", "required"), ("ssh-ed25519 not-base64!", "not an OpenSSH public key"),
                                         ("hello", "not an OpenSSH public key")])
def test_a_bad_public_key_is_a_400_naming_the_field(owner, value, says):
    answer = owner.client.post("/api/v1/pods", pod_body(value), format="json")
    assert answer.status_code == 400 and says in answer.json()["errors"]["ssh_public_key"][0]


def test_every_bad_field_is_named_at_once(owner, key_pair):
    body = pod_body(key_pair[0], name="Not A Slug", image="jupyter/base-notebook:latest", nodes=2,
                    idle_timeout_minutes=-1)
    errors = owner.client.post("/api/v1/pods", body, format="json").json()["errors"]
    assert {"name", "image", "nodes", "idle_timeout_minutes"} <= set(errors)
    assert "pinned by digest" in errors["image"][0]


def test_an_image_needs_jupyter(owner, key_pair):
    body = pod_body(key_pair[0], jupyter=False, image="quay.io/x/y@sha256:" + "a" * 64)
    assert "jupyter" in owner.client.post("/api/v1/pods", body, format="json").json()["errors"]["image"][0]


def test_another_workspace_sees_404(owner, stranger, running_pod):
    pod, _ = running_pod
    for method, url in (("get", f"/api/v1/pods/{pod.pk}"), ("post", f"/api/v1/pods/{pod.pk}/stop"),
                        ("post", f"/api/v1/pods/{pod.pk}/start"), ("post", f"/api/v1/pods/{pod.pk}/terminate")):
        assert getattr(stranger.client, method)(url).status_code == 404
    assert stranger.client.get("/api/v1/pods").json()["results"] == []
    assert [p["name"] for p in owner.client.get("/api/v1/pods").json()["results"]] == ["busy"]


def test_a_partner_that_maps_ports_gives_the_mapped_jupyter_url_and_ssh_port(owner, running_pod):
    pod, node = running_pod
    Pod.objects.filter(pk=pod.pk).update(jupyter=True)
    plain = owner.client.get(f"/api/v1/pods/{pod.pk}").json()
    assert (plain["jupyter_url"], plain["ssh"]) == ("http://10.0.0.5:8888/lab", f"ssh -p 22 {node.ssh_user}@10.0.0.5")
    Node.objects.filter(pk=node.pk).update(ip="203.0.113.9", ssh_port=41022, endpoint="http://203.0.113.9:41888")
    mapped = owner.client.get(f"/api/v1/pods/{pod.pk}").json()
    assert mapped["jupyter_url"] == "http://203.0.113.9:41888/lab"
    assert mapped["ssh"] == f"ssh -p 41022 {node.ssh_user}@203.0.113.9"


def test_an_ssh_session_in_the_heartbeat_keeps_the_pod_running(running_pod):
    pod, node = running_pod
    _heartbeat(node, {**IDLE, "ssh_sessions": 1})
    seen = Node.objects.get(pk=node.pk).last_activity_at
    assert seen is not None
    assert pods_idle_stop(now=seen + timedelta(seconds=59)) == []
    assert Pod.objects.get(pk=pod.pk).state == PodState.RUNNING
    assert pods_idle_stop(now=seen + timedelta(seconds=61)) == [pod.pk]


@pytest.mark.parametrize("activity", [{"jupyter_busy_kernels": 1}, {"gpu_utilization_pct": 87.0}])
def test_a_busy_kernel_or_gpu_counts_as_activity(running_pod, activity):
    pod, node = running_pod
    _heartbeat(node, {**IDLE, **activity})
    assert pods_idle_stop(now=timezone.now() + timedelta(seconds=30)) == []


def test_an_idle_heartbeat_is_no_activity_and_the_sweep_stops_the_pod(owner, running_pod):
    pod, node = running_pod
    _heartbeat(node, IDLE)
    assert Node.objects.get(pk=node.pk).last_activity_at is None
    detail = owner.client.get(f"/api/v1/pods/{pod.pk}").json()
    assert detail["activity"]["ssh_sessions"] == 0 and detail["activity"]["idle_stop_at"]
    now = timezone.now()
    assert pods_idle_stop(now=now) == [pod.pk]
    pod.refresh_from_db()
    assert pod.state == PodState.STOPPING and pod.rental.state == RentalState.TERMINATING
    assert pod.rental.ended_at == now


def test_a_kernels_last_activity_moves_the_idle_clock(running_pod):
    pod, node = running_pod
    recent = timezone.now() - timedelta(seconds=10)
    _heartbeat(node, {**IDLE, "jupyter_last_activity": recent.isoformat()})
    assert Node.objects.get(pk=node.pk).last_activity_at == recent
    assert pods_idle_stop(now=recent + timedelta(seconds=50)) == []


def test_idle_timeout_zero_never_stops(running_pod):
    pod, _ = running_pod
    Pod.objects.filter(pk=pod.pk).update(idle_timeout_minutes=0)
    assert pods_idle_stop(now=timezone.now() + timedelta(days=3)) == []


def test_stop_then_terminate_by_the_user_and_start_is_409(owner, running_pod):
    pod, node = running_pod
    stop = owner.client.post(f"/api/v1/pods/{pod.pk}/stop")
    assert stop.status_code == 202 and stop.json()["state"] == "stopping"
    assert owner.client.post(f"/api/v1/pods/{pod.pk}/start").status_code == 409
    terminate = owner.client.post(f"/api/v1/pods/{pod.pk}/terminate")
    assert terminate.status_code == 202 and terminate.json()["state"] == "terminating"
    assert Node.objects.get(pk=node.pk).state == NodeState.RUNNING  # the rental's task terminates it


def test_a_preempted_spot_node_ends_the_pod(running_pod):
    from marketplace.states import transition

    pod, node = running_pod
    assert transition(node.rental, RentalState.PREEMPTED, reason="spot capacity reclaimed")
    pod.refresh_from_db()
    assert pod.state == PodState.TERMINATED and "taken back" in pod.events.last().reason
