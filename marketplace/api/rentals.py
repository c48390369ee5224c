"""Rentals API: create (202, Idempotency-Key), list, detail, terminate; usage (JSON and CSV)."""

import csv
import io
from datetime import datetime, time, timedelta

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.errors import Conflict
from marketplace.models import HealthState, NodeState, Rental, RentalState
from marketplace.placement import parse_rental_request
from marketplace.services.metering import preemption_counts, rental_cost, usage_rows, usage_summary
from marketplace.services.rentals import RentalInput, rental_create, rental_terminate, request_hash

from .access import CanWriteInWorkspace, request_workspace
from .errors import ConflictSerializer, DetailSerializer, ErrorsSerializer
from .fields import BlankAsNull, EventSerializer
from .placement import RentalRequestSerializer, StoredRequestField
from .throttling import ApiKeyWriteThrottle

IDEMPOTENCY_KEY = OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER,
                                   description="The same key with the same body returns the first rental (200).")


class RentalOfferSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    partner = serializers.CharField(source="partner.slug")
    region = serializers.CharField(source="region.code")
    instance_type = serializers.CharField()
    gpu = serializers.CharField(source="gpu.name")
    gpus_per_node = serializers.IntegerField()


class RentalNodeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=NodeState.choices)
    ip = BlankAsNull()
    ssh = BlankAsNull()
    health = serializers.ChoiceField(choices=HealthState.choices)
    partner_ref = BlankAsNull(source="provider_ref")


class RentalEventSerializer(EventSerializer):
    actor = serializers.CharField()


class AttemptSerializer(serializers.Serializer):
    partner = serializers.CharField(source="partner_slug")
    region = serializers.CharField(source="region_code")
    instance_type = serializers.CharField()
    outcome = serializers.CharField()
    error_kind = BlankAsNull()
    error = BlankAsNull(source="error_message")


class RentalSerializer(serializers.Serializer):
    """A rental as DESIGN §5 names it: state, request, offer, the current attempt's nodes, events, cost."""

    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=RentalState.choices)
    request = StoredRequestField()
    offer = RentalOfferSerializer(allow_null=True)
    nodes = serializers.SerializerMethodField()
    events = RentalEventSerializer(many=True)
    attempts = AttemptSerializer(many=True)
    nodes_count = serializers.IntegerField()
    max_hours = serializers.FloatField()
    locked_price_per_hour = serializers.FloatField(allow_null=True)
    spot = serializers.BooleanField(help_text="launched as spot: the locked price is the spot price")
    on_demand_price_per_hour = serializers.FloatField(allow_null=True,
                                                      help_text="the same offer on demand, for all nodes")
    preempt_at = serializers.DateTimeField(allow_null=True, help_text="the partner's announced preemption time")
    replaces = serializers.IntegerField(source="replaces_id", allow_null=True,
                                        help_text="the preempted rental this one recovers")
    cost_so_far = serializers.SerializerMethodField()
    failure_reason = BlankAsNull()
    created_at = serializers.DateTimeField()
    running_since = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(RentalNodeSerializer(many=True))
    def get_nodes(self, rental: Rental) -> list[dict]:
        return RentalNodeSerializer(visible_nodes(rental), many=True).data

    @extend_schema_field(OpenApiTypes.DOUBLE)
    def get_cost_so_far(self, rental: Rental) -> float:
        return float(rental_cost(rental, now=self.context.get("now") or timezone.now()))


def visible_nodes(rental: Rental) -> list:
    """The current attempt's nodes; terminated ones only once the rental itself is ending."""
    current = _current_attempt_id(rental)
    ending = rental.state in (RentalState.TERMINATING, RentalState.TERMINATED)
    return [n for n in rental.nodes.all() if n.attempt_id and n.attempt_id == current
            and (n.state != NodeState.TERMINATED or ending)]


def _current_attempt_id(rental: Rental) -> int | None:
    attempts = [a for a in rental.attempts.all() if a.outcome in ("started", "succeeded", "cancelled")]
    return attempts[-1].pk if attempts else None


