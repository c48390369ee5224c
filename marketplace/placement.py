"""Validating a placement request (DESIGN §2) into the engine's PlacementRequest.

Shared by every endpoint that takes a placement request (match, rentals, deployments), so the same
body gets the same errors everywhere: a DRF ValidationError keyed by dotted field path.
"""

from collections.abc import Iterable, Mapping

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from marketplace.catalog.countries import is_country, is_jurisdiction
from marketplace.catalog.gpus import CANONICAL_GPUS, lookup_gpu
from marketplace.matching import INTERCONNECT_RANK, Near, PlacementRequest, Policy

ARCHITECTURES = sorted({spec.architecture for spec in CANONICAL_GPUS.values()})
MAX_NODES = 1024
MAX_GPUS_PER_NODE = 64


def validate_gpu_name(value: str | None) -> str | None:
    """A GPU name or alias → its canonical name; an unknown name is a validation error."""
    if value is None:
        return None
    spec = lookup_gpu(value)
    if spec is None:
        raise serializers.ValidationError(f"unknown GPU {value!r}")
    return spec.name


def _codes(values: list[str], is_valid, what: str) -> list[str]:
    codes = [value.strip().upper() for value in values]
    unknown = [code for code in codes if not is_valid(code)]
    if unknown:
        raise serializers.ValidationError(f"unknown {what}: {', '.join(unknown)}")
    return codes


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not know: a misspelt policy key must not silently drop a rule."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            extra = self.context.get("allowed_extra", ()) if self.parent is None else ()
            unknown = set(data) - set(self.fields) - set(extra)
            if unknown:
                raise ValidationError({name: ["unknown field"] for name in sorted(unknown)})
        return super().to_internal_value(data)


class PartnersRuleSerializer(StrictSerializer):
    allow = serializers.ListField(child=serializers.SlugField(), required=False, default=list)
    deny = serializers.ListField(child=serializers.SlugField(), required=False, default=list)


class PolicySerializer(StrictSerializer):
    regions = serializers.ListField(child=serializers.CharField(max_length=128), required=False, default=list)
    countries = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    jurisdictions = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    partners = PartnersRuleSerializer(required=False)
    partner_hq_jurisdictions = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    certifications = serializers.ListField(child=serializers.CharField(max_length=32), required=False, default=list)

    def validate_countries(self, value):
        return _codes(value, is_country, "country code (ISO 3166-1 alpha-2)")

    def validate_jurisdictions(self, value):
        return _codes(value, is_jurisdiction, "jurisdiction")

    def validate_partner_hq_jurisdictions(self, value):
        return _codes(value, is_jurisdiction, "jurisdiction")

    def validate_certifications(self, value):
        return [cert.strip().upper() for cert in value]


class NearSerializer(StrictSerializer):
    lat = serializers.FloatField(min_value=-90, max_value=90)
    lon = serializers.FloatField(min_value=-180, max_value=180)


class PlacementRequestSerializer(StrictSerializer):
    gpu = serializers.CharField(required=False, allow_null=True, max_length=64)
    min_gpu_memory_gb = serializers.FloatField(required=False, allow_null=True, min_value=0)
    architecture = serializers.CharField(required=False, allow_null=True, max_length=16)
    gpus_per_node = serializers.IntegerField(required=False, default=1, min_value=1, max_value=MAX_GPUS_PER_NODE)
    nodes = serializers.IntegerField(required=False, default=1, min_value=1, max_value=MAX_NODES)
    interconnect = serializers.ChoiceField(choices=sorted(INTERCONNECT_RANK), required=False, allow_null=True)
    spot = serializers.BooleanField(required=False, default=False)
    max_price_per_gpu_hour = serializers.FloatField(required=False, allow_null=True, min_value=0)
    policy = PolicySerializer(required=False)
    near = NearSerializer(required=False, allow_null=True)
    allow_suspect_prices = serializers.BooleanField(required=False, default=False)

    def validate_gpu(self, value):
        return validate_gpu_name(value)

    def validate_architecture(self, value):
        if value is not None and value.lower() not in ARCHITECTURES:
            raise serializers.ValidationError(f"unknown architecture {value!r}; one of {', '.join(ARCHITECTURES)}")
        return None if value is None else value.lower()


def flatten_errors(errors, prefix: str = "") -> dict[str, list[str]]:
    """{"policy": {"countries": [...]}} → {"policy.countries": [...]}: every message names its field."""
    if isinstance(errors, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in errors.items():
            name = str(key) if key != "non_field_errors" or not prefix else ""
            flat |= flatten_errors(value, f"{prefix}.{name}".strip(".") if name else prefix)
        return flat
    if isinstance(errors, list) and errors and not all(isinstance(e, str) for e in errors):
        flat = {}
        for i, value in enumerate(errors):
            if value:
                flat |= flatten_errors(value, f"{prefix}.{i}")
        return flat
    return {prefix or "non_field_errors": [str(e) for e in errors]}


def parse_placement_request(data, *, allowed_extra: Iterable[str] = ()) -> PlacementRequest:
    """Validate a placement request body; raise ValidationError keyed by field (e.g. "policy.countries").

    `allowed_extra` names the top-level fields the caller handles itself (e.g. "limit", "max_hours").
    """
    if not isinstance(data, Mapping):
        raise ValidationError({"non_field_errors": ["expected a JSON object"]})
    serializer = PlacementRequestSerializer(data=data, context={"allowed_extra": frozenset(allowed_extra)})
    if not serializer.is_valid():
        raise ValidationError(flatten_errors(serializer.errors))
    return _to_request(serializer.validated_data)


def _to_request(data: dict) -> PlacementRequest:
    policy = data.get("policy") or {}
    partners = policy.get("partners") or {}
    near = data.get("near")
    return PlacementRequest(
        gpu=data.get("gpu"), min_gpu_memory_gb=data.get("min_gpu_memory_gb"),
        architecture=data.get("architecture"), gpus_per_node=data["gpus_per_node"], nodes=data["nodes"],
        interconnect=data.get("interconnect"), spot=data["spot"],
        max_price_per_gpu_hour=data.get("max_price_per_gpu_hour"),
        policy=Policy(
            regions=frozenset(policy.get("regions", ())), countries=frozenset(policy.get("countries", ())),
            jurisdictions=frozenset(policy.get("jurisdictions", ())),
            partners_allow=frozenset(partners.get("allow", ())), partners_deny=frozenset(partners.get("deny", ())),
            partner_hq_jurisdictions=frozenset(policy.get("partner_hq_jurisdictions", ())),
            certifications=frozenset(policy.get("certifications", ())),
        ),
        near=None if near is None else Near(near["lat"], near["lon"]),
        allow_suspect_prices=data["allow_suspect_prices"],
    )
