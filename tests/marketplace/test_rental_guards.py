"""Budgets, reconciliation and region verification: the rules that keep money and nodes accounted for."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from marketplace.models import Node, Offer, Rental, RentalAttempt
from marketplace.services.adapters import adapter_for, owner_tag
from marketplace.services.budgets import budget_enforce
from marketplace.services.reconcile import reconcile_all
from providers import registry
from providers.base import ProvisionSpec
from providers.partner_api import PartnerApiAdapter
from tests.conftest import drive_rental
from tests.marketplace.test_rentals import EU_H200, _rent

pytestmark = pytest.mark.usefixtures("sim_catalog")


def _running_rental(persona, hours_ago: float = 0) -> Rental:
    rental = drive_rental(_rent(persona).json()["id"])
    assert rental.state == "running"
    if hours_ago:
        Rental.objects.filter(pk=rental.pk).update(running_since=timezone.now() - timedelta(hours=hours_ago))
        rental.refresh_from_db()
    return rental


def test_rental_that_cannot_fit_the_budget_is_refused_with_402(owner):
    owner.workspace.monthly_budget = Decimal("1.00")
    owner.workspace.save()
    response = _rent(owner)
    assert response.status_code == 402
    assert "monthly budget" in response.json()["detail"]
    assert not Rental.objects.exists()


def test_budget_warns_once_at_80_percent_and_terminates_at_100(owner):
    rental = _running_rental(owner, hours_ago=1)
    hourly = rental.locked_price_per_hour
    owner.workspace.monthly_budget = (hourly / Decimal("0.85")).quantize(Decimal("0.01"))
    owner.workspace.save()
    assert budget_enforce()["warned"] == 1
    assert budget_enforce()["warned"] == 0  # once per month
    assert any("budget warning" in e.reason for e in rental.events.all())
    owner.workspace.monthly_budget = (hourly * Decimal("0.9")).quantize(Decimal("0.01"))
    owner.workspace.save()
    assert budget_enforce()["terminated"] == 1
    rental = drive_rental(rental.pk)
    assert rental.state == "terminated" and any(e.actor == "budget" for e in rental.events.all())


def test_reconciliation_terminates_orphans_at_the_partner(owner, sim_catalog):
    rental = _running_rental(owner)
    adapter = adapter_for(rental.partner)
    orphan = adapter.provision(ProvisionSpec(idempotency_key="leaked-1", rental_id="999999",
                                             instance_type=rental.offer.instance_type, region=rental.offer.region.code,
                                             tags=owner_tag(rental.partner)))
    assert orphan.ref in {n.ref for n in adapter.list_nodes()}
    totals = reconcile_all()
    assert totals["orphans"] == 1
    live = {n.ref for n in adapter.list_nodes() if n.state not in ("terminated", "failed")}
    assert orphan.ref not in live
    assert Node.objects.get(rental=rental, state="running").provider_ref in live  # the real node is untouched


def test_reconciliation_fails_a_rental_whose_node_vanished(owner):
    rental = _running_rental(owner)
    node = Node.objects.get(rental=rental, state="running")
    adapter_for(rental.partner).terminate(node.provider_ref)  # gone behind the broker's back
    before = Offer.objects.get(pk=rental.offer_id).available_nodes
    assert reconcile_all()["vanished"] == 1
    rental.refresh_from_db()
    assert rental.state == "failed" and "vanished" in rental.failure_reason
    assert Offer.objects.get(pk=rental.offer_id).available_nodes == before + 1


def test_provisioning_that_never_finishes_times_out(owner, settings):
    rental = Rental.objects.get(pk=_rent(owner).json()["id"])
    from marketplace.services.rentals import rental_provision

    rental_provision(rental.pk)  # launched, never polled
    Rental.objects.filter(pk=rental.pk).update(state_changed_at=timezone.now() - timedelta(hours=1),
                                               lease_until=None)
    settings.PROVISION_TIMEOUT_S = 60
    assert reconcile_all()["timed_out"] == 1
    rental.refresh_from_db()
    assert rental.state == "failed" and "did not finish" in rental.failure_reason
    assert not Node.objects.filter(rental=rental).exclude(state="terminated").exists()


class _WrongRegionAdapter(PartnerApiAdapter):
    """A partner that launches the node somewhere else than asked (what describe would reveal)."""

    def provision(self, spec):
        info = super().provision(spec)
        return type(info)(**{**info.__dict__, "region": "somewhere-else"})


def test_a_node_outside_the_offer_region_is_terminated_and_failed_over(owner, monkeypatch, sim_catalog):
    first = Offer.objects.filter(gpu__name="H200", gpus_per_node=1, jurisdiction="EU", price_status="ok",
                                 partner__status="active").order_by("price_per_hour").first()
    original = registry.adapter_class

    def adapter_class(kind):
        return _WrongRegionAdapter if kind == "partner_api" and first.partner.kind == "partner_api" else original(kind)

    monkeypatch.setattr(registry, "adapter_class", adapter_class)
    rental_id = _rent(owner, {**EU_H200, "policy": {"partners": {"allow": [first.partner.slug]},
                                                    "jurisdictions": ["EU"]}}).json()["id"]
    rental = drive_rental(rental_id)
    attempt = RentalAttempt.objects.filter(rental=rental).first()
    assert attempt.outcome == "failed" and "not in the offer's region" in attempt.error_message
    assert rental.state == "failed"  # the only allowed partner misplaces every node: never outside the rules
    assert sim_catalog.store.list_nodes(first.partner.slug) == []
