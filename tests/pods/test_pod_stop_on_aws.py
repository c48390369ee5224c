"""Where the partner can stop a node (AWS, against moto): an idle pod is stopped — not terminated —, metering
stops at that second, and `start` brings the same instance back."""

from datetime import timedelta
from decimal import Decimal

import requests
from django.utils import timezone

from marketplace.models import Node, NodeState, Partner, PartnerKind, PartnerStatus, Rental, RentalState
from marketplace.services.adapters import adapter_for
from marketplace.services.metering import rental_cost
from marketplace.services.rental_stops import rental_start_poll, rental_stop_nodes
from pods.models import Pod, PodState
from pods.services.pods import pods_idle_stop
from providers.base import ProvisionSpec
from tests.providers.conftest import moto_url, register_ami  # noqa: F401  (moto_url is a fixture)

CREDS = {"aws_access_key_id": "AKIAEXAMPLEBROKER", "aws_secret_access_key": "secret"}


def _aws_pod(workspace, moto: str, key: str) -> Pod:
    requests.post(f"{moto}/moto-api/reset", timeout=5)
    partner = Partner(slug="aws-pods", name="AWS", kind=PartnerKind.AWS, status=PartnerStatus.ACTIVE,
                      adapter_options={"endpoint_url": moto, "ami": register_ami(moto), "max_attempts": 1,
                                       "regions": ["us-east-1"]})
    partner.credentials = CREDS
    partner.save()
    info = adapter_for(partner).provision(ProvisionSpec("pod-stop-1", "1", "p5.48xlarge", "us-east-1"))
    started = timezone.now() - timedelta(minutes=5)
    rental = Rental.objects.create(workspace=workspace, partner=partner, state=RentalState.RUNNING, request={},
                                   request_hash="h", max_hours=Decimal(4), running_since=started,
                                   locked_price_per_hour=Decimal(36))
    Node.objects.create(rental=rental, partner=partner, state=NodeState.RUNNING, provider_ref=info.ref,
                        ip=info.ip or "")
    return Pod.objects.create(workspace=workspace, name="aws-dev", state=PodState.RUNNING, rental=rental,
                              ssh_public_key=key, idle_timeout_minutes=1, running_since=started)


def test_an_idle_pod_on_aws_is_stopped_billing_stops_and_it_starts_again(owner, key_pair, moto_url):  # noqa: F811
    pod = _aws_pod(owner.workspace, moto_url, key_pair[0])
    stop_at = pod.running_since + timedelta(seconds=90)
    assert pods_idle_stop(now=stop_at) == [pod.pk]
    pod.refresh_from_db()
    assert pod.state == PodState.STOPPED
    assert "stops the node and keeps its disk" in pod.events.get(to_state=PodState.STOPPING).reason
    rental = Rental.objects.get(pk=pod.rental_id)
    assert rental.state == RentalState.STOPPED and rental.ended_at is None
    later = stop_at + timedelta(hours=3)
    assert rental_cost(rental, now=later) == Decimal(36) * Decimal(90) / Decimal(3600)  # nothing after the stop

    assert rental_stop_nodes(rental.pk)
    node = Node.objects.get(rental=rental)
    assert node.state == NodeState.STOPPED
    assert adapter_for(rental.partner).describe(node.provider_ref).state == "stopped"
    answer = owner.client.get(f"/api/v1/pods/{pod.pk}").json()
    assert answer["state"] == "stopped" and answer["ssh"] is None

    start = owner.client.post(f"/api/v1/pods/{pod.pk}/start")
    assert start.status_code == 202 and start.json()["state"] == "provisioning"
    for _ in range(10):
        if rental_start_poll(rental.pk):
            break
    rental.refresh_from_db()
    assert rental.state == RentalState.RUNNING and [started for _, started in rental.pauses] != [None]
    running = owner.client.get(f"/api/v1/pods/{pod.pk}").json()
    assert running["state"] == "running" and running["ssh"].startswith("ssh -p 22 ubuntu@")
    assert Node.objects.get(pk=node.pk).provider_ref == node.provider_ref  # the same instance, disk and all
