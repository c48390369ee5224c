"""The heartbeat endpoint (node token only) and the workspace's read of a node's health."""

import pytest
from rest_framework.test import APIClient

from marketplace.models import NodeHealthEvent, NodeState
from marketplace.services.node_health import node_health_record, node_token_issue

from .node_health_helpers import make_node, report

pytestmark = pytest.mark.django_db


@pytest.fixture
def node(owner):
    return make_node(owner.workspace)


@pytest.fixture
def token(node):
    return node_token_issue(node)


def post_health(node_id, body, token=None, scheme="Node"):
    client = APIClient()
    if token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"{scheme} {token}")
    return client.post(f"/api/v1/nodes/{node_id}/health", body, format="json")


def test_heartbeat_with_the_nodes_token_is_stored(node, token):
    response = post_health(node.pk, report("unhealthy", "reboot", ["Xid 79 on GPU 0"]), token)

    assert response.status_code == 200
    assert response.json()["health"] == "unhealthy" and response.json()["repair"] == "reboot"
    node.refresh_from_db()
    assert node.health == "unhealthy" and node.health_report["agent_version"] == "0.1.0"


def test_heartbeat_needs_no_api_key(node, token, owner):
    owner.client.credentials(HTTP_AUTHORIZATION=f"Node {token}")

    assert owner.client.post(f"/api/v1/nodes/{node.pk}/health", report(), format="json").status_code == 200


def test_heartbeat_without_a_token_is_401(node):
    response = post_health(node.pk, report())

    assert response.status_code == 401 and response["WWW-Authenticate"] == "Node"


def test_an_api_key_is_not_a_node_token(node, token, owner):
    assert post_health(node.pk, report(), owner.token, scheme="Bearer").status_code == 401


def test_another_nodes_token_is_404_like_a_missing_node(owner, node, token):
    other = make_node(owner.workspace, index=1)
    other_token = node_token_issue(other)

    assert post_health(node.pk, report(), other_token).status_code == 404
    assert post_health(999_999, report(), token).status_code == 404
    assert post_health(node.pk, report(), "gpbn_guess").status_code == 404
    node.refresh_from_db()
    assert node.last_heartbeat_at is None


@pytest.mark.parametrize(("change", "field"), [
    ({"state": "on-fire"}, "state"),
    ({"repair": "replace"}, "repair"),
    ({"reasons": "not a list"}, "reasons"),
    ({"gpus": [1, 2]}, "gpus.0"),
    ({"reported_at": "yesterday"}, "reported_at"),
    ({"agent_version": None}, "agent_version"),
])
def test_invalid_report_is_400_naming_the_field(node, token, change, field):
    response = post_health(node.pk, {**report(), **change}, token)

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_missing_fields_are_named(node, token):
    response = post_health(node.pk, {"state": "healthy"}, token)

    assert response.status_code == 400
    assert {"repair", "reasons", "gpus", "xid_events", "agent_version", "reported_at"} <= set(response.json()["errors"])


def test_terminated_node_heartbeat_is_a_conflict(node, token):
    node.state = NodeState.TERMINATED
    node.save()

    assert post_health(node.pk, report(), token).status_code == 409


def test_repeated_heartbeats_add_an_event_only_on_change(node, token):
    for state in ("healthy", "healthy", "degraded"):
        post_health(node.pk, report(state), token)

    assert NodeHealthEvent.objects.filter(node=node).count() == 2


def test_workspace_reads_its_nodes_health_and_history(owner, node):
    node_health_record(node=node, report=report("healthy"))
    node_health_record(node=node, report=report("unhealthy", "reboot", ["Xid 79 on GPU 0"]))

    response = owner.client.get(f"/api/v1/nodes/{node.pk}")

    body = response.json()
    assert response.status_code == 200
    assert (body["health"], body["repair"], body["reason"]) == ("unhealthy", "reboot", "Xid 79 on GPU 0")
    assert body["gpus"][0]["name"] == "NVIDIA H100 80GB HBM3" and body["gpus"][0]["temperature_c"] == 41
    assert [(e["from"], e["to"]) for e in body["events"]] == [("unknown", "healthy"), ("healthy", "unhealthy")]
    assert "token_hash" not in body


def test_another_workspaces_node_is_404(stranger, node):
    assert stranger.client.get(f"/api/v1/nodes/{node.pk}").status_code == 404


def test_reading_a_node_needs_an_api_key(anon_client, node):
    assert anon_client.get(f"/api/v1/nodes/{node.pk}").status_code in (401, 403)


@pytest.mark.django_db(transaction=True)
def test_the_real_agent_heartbeats_to_the_broker(live_server, owner, tmp_path):
    import subprocess
    import sys

    node = make_node(owner.workspace)
    token = node_token_issue(node)
    done = subprocess.run(
        [sys.executable, "-m", "nim_launcher.agent", "--once", "--broker", live_server.url, "--node-id", str(node.pk),
         "--state-file", str(tmp_path / "state.json"), "--no-kernel-log"],
        env={"GPUB_NODE_TOKEN": token, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    node.refresh_from_db()
    # This machine has no NVIDIA driver: the agent says so and the broker stores it.
    assert node.health == "unknown" and node.last_heartbeat_at is not None
    assert node.health_reason.startswith("no NVIDIA GPU / NVML not available")
