"""Reconciliation isolates partners: one that cannot be reached, or is misconfigured, is logged and skipped."""

import logging

import botocore.exceptions
import pytest

from marketplace.models import Partner, PartnerKind, PartnerStatus
from marketplace.services.adapters import adapter_for, owner_tag
from marketplace.services.reconcile import reconcile_all
from providers.aws import AwsAdapter
from providers.base import ProviderError, ProvisionSpec
from tests.marketplace.test_rental_guards import _running_rental
from tests.providers.conftest import closed_port

pytestmark = pytest.mark.usefixtures("sim_catalog")


def _orphan_at(partner: Partner) -> str:
    adapter = adapter_for(partner)
    offer = partner.offers.select_related("region").first()
    return adapter.provision(ProvisionSpec(idempotency_key="leaked", rental_id="999999",
                                           instance_type=offer.instance_type, region=offer.region.code,
                                           tags=owner_tag(partner))).ref


def _aws_partner(slug: str, **fields) -> Partner:
    defaults = {"kind": PartnerKind.AWS, "status": PartnerStatus.SUSPENDED, "name": slug,
                "adapter_options": {"endpoint_url": f"http://127.0.0.1:{closed_port()}", "max_attempts": 1,
                                    "timeout": 1}}
    partner = Partner(slug=slug, **{**defaults, **fields})
    partner.credentials = {"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "x"}
    partner.save()
    return partner


def test_an_unreachable_aws_partner_raises_provider_error_not_botocore():
    partner = _aws_partner("aaa-unreachable")
    with pytest.raises(ProviderError) as err:
        adapter_for(partner).list_nodes()
    assert err.value.kind == "transient" and not isinstance(err.value, botocore.exceptions.BotoCoreError)


def test_an_unknown_adapter_option_is_a_clear_provider_error():
    partner = _aws_partner("aaa-typo", adapter_options={"regoins": ["us-east-1"]})
    with pytest.raises(ProviderError, match="unknown adapter option.*regoins.*known:.*regions"):
        adapter_for(partner)


def test_one_failing_partner_is_logged_and_skipped_the_others_reconcile(owner, caplog, monkeypatch):
    _aws_partner("aaa-unreachable")  # sorted first: it used to abort the whole pass
    _aws_partner("aab-typo", adapter_options={"regoins": ["us-east-1"]})
    _aws_partner("aac-bug", adapter_options={"regions": ["eu-west-1"]})
    real_list_nodes = AwsAdapter.list_nodes

    def list_nodes(self):
        if self.regions == ["eu-west-1"]:
            raise KeyError("Reservations")  # an adapter bug, not a partner error
        return real_list_nodes(self)

    monkeypatch.setattr(AwsAdapter, "list_nodes", list_nodes)
    rental = _running_rental(owner)
    leaked = _orphan_at(rental.partner)

    with caplog.at_level(logging.WARNING, logger="marketplace.services.reconcile"):
        totals = reconcile_all()

    assert totals["orphans"] == 1
    assert leaked not in {n.ref for n in adapter_for(rental.partner).list_nodes() if n.state == "running"}
    logged = caplog.text
    assert all(slug in logged for slug in ("aaa-unreachable", "aab-typo", "aac-bug"))
