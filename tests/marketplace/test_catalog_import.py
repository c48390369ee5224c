"""Importing the real catalogue: complete, idempotent, price history, vanished offers removed."""

import dataclasses
from decimal import Decimal

from django.core.management import call_command

from marketplace.catalog.importer import import_parsed
from marketplace.catalog.skypilot import CatalogParse
from marketplace.models import CatalogVersion, Offer, Partner, PartnerStatus, PriceHistory


def test_import_creates_an_active_partner_per_cloud_and_every_offer(real_catalog, parsed_catalog):
    assert Offer.objects.count() == len(parsed_catalog.offers) == real_catalog.created
    slugs = set(Partner.objects.filter(status=PartnerStatus.ACTIVE).values_list("slug", flat=True))
    assert slugs == set(parsed_catalog.partners)
    assert not Offer.objects.filter(available_nodes__isnull=False).exists()


def test_reimport_is_idempotent(real_catalog, parsed_catalog):
    version = CatalogVersion.objects.get().version
    report = import_parsed(parsed_catalog)
    assert (report.created, report.updated, report.removed) == (0, 0, 0)
    assert report.unchanged == len(parsed_catalog.offers)
    assert CatalogVersion.objects.get().version == version + 1


def test_price_change_updates_offer_and_records_history(real_catalog, parsed_catalog):
    target = next(o for o in parsed_catalog.offers if o.partner == "nebius" and o.gpu == "H100")
    changed = dataclasses.replace(target, price_per_hour=round(target.price_per_hour * 1.1, 4))
    offers = [changed if o is target else o for o in parsed_catalog.offers]
    report = import_parsed(dataclasses.replace(parsed_catalog, offers=offers))
    assert report.updated == 1 and report.price_changes == 1
    offer = Offer.objects.get(partner__slug="nebius", instance_type=target.instance_type,
                              region__code=target.region)
    assert offer.price_per_hour == Decimal(str(changed.price_per_hour))
    assert offer.price_per_gpu_hour == (offer.price_per_hour / offer.gpus_per_node).quantize(Decimal("0.0001"))
    history = list(offer.price_history.values_list("price_per_hour", flat=True))
    assert history == [Decimal(str(target.price_per_hour)), Decimal(str(changed.price_per_hour))]


def test_vanished_offers_are_removed(real_catalog, parsed_catalog):
    kept = [o for o in parsed_catalog.offers if not (o.partner == "mithril" and o.gpu == "H200")]
    report = import_parsed(CatalogParse(offers=kept, regions=parsed_catalog.regions,
                                        problems=[], partners=parsed_catalog.partners))
    assert report.removed == 2
    assert not Offer.objects.filter(partner__slug="mithril", gpu__name="H200").exists()


def test_placeholder_prices_are_suspect_with_reason(real_catalog):
    mithril = Offer.objects.get(partner__slug="mithril", instance_type="h100-80gb.sxm.8x")
    assert mithril.price_status == "suspect"
    assert "market median" in mithril.price_status_reason
    no_price = Offer.objects.filter(price_per_hour__isnull=True, spot_price_per_hour__isnull=True)
    assert no_price.exists() and set(no_price.values_list("price_status", flat=True)) == {"suspect"}


def test_a_spot_only_offer_is_judged_by_its_spot_price(real_catalog):
    spot_only = Offer.objects.filter(price_per_hour__isnull=True, spot_price_per_hour__isnull=False)
    assert spot_only.exists()
    assert "no on-demand price" not in set(spot_only.values_list("price_status_reason", flat=True))


def test_offer_location_is_denormalised_from_its_region(real_catalog):
    offer = Offer.objects.filter(partner__slug="aws", region__code="eu-central-1").first()
    assert (offer.country, offer.jurisdiction) == ("DE", "EU")
    unspecified = Offer.objects.filter(partner__slug="hyperbolic").first()
    assert (unspecified.country, unspecified.jurisdiction) == ("", "")


def test_initial_import_records_a_price_point_per_offer(real_catalog):
    assert PriceHistory.objects.count() == Offer.objects.count()


def test_import_command_reports_rows_per_partner_and_problems(db, capsys):
    call_command("import_catalog", "--snapshot")
    out = capsys.readouterr().out
    assert "created" in out and "aws:" in out and "H100" in out
    assert "could not be imported" in out
