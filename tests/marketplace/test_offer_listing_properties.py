"""The in-memory offer listing against the ORM: same count and same page for random filters, orderings, pages."""

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.paginator import Paginator
from django.http import QueryDict
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer

from marketplace.api.offer_json import offer_json_rows, offers_page_json
from marketplace.filtersets import ORDERING_FIELDS, OfferFilterSet, clean_offer_filters
from marketplace.models import GpuModel, Offer, Partner, PartnerStatus, Region
from marketplace.selectors.offer_list import ListedOffers, offer_query

GPUS = {"H100": (80, "hopper"), "L4": (24, "ada"), "A100": (40, "ampere"), "B200": (180, "blackwell")}
PARTNERS = {"alpha": PartnerStatus.ACTIVE, "beta": PartnerStatus.ACTIVE, "gamma": PartnerStatus.SUSPENDED}
PLACES = [("eu-central-1", "DE", "EU"), ("eu-west-3", "FR", "EU"), ("us-east-1", "US", "US"), ("default", "", ""),
          ("lon1", "GB", "UK")]
NODE_PRICES = [None, "0", "1.2000", "2.5000", "2.5001", "4.0000", "9.9999", "16.0000", "31.5000", "27.44705",
               "2.500001"]
NOW = datetime(2026, 1, 1, tzinfo=UTC)

# The reference rendering: the database row in the contract's shape, field by field.
OFFER_LIST_COLUMNS = ["id", "partner__slug", "region__code", "country", "jurisdiction", "instance_type", "gpu__name",
                      "gpu_memory_gb", "form_factor", "gpus_per_node", "vcpus", "memory_gb", "interconnect", "price_per_hour",
                      "spot_price_per_hour", "price_per_gpu_hour", "available_nodes", "price_status",
                      "price_status_reason", "updated_at"]


def offer_row_to_dict(row: dict) -> dict:
    """Render one `.values(*OFFER_LIST_COLUMNS)` row in the contract's shape, without model instances."""
    out = {
        "id": row["id"], "partner": row["partner__slug"], "region": row["region__code"], "country": row["country"],
        "jurisdiction": row["jurisdiction"], "instance_type": row["instance_type"], "gpu": row["gpu__name"],
        "gpu_memory_gb": row["gpu_memory_gb"], "form_factor": row["form_factor"], "gpus_per_node": row["gpus_per_node"], "vcpus": row["vcpus"],
        "memory_gb": row["memory_gb"], "interconnect": row["interconnect"],
        "available_nodes": row["available_nodes"], "price_status": row["price_status"],
        "price_status_reason": row["price_status_reason"],
        "updated_at": row["updated_at"].isoformat().replace("+00:00", "Z"),
    }
    for key in ("price_per_hour", "spot_price_per_hour", "price_per_gpu_hour"):
        out[key] = None if row[key] is None else float(row[key])
    return out


def build_catalogue(count: int = 150, seed: int = 3) -> None:
    """Offers with many price ties, unknown prices, blank locations and stored values the index normalises."""
    rng = random.Random(seed)
    gpus = {name: GpuModel.objects.create(name=name, memory_gb=mem, architecture=arch)
            for name, (mem, arch) in GPUS.items()}
    partners = {slug: Partner.objects.create(slug=slug, name=slug.title(), status=status)
                for slug, status in PARTNERS.items()}
    regions = {(slug, code): Region.objects.create(partner=partner, code=code, country=country,
                                                   jurisdiction=jurisdiction)
               for slug, partner in partners.items() for code, country, jurisdiction in PLACES}
    for i in range(count):
        slug, (code, country, jurisdiction) = rng.choice(list(PARTNERS)), rng.choice(PLACES)
        gpu = rng.choice(list(GPUS))
        gpus_per_node = rng.choice([1, 2, 4, 8])
        price = rng.choice(NODE_PRICES)
        price = None if price is None else Decimal(price)
        spot = rng.choice([None, None, "0.5000", "1.0000", "5.0000", "12.3456", "12.345678"])
        status = rng.choice(["ok", "ok", "ok", "suspect", "stale"])
        Offer.objects.create(
            partner=partners[slug], region=regions[(slug, code)], gpu=gpus[gpu], instance_type=f"shape-{i}" + ("" if i % 7 else ' "ü\u2028\\</b>'),
            gpus_per_node=gpus_per_node, vcpus=rng.choice([8, 26.5]), memory_gb=64 * gpus_per_node,
            interconnect=rng.choice(["pcie", "nvlink", "infiniband"]), price_per_hour=price,
            spot_price_per_hour=None if spot is None else Decimal(spot),
            price_per_gpu_hour=None if price is None else (price / gpus_per_node).quantize(Decimal("0.000001")),
            available_nodes=rng.choice([None, 0, 3]), price_status=status,
            price_status_reason="" if status == "ok" else f"{status} since import",
            country=rng.choice([country, country, ""]), jurisdiction=jurisdiction,
            gpu_memory_gb=rng.choice([GPUS[gpu][0], GPUS[gpu][0], 0]),
            form_factor=rng.choice(["sxm", "pcie", "nvl", ""]),
            updated_at=NOW - timedelta(minutes=rng.randrange(10_000)))


