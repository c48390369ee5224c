"""Rows for dashboard tests created directly (no provisioning): rentals, nodes, deployments."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from marketplace.models import Node, NodeState, Offer, Rental, RentalEvent, RentalState
from nim_launcher.models import Deployment, DeploymentEvent, DeploymentState, Replica, ReplicaState


def make_rental(workspace, offer: Offer | None = None, *, state: str = RentalState.RUNNING, hours_running: float = 1.0,
                price: str = "3.50", ip: str = "203.0.113.7", ended: bool = False) -> Rental:
    now = timezone.now()
    running_since = now - timedelta(hours=hours_running) if state in (
        RentalState.RUNNING, RentalState.TERMINATING, RentalState.TERMINATED) else None
    rental = Rental.objects.create(
        workspace=workspace, request={"gpu": "H100", "nodes": 1, "policy": {"jurisdictions": ["EU"]}},
        request_hash="h", offer=offer, partner=offer.partner if offer else None,
        region_code=offer.region.code if offer else "", state=state, max_hours=Decimal("4"),
        locked_price_per_hour=Decimal(price) if offer else None, running_since=running_since,
        ended_at=now if ended else None)
    RentalEvent.objects.create(rental=rental, from_state="", to_state="pending", reason="requested")
    if offer is not None:
        RentalEvent.objects.create(rental=rental, from_state="pending", to_state="provisioning",
                                   reason=f"reserved 1× {offer.partner.slug} {offer.instance_type}")
        attempt = rental.attempts.create(offer=offer, partner_slug=offer.partner.slug, region_code=offer.region.code,
                                         instance_type=offer.instance_type, outcome="succeeded")
        Node.objects.create(rental=rental, attempt=attempt, partner=offer.partner, provider_ref="i-1", ip=ip,
                            state=NodeState.RUNNING if state == RentalState.RUNNING else NodeState.TERMINATED)
    if state != RentalState.PENDING and offer is not None and running_since:
        RentalEvent.objects.create(rental=rental, from_state="provisioning", to_state="running",
                                   reason=f"1 node(s) running at {offer.partner.slug}")
    return rental


def make_deployment(workspace, name: str = "chat", *, state: str = DeploymentState.READY, endpoint: str = "",
                    offer: Offer | None = None) -> Deployment:
    deployment = Deployment.objects.create(workspace=workspace, name=name, model="gpu-broker/tiny-cpu-chat",
                                           profile="cpu-fp32-tp1", state=state)
    DeploymentEvent.objects.create(deployment=deployment, from_state="", to_state="pending", reason="created")
    rental = make_rental(workspace, offer)
    Replica.objects.create(deployment=deployment, rental=rental, endpoint=endpoint,
                           state=ReplicaState.READY if endpoint else ReplicaState.STARTING)
    return deployment
