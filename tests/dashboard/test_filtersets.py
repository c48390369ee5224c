"""The shared offer filterset: each DESIGN §5 filter against known rows, and strict validation."""

import pytest

from marketplace.filtersets import OfferFilterSet
from marketplace.models import Offer


def matched(catalogue, **params) -> set[str]:
    filterset = OfferFilterSet({k: str(v) for k, v in params.items()})
    assert filterset.is_valid(), filterset.errors
    names = {offer.pk: name for name, offer in catalogue.items()}
    return {names[pk] for pk in filterset.qs.values_list("pk", flat=True)}


VISIBLE = {"h100_fra_8x", "h100_par_1x", "h100_tex_8x", "a100_tex_1x", "l4_fra_1x", "b200_tex_8x", "unpriced"}


def test_no_filters_show_every_offer_of_active_partners_only(catalogue):
    assert matched(catalogue) == VISIBLE


def test_explicit_queryset_still_hides_offers_of_inactive_partners(catalogue):
    filterset = OfferFilterSet({}, queryset=Offer.objects.all())
    assert catalogue["hidden_h100"] not in filterset.qs


@pytest.mark.parametrize("value", ["H100", "h100", "H100-SXM", "h100-80g-pcie"])
def test_gpu_matches_canonical_name_or_alias_in_any_case(catalogue, value):
    assert matched(catalogue, gpu=value) == {"h100_fra_8x", "h100_par_1x", "h100_tex_8x"}


@pytest.mark.parametrize("params,expected", [
    ({"min_gpus": 8}, {"h100_fra_8x", "h100_tex_8x", "b200_tex_8x"}),
    ({"min_gpu_memory_gb": 100}, {"b200_tex_8x"}),
    ({"architecture": "ada"}, {"l4_fra_1x", "unpriced"}),
    ({"partner": "nimbus"}, {"h100_fra_8x", "h100_par_1x", "l4_fra_1x"}),
    ({"region": "eu-west-3"}, {"h100_par_1x"}),
    ({"country": "de"}, {"h100_fra_8x", "l4_fra_1x"}),
    ({"jurisdiction": "eu"}, {"h100_fra_8x", "h100_par_1x", "l4_fra_1x"}),
    ({"spot": "true"}, {"h100_fra_8x", "l4_fra_1x"}),
    ({"spot": "false"}, VISIBLE),
    ({"max_price_per_gpu_hour": "2.5"}, {"a100_tex_1x", "l4_fra_1x", "h100_tex_8x"}),
    ({"max_price_per_gpu_hour": "2.49"}, {"a100_tex_1x", "l4_fra_1x"}),
    ({"interconnect": "nvlink"}, {"h100_fra_8x", "h100_tex_8x", "b200_tex_8x"}),
    ({"interconnect": "infiniband"}, {"h100_fra_8x", "b200_tex_8x"}),
    ({"gpu": "H100", "jurisdiction": "EU", "max_price_per_gpu_hour": "3.25"}, {"h100_fra_8x"}),
])
def test_each_filter_keeps_exactly_the_matching_offers(catalogue, params, expected):
    assert matched(catalogue, **params) == expected


def test_price_cap_with_spot_applies_to_the_spot_price_per_gpu_hour(catalogue):
    # h100_fra_8x: spot $12/node = $1.50/GPU-h; l4: spot $0.30/GPU-h
    assert matched(catalogue, spot="true", max_price_per_gpu_hour="1.5") == {"h100_fra_8x", "l4_fra_1x"}
    assert matched(catalogue, spot="true", max_price_per_gpu_hour="1.49") == {"l4_fra_1x"}


def test_partner_filter_does_not_reveal_a_suspended_partner(catalogue):
    filterset = OfferFilterSet({"partner": "shady"})
    assert not filterset.is_valid() and "partner" in filterset.errors


def _ordered(**params) -> list[str]:
    filterset = OfferFilterSet(params)
    assert filterset.is_valid(), filterset.errors
    return [o.instance_type for o in filterset.qs]


def test_default_order_is_cheapest_per_gpu_hour_with_unpriced_last(catalogue):
    order = _ordered()
    assert order[:4] == ["l4x1", "gpu_1x_a100", "gpu_8x_h100_sxm5", "h100x8"] and order[-1] == "l40s_unpriced"


@pytest.mark.parametrize("ordering,first", [
    ("price_per_gpu_hour", "l4x1"), ("-price_per_gpu_hour", "gpu_8x_b200"),
    ("price_per_hour", "l4x1"), ("-price_per_hour", "gpu_8x_b200"),
    ("gpu_memory_gb", "l4x1"), ("-gpu_memory_gb", "gpu_8x_b200"),
])
def test_ordering_values_sort_with_unknown_prices_last(catalogue, ordering, first):
    order = _ordered(ordering=ordering)
    assert order[0] == first
    if "price" in ordering:
        assert order[-1] == "l40s_unpriced"


@pytest.mark.parametrize("params,field", [
    ({"gpu": "TPU-v5"}, "gpu"),
    ({"max_price_per_gpu_hour": "cheap"}, "max_price_per_gpu_hour"),
    ({"max_price_per_gpu_hour": "-0.01"}, "max_price_per_gpu_hour"),
    ({"max_price_per_gpu_hour": "NaN"}, "max_price_per_gpu_hour"),
    ({"interconnect": "ethernet"}, "interconnect"),
    ({"country": "DEU"}, "country"),
    ({"country": "D1"}, "country"),
    ({"jurisdiction": "E"}, "jurisdiction"),
    ({"min_gpus": "0"}, "min_gpus"),
    ({"min_gpus": "two"}, "min_gpus"),
    ({"min_gpu_memory_gb": "-1"}, "min_gpu_memory_gb"),
    ({"architecture": "pascal"}, "architecture"),
    ({"spot": "maybe"}, "spot"),
    ({"ordering": "vcpus"}, "ordering"),
])
def test_bad_values_are_errors_naming_the_field(db, params, field):
    filterset = OfferFilterSet(params)
    assert not filterset.is_valid()
    assert set(filterset.errors) == {field}
