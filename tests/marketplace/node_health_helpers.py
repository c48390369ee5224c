"""Rows for node-health tests: a partner, a running rental and its nodes (created directly, no provisioning)."""

from decimal import Decimal

from marketplace.models import Node, NodeState, Partner, PartnerStatus, Rental, RentalState


def make_partner(slug: str = "acme-cloud") -> Partner:
    return Partner.objects.get_or_create(slug=slug, defaults={"name": slug, "status": PartnerStatus.ACTIVE})[0]


def make_node(workspace, partner: Partner | None = None, *, state: str = NodeState.RUNNING, index: int = 0) -> Node:
    partner = partner or make_partner()
    rental = Rental.objects.create(workspace=workspace, request={"gpu": "H100", "nodes": 1}, request_hash="h",
                                   partner=partner, state=RentalState.RUNNING, max_hours=Decimal("4"))
    return Node.objects.create(rental=rental, partner=partner, index=index, state=state, provider_ref=f"i-{index}")


def report(state: str = "healthy", repair: str = "none", reasons=(), **extra) -> dict:
    return {"state": state, "repair": repair, "reasons": list(reasons),
            "gpus": [{"index": 0, "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-a", "health": state,
                      "temperature_c": 41, "power_w": 118.0}],
            "xid_events": [], "agent_version": "0.1.0", "reported_at": "2026-11-22T12:00:00+00:00", **extra}