caps = st.one_of(st.sampled_from(["0", "0.3", "0.6", "0.6250", "1.25", "2", "3.9999", "4", "100", "3.430881",
                                  "3.43088", "2.500001", "1e15", "9.3e12", "4.7e18", "1e40"]),
                 st.decimals(min_value=0, max_value=20, places=6).map(str))
orderings = st.lists(st.sampled_from([f"{sign}{field}" for field in ORDERING_FIELDS for sign in ("", "-")]),
                     max_size=2).map(",".join)
queries = st.fixed_dictionaries({}, optional={
    "gpu": st.sampled_from([*GPUS, "h100-sxm", "H200"]),
    "min_gpus": st.integers(1, 9).map(str),
    "min_gpu_memory_gb": st.integers(0, 200).map(str),
    "architecture": st.sampled_from(["hopper", "ada", "blackwell", "volta"]),
    "form_factor": st.sampled_from(["sxm", "pcie", "nvl", "oam"]),
    "partner": st.sampled_from(["alpha", "beta"]),
    "region": st.sampled_from(["eu-central-1", "lon1", "default", "EU-CENTRAL-1", "nowhere"]),
    "country": st.sampled_from(["DE", "de", "US", "GB", "JP"]),
    "jurisdiction": st.sampled_from(["EU", "us", "UK", "SG"]),
    "spot": st.sampled_from(["true", "false", "1", "off"]),
    "max_price_per_gpu_hour": caps,
    "interconnect": st.sampled_from(["pcie", "nvlink", "infiniband"]),
    "ordering": orderings,
})


@pytest.fixture
def catalogue(db):
    build_catalogue()


def _orm_page(params: QueryDict, page_size: int, page: int) -> tuple[int, list[dict]]:
    filterset = OfferFilterSet(params)
    assert filterset.is_valid(), filterset.errors
    paginated = Paginator(filterset.qs.values(*OFFER_LIST_COLUMNS), page_size).page(page)
    return paginated.paginator.count, [offer_row_to_dict(row) for row in paginated.object_list]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=queries, page_size=st.integers(1, 40), page=st.integers(1, 8))
def test_listing_answers_exactly_as_the_database(catalogue, query, page_size, page):
    params = QueryDict(mutable=True)
    params.update(query)
    count, _ = _orm_page(params, 1_000, 1)
    assume((page - 1) * page_size < count or page == 1)
    index, orm = _index_json(params, page_size, page), _orm_json(params, page_size, page)
    assert json.loads(index) == json.loads(orm)  # the readable difference first
    assert index == orm


def _orm_json(params: QueryDict, page_size: int, page: int) -> bytes:
    count, rows = _orm_page(params, page_size, page)
    return JSONRenderer().render({"count": count, "next": "/n?page=2", "previous": None, "results": rows})


def _index_json(params: QueryDict, page_size: int, page: int) -> bytes:
    """The API's bytes: per-offer fragments (rendered once per version, reused here) joined around live capacity."""
    cleaned, errors = clean_offer_filters(params)
    assert not errors
    paginated = Paginator(ListedOffers(offer_query(cleaned), offer_json_rows), page_size).page(page)
    return offers_page_json(paginated.paginator.count, "/n?page=2", None, paginated.object_list)


def test_catalogue_covers_the_edge_cases(catalogue):
    """The comparison above is only worth something if the catalogue holds ties, nulls and blanks."""
    offers = Offer.objects.all()
    assert offers.filter(price_per_gpu_hour__isnull=True).exists() and offers.filter(country="").exists()
    assert offers.filter(gpu_memory_gb=0).exists() and offers.exclude(price_status="ok").exists()
    assert offers.filter(partner__status=PartnerStatus.SUSPENDED).exists()
    assert offers.filter(price_per_hour=Decimal("27.44705")).exists() and offers.filter(form_factor="").exists()
    assert offers.values("price_per_gpu_hour").distinct().count() < offers.count() / 3


@pytest.mark.parametrize("query", [
    "gpu=TPU&min_gpus=0&spot=maybe", "max_price_per_gpu_hour=cheap&country=Germany&interconnect=ethernet",
    "max_price_per_gpu_hour=-1&ordering=vcpus&partner=gamma", "partner=nobody&jurisdiction=E", "min_gpu_memory_gb=x",
    "form_factor=sxm5", "form_factor=nvl&max_price_per_gpu_hour=3.430881",
    "gpu=h100-sxm&spot=on&ordering=-price_per_hour,gpu_memory_gb&max_price_per_gpu_hour=2.5", "",
])
def test_lean_validation_gives_the_filtersets_values_and_errors(catalogue, query):
    params = QueryDict(query)
    filterset = OfferFilterSet(params)
    valid = filterset.is_valid()
    cleaned, errors = clean_offer_filters(params)
    assert errors == {name: list(messages) for name, messages in filterset.errors.items()}
    if valid:
        assert cleaned == filterset.form.cleaned_data


