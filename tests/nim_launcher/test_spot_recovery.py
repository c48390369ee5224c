"""A 2-replica spot deployment keeps serving through the gateway while a replica's node is preempted.

Simulated partners boot each node's real plan (the NIM runtime serves on the node's own address). The test
thread does the worker's job (spot watch, rentals, the deployment's control loop) between gateway calls, so
the behaviour is asserted without timing: every round of calls during the recovery is served, failures stay
within a small bound, and the replacement obeys the same request and policy. `benchmarks/spot_recovery.py`
measures the recovery time and the error window.
"""

import time

import requests

from marketplace.models import Rental
from marketplace.secrets import encrypt_text
from marketplace.services.preemption import spot_rentals_watch
from nim_launcher.models import Replica
from tests.conftest import drive_rental
from tests.nim_launcher.test_deployments import BODY, NGC_KEY, settle

SPOT_BODY = {**BODY, "name": "spot-chat", "spot": True, "replicas": {"min": 2, "max": 2}}
MAX_FAILED_CALLS = 2  # calls routed to the preempted replica before the gateway's cached routes expire


def _chat(persona):
    return persona.client.post("/v1/chat/completions", {"model": SPOT_BODY["name"], "messages": [
        {"role": "user", "content": "still there?"}], "max_tokens": 4}, format="json")


def _step(deployment_id: int) -> None:
    """One pass of the worker: the spot watch, then the deployment's control loop and its rentals."""
    spot_rentals_watch()
    settle(deployment_id, lambda d: True)


def test_a_spot_deployment_keeps_serving_through_a_preemption_and_replaces_the_replica(owner, live_partners):
    from nim_launcher.services.deployments import deployment_reconcile

    owner.workspace.ngc_api_key_encrypted = encrypt_text(NGC_KEY)
    owner.workspace.save(update_fields=["ngc_api_key_encrypted"])
    response = owner.client.post("/api/v1/deployments", SPOT_BODY, format="json")
    assert response.status_code == 202, response.content
    deployment = settle(response.json()["id"], timeout=60,
                        until=lambda d: Replica.objects.filter(deployment=d, state="ready").count() == 2)
    first, second = Replica.objects.filter(deployment=deployment, state="ready")
    assert first.rental.spot and second.rental.spot
    assert _chat(owner).status_code == 200

    node = first.rental.nodes.get(state="running")
    requests.post(f"{live_partners.url}/_control/{node.partner.slug}", json={"preempt": node.provider_ref}, timeout=5)
    calls, failed, rounds_unserved = 0, 0, 0
    deadline = time.monotonic() + 90
    replacement = None
    while replacement is None and time.monotonic() < deadline:
        statuses = [_chat(owner).status_code for _ in range(3)]
        calls, failed = calls + len(statuses), failed + sum(s != 200 for s in statuses)
        rounds_unserved += 200 not in statuses
        _step(deployment.pk)
        replacement = (Replica.objects.filter(deployment=deployment, state="ready")
                       .exclude(pk__in=(first.pk, second.pk)).first())
        time.sleep(0.1)
    assert replacement is not None, "the preempted replica was not replaced"
    assert rounds_unserved == 0 and failed <= MAX_FAILED_CALLS, (calls, failed)

    lost = Rental.objects.get(pk=first.rental_id)
    assert lost.state == "preempted" and Replica.objects.get(pk=first.pk).state == "terminated"
    recovery = replacement.rental
    assert recovery.replaces_id == lost.pk and recovery.spot  # spot first; no fallback was allowed
    assert recovery.request == lost.request  # the same request and policy
    assert recovery.offer.jurisdiction == "EU"
    assert deployment.events.filter(reason__contains="preempted").exists()
    assert _chat(owner).status_code == 200
    usage = owner.client.get("/api/v1/usage").json()
    assert usage["preemptions"] == {"preemptions": 1, "recovered": 1} and usage["spot_savings"] >= 0

    assert owner.client.delete(f"/api/v1/deployments/{deployment.pk}").status_code == 202
    for replica in Replica.objects.filter(deployment=deployment):
        drive_rental(replica.rental_id)
    deployment_reconcile(deployment.pk)


def test_spot_fallback_needs_spot_and_is_kept_in_the_request_every_replica_obeys(owner, live_partners):
    from nim_launcher.models import Deployment

    refused = owner.client.post("/api/v1/deployments", {**SPOT_BODY, "spot": False, "spot_fallback": True},
                                format="json")
    assert refused.status_code == 400 and list(refused.json()["errors"]) == ["spot_fallback"]
    accepted = owner.client.post("/api/v1/deployments", {**SPOT_BODY, "spot_fallback": True}, format="json")
    assert accepted.status_code == 202, accepted.content
    request = Deployment.objects.get(pk=accepted.json()["id"]).request
    assert request["spot"] is True and request["spot_fallback"] is True
