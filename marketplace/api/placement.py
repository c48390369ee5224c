"""The placement request (DESIGN §2) as OpenAPI sees it; `marketplace.placement` does the parsing.

These serializers describe request bodies and stored requests; they never validate a body (a test checks
they name exactly the fields the parser reads). `PolicyField` lets a DRF serializer take a policy.
"""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from marketplace.errors import InvalidInput
from marketplace.matching import CAPACITY_MODES, FLEET_FIRST
from marketplace.models import Architecture, Interconnect
from marketplace.placement import (
    MAX_GPUS_PER_NODE,
    MAX_HOURS_LIMIT,
    MAX_NODES,
    parse_policy,
)


class PartnersRuleSerializer(serializers.Serializer):
    allow = serializers.ListField(child=serializers.SlugField(), required=False)
    deny = serializers.ListField(child=serializers.SlugField(), required=False)


class PolicySerializer(serializers.Serializer):
    """Hard rules; an empty list means no restriction. Codes are ISO 3166-1 alpha-2 / jurisdictions."""

    regions = serializers.ListField(child=serializers.CharField(max_length=128), required=False)
    countries = serializers.ListField(child=serializers.CharField(), required=False)
    jurisdictions = serializers.ListField(child=serializers.CharField(), required=False)
    partners = PartnersRuleSerializer(required=False)
    partner_hq_jurisdictions = serializers.ListField(child=serializers.CharField(), required=False)
    certifications = serializers.ListField(child=serializers.CharField(max_length=32), required=False)


class NearSerializer(serializers.Serializer):
    lat = serializers.FloatField(min_value=-90, max_value=90)
    lon = serializers.FloatField(min_value=-180, max_value=180)


class PlacementRequestSerializer(serializers.Serializer):
    gpu = serializers.CharField(required=False, allow_null=True, max_length=64,
                                help_text="Canonical name or alias, e.g. H100; null with memory/architecture.")
    min_gpu_memory_gb = serializers.FloatField(required=False, allow_null=True, min_value=0)
    architecture = serializers.ChoiceField(choices=Architecture.choices, required=False, allow_null=True)
    gpus_per_node = serializers.IntegerField(required=False, default=1, min_value=1, max_value=MAX_GPUS_PER_NODE)
    nodes = serializers.IntegerField(required=False, default=1, min_value=1, max_value=MAX_NODES,
                                     help_text="More than one is a gang: all nodes from one partner region.")
    interconnect = serializers.ChoiceField(choices=Interconnect.choices, required=False, allow_null=True)
    spot = serializers.BooleanField(required=False, default=False)
    spot_fallback = serializers.BooleanField(
        required=False, default=False,
        help_text="With spot: on-demand placements (billed at the on-demand price) once no spot placement is left.")
    max_price_per_gpu_hour = serializers.FloatField(required=False, allow_null=True, min_value=0)
    policy = PolicySerializer(required=False)
    near = NearSerializer(required=False, allow_null=True)
    allow_suspect_prices = serializers.BooleanField(required=False, default=False)
    capacity = serializers.ChoiceField(choices=CAPACITY_MODES, required=False, default=FLEET_FIRST,
                                       help_text="own fleet machines first, only them, or only partners")


class RentalRequestSerializer(PlacementRequestSerializer):
    max_hours = serializers.DecimalField(max_digits=8, decimal_places=2, min_value=Decimal("0.01"), max_value=MAX_HOURS_LIMIT,
                                         coerce_to_string=False)
    ssh_public_key = serializers.CharField(required=False, allow_blank=True, max_length=8192,
                                           help_text="OpenSSH public key installed on every node.")


class StoredPolicySerializer(serializers.Serializer):
    """A policy as stored with a rental or deployment: every rule present, normalised."""

    regions = serializers.ListField(child=serializers.CharField())
    countries = serializers.ListField(child=serializers.CharField())
    jurisdictions = serializers.ListField(child=serializers.CharField())
    partners = PartnersRuleSerializer()
    partner_hq_jurisdictions = serializers.ListField(child=serializers.CharField())
    certifications = serializers.ListField(child=serializers.CharField())


class StoredRequestSerializer(serializers.Serializer):
    """`PlacementRequest.to_dict()`: the request a rental or deployment obeys, every field present."""

    gpu = serializers.CharField(allow_null=True)
    min_gpu_memory_gb = serializers.FloatField(allow_null=True)
    architecture = serializers.CharField(allow_null=True)
    gpus_per_node = serializers.IntegerField()
    nodes = serializers.IntegerField()
    interconnect = serializers.CharField(allow_null=True)
    spot = serializers.BooleanField()
    spot_fallback = serializers.BooleanField(required=False, help_text="absent in requests stored before it existed")
    max_price_per_gpu_hour = serializers.FloatField(allow_null=True)
    policy = StoredPolicySerializer()
    near = NearSerializer(allow_null=True)
    allow_suspect_prices = serializers.BooleanField()
    capacity = serializers.ChoiceField(choices=CAPACITY_MODES, required=False,
                                       help_text="absent in requests stored before capacity modes: fleet_first")


@extend_schema_field(StoredRequestSerializer)
class StoredRequestField(serializers.JSONField):
    """A stored request, rendered as it was stored (it was parsed before it was stored)."""


@extend_schema_field(PolicySerializer)
class PolicyField(serializers.Field):
    """A policy parsed by `marketplace.placement.parse_policy`, returned as its normalised dict."""

    def to_internal_value(self, data) -> dict:
        try:
            return parse_policy(data).to_dict()
        except InvalidInput as exc:
            raise serializers.ValidationError(exc.errors) from None

    def to_representation(self, value) -> dict:
        return value
