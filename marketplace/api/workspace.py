"""The caller's workspace: budget, month spend, and write-only secrets (the NGC API key)."""

from decimal import Decimal

from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.models import Role
from marketplace.placement import flatten_errors
from marketplace.secrets import encrypt_text
from marketplace.services.metering import month_spend

from .access import request_role, request_workspace


class WorkspaceUpdateSerializer(serializers.Serializer):
    monthly_budget = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal(0),
                                              allow_null=True, required=False)
    ngc_api_key = serializers.CharField(max_length=512, required=False, allow_blank=True, write_only=True,
                                        trim_whitespace=True)


def workspace_dict(workspace) -> dict:
    spent = month_spend(workspace)
    return {"name": workspace.name,
            "monthly_budget": None if workspace.monthly_budget is None else float(workspace.monthly_budget),
            "month_spend": float(spent), "has_ngc_api_key": bool(workspace.ngc_api_key_encrypted)}


class WorkspaceView(APIView):
    """GET: the workspace; PATCH (owner): `monthly_budget` (null = unlimited), `ngc_api_key` ("" removes it)."""

    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response(workspace_dict(request_workspace(request)))

    def patch(self, request):
        if request_role(request) != Role.OWNER:
            raise PermissionDenied("only the workspace owner can change its budget or secrets")
        serializer = WorkspaceUpdateSerializer(data=request.data)
        if not serializer.is_valid():
            raise ValidationError(flatten_errors(serializer.errors))
        workspace = request_workspace(request)
        fields = []
        if "monthly_budget" in serializer.validated_data:
            workspace.monthly_budget = serializer.validated_data["monthly_budget"]
            fields.append("monthly_budget")
        if "ngc_api_key" in serializer.validated_data:
            workspace.ngc_api_key_encrypted = encrypt_text(serializer.validated_data["ngc_api_key"])
            fields.append("ngc_api_key_encrypted")
        workspace.save(update_fields=fields or None)
        return Response(workspace_dict(workspace), status=status.HTTP_200_OK)
