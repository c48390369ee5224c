"""Offers browser, price comparison per GPU model, and the offer page with its price history."""

from dataclasses import dataclass
from statistics import median

from django import forms
from django.core.paginator import Paginator
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.safestring import mark_safe

from marketplace.catalog.gpus import lookup_gpu
from marketplace.charts import BarGroup, Series, bar_chart, line_chart
from marketplace.filtersets import OfferFilterSet
from marketplace.models import GpuModel, Offer, PartnerStatus, PriceHistory, PriceStatus, Region
from marketplace.selectors.offer_list import ListedOffers, model_rows, offer_query

from .access import catalogue_page, is_htmx

PAGE_SIZE = 50
HISTORY_LIMIT = 500
TABLE_FIELDS = (
    "id", "instance_type", "gpus_per_node", "vcpus", "memory_gb", "interconnect", "price_per_hour",
    "spot_price_per_hour", "price_per_gpu_hour", "available_nodes", "price_status", "price_status_reason",
    "country", "jurisdiction", "gpu_memory_gb", "form_factor", "updated_at",
    "partner__slug", "partner__name", "region__code", "region__display_name", "gpu__name",
)


def offer_table_rows() -> QuerySet[Offer]:
    """Only the columns the table shows, with its three relations joined."""
    return Offer.objects.select_related("partner", "region", "gpu").only(*TABLE_FIELDS)


def _active_regions() -> QuerySet[Region]:
    return Region.objects.filter(partner__status=PartnerStatus.ACTIVE, partner__workspace__isnull=True)


def _codes(field: str) -> list[str]:
    return sorted(set(_active_regions().exclude(**{field: ""}).values_list(field, flat=True)))


def _select(choices: list[tuple[str, str]], any_label: str) -> forms.Select:
    return forms.Select(choices=[("", any_label), *choices])


def dress_filter_form(form: forms.Form) -> forms.Form:
    """Give the shared filterset's form the dashboard's widgets: pick lists filled from the catalogue."""
    fields = form.fields
    fields["gpu"].widget = _select([(n, n) for n in GpuModel.objects.values_list("name", flat=True)], "Any GPU")
    fields["jurisdiction"].widget = _select([(c, c) for c in _codes("jurisdiction")], "Any jurisdiction")
    fields["country"].widget = _select([(c, c) for c in _codes("country")], "Any country")
    fields["architecture"].widget.choices = [("", "Any architecture"), *fields["architecture"].choices[1:]]
    fields["interconnect"].widget.choices = [("", "Any interconnect"), *fields["interconnect"].choices[1:]]
    fields["form_factor"].widget.choices = [("", "Any form factor"), *fields["form_factor"].choices[1:]]
    fields["ordering"].widget.choices = [("", "Cheapest per GPU-hour"), *fields["ordering"].choices[1:]]
    fields["partner"].empty_label = "Any partner"
    fields["partner"].label_from_instance = lambda partner: partner.name or partner.slug
    fields["region"].widget.attrs["placeholder"] = "e.g. eu-central-1"
    fields["max_price_per_gpu_hour"].widget.attrs.update(step="0.01", inputmode="decimal", placeholder="e.g. 3.50")
    for name in ("min_gpus", "min_gpu_memory_gb"):
        fields[name].widget.attrs["inputmode"] = "numeric"
    return form


@catalogue_page
def offer_list(request: HttpRequest) -> HttpResponse:
    """The full page, or just the results partial when htmx asks (the form stays as the user left it)."""
    filterset = OfferFilterSet(request.GET, queryset=offer_table_rows())
    valid = filterset.is_valid()
    page = None
    if valid:
        offers = ListedOffers(offer_query(filterset.form.cleaned_data), model_rows(offer_table_rows()))
        page = Paginator(offers, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"filterset": filterset, "page": page, "oob_errors": is_htmx(request)}
    if is_htmx(request):
        template = "marketplace/partials/_offer_table.html"
    else:
        template = "marketplace/offers.html"
        context["form"] = dress_filter_form(filterset.form)
    return render(request, template, context, status=200 if valid else 400)


@dataclass(frozen=True)
class PriceSummary:
    """Prices per GPU-hour of one group of offers (a partner or a jurisdiction)."""

    label: str
    count: int
    lowest: float
    median: float


def summarise_prices(rows: list[tuple[str, float]]) -> list[PriceSummary]:
    """Group (label, price) pairs; cheapest group first."""
    groups: dict[str, list[float]] = {}
    for label, price in rows:
        groups.setdefault(label, []).append(price)
    summaries = [PriceSummary(label, len(p), min(p), median(p)) for label, p in groups.items()]
    return sorted(summaries, key=lambda s: (s.lowest, s.label))


def _trusted_offers() -> QuerySet[Offer]:
    return Offer.objects.filter(partner__status=PartnerStatus.ACTIVE, partner__workspace__isnull=True, price_status=PriceStatus.OK,
                                price_per_gpu_hour__gt=0)


