"""Staff-only partner onboarding: create, edit, verify (live call), sync offers, activate, suspend."""

from __future__ import annotations

import re

from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from marketplace.models import Partner, PartnerKind
from marketplace.services import partners as partner_services

NEEDS_BASE_URL = {PartnerKind.LAMBDA, PartnerKind.PARTNER_API}


class IsStaff(BasePermission):
    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class AdminPartnerSerializer(serializers.ModelSerializer):
    credentials = serializers.DictField(child=serializers.CharField(), write_only=True, required=False)
    has_credentials = serializers.SerializerMethodField()
    offers = serializers.IntegerField(source="offers.count", read_only=True)

    class Meta:
        model = Partner
        fields = ["slug", "name", "kind", "base_url", "credentials", "has_credentials", "adapter_options",
                  "hq_country", "hq_jurisdiction", "certifications", "status", "reliability", "last_sync_at",
                  "sync_error", "verify_result", "offers", "created_at"]
        read_only_fields = ["status", "reliability", "last_sync_at", "sync_error", "verify_result", "created_at"]

    def get_has_credentials(self, partner: Partner) -> bool:
        return bool(partner.credentials_encrypted)

    def validate_slug(self, value: str) -> str:
        if self.instance is not None and value != self.instance.slug:
            raise serializers.ValidationError("The slug cannot change.")
        return value

    def validate_hq_country(self, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z]{2}", value):
            raise serializers.ValidationError("Use an ISO 3166-1 alpha-2 code, e.g. DE.")
        return value.upper()

    def validate_certifications(self, value) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(c, str) and c.strip() for c in value):
            raise serializers.ValidationError("A list of certification names, e.g. [\"ISO27001\"].")
        return [c.strip() for c in value]

    def validate_adapter_options(self, value) -> dict:
        if not isinstance(value, dict):
            raise serializers.ValidationError("An object of adapter settings.")
        return value

    def validate(self, attrs: dict) -> dict:
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        base_url = attrs.get("base_url", getattr(self.instance, "base_url", ""))
        if kind in NEEDS_BASE_URL and not base_url:
            raise serializers.ValidationError({"base_url": [f"A {kind} partner needs its API base URL."]})
        return attrs


class AdminPartnerViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                          mixins.UpdateModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsStaff]
    serializer_class = AdminPartnerSerializer
    queryset = Partner.objects.all()
    lookup_field = "slug"
    pagination_class = None
    http_method_names = ["get", "post", "patch"]

    def perform_create(self, serializer):
        serializer.instance = partner_services.partner_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = partner_services.partner_update(partner=serializer.instance,
                                                              **serializer.validated_data)

    @action(detail=True, methods=["post"])
    def verify(self, request, slug=None):
        partner = self.get_object()
        result = partner_services.partner_verify(partner=partner)
        return Response({"partner": self.get_serializer(partner).data, "result": result})

    @action(detail=True, methods=["post"])
    def sync(self, request, slug=None):
        partner = self.get_object()
        if partner.kind == PartnerKind.CATALOG:
            raise Conflict("A catalogue-only partner has no live API to sync from.")
        report = partner_services.partner_sync(partner=partner)
        partner.refresh_from_db()
        return Response({"partner": self.get_serializer(partner).data, "report": report.as_dict()})

    @action(detail=True, methods=["post"])
    def activate(self, request, slug=None):
        return self._transition(partner_services.partner_activate)

    @action(detail=True, methods=["post"])
    def suspend(self, request, slug=None):
        return self._transition(partner_services.partner_suspend)

    def _transition(self, service) -> Response:
        try:
            partner = service(partner=self.get_object())
        except partner_services.PartnerStateConflict as exc:
            raise Conflict(str(exc)) from exc
        return Response(self.get_serializer(partner).data)
