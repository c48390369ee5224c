"""Offers browser (full page and htmx partial), price comparison and the offer page."""

import xml.etree.ElementTree as ET
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketplace.models import PriceHistory, PriceStatus

from .conftest import NOW, offer, partner, region

HTMX = {"HX-Request": "true"}


def listed(response) -> list[str]:
    return [o.instance_type for o in response.context["page"].object_list]


def test_full_page_has_a_labelled_filter_form_and_the_table(catalogue, viewer):
    response = viewer.client.get("/offers/")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert 'hx-get="/offers/"' in html and 'hx-trigger="input changed delay:250ms, change"' in html
    for name in ("gpu", "min_gpus", "min_gpu_memory_gb", "architecture", "form_factor", "partner", "region", "country",
                 "jurisdiction", "spot", "max_price_per_gpu_hour", "interconnect", "ordering"):
        assert f'name="{name}"' in html and f'<label for="id_{name}">' in html
    assert "7</strong> offers match" in html


def test_htmx_request_gets_only_the_results_partial(catalogue, viewer):
    response = viewer.client.get("/offers/?gpu=H100&jurisdiction=EU", headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and "<form" not in html
    assert set(listed(response)) == {"h100x8", "h100x1"}
    assert 'id="offer-count"' in html and 'hx-swap-oob="true"' in html


def test_filters_from_the_query_string_narrow_the_table(catalogue, viewer):
    response = viewer.client.get("/offers/?gpu=h100-sxm&max_price_per_gpu_hour=3.25&ordering=-price_per_hour")
    assert listed(response) == ["h100x8", "gpu_8x_h100_sxm5"]
    assert "cheap_h100" not in response.content.decode()  # the suspended partner stays hidden


def test_dropdowns_offer_only_codes_of_active_partners(catalogue, viewer):
    html = viewer.client.get("/offers/").content.decode()
    assert '<option value="DE">' in html and '<option value="NL">' not in html
    assert '<option value="nimbus">Nimbus Cloud</option>' in html and "shady" not in html


def test_invalid_filter_is_a_400_that_names_the_field(catalogue, viewer):
    response = viewer.client.get("/offers/?max_price_per_gpu_hour=cheap&country=Germany", headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 400
    assert 'href="#id_max_price_per_gpu_hour"' in html and 'href="#id_country"' in html
    assert "Enter a number." in html and "<table" not in html


def test_invalid_filter_on_the_full_page_marks_the_input(catalogue, viewer):
    html = viewer.client.get("/offers/?gpu=TPU").content.decode()
    assert 'aria-invalid="true"' in html and "Unknown GPU" in html


def test_no_match_shows_an_empty_state(catalogue, viewer):
    response = viewer.client.get("/offers/?gpu=B200&jurisdiction=EU", headers=HTMX)
    assert response.status_code == 200 and b"No offers match these filters" in response.content


def test_pagination_keeps_the_filters(db, viewer, monkeypatch):
    monkeypatch.setattr("marketplace.views.offers.PAGE_SIZE", 2)
    p = partner("nimbus")
    fra = region(p, "eu-central-1", "DE", "EU")
    for i in range(5):
        offer(p, fra, "L4", instance_type=f"l4-{i}", price=f"1.{i}0")
    response = viewer.client.get("/offers/?gpu=L4&page=2", headers=HTMX)
    assert listed(response) == ["l4-2", "l4-3"]
    html = response.content.decode()
    assert "?gpu=L4&amp;page=3" in html and "?gpu=L4&amp;page=1" in html and "page 2 of 3" in html


def test_offer_list_runs_a_fixed_number_of_queries(catalogue, viewer):
    viewer.client.get("/offers/")  # the first visit also stores the active workspace in the session
    with CaptureQueriesContext(connection) as few:
        viewer.client.get("/offers/?page=1", headers=HTMX)
    offer(catalogue["h100_fra_8x"].partner, catalogue["h100_fra_8x"].region, "A10G", instance_type="more")
    with CaptureQueriesContext(connection) as more:
        viewer.client.get("/offers/?page=1", headers=HTMX)
    assert len(few) == len(more) <= 5  # session, user, memberships, count, page


def test_table_loads_only_the_columns_it_shows(catalogue, viewer):
    with CaptureQueriesContext(connection) as queries:
        viewer.client.get("/offers/", headers=HTMX)
    select = next(q["sql"] for q in queries if "LIMIT" in q["sql"])
    assert "credentials_encrypted" not in select and "verify_result" not in select


def parse_svgs(html: str) -> list[ET.Element]:
    svgs, start = [], html.find("<svg")
    while start != -1:
        end = html.index("</svg>", start) + len("</svg>")
        svgs.append(ET.fromstring(html[start:end]))
        start = html.find("<svg", end)
    return svgs


def test_compare_page_charts_prices_by_partner_and_jurisdiction(catalogue, viewer):
    response = viewer.client.get("/offers/compare/?gpu=h100")
    html = response.content.decode()
    assert response.status_code == 200
    assert len(parse_svgs(html)) == 3  # by partner, by jurisdiction, every GPU model at a glance
    by_partner = {s.label: s for s in response.context["by_partner"]}
    assert set(by_partner) == {"Nimbus Cloud", "Lambda"}
    assert by_partner["Nimbus Cloud"].lowest == 3.0 and by_partner["Nimbus Cloud"].median == 3.25
    assert [s.label for s in response.context["by_jurisdiction"]] == ["US", "EU"]
    assert "<th scope=\"row\">Nimbus Cloud</th>" in html  # the text alternative


def test_compare_leaves_out_suspect_prices_and_says_so(catalogue, viewer):
    type(catalogue["h100_par_1x"]).objects.filter(pk=catalogue["h100_par_1x"].pk).update(
        price_status=PriceStatus.SUSPECT)
    response = viewer.client.get("/offers/compare/?gpu=H100")
    assert response.context["left_out"] == 1
    assert b"1 offer with a suspect, stale or missing price is left out" in response.content


def test_compare_without_a_gpu_opens_on_the_most_offered_one_and_rejects_unknown_names(catalogue, viewer):
    opened = viewer.client.get("/offers/compare/")
    assert opened.status_code == 200 and opened.context["gpu"].name == "H100"  # 3 active H100 offers
    assert b"the GPU with the most offers" in opened.content
    response = viewer.client.get("/offers/compare/?gpu=TPU")
    assert response.status_code == 400 and b"Unknown GPU" in response.content


def test_offer_page_shows_details_status_and_price_history_chart(catalogue, viewer):
    subject = catalogue["h100_fra_8x"]
    for days, price in ((3, "28.00"), (2, "26.00"), (1, "25.00")):
        PriceHistory.objects.create(offer=subject, price_per_hour=Decimal(price), spot_price_per_hour=None,
                                    recorded_at=NOW - timedelta(days=days))
    type(subject).objects.filter(pk=subject.pk).update(price_status=PriceStatus.SUSPECT,
                                                       price_status_reason="under 25% of the H100 market median")
    response = viewer.client.get(f"/offers/{subject.pk}/")
    html = response.content.decode()
    assert response.status_code == 200 and "h100x8" in html and "under 25% of the H100 market median" in html
    (svg,) = parse_svgs(html)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(list(svg.iter(f"{ns}circle"))) == 4 + 1  # 3 changes + current on-demand, 1 current spot
    assert "$3.50" in html  # 28.00 / 8 GPUs in the history table


def test_offer_page_without_history_says_so(catalogue, viewer):
    response = viewer.client.get(f"/offers/{catalogue['l4_fra_1x'].pk}/")
    assert b"No price changes recorded yet" in response.content


@pytest.mark.parametrize("key", ["hidden_h100", None])
def test_offers_of_inactive_partners_and_missing_ids_are_404(catalogue, viewer, key):
    pk = catalogue[key].pk if key else 999_999
    assert viewer.client.get(f"/offers/{pk}/").status_code == 404


def test_offer_page_links_to_the_rent_form_prefilled_with_its_shape(owner, real_catalog):
    from marketplace.models import Offer

    offer = Offer.objects.filter(partner__slug="nebius", gpus_per_node=8).first()
    page = owner.client.get(f"/offers/{offer.pk}/").content.decode()
    assert f"/rent/?gpu={offer.gpu.name}&amp;gpus_per_node=8&amp;partners_allow=nebius" in page
    form = owner.client.get(f"/rent/?gpu={offer.gpu.name}&gpus_per_node=8&partners_allow=nebius").content.decode()
    assert 'value="nebius"' in form
