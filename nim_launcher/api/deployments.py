"""Deployments API (DESIGN §5): create (202), list, detail, delete."""

from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from marketplace.api.access import CanWriteInWorkspace, request_workspace
from marketplace.api.errors import ConflictSerializer, DetailSerializer, ErrorsSerializer
from marketplace.api.fields import BlankAsNull, EventSerializer
from marketplace.api.placement import PolicyField, StoredRequestField
from marketplace.api.rentals import IDEMPOTENCY_KEY, idempotency_key
from marketplace.api.throttling import ApiKeyWriteThrottle
from marketplace.errors import Conflict
from marketplace.inputs import BadValue
from marketplace.placement import canonical_gpu
from marketplace.services.rentals import request_hash
from nim_launcher.flows import REPLICA_FLOW
from nim_launcher.gateway.stats import deployment_stats
from nim_launcher.models import Deployment, DeploymentState, ReplicaState
from nim_launcher.profiles import MODELS
from nim_launcher.services.deployments import DeploymentInput, deployment_create, deployment_delete


class ReplicasSerializer(serializers.Serializer):
    min = serializers.IntegerField(min_value=1, max_value=32, default=1)
    max = serializers.IntegerField(min_value=1, max_value=32, required=False)

    def validate(self, attrs):
        attrs.setdefault("max", attrs["min"])
        if attrs["max"] < attrs["min"]:
            raise serializers.ValidationError({"max": ["must be at least min"]})
        return attrs


class DeploymentRequestSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=63)
    model = serializers.CharField(max_length=128)
    replicas = ReplicasSerializer(required=False)
    policy = PolicyField(required=False)
    gpu = serializers.CharField(required=False, allow_null=True, max_length=64)
    spot = serializers.BooleanField(required=False, default=False)
    spot_fallback = serializers.BooleanField(
        required=False, default=False,
        help_text="with spot: a replacement may run on demand (billed at that price) when no spot placement is left")
    max_price_per_gpu_hour = serializers.FloatField(required=False, allow_null=True, min_value=0)
    max_hours = serializers.DecimalField(max_digits=8, decimal_places=2, min_value=Decimal("0.01"),
                                         max_value=Decimal(744), default=Decimal(24), coerce_to_string=False)

    def validate_model(self, value):
        if value not in MODELS:
            raise serializers.ValidationError(f"unknown model {value!r}; one of {', '.join(sorted(MODELS))}")
        return value

    def validate_gpu(self, value):
        try:
            return None if value is None else canonical_gpu(value)
        except BadValue as exc:
            raise serializers.ValidationError(exc.errors) from None

    def validate(self, attrs):
        if attrs.get("spot_fallback") and not attrs.get("spot"):
            raise serializers.ValidationError(
                {"spot_fallback": ['only applies with "spot": true (on-demand after spot capacity runs out)']})
        return attrs


class ReplicaCountsSerializer(serializers.Serializer):
    min = serializers.IntegerField(source="replicas_min")
    max = serializers.IntegerField(source="replicas_max")
    desired = serializers.IntegerField(source="replicas_desired")


class ReplicaSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=ReplicaState.choices)
    rental = serializers.IntegerField(source="rental_id")
    ready_at = serializers.DateTimeField(allow_null=True)
    reason = BlankAsNull()


class StatsSerializer(serializers.Serializer):
    """Gateway traffic: totals, the last minute's rate, latency percentiles (null without traffic)."""

    requests_total = serializers.IntegerField()
    requests_per_minute = serializers.IntegerField()
    errors_total = serializers.IntegerField()
    p50_ms = serializers.FloatField(allow_null=True)
    p99_ms = serializers.FloatField(allow_null=True)
    in_flight = serializers.IntegerField()


class DeploymentSerializer(serializers.Serializer):
    """A deployment (DESIGN §5): state, replica counts and list, the endpoint, events, gateway stats."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    model = serializers.CharField()
    profile = serializers.CharField()
    state = serializers.ChoiceField(choices=DeploymentState.choices)
    replicas = ReplicaCountsSerializer(source="*")
    request = StoredRequestField()
    endpoint_url = serializers.SerializerMethodField()
    replica_list = serializers.SerializerMethodField()
    events = EventSerializer(many=True)
    stats = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_endpoint_url(self, deployment: Deployment) -> str:
        return settings.GATEWAY_PUBLIC_URL or f"{settings.PUBLIC_BASE_URL.rstrip('/')}/v1"

    @extend_schema_field(ReplicaSerializer(many=True))
    def get_replica_list(self, deployment: Deployment) -> list[dict]:
        live = [r for r in deployment.replicas.all() if r.state not in REPLICA_FLOW.final]
        return ReplicaSerializer(live, many=True).data

    @extend_schema_field(StatsSerializer)
    def get_stats(self, deployment: Deployment) -> dict:
        return StatsSerializer(deployment_stats(deployment.pk)).data


class DeploymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated, CanWriteInWorkspace]
    throttle_classes = [ApiKeyWriteThrottle]
    serializer_class = DeploymentSerializer
    queryset = Deployment.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self):
        return (Deployment.objects.filter(workspace=request_workspace(self.request))
                .prefetch_related("replicas", "events"))

    def get_serializer_class(self):
        return DeploymentRequestSerializer if self.action == "metadata" else DeploymentSerializer

    @extend_schema(parameters=[IDEMPOTENCY_KEY], request=DeploymentRequestSerializer,
                   responses={202: DeploymentSerializer, 200: DeploymentSerializer, 400: ErrorsSerializer,
                              402: DetailSerializer, 409: ConflictSerializer, 422: DetailSerializer})
    def create(self, request, *args, **kwargs):
        serializer = DeploymentRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deployment, created = deployment_create(workspace=request_workspace(request), user=request.user,
                                                data=deployment_input(serializer.validated_data),
                                                idempotency_key=idempotency_key(request),
                                                body_hash=request_hash(request.data))
        return Response(DeploymentSerializer(deployment).data,
                        status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)

    @extend_schema(responses={202: DeploymentSerializer, 409: DetailSerializer})
    def destroy(self, request, *args, **kwargs):
        deployment = deployment_delete(self.get_object(), actor=request.user.username)
        if deployment.state == DeploymentState.FAILED:
            why = deployment.events.filter(to_state=DeploymentState.FAILED).values_list("reason", flat=True).last()
            raise Conflict(f"deployment {deployment.name!r} already failed, nothing runs to delete: "
                           f"{why or 'no reason recorded'}")
        return Response(DeploymentSerializer(deployment).data, status=status.HTTP_202_ACCEPTED)


def deployment_input(data: dict) -> DeploymentInput:
    """The service's input from `DeploymentRequestSerializer.validated_data` (the API's and the dashboard's)."""
    replicas = data.get("replicas") or {"min": 1, "max": 1}
    return DeploymentInput(
        name=data["name"], model=data["model"], replicas_min=replicas["min"], replicas_max=replicas["max"],
        policy=data.get("policy") or {}, gpu=data.get("gpu"), max_hours=data["max_hours"],
        request_extras=request_extras(data))


def request_extras(data: dict) -> dict:
    """The placement request fields a deployment body carries besides its GPU and policy."""
    return {"spot": data["spot"], "spot_fallback": data.get("spot_fallback", False),
            "max_price_per_gpu_hour": data.get("max_price_per_gpu_hour")}
