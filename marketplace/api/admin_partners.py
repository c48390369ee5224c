"""Staff-only partner onboarding: create, edit, verify (live call), sync offers, activate, suspend."""

from __future__ import annotations

import inspect
import re

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from marketplace.errors import Conflict
from marketplace.models import Partner, PartnerKind
from marketplace.services import partners as partner_services
from providers.registry import ADAPTERS, adapter_class

from .errors import ConflictSerializer

NEEDS_BASE_URL = {PartnerKind.LAMBDA, PartnerKind.PARTNER_API}


class IsStaff(BasePermission):
    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


class AdminPartnerSerializer(serializers.ModelSerializer):
    credentials = serializers.DictField(child=serializers.CharField(), write_only=True, required=False)
    has_credentials = serializers.SerializerMethodField()
    offers = serializers.IntegerField(source="offers.count", read_only=True)

    class Meta:
        model = Partner
        fields = ["slug", "name", "kind", "base_url", "credentials", "has_credentials", "adapter_options",
                  "hq_country", "hq_jurisdiction", "certifications", "status", "reliability", "last_sync_at",
                  "sync_error", "verify_result", "sync_report", "offers", "created_at"]
        read_only_fields = ["status", "reliability", "last_sync_at", "sync_error", "verify_result", "sync_report",
                            "created_at"]

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

    def validate_base_url(self, value: str) -> str:
        if value and (problem := partner_services.base_url_problem(value)):
            raise serializers.ValidationError(problem)
        return value

    def validate(self, attrs: dict) -> dict:
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        base_url = attrs.get("base_url", getattr(self.instance, "base_url", ""))
        if kind in NEEDS_BASE_URL and not base_url:
            raise serializers.ValidationError({"base_url": [f"A {kind} partner needs its API base URL."]})
        options = attrs.get("adapter_options", getattr(self.instance, "adapter_options", None)) or {}
        if kind in ADAPTERS and (unknown := sorted(set(options) - _adapter_settings(kind))):
            known = ", ".join(sorted(_adapter_settings(kind)))
            raise serializers.ValidationError({"adapter_options": [
                f"Unknown setting(s) for a {kind} partner: {', '.join(unknown)} (known: {known})."]})
        # A new kind needs its own credentials, unless it asks for the same fields as the old kind did.
        creating = self.instance is None or (
            "kind" in attrs and attrs["kind"] != self.instance.kind
            and partner_services.CREDENTIAL_FIELDS.get(attrs["kind"]) != partner_services.CREDENTIAL_FIELDS.get(
                self.instance.kind))
        errors = partner_services.credential_errors(kind, attrs.get("credentials"), creating=creating)
        if errors:
            raise serializers.ValidationError({"credentials": errors})
        return attrs


def _adapter_settings(kind: str) -> set[str]:
    """The keyword settings the partner kind's adapter takes (its credentials and URL come from the row)."""
    parameters = inspect.signature(adapter_class(kind)).parameters.values()
    return {p.name for p in parameters if p.kind == p.KEYWORD_ONLY} - {"base_url", "credentials", "sleep", "http",
                                                                        "nvml"}


JOB_STATES = ["queued", "done"]


class VerifyResultSerializer(serializers.Serializer):
    """`queued` until the worker made the live call; then its outcome: offers and GPUs seen, or the error."""

    state = serializers.ChoiceField(choices=JOB_STATES)
    ok = serializers.BooleanField(required=False)
    at = serializers.DateTimeField()
    offers = serializers.IntegerField(required=False)
    gpus = serializers.ListField(child=serializers.CharField(), required=False)
    error_kind = serializers.CharField(required=False)
    message = serializers.CharField(required=False)


class VerifyAnswerSerializer(serializers.Serializer):
    partner = AdminPartnerSerializer()
    result = VerifyResultSerializer()


class SyncReportSerializer(serializers.Serializer):
    """`queued` until the worker synced; then the upsert's counts (or the error)."""

    state = serializers.ChoiceField(choices=JOB_STATES)
    at = serializers.DateTimeField()
    ok = serializers.BooleanField(required=False)
    created = serializers.IntegerField(required=False)
    updated = serializers.IntegerField(required=False)
    unchanged = serializers.IntegerField(required=False)
    removed = serializers.IntegerField(required=False)
    price_changes = serializers.IntegerField(required=False)
    skipped = serializers.ListField(child=serializers.CharField(), required=False)
    error = serializers.CharField(allow_blank=True, required=False)


class SyncAnswerSerializer(serializers.Serializer):
    partner = AdminPartnerSerializer()
    report = SyncReportSerializer()


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

    @extend_schema(request=None, responses={202: VerifyAnswerSerializer})
    @action(detail=True, methods=["post"])
    def verify(self, request, slug=None):
        """Queue a live verification (202); poll the partner: `verify_result.state` is `queued` until `done`."""
        partner = self.get_object()
        result = partner_services.partner_verify_request(partner=partner)
        return Response(VerifyAnswerSerializer({"partner": partner, "result": result}).data,
                        status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: SyncAnswerSerializer, 409: ConflictSerializer})
    @action(detail=True, methods=["post"])
    def sync(self, request, slug=None):
        """Queue an offer sync (202); poll the partner: `sync_report.state` is `queued` until `done`."""
        partner = self.get_object()
        if partner.kind == PartnerKind.CATALOG:
            raise Conflict("A catalogue-only partner has no live API to sync from.")
        report = partner_services.partner_sync_request(partner=partner)
        return Response(SyncAnswerSerializer({"partner": partner, "report": report}).data,
                        status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: AdminPartnerSerializer, 409: ConflictSerializer})
    @action(detail=True, methods=["post"])
    def activate(self, request, slug=None):
        partner = partner_services.partner_activate(partner=self.get_object())
        return Response(self.get_serializer(partner).data)

    @extend_schema(request=None, responses={200: AdminPartnerSerializer, 409: ConflictSerializer})
    @action(detail=True, methods=["post"])
    def suspend(self, request, slug=None):
        partner = partner_services.partner_suspend(partner=self.get_object())
        return Response(self.get_serializer(partner).data)
