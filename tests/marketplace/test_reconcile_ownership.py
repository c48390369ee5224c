"""Reconciliation touches only nodes its own installation launched through the partner row it reconciles:
two rows on one cloud account, or another broker on the same account, leave each other's nodes alone."""

import pytest

from marketplace.models import Node, Partner
from marketplace.services.adapters import adapter_for, owner_tag
from marketplace.services.reconcile import reconcile_all
from providers.base import OWNER_TAG, RENTAL_TAG, ProvisionSpec
from tests.marketplace.test_rental_guards import _running_rental

pytestmark = pytest.mark.usefixtures("sim_catalog")


def _twin(partner: Partner, slug: str) -> Partner:
    """Another partner row on the same cloud account (same API, same key)."""
    twin = Partner(slug=slug, name=slug, kind=partner.kind, base_url=partner.base_url, status=partner.status,
                   adapter_options=partner.adapter_options, node_launch=partner.node_launch)
    twin.credentials = partner.credentials
    twin.save()
    return twin


def _live_refs(partner: Partner) -> set[str]:
    return {n.ref for n in adapter_for(partner).list_nodes() if n.state in ("pending", "running")}


def test_nodes_carry_the_installation_and_the_partner_row(owner):
    rental = _running_rental(owner)
    node = Node.objects.get(rental=rental)
    info = adapter_for(rental.partner).describe(node.provider_ref)
    assert info.tags[OWNER_TAG] == owner_tag(rental.partner)[OWNER_TAG] and info.tags[RENTAL_TAG] == str(rental.pk)


def test_a_second_row_on_the_same_account_leaves_the_first_rows_rental_running(owner):
    rental = _running_rental(owner)
    _twin(rental.partner, "twin-row")
    node = Node.objects.get(rental=rental)

    totals = reconcile_all()

    rental.refresh_from_db()
    assert totals["orphans"] == 0 and totals["vanished"] == 0
    assert rental.state == "running" and node.provider_ref in _live_refs(rental.partner)


def test_another_installations_nodes_are_never_touched(owner, settings):
    rental = _running_rental(owner)
    offer = rental.offer
    foreign = adapter_for(rental.partner).provision(ProvisionSpec(
        idempotency_key="staging-1", rental_id=str(rental.pk + 1000), instance_type=offer.instance_type,
        region=offer.region.code, tags={OWNER_TAG: f"0staging0p{rental.partner.pk}"}))
    other = rental.partner.offers.exclude(pk=offer.pk).select_related("region").first()  # capacity is 2 each
    leaked = adapter_for(rental.partner).provision(ProvisionSpec(
        idempotency_key="ours-1", rental_id=str(rental.pk + 1000), instance_type=other.instance_type,
        region=other.region.code, tags=owner_tag(rental.partner)))

    assert reconcile_all()["orphans"] == 1

    assert foreign.ref in _live_refs(rental.partner) and leaked.ref not in _live_refs(rental.partner)
