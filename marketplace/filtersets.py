"""The offer filters of DESIGN §5, shared by the REST API and the dashboard.

Strict on purpose: a value the filter cannot understand is a validation error naming the
parameter, never silently ignored (a CI script with a typo must not rent the wrong GPU).
"""

import re
from functools import cache, lru_cache
from typing import Any

import django_filters as filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import F
from django.utils.translation import get_language
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from marketplace.catalog.gpus import lookup_gpu
from marketplace.models import (
    INTERCONNECT_RANK,
    Architecture,
    FormFactor,
    Interconnect,
    Offer,
    Partner,
    PartnerStatus,
)
from marketplace.selectors.offer_index import active_partners

ORDERING_FIELDS = ("price_per_gpu_hour", "price_per_hour", "gpu_memory_gb")
ORDERING_CHOICES = [
    ("price_per_gpu_hour", "Price per GPU-hour, lowest first"),
    ("-price_per_gpu_hour", "Price per GPU-hour, highest first"),
    ("price_per_hour", "Node price, lowest first"),
    ("-price_per_hour", "Node price, highest first"),
    ("gpu_memory_gb", "GPU memory, smallest first"),
    ("-gpu_memory_gb", "GPU memory, largest first"),
]
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_JURISDICTION = re.compile(r"^[A-Za-z]{2,8}$")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class GpuNameField(forms.CharField):
    """A GPU name or alias, any case; cleans to the canonical name."""

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return ""
        spec = lookup_gpu(value)
        if spec is None:
            raise ValidationError(f"Unknown GPU {value!r}.", code="unknown_gpu")
        return spec.name


