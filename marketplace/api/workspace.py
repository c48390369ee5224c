"""The caller's workspace: budget, month spend, and write-only secrets (the NGC API key)."""

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.models import Role
from marketplace.secrets import encrypt_text
from marketplace.services.metering import month_spend

from .access import request_role, request_workspace
from .errors import ErrorsSerializer


class WorkspaceUpdateSerializer(serializers.Serializer):
    monthly_budget = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal(0),
                                              allow_null=True, required=False, coerce_to_string=False)
    ngc_api_key = serializers.CharField(max_length=512, required=False, allow_blank=True, write_only=True,
                                        trim_whitespace=True)


class WorkspaceSerializer(serializers.Serializer):
    name = serializers.CharField()
    monthly_budget = serializers.FloatField(allow_null=True, help_text="USD; null = unlimited.")
    month_spend = serializers.SerializerMethodField()
    has_ngc_api_key = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.DOUBLE)
    def get_month_spend(self, workspace) -> float:
        return float(month_spend(workspace))

    def get_has_ngc_api_key(self, workspace) -> bool:
        return bool(workspace.ngc_api_key_encrypted)


class WorkspaceView(APIView):
    """GET: the workspace; PATCH (owner): `monthly_budget` (null = unlimited), `ngc_api_key` ("" removes it)."""

    permission_classes = [IsAuthenticated]
    serializer_class = WorkspaceSerializer

    def get(self, request):
        return Response(WorkspaceSerializer(request_workspace(request)).data)

    @extend_schema(request=WorkspaceUpdateSerializer, responses={200: WorkspaceSerializer, 400: ErrorsSerializer})
    def patch(self, request):
        if request_role(request) != Role.OWNER:
            raise PermissionDenied("only the workspace owner can change its budget or secrets")
        serializer = WorkspaceUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        workspace = request_workspace(request)
        fields = []
        if "monthly_budget" in serializer.validated_data:
            workspace.monthly_budget = serializer.validated_data["monthly_budget"]
            fields.append("monthly_budget")
        if "ngc_api_key" in serializer.validated_data:
            workspace.ngc_api_key_encrypted = encrypt_text(serializer.validated_data["ngc_api_key"])
            fields.append("ngc_api_key_encrypted")
        workspace.save(update_fields=fields or None)
        return Response(WorkspaceSerializer(workspace).data)
