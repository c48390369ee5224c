"""Node endpoints: the node agent's heartbeat (node token) and the node's health for its workspace (API key)."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.models import HealthState, Node, NodeState, Repair
from marketplace.services.node_health import node_health_record, node_token_check

AGENT_REPAIRS = [Repair.NONE, Repair.REBOOT, Repair.HARDWARE_INSPECTION, Repair.CHECK_APP]
GPU_SUMMARY_FIELDS = ("index", "name", "uuid", "health", "temperature_c", "memory_temperature_c", "power_w",
                      "gpu_utilization_pct", "memory_used_mib", "memory_total_mib", "error")
NOT_FOUND = {"detail": "Not found."}


class HealthReportSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=HealthState.values)
    repair = serializers.ChoiceField(choices=AGENT_REPAIRS)
    repair_actions = serializers.ListField(child=serializers.ChoiceField(choices=AGENT_REPAIRS), max_length=4,
                                           required=False)
    reasons = serializers.ListField(child=serializers.CharField(max_length=500), max_length=64)
    gpus = serializers.ListField(child=serializers.DictField(), max_length=64)
    xid_events = serializers.ListField(child=serializers.DictField(), max_length=200)
    agent_version = serializers.CharField(max_length=32)
    reported_at = serializers.DateTimeField()
    reboots = serializers.IntegerField(min_value=0, required=False)
    driver_version = serializers.CharField(max_length=64, required=False, allow_null=True, allow_blank=True)
    kernel_log = serializers.CharField(max_length=500, required=False, allow_blank=True)
    hostname = serializers.CharField(max_length=255, required=False, allow_blank=True)

    def to_report(self) -> dict:
        data = dict(self.validated_data)
        data["reported_at"] = data["reported_at"].isoformat()
        return data


def node_token_from(request: Request) -> str | None:
    """The token of an `Authorization: Node <token>` header, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "node":
        return None
    return token.strip() or None


class NodeHealthView(APIView):
    """`POST /api/v1/nodes/{id}/health`: only that node's token is accepted; any other answer is 404."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=HealthReportSerializer, responses={200: OpenApiResponse(description="stored state")})
    def post(self, request: Request, node_id: int) -> Response:
        token = node_token_from(request)
        if token is None:
            return Response({"detail": "Authorization header must be 'Node <token>'."},
                            status=status.HTTP_401_UNAUTHORIZED, headers={"WWW-Authenticate": "Node"})
        node = Node.objects.filter(pk=node_id).first()
        if node is None or not node_token_check(node, token):
            return Response(NOT_FOUND, status=status.HTTP_404_NOT_FOUND)
        if node.state in (NodeState.TERMINATED, NodeState.FAILED):
            return Response({"detail": f"node is {node.state}"}, status=status.HTTP_409_CONFLICT)
        serializer = HealthReportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        node = node_health_record(node=node, report=serializer.to_report())
        return Response({"node": node.pk, "health": node.health, "repair": node.health_repair,
                         "reason": node.health_reason, "last_heartbeat_at": node.last_heartbeat_at})


def workspace_nodes(request: Request) -> QuerySet[Node]:
    """Nodes of the caller's workspace: the API key's, or for a session every workspace the user is in."""
    workspace = getattr(request, "workspace", None)
    if workspace is not None:
        return Node.objects.filter(rental__workspace=workspace)
    return Node.objects.filter(rental__workspace__memberships__user=request.user).distinct()


def node_detail(node: Node) -> dict:
    report = node.health_report or {}
    return {
        "id": node.pk, "rental": node.rental_id, "partner": node.partner.slug, "state": node.state,
        "health": node.health, "repair": node.health_repair, "reason": node.health_reason,
        "last_heartbeat_at": node.last_heartbeat_at, "agent_version": report.get("agent_version"),
        "reported_at": report.get("reported_at"),
        "gpus": [{key: gpu.get(key) for key in GPU_SUMMARY_FIELDS} for gpu in report.get("gpus", [])],
        "xid_events": report.get("xid_events", [])[-20:],
        "events": [{"at": e.at, "from": e.from_state, "to": e.to_state, "repair": e.repair, "reason": e.reason}
                   for e in node.health_events.all()],
    }


class NodeDetailView(APIView):
    """`GET /api/v1/nodes/{id}`: health, repair, GPU summary and health history of a workspace's node."""

    @extend_schema(responses={200: OpenApiResponse(description="node health")})
    def get(self, request: Request, node_id: int) -> Response:
        node = (workspace_nodes(request).select_related("partner").prefetch_related("health_events")
                .filter(pk=node_id).first())
        if node is None:
            return Response(NOT_FOUND, status=status.HTTP_404_NOT_FOUND)
        return Response(node_detail(node))