def _comparison_rows(gpu_name: str) -> tuple[list[tuple[str, str, float]], int]:
    """(partner name, jurisdiction, price per GPU-hour) of the GPU's trusted offers, and how many were left out."""
    offered = Offer.objects.filter(partner__status=PartnerStatus.ACTIVE, partner__workspace__isnull=True, gpu__name=gpu_name).count()
    rows = _trusted_offers().filter(gpu__name=gpu_name).values_list("partner__name", "jurisdiction",
                                                                    "price_per_gpu_hour")
    trusted = [(partner, jurisdiction or "unspecified", float(price)) for partner, jurisdiction, price in rows]
    return trusted, offered - len(trusted)


def most_offered_gpu() -> str | None:
    """The GPU model with the most offers from active partners: where the compare page opens."""
    top = (Offer.objects.filter(partner__status=PartnerStatus.ACTIVE, partner__workspace__isnull=True).values("gpu__name")
           .annotate(offers=Count("id")).order_by("-offers", "gpu__name").first())
    return top["gpu__name"] if top else None


def gpu_overview() -> list[PriceSummary]:
    """Every GPU model's lowest and median trusted price per GPU-hour, cheapest model first."""
    return summarise_prices([(gpu, float(price)) for gpu, price in
                             _trusted_offers().values_list("gpu__name", "price_per_gpu_hour")])


def _chart(summaries: list[PriceSummary], title: str) -> str:
    groups = [BarGroup(s.label, (s.lowest, s.median)) for s in summaries]
    return mark_safe(bar_chart(groups, series=("lowest", "median"), title=title))  # charts escape all text


@catalogue_page
def offer_compare(request: HttpRequest) -> HttpResponse:
    """Price per GPU-hour of one GPU model (the most offered one unless asked) by partner and by jurisdiction,
    and every model's lowest and median at a glance."""
    raw = request.GET.get("gpu", "").strip()
    spec = lookup_gpu(raw or most_offered_gpu() or "")
    overview = gpu_overview()
    context = {"gpus": GpuModel.objects.values_list("name", flat=True), "gpu": spec, "raw_gpu": raw,
               "overview": overview, "overview_chart": _chart(overview, "Price per GPU-hour of every GPU model")}
    if raw and spec is None:
        context["error"] = f"Unknown GPU “{raw}”. Pick one from the list."
        return render(request, "marketplace/offer_compare.html", context, status=400)
    if spec is not None:
        rows, left_out = _comparison_rows(spec.name)
        by_partner = summarise_prices([(partner, price) for partner, _, price in rows])
        by_jurisdiction = summarise_prices([(jurisdiction, price) for _, jurisdiction, price in rows])
        context |= {
            "by_partner": by_partner, "by_jurisdiction": by_jurisdiction, "left_out": left_out,
            "partner_chart": _chart(by_partner, f"{spec.name} price per GPU-hour by partner"),
            "jurisdiction_chart": _chart(by_jurisdiction, f"{spec.name} price per GPU-hour by jurisdiction"),
        }
    return render(request, "marketplace/offer_compare.html", context)


def _per_gpu(value, gpus: int) -> float | None:
    return None if value is None else float(value) / gpus


def price_series(offer: Offer, history: list[PriceHistory]) -> list[Series]:
    """On-demand and spot price per GPU-hour over time, ending at the offer's current price."""
    points = [(h.recorded_at, _per_gpu(h.price_per_hour, offer.gpus_per_node),
               _per_gpu(h.spot_price_per_hour, offer.gpus_per_node)) for h in history]
    if not history or offer.updated_at > history[-1].recorded_at:
        points.append((offer.updated_at, _per_gpu(offer.price_per_hour, offer.gpus_per_node),
                       _per_gpu(offer.spot_price_per_hour, offer.gpus_per_node)))
    series = [Series("on-demand", tuple((at, p) for at, p, _ in points if p is not None)),
              Series("spot", tuple((at, s) for at, _, s in points if s is not None))]
    return [s for s in series if s.points]


@catalogue_page
def offer_detail(request: HttpRequest, offer_id: int) -> HttpResponse:
    offer = get_object_or_404(Offer.objects.filter(partner__status=PartnerStatus.ACTIVE, partner__workspace__isnull=True)
                              .select_related("partner", "region", "gpu"), pk=offer_id)
    history = list(PriceHistory.objects.filter(offer=offer).order_by("-recorded_at")[:HISTORY_LIMIT])[::-1]
    series = price_series(offer, history)
    chart = line_chart(series, title=f"Price per GPU-hour of {offer.instance_type} over time")
    rows = [(h.recorded_at, _per_gpu(h.price_per_hour, offer.gpus_per_node),
             _per_gpu(h.spot_price_per_hour, offer.gpus_per_node)) for h in reversed(history[-50:])]
    return render(request, "marketplace/offer_detail.html", {
        "offer": offer, "history_rows": rows, "chart": mark_safe(chart),  # charts escape all text
        "spot_per_gpu": _per_gpu(offer.spot_price_per_hour, offer.gpus_per_node),
    })
