"""Deployments end to end on simulated partners whose nodes really run the NIM runtime.

The test thread does the worker's job (deployment control loop + rental pipeline) so every step is visible.
"""

import time
from datetime import timedelta

from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.models import Node, Rental
from marketplace.secrets import encrypt_text
from marketplace.services.node_health import node_token
from nim_launcher.agent import AGENT_VERSION
from nim_launcher.models import Deployment, Replica
from nim_launcher.plans import REDACTED
from nim_launcher.services.deployments import deployment_autoscale, deployment_reconcile
from tests.conftest import drive_rental
from tests.marketplace.conftest import SIM_PARTNERS

NGC_KEY = "nvapi-e2e-SECRET"
BODY = {"name": "chat", "model": "gpu-broker/tiny-cpu-chat", "replicas": {"min": 1, "max": 2},
        "policy": {"jurisdictions": ["EU"]}, "max_hours": 2}


def settle(deployment_id: int, until, timeout: float = 30.0) -> Deployment:
    """Run the control loop and the replicas' rentals until `until(deployment)` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for rental_id in Replica.objects.filter(deployment_id=deployment_id).values_list("rental_id", flat=True):
            drive_rental(rental_id, rounds=3)
        deployment_reconcile(deployment_id)
        deployment = Deployment.objects.get(pk=deployment_id)
        if until(deployment):
            return deployment
        time.sleep(0.2)
    raise AssertionError(f"deployment stuck in {Deployment.objects.get(pk=deployment_id).state}")


def _chat(persona):
    return persona.client.post("/v1/chat/completions", {"model": "chat", "messages": [
        {"role": "user", "content": "which gpu"}], "max_tokens": 8}, format="json")


def _unhealthy_report() -> dict:
    return {"state": "unhealthy", "repair": "reboot", "repair_actions": ["reboot", "hardware_inspection"],
            "reasons": ["GPU 0: Xid 79 (GPU has fallen off the bus)"], "gpus": [],
            "xid_events": [{"xid": 79, "gpu": 0}], "agent_version": "test", "reported_at": timezone.now().isoformat()}


def first_heartbeat(node: Node, timeout: float = 30.0) -> Node:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        node.refresh_from_db()
        if node.last_heartbeat_at is not None:
            return node
        time.sleep(0.2)
    raise AssertionError(f"no heartbeat from node {node.pk}")


def test_deploy_serve_replace_unhealthy_replica_and_tear_down(owner, stranger, live_partners):
    owner.workspace.ngc_api_key_encrypted = encrypt_text(NGC_KEY)
    owner.workspace.save(update_fields=["ngc_api_key_encrypted"])
    response = owner.client.post("/api/v1/deployments", BODY, format="json")
    assert response.status_code == 202, response.content
    deployment = settle(response.json()["id"], lambda d: d.state == "ready")
    first = Replica.objects.get(deployment=deployment, state="ready")
    assert first.rental.offer.jurisdiction == "EU"

    answer = _chat(owner)
    assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"]

    # The node booted its cloud-init plan: the agent it downloaded from the broker heartbeats.
    node = first_heartbeat(Node.objects.get(rental=first.rental, state="running"))
    assert node.health_report["agent_version"] == AGENT_VERSION and node.health == "unknown"  # no GPU here
    sent = live_partners.store.get_node(node.partner.slug, node.provider_ref)["user_data"]
    assert sent.startswith("#cloud-config\n")
    plan = owner.client.get(f"/api/v1/rentals/{first.rental_id}/launch-plan")
    assert plan.status_code == 200
    (shown,) = plan.json()["nodes"]
    assert shown["format"] == "cloud-config"
    assert NGC_KEY in sent and node_token(node) in sent
    # exactly as sent, each secret redacted
    assert shown["launch_plan"] == sent.replace(node_token(node), REDACTED).replace(NGC_KEY, REDACTED)
    assert stranger.client.get(f"/api/v1/rentals/{first.rental_id}/launch-plan").status_code == 404

    agent = APIClient()
    agent.credentials(HTTP_AUTHORIZATION=f"Node {node_token(node)}")
    heartbeat = agent.post(f"/api/v1/nodes/{node.pk}/health", _unhealthy_report(), format="json")
    assert heartbeat.status_code == 200, heartbeat.content
    assert any("→ unhealthy" in e.reason and e.actor == "health" for e in first.rental.events.all())

    deployment = settle(deployment.pk, lambda d: Replica.objects.filter(deployment=d, state="ready")
                        .exclude(pk=first.pk).exists())
    first.refresh_from_db()
    assert first.state in ("terminating", "terminated") and "unhealthy" in first.reason
    assert drive_rental(first.rental_id).state == "terminated"
    replacement = Replica.objects.get(deployment=deployment, state="ready")
    assert replacement.rental.offer.jurisdiction == "EU"  # replaced under the same policy
    assert _chat(owner).status_code == 200

    assert owner.client.delete(f"/api/v1/deployments/{deployment.pk}").status_code == 202
    deployment = settle(deployment.pk, lambda d: d.state == "terminated")
    assert set(Rental.objects.values_list("state", flat=True)) == {"terminated"}
    assert all(live_partners.store.list_nodes(slug) == [] for slug in SIM_PARTNERS)


def test_other_workspaces_deployments_are_404(owner, stranger, live_partners):
    deployment_id = owner.client.post("/api/v1/deployments", BODY, format="json").json()["id"]
    assert stranger.client.get(f"/api/v1/deployments/{deployment_id}").status_code == 404
    assert stranger.client.delete(f"/api/v1/deployments/{deployment_id}").status_code == 404


def test_deployment_validation_names_the_field(owner, live_partners):
    response = owner.client.post("/api/v1/deployments", {**BODY, "model": "meta/llama-9", "replicas": {"min": 3,
                                                                                                        "max": 1}},
                                 format="json")
    assert response.status_code == 400
    assert {"model", "replicas.max"} <= set(response.json()["errors"])


def test_a_live_name_cannot_be_deployed_twice(owner, live_partners):
    assert owner.client.post("/api/v1/deployments", BODY, format="json").status_code == 202
    again = owner.client.post("/api/v1/deployments", BODY, format="json")
    assert again.status_code == 409 and f"named {BODY['name']!r} already exists" in again.json()["detail"]


def test_autoscale_follows_request_rate_within_bounds_and_cooldown(owner, live_partners):
    deployment = Deployment.objects.get(pk=owner.client.post("/api/v1/deployments", BODY, format="json").json()["id"])
    now = timezone.now()
    assert deployment_autoscale(deployment, requests_per_minute=500, now=now) == 2
    assert deployment_autoscale(deployment, requests_per_minute=1, now=now + timedelta(seconds=30)) == 2  # cooling
    assert deployment_autoscale(deployment, requests_per_minute=5000, now=now + timedelta(minutes=5)) == 2  # max
    assert deployment_autoscale(deployment, requests_per_minute=1, now=now + timedelta(minutes=10)) == 1
    assert deployment_autoscale(deployment, requests_per_minute=0, now=now + timedelta(minutes=20)) == 1  # min
    deployment.refresh_from_db()
    assert deployment.replicas_desired == 1