def test_float_snapshot_prices_convert_to_exact_millionths():
    from marketplace.offer_listing import price_units

    # 12.345678 as a float is 12.34567799…: read through its exact binary value it would lose a millionth
    assert (price_units(12.345678), price_units(0.29), price_units(27.44705), price_units(Decimal("3.430881"))) == (
        12_345_678, 290_000, 27_447_050, 3_430_881)


raw_values = st.one_of(st.sampled_from(["", " ", "0", "1", " 8 ", "8.0", "1_0", "-3", "1e3", "NaN", "inf", "2.50",
                                        "h100", " H100 ", "true", "On", "maybe", "de", "EUROPE", "pcie", "sxm",
                                        "alpha", "gamma", "Alpha", "price_per_hour,", "-gpu_memory_gb,price_per_hour",
                                        "x" * 129, "\u0661\u0662"]),
                       st.text(alphabet="aAzZ09 .,-_+éü", max_size=12))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.dictionaries(st.sampled_from(sorted(OfferFilterSet.base_filters)), raw_values, max_size=5))
def test_remembered_validation_is_the_filtersets_for_any_value(catalogue, values):
    """The hot path remembers what each field gave for a raw value; asked twice, it answers as the filterset."""
    params = QueryDict(mutable=True)
    params.update(values)
    filterset = OfferFilterSet(params)
    valid = filterset.is_valid()
    for _ in range(2):
        cleaned, errors = clean_offer_filters(params)
        assert errors == {name: list(messages) for name, messages in filterset.errors.items()}
        if valid:
            assert cleaned == filterset.form.cleaned_data
            assert offer_query(cleaned) == offer_query(filterset.form.cleaned_data)


def test_a_partner_activated_after_the_index_was_built_is_asked_of_the_database(catalogue):
    from marketplace.selectors.offer_index import get_offer_index

    get_offer_index()
    Partner.objects.filter(slug="gamma").update(status=PartnerStatus.ACTIVE)  # no catalogue version bump
    cleaned, errors = clean_offer_filters(QueryDict("partner=gamma"))
    assert not errors and cleaned["partner"].slug == "gamma"


link_queries = st.lists(st.tuples(st.sampled_from(["gpu", "page", "page_size", "ordering", "zz", "a b", "é", ""]),
                                  st.one_of(st.text(alphabet="ab &=+%é,/-", max_size=6),
                                            st.text(alphabet="aZ09_.~-", max_size=6))), max_size=5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=link_queries, count=st.integers(0, 300), page_size=st.integers(1, 60), page=st.integers(1, 12))
def test_page_links_are_drfs(db, pairs, count, page_size, page):
    from urllib.parse import urlencode

    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from marketplace.api.pagination import OfferPagination, page_links

    query = urlencode([(k, v) for k, v in pairs if k not in ("page", "page_size")]
                      + [("page", str(page)), ("page_size", str(page_size))])
    request = Request(APIRequestFactory().get(f"/api/v1/offers?{query}"))
    paginator = OfferPagination()
    assume((page - 1) * page_size < count or page == 1)
    paginator.paginate_queryset(list(range(count)), request)
    assert page_links(paginator) == (paginator.get_next_link(), paginator.get_previous_link())


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 400), keep=st.floats(0.0, 1.0), offset=st.integers(0, 60), limit=st.integers(1, 50),
       seed=st.integers(0, 10_000))
def test_walking_the_order_and_ranking_the_hits_give_the_same_page(size, keep, offset, limit, seed):
    """A page is found by walking the order (wide filters) or by ranking the hits (narrow ones): same rows."""
    import numpy as np

    from marketplace.offer_listing import _hits, _ranked

    rng = np.random.default_rng(seed)
    order = rng.permutation(size).astype(np.int32)
    ranks = np.empty(size, dtype=np.int32)
    ranks[order] = np.arange(size, dtype=np.int32)
    mask = rng.random(size) < keep
    count = int(mask.sum())
    assume(offset < count)
    end = min(offset + limit, count)
    assert _ranked(np.flatnonzero(mask), ranks, offset, end) == _hits(mask, order, offset, limit)


@pytest.mark.parametrize("query", ["spot=true&max_price_per_gpu_hour=1e15", "max_price_per_gpu_hour=1e15",
                                   "spot=true&max_price_per_gpu_hour=4.7e18", "spot=true&max_price_per_gpu_hour=0"])
def test_caps_beyond_any_price_answer_as_the_database(catalogue, query):
    """A cap whose millionths exceed 64 bits admits every priced offer, no unpriced one, and is never a 500."""
    params = QueryDict(query)
    assert _index_json(params, 500, 1) == _orm_json(params, 500, 1)