MAX_IDEMPOTENCY_KEY = 128


def idempotency_key(request) -> str | None:
    """The Idempotency-Key header (None when absent); 400 when it is too long to store."""
    key = request.headers.get("Idempotency-Key") or None
    if key and len(key) > MAX_IDEMPOTENCY_KEY:
        raise ValidationError({"Idempotency-Key": [f"at most {MAX_IDEMPOTENCY_KEY} characters"]})
    return key


class NodeLaunchPlanSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    attempt = serializers.IntegerField(source="attempt_id", allow_null=True)
    index = serializers.IntegerField()
    state = serializers.ChoiceField(choices=NodeState.choices)
    format = serializers.SerializerMethodField()
    launch_plan = serializers.CharField(help_text="as sent to the node, every secret as `<redacted>`")

    @extend_schema_field(serializers.ChoiceField(choices=["cloud-config", "shell", "none"]))
    def get_format(self, node) -> str:
        if not node.launch_plan:
            return "none"
        return "cloud-config" if node.launch_plan.startswith("#cloud-config") else "shell"


class LaunchPlansSerializer(serializers.Serializer):
    rental = serializers.IntegerField()
    nodes = NodeLaunchPlanSerializer(many=True)


class RentalViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated, CanWriteInWorkspace]
    throttle_classes = [ApiKeyWriteThrottle]
    serializer_class = RentalSerializer
    queryset = Rental.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self):
        # Another workspace's rental is simply not in this queryset: 404, never 403.
        return (Rental.objects.filter(workspace=request_workspace(self.request))
                .select_related("offer__partner", "offer__region", "offer__gpu")
                .prefetch_related("nodes", "events", "attempts"))

    def get_serializer_class(self):
        return RentalRequestSerializer if self.action == "metadata" else RentalSerializer

    @extend_schema(parameters=[OpenApiParameter("state", str, enum=RentalState.values)],
                   responses={200: RentalSerializer(many=True), 400: ErrorsSerializer})
    def list(self, request, *args, **kwargs):
        queryset = self.get_queryset()
        if state := request.query_params.get("state"):
            if state not in RentalState.values:
                raise ValidationError({"state": [f"unknown state {state!r}; one of {', '.join(RentalState.values)}"]})
            queryset = queryset.filter(state=state)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(RentalSerializer(page, many=True).data)

    @extend_schema(parameters=[IDEMPOTENCY_KEY], request=RentalRequestSerializer,
                   responses={202: RentalSerializer, 200: RentalSerializer, 400: ErrorsSerializer,
                              402: DetailSerializer, 409: ConflictSerializer, 422: DetailSerializer})
    def create(self, request, *args, **kwargs):
        parsed = parse_rental_request(request.data)
        key = idempotency_key(request)
        data = RentalInput(request=parsed.request, max_hours=parsed.max_hours, ssh_public_key=parsed.ssh_public_key)
        rental, created = rental_create(workspace=request_workspace(request), user=request.user, data=data,
                                        body_hash=request_hash(request.data), idempotency_key=key)
        rental = self.get_queryset().get(pk=rental.pk)
        return Response(RentalSerializer(rental).data,
                        status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)

    @extend_schema(responses={200: LaunchPlansSerializer})
    @action(detail=True, methods=["get"], url_path="launch-plan")
    def launch_plan(self, request, pk=None):
        """What each node was sent (DESIGN §10), exactly, with every secret as `<redacted>`."""
        rental = self.get_object()
        return Response(LaunchPlansSerializer({"rental": rental.pk, "nodes": rental.nodes.all()}).data)

    @extend_schema(request=None, responses={202: RentalSerializer, 409: DetailSerializer})
    @action(detail=True, methods=["post"])
    def terminate(self, request, pk=None):
        rental = rental_terminate(self.get_object(), reason="terminated by the user", actor=request.user.username)
        if rental.state == RentalState.FAILED:
            raise Conflict(f"rental {rental.pk} already failed, nothing runs to terminate: {rental.failure_reason}")
        return Response(RentalSerializer(self.get_queryset().get(pk=rental.pk)).data, status=status.HTTP_202_ACCEPTED)


