"""Offers keep the partner's own price precision and their GPU variant, through the API, filters and pages."""

from decimal import Decimal

import pytest

from broker.cli.output import money
from marketplace.models import Offer
from marketplace.money import format_price, per_gpu, price_decimal

HTMX = {"HX-Request": "true"}


def _aws_p4de() -> Offer:
    return Offer.objects.get(partner__slug="aws", instance_type="p4de.24xlarge", region__code="us-east-1")


def test_aws_price_round_trips_at_the_partner_precision(real_catalog):
    offer = _aws_p4de()
    assert offer.price_per_hour == Decimal("27.44705")  # 4 places would have made it 27.4471
    assert offer.price_per_gpu_hour == Decimal("3.430881")  # 27.44705 / 8, at the stored six places
    assert offer.price_history.get().price_per_hour == Decimal("27.44705")
    assert (offer.gpu.name, offer.form_factor, offer.gpu_memory_gb) == ("A100-80GB", "sxm", 80)


def test_api_returns_the_exact_price_and_the_variant(real_catalog, anon_client):
    offer = _aws_p4de()
    body = anon_client.get(f"/api/v1/offers/{offer.pk}").json()
    assert body["price_per_hour"] == 27.44705 and body["form_factor"] == "sxm" and body["gpu_memory_gb"] == 80
    listed = anon_client.get("/api/v1/offers?partner=aws&gpu=A100-80GB&region=us-east-1").json()["results"]
    assert [(o["instance_type"], o["price_per_hour"], o["form_factor"]) for o in listed] == [
        ("p4de.24xlarge", 27.44705, "sxm")]


def test_h100_nvl_offers_are_told_apart_with_their_94_gb(real_catalog, anon_client):
    nvl = anon_client.get("/api/v1/offers?gpu=H100&form_factor=nvl").json()["results"]
    assert nvl and all(o["form_factor"] == "nvl" and o["gpu_memory_gb"] == 94 for o in nvl)
    assert {o["instance_type"] for o in nvl} == {"1x-H100_NVL-32-65536", "2x-H100_NVL-32-65536"}
    pcie = anon_client.get("/api/v1/offers?gpu=H100&form_factor=pcie&page_size=500").json()["results"]
    assert {"gpu_1x_h100_pcie", "n3-H100x1"} <= {o["instance_type"] for o in pcie}
    assert all(o["form_factor"] == "pcie" and o["gpu_memory_gb"] == 80 for o in pcie)
    big = anon_client.get("/api/v1/offers?gpu=H100&min_gpu_memory_gb=90").json()["results"]
    assert big and {o["form_factor"] for o in big} == {"nvl"}  # min memory reads each offer's true memory


def test_unknown_form_factor_is_a_400_naming_the_field(db, anon_client):
    response = anon_client.get("/api/v1/offers?form_factor=sxm5")
    assert response.status_code == 400 and "form_factor" in response.json()["errors"]


def test_dashboard_shows_the_variant_and_full_precision(real_catalog, client):
    page = client.get("/offers/?partner=aws&gpu=A100-80GB&region=us-east-1").content.decode()
    assert '<option value="nvl">NVL (PCIe, NVLink-paired)</option>' in page  # the filter in the form
    html = client.get("/offers/?partner=aws&gpu=A100-80GB&region=us-east-1", headers=HTMX).content.decode()
    assert '<th scope="col">Form factor</th>' in html and "SXM board" in html
    assert "$27.44705" in html and "$3.430881" in html
    nvl = client.get("/offers/?gpu=H100&form_factor=nvl", headers=HTMX).content.decode()
    assert "NVL (PCIe, NVLink-paired)" in nvl and "94 GiB" in nvl and "SXM board" not in nvl
    html = client.get(f"/offers/{_aws_p4de().pk}/").content.decode()
    assert "$27.44705" in html and "A100-80GB SXM board · 80 GiB" in html


@pytest.mark.parametrize("raw,stored,shown", [
    (27.44705, "27.447050", "27.44705"), (3.5, "3.500000", "3.50"), (0.1 + 0.2, "0.300000", "0.30"),
    (1234.5, "1234.500000", "1,234.50"), (0.000001, "0.000001", "0.000001"),
])
def test_price_helpers_keep_precision_and_format_sensibly(raw, stored, shown):
    assert str(price_decimal(raw)) == stored and format_price(price_decimal(raw)) == shown
    assert per_gpu(Decimal("27.44705"), 8) == Decimal("3.430881")


def test_cli_money_never_drops_a_partner_digit():
    assert (money("27.44705"), money(3.5), money("2.4900", 3), money(None)) == ("27.44705", "3.50", "2.490", "-")
