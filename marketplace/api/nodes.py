"""Node endpoints: the node agent's heartbeat (node token) and the node's health for its workspace (API key)."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated, NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.errors import Conflict
from marketplace.flows import NODE_FLOW
from marketplace.models import HealthState, Node, NodeState, Repair
from marketplace.services.node_health import node_health_record, node_token_check
from marketplace.services.preemption import node_interruption_reported

from .errors import ConflictSerializer, DetailSerializer, ErrorsSerializer
from .fields import EventSerializer, NumberAsIs

AGENT_REPAIRS = [Repair.NONE, Repair.REBOOT, Repair.HARDWARE_INSPECTION, Repair.CHECK_APP]


class SpotInterruptionSerializer(serializers.Serializer):
    """The instance metadata's notice (AWS `spot/instance-action`), as the node agent read it."""

    action = serializers.ChoiceField(choices=["terminate", "stop", "hibernate"])
    time = serializers.DateTimeField()


class ActivitySerializer(serializers.Serializer):
    """What the agent sees of the node's use (null where it could not read a source)."""

    ssh_sessions = serializers.IntegerField(min_value=0, allow_null=True, required=False)
    jupyter_kernels = serializers.IntegerField(min_value=0, allow_null=True, required=False)
    jupyter_busy_kernels = serializers.IntegerField(min_value=0, allow_null=True, required=False)
    jupyter_last_activity = serializers.DateTimeField(allow_null=True, required=False)
    gpu_utilization_pct = serializers.FloatField(min_value=0, max_value=100, allow_null=True, required=False)
    errors = serializers.ListField(child=serializers.CharField(max_length=500), max_length=16, required=False)


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
    spot_interruption = SpotInterruptionSerializer(required=False)
    activity = ActivitySerializer(required=False)

    def to_report(self) -> dict:
        data = dict(self.validated_data)
        data["reported_at"] = data["reported_at"].isoformat()
        if "spot_interruption" in data:
            notice = dict(data["spot_interruption"])
            data["spot_interruption"] = {**notice, "time": notice["time"].isoformat()}
        if activity := data.get("activity"):
            last = activity.get("jupyter_last_activity")
            data["activity"] = {**activity, "jupyter_last_activity": last.isoformat() if last else None}
        return data


def node_token_from(request: Request) -> str | None:
    """The token of an `Authorization: Node <token>` header, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "node":
        return None
    return token.strip() or None


class HealthAnswerSerializer(serializers.Serializer):
    """What the broker stored: the node's verdict and suggested repair."""

    node = serializers.IntegerField(source="pk")
    health = serializers.ChoiceField(choices=HealthState.choices)
    repair = serializers.ChoiceField(choices=Repair.choices, source="health_repair")
    reason = serializers.CharField(source="health_reason", allow_blank=True)
    last_heartbeat_at = serializers.DateTimeField(allow_null=True)


class NodeHealthView(APIView):
    """`POST /api/v1/nodes/{id}/health`: only that node's token is accepted; any other answer is 404."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request: Request) -> str:
        return "Node"

    @extend_schema(request=HealthReportSerializer, auth=[{"NodeToken": []}],
                   responses={200: HealthAnswerSerializer, 400: ErrorsSerializer, 401: DetailSerializer,
                              404: DetailSerializer, 409: ConflictSerializer})
    def post(self, request: Request, node_id: int) -> Response:
        token = node_token_from(request)
        if token is None:
            raise NotAuthenticated("Authorization header must be 'Node <token>'.")
        node = Node.objects.filter(pk=node_id).first()
        if node is None or not node_token_check(node, token):
            raise NotFound()
        if node.state in NODE_FLOW.final:
            raise Conflict(f"node is {node.state}")
        serializer = HealthReportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = serializer.to_report()
        node = node_health_record(node=node, report=report)
        if "spot_interruption" in report:
            node_interruption_reported(node, report["spot_interruption"])
        return Response(HealthAnswerSerializer(node).data)


def workspace_nodes(request: Request) -> QuerySet[Node]:
    """Nodes of the caller's workspace: the API key's, or for a session every workspace the user is in."""
    workspace = getattr(request, "workspace", None)
    if workspace is not None:
        return Node.objects.filter(rental__workspace=workspace)
    return Node.objects.filter(rental__workspace__memberships__user=request.user).distinct()


class GpuSummarySerializer(serializers.Serializer):
    """One GPU of the last report, as the agent read it (null where it could not)."""

    index = serializers.IntegerField(allow_null=True)
    name = serializers.CharField(allow_null=True)
    uuid = serializers.CharField(allow_null=True)
    health = serializers.CharField(allow_null=True)
    temperature_c = NumberAsIs(allow_null=True)
    memory_temperature_c = NumberAsIs(allow_null=True)
    power_w = NumberAsIs(allow_null=True)
    gpu_utilization_pct = NumberAsIs(allow_null=True)
    memory_used_mib = NumberAsIs(allow_null=True)
    memory_total_mib = NumberAsIs(allow_null=True)
    error = serializers.CharField(allow_null=True)


class HealthEventSerializer(EventSerializer):
    repair = serializers.ChoiceField(choices=Repair.choices)


class NodeDetailSerializer(serializers.Serializer):
    """A node's health, suggested repair, last report's GPU summary and Xid events, and health history."""

    id = serializers.IntegerField()
    rental = serializers.IntegerField(source="rental_id")
    partner = serializers.CharField(source="partner.slug")
    state = serializers.ChoiceField(choices=NodeState.choices)
    health = serializers.ChoiceField(choices=HealthState.choices)
    repair = serializers.ChoiceField(choices=Repair.choices, source="health_repair")
    reason = serializers.CharField(source="health_reason", allow_blank=True)
    last_heartbeat_at = serializers.DateTimeField(allow_null=True)
    agent_version = serializers.CharField(source="health_report.agent_version", allow_null=True)
    reported_at = serializers.DateTimeField(source="health_report.reported_at", allow_null=True)
    gpus = serializers.SerializerMethodField()
    xid_events = serializers.SerializerMethodField()
    events = HealthEventSerializer(many=True, source="health_events")

    @extend_schema_field(GpuSummarySerializer(many=True))
    def get_gpus(self, node: Node) -> list[dict]:
        return GpuSummarySerializer((node.health_report or {}).get("gpus", []), many=True).data

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_xid_events(self, node: Node) -> list[dict]:
        """The last 20 Xid events of the report, as the agent sent them."""
        return (node.health_report or {}).get("xid_events", [])[-20:]


class NodeDetailView(APIView):
    """`GET /api/v1/nodes/{id}`: health, repair, GPU summary and health history of a workspace's node."""

    @extend_schema(responses={200: NodeDetailSerializer})
    def get(self, request: Request, node_id: int) -> Response:
        node = (workspace_nodes(request).select_related("partner").prefetch_related("health_events")
                .filter(pk=node_id).first())
        if node is None:
            raise NotFound()
        return Response(NodeDetailSerializer(node).data)