class UsageRowSerializer(serializers.Serializer):
    day = serializers.DateField()
    rental = serializers.IntegerField(source="rental_id")
    deployment = BlankAsNull()
    partner = serializers.CharField()
    hours = serializers.FloatField()
    cost = serializers.FloatField()
    spot = serializers.BooleanField()
    spot_savings = serializers.FloatField(help_text="the same hours at the same offer's on-demand price, minus cost")
    owner_kind = BlankAsNull(help_text="what rents the node (deployment, job …); null for a plain rental")
    owner = BlankAsNull(help_text="its name")


class PreemptionsSerializer(serializers.Serializer):
    preemptions = serializers.IntegerField(help_text="spot nodes taken back by their partner in the period")
    recovered = serializers.IntegerField(help_text="of those, replaced by their owner on a running node")


class UsageSerializer(serializers.Serializer):
    """Cost (USD) in [since, until): total, per day (ISO date), per rental id, per deployment name, and rows."""

    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    total = serializers.FloatField()
    per_day = serializers.DictField(child=serializers.FloatField())
    per_rental = serializers.DictField(child=serializers.FloatField())
    per_deployment = serializers.DictField(child=serializers.FloatField())
    spot_savings = serializers.FloatField(help_text="what spot saved against the on-demand price of the same offers")
    preemptions = PreemptionsSerializer()
    rows = UsageRowSerializer(many=True)


PERIOD = [OpenApiParameter("since", OpenApiTypes.DATETIME, description="default: 30 days ago"),
          OpenApiParameter("until", OpenApiTypes.DATETIME, description="default: now"),
          OpenApiParameter("format", str, enum=["json", "csv"])]


class UsageView(APIView):
    """Cost per rental, deployment and day for the workspace; `?format=csv` for a spreadsheet."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=PERIOD, responses={(200, "application/json"): UsageSerializer,
                                                 (200, "text/csv"): OpenApiTypes.STR, 400: ErrorsSerializer})
    def get(self, request):
        since, until = _period(request)
        workspace = request_workspace(request)
        rows = usage_rows(workspace, since=since, until=until)
        if request.query_params.get("format") == "csv":
            return _csv(rows)
        summary = usage_summary(rows)
        return Response(UsageSerializer({
            "since": since, "until": until, "total": summary["total"], "per_day": summary["per_day"],
            "per_rental": {str(rid): cost for rid, cost in summary["per_rental"].items()},
            "per_deployment": summary["per_deployment"], "spot_savings": summary["spot_savings"],
            "preemptions": preemption_counts(workspace, since=since, until=until), "rows": rows}).data)


def _period(request) -> tuple[datetime, datetime]:
    now = timezone.now()
    errors, bounds = {}, {}
    for name, default in (("since", now - timedelta(days=30)), ("until", now)):
        raw = request.query_params.get(name)
        if not raw:
            bounds[name] = default
            continue
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            errors[name] = ["expected an ISO date or datetime, e.g. 2026-11-01"]
            continue
        if parsed.tzinfo is None:
            parsed = timezone.make_aware(datetime.combine(parsed.date(), time()) if len(raw) == 10 else parsed)
        bounds[name] = parsed
    if errors:
        raise ValidationError(errors)
    if bounds["since"] >= bounds["until"]:
        raise ValidationError({"since": ["must be before until"]})
    return bounds["since"], bounds["until"]


def _csv(rows) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["day", "rental_id", "deployment", "partner", "hours", "cost_usd", "spot", "spot_savings_usd",
                     "owner_kind", "owner"])
    for r in rows:
        writer.writerow([r.day.isoformat(), r.rental_id, r.deployment, r.partner, f"{r.hours}", f"{r.cost}",
                         "yes" if r.spot else "no", f"{r.spot_savings}", r.owner_kind, r.owner])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="usage.csv"'
    return response
