"""The node agent artifact: `GET /api/v1/agent` (its identity) and the file itself, for bare nodes (no key)."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api.errors import DetailSerializer
from nim_launcher.services.agent_artifact import agent_url, current_agent


class AgentArtifactSerializer(serializers.Serializer):
    version = serializers.CharField()
    url = serializers.URLField(help_text="where nodes download the zipapp (under PUBLIC_BASE_URL)")
    sha256 = serializers.CharField(help_text="hex SHA-256 of the file; launch plans check it")


class AgentView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="agent_artifact", responses={200: AgentArtifactSerializer})
    def get(self, request: Request) -> Response:
        artifact = current_agent()
        return Response(AgentArtifactSerializer(
            {"version": artifact.version, "url": agent_url(artifact), "sha256": artifact.sha256}).data)


class AgentFileView(APIView):
    """Only the current build is served; an older plan's file name is 404 (its hash would not verify)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="agent_artifact_download",
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 404: DetailSerializer})
    def get(self, request: Request, filename: str):
        artifact = current_agent()
        if filename != artifact.filename:
            return Response({"detail": "Not found."}, status=404)
        response = FileResponse(artifact.path.open("rb"), content_type="application/octet-stream",
                                as_attachment=True, filename=artifact.filename)
        response["X-Checksum-Sha256"] = artifact.sha256
        return response
