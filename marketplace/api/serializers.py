"""Catalogue and match serializers: field names are the public contract of DESIGN §5."""

from rest_framework import serializers

from marketplace.models import GpuModel, Offer, Partner, Region

from .errors import ExplanationSerializer


class GpuModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = GpuModel
        fields = ["name", "memory_gb", "architecture", "vendor"]


class RegionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Region
        fields = ["code", "display_name", "country", "jurisdiction", "latitude", "longitude"]


class PartnerSerializer(serializers.ModelSerializer):
    regions = RegionSerializer(many=True, read_only=True)

    class Meta:
        model = Partner
        fields = ["slug", "name", "kind", "hq_country", "hq_jurisdiction", "certifications", "status",
                  "reliability", "last_sync_at", "regions"]


class OfferSerializer(serializers.ModelSerializer):
    partner = serializers.CharField(source="partner.slug")
    region = serializers.CharField(source="region.code")
    gpu = serializers.CharField(source="gpu.name")
    price_per_hour = serializers.FloatField(allow_null=True)
    spot_price_per_hour = serializers.FloatField(allow_null=True)
    price_per_gpu_hour = serializers.FloatField(allow_null=True)

    class Meta:
        model = Offer
        fields = ["id", "partner", "region", "country", "jurisdiction", "instance_type", "gpu", "gpu_memory_gb",
                  "form_factor", "gpus_per_node", "vcpus", "memory_gb", "interconnect", "price_per_hour", "spot_price_per_hour",
                  "price_per_gpu_hour", "available_nodes", "price_status", "price_status_reason", "updated_at"]
        read_only_fields = fields


class MatchOfferSerializer(serializers.Serializer):
    """The offer of a placement, rendered from the engine's snapshot (`match.offer_payload`)."""

    id = serializers.IntegerField()
    partner = serializers.CharField()
    region = serializers.CharField()
    country = serializers.CharField()
    jurisdiction = serializers.CharField()
    instance_type = serializers.CharField()
    gpu = serializers.CharField()
    gpu_memory_gb = serializers.IntegerField()
    gpus_per_node = serializers.IntegerField()
    vcpus = serializers.FloatField()
    memory_gb = serializers.FloatField()
    interconnect = serializers.CharField()
    price_per_hour = serializers.FloatField(allow_null=True)
    spot_price_per_hour = serializers.FloatField(allow_null=True)
    price_per_gpu_hour = serializers.FloatField(allow_null=True)
    available_nodes = serializers.IntegerField(allow_null=True)
    price_status = serializers.CharField()
    price_status_reason = serializers.CharField(allow_blank=True)
    updated_at = serializers.DateTimeField(allow_null=True)


class PlacementSerializer(serializers.Serializer):
    offer = MatchOfferSerializer()
    nodes = serializers.IntegerField()
    price_per_hour = serializers.FloatField(help_text="All nodes, USD per hour.")
    price_per_node_hour = serializers.FloatField()
    price_per_gpu_hour = serializers.FloatField()
    spot = serializers.BooleanField()
    distance_km = serializers.FloatField(allow_null=True, required=False,
                                         help_text="Only when the request has `near`; null when unknown.")


class MatchAnswerSerializer(serializers.Serializer):
    """Ranked placements and the explanation (DESIGN §5); nothing is reserved."""

    placements = PlacementSerializer(many=True)
    explanation = ExplanationSerializer()