class PatternCodeField(forms.CharField):
    """An upper-cased code (country, jurisdiction) that must match a pattern."""

    def __init__(self, *args, pattern: re.Pattern, message: str, **kwargs):
        self.pattern, self.message = pattern, message
        super().__init__(*args, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return ""
        if not self.pattern.match(value):
            raise ValidationError(self.message, code="invalid")
        return value.upper()


class FlagCheckbox(forms.CheckboxInput):
    """A checkbox that submits "true" and hands the raw value to the field, so typos are not read as true."""

    def __init__(self, attrs=None):
        super().__init__({"value": "true", **(attrs or {})}, check_test=lambda value: str(value).lower() in _TRUE)

    def format_value(self, value):
        return None

    def value_from_datadict(self, data, files, name):
        return data.get(name)


class StrictBooleanField(forms.Field):
    """true/false (also 1/0, yes/no, on/off); anything else is an error, empty means no filter."""

    widget = FlagCheckbox

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValidationError("Must be true or false.", code="invalid")

    def validate(self, value):
        """Accept None: an absent flag means no restriction."""


class IntegerFilter(filters.NumberFilter):
    field_class = forms.IntegerField


class GpuFilter(filters.CharFilter):
    field_class = GpuNameField


class CodeFilter(filters.CharFilter):
    field_class = PatternCodeField


@extend_schema_field(OpenApiTypes.BOOL)
class BooleanFlagFilter(filters.Filter):
    field_class = StrictBooleanField


class OfferOrderingFilter(filters.OrderingFilter):
    """Orders with unknown prices last and the offer id as a stable tie-breaker."""

    def filter(self, qs, value):
        if not value:
            return qs
        ordering = []
        for param in value:
            field = F(param.lstrip("-"))
            ordering.append(field.desc(nulls_last=True) if param.startswith("-") else field.asc(nulls_last=True))
        return qs.order_by(*ordering, "id")


class OfferFilterSet(filters.FilterSet):
    gpu = GpuFilter(field_name="gpu__name", label="GPU",
                             help_text="Canonical name or any alias, e.g. H100 or H100-SXM.")
    min_gpus = IntegerFilter(field_name="gpus_per_node", lookup_expr="gte", min_value=1,
                             label="GPUs per node (at least)")
    min_gpu_memory_gb = IntegerFilter(field_name="gpu_memory_gb", lookup_expr="gte", min_value=0,
                                      label="GPU memory, GiB (at least)")
    form_factor = filters.ChoiceFilter(choices=FormFactor.choices, label="Form factor",
                                       help_text="sxm, pcie, nvl (H100 NVL, 94 GB), superchip or oam")
    architecture = filters.ChoiceFilter(field_name="gpu__architecture", choices=Architecture.choices,
                                        label="Architecture")
    partner = filters.ModelChoiceFilter(queryset=Partner.objects.filter(status=PartnerStatus.ACTIVE),
                                        to_field_name="slug", label="Partner")
    region = filters.CharFilter(field_name="region__code", label="Region code", max_length=128)
    country = CodeFilter(field_name="country", label="Country", pattern=_COUNTRY,
                         message="Use a two-letter country code (ISO 3166-1 alpha-2), e.g. DE.")
    jurisdiction = CodeFilter(field_name="jurisdiction", label="Jurisdiction", pattern=_JURISDICTION,
                              message="Use a jurisdiction code of 2 to 8 letters, e.g. EU.")
    spot = BooleanFlagFilter(method="filter_spot", label="Spot only",
                          help_text="Only offers with a spot price; the price cap then applies to the spot price.")
    max_price_per_gpu_hour = filters.NumberFilter(method="filter_max_price", label="Max price per GPU-hour (USD)",
                                                  min_value=0)
    interconnect = filters.ChoiceFilter(choices=Interconnect.choices, method="filter_interconnect",
                                        label="Interconnect (at least)",
                                        help_text="pcie < nvlink < infiniband")
    ordering = OfferOrderingFilter(fields=ORDERING_FIELDS, choices=ORDERING_CHOICES, label="Sort by")

    class Meta:
        model = Offer
        fields: list[str] = []

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        """Whatever queryset the caller passes, offers of partners that are not active stay hidden."""
        base = Offer.objects.all() if queryset is None else queryset
        super().__init__(data, base.filter(partner__status=PartnerStatus.ACTIVE), request=request, prefix=prefix)

    def filter_spot(self, queryset, name, value):
        if value:
            return queryset.filter(spot_price_per_hour__isnull=False)
        return queryset

    def filter_max_price(self, queryset, name, value):
        if value is None:
            return queryset
        if self.form.cleaned_data.get("spot"):
            return queryset.filter(spot_price_per_hour__lte=value * F("gpus_per_node"))
        return queryset.filter(price_per_gpu_hour__lte=value)

    def filter_interconnect(self, queryset, name, value):
        if not value:
            return queryset
        floor = INTERCONNECT_RANK[Interconnect(value)]
        allowed = [choice for choice, rank in INTERCONNECT_RANK.items() if rank >= floor]
        return queryset.filter(interconnect__in=allowed)


def clean_offer_filters(data) -> tuple[dict, dict[str, list[str]]]:
    """(cleaned values, errors by field) exactly as OfferFilterSet's form would give them, for the hot path.

    A FilterSet deep-copies its filters and builds a new form class and form per request (most of an
    offers request's CPU). The class-level fields are stateless validators, so they are shared here, and what
    one gives for a raw value is remembered: a pure function of the value (and the active language). The
    partner, whose validity is the database's, is looked up among the active partners of the current offer
    index (the listing's own freshness rule: the catalogue version), and in the database when not there.
    """
    cleaned, errors = {}, {}
    language = get_language()
    for name, field in _shared_fields().items():
        raw = field.widget.value_from_datadict(data, {}, name)
        if name == "partner":
            value, messages = _clean_partner(field, raw)
        else:
            try:
                value, messages = _clean_remembered(name, tuple(raw) if isinstance(raw, list) else raw, language)
            except TypeError:  # an unhashable raw value (not from a query string): clean it as it is
                value, messages = _clean(name, raw)
        if messages:
            errors[name] = list(messages)
        else:
            cleaned[name] = list(value) if isinstance(value, tuple) else value
    return cleaned, errors


@cache
def _shared_fields() -> dict[str, forms.Field]:
    return {name: filter_.field for name, filter_ in OfferFilterSet.base_filters.items()}


def _clean(name: str, raw) -> tuple[Any, tuple[str, ...]]:
    """(cleaned value, ()) or (None, error messages); list values as tuples, so they can be shared."""
    try:
        value = _shared_fields()[name].clean(list(raw) if isinstance(raw, tuple) else raw)
    except ValidationError as error:
        return None, tuple(error.messages)
    return (tuple(value) if isinstance(value, list) else value), ()


@lru_cache(maxsize=16_384)
def _clean_remembered(name: str, raw, language: str | None) -> tuple[Any, tuple[str, ...]]:
    return _clean(name, raw)


def _clean_partner(field: forms.Field, raw) -> tuple[Any, tuple[str, ...]]:
    if raw in field.empty_values:
        return None, ()
    pk = active_partners().get(raw) if isinstance(raw, str) else None
    if pk is not None:
        return Partner(pk=pk, slug=raw, status=PartnerStatus.ACTIVE), ()
    try:
        return field.clean(raw), ()
    except ValidationError as error:
        return None, tuple(error.messages)
