"""Jobs API (DESIGN §11): create (202, Idempotency-Key), list, detail, logs (streamed), cancel."""

from decimal import Decimal

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, renderers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from jobs.inputs import parse_job_request
from jobs.models import FailureKind, Job, JobState, JobTemplate
from jobs.services.jobs import job_cancel, job_cost, job_create
from jobs.services.logs import log_text
from marketplace.api.access import CanWriteInWorkspace, request_workspace
from marketplace.api.errors import ConflictSerializer, DetailSerializer, ErrorsSerializer
from marketplace.api.fields import BlankAsNull, EventSerializer
from marketplace.api.placement import PlacementRequestSerializer, StoredRequestField
from marketplace.api.rentals import IDEMPOTENCY_KEY, idempotency_key
from marketplace.api.throttling import ApiKeyWriteThrottle
from marketplace.errors import Conflict
from marketplace.placement import MAX_HOURS_LIMIT, MAX_NODES
from marketplace.services.rentals import request_hash


class JobRequestSerializer(PlacementRequestSerializer):
    """`POST /api/v1/jobs`: the job and the placement request of §2 (`workers` in place of `nodes`)."""

    nodes = None
    name = serializers.SlugField(max_length=63, required=False, default="job")
    image = serializers.CharField(max_length=255, required=False, help_text="container image the command runs in")
    command = serializers.ListField(child=serializers.CharField(), required=False, help_text="argv")
    env = serializers.DictField(required=False, help_text="name → value, or {\"secret\": \"ngc_api_key\"}; "
                                                          "GPUB_* and the rendezvous names are reserved")
    template = serializers.ChoiceField(choices=JobTemplate.choices, required=False, default=JobTemplate.NONE)
    workers = serializers.IntegerField(min_value=1, max_value=MAX_NODES, required=False, default=1,
                                       help_text="nodes, gang-placed: all from one partner region")
    max_retries = serializers.IntegerField(min_value=0, max_value=10, required=False, default=0)
    max_hours = serializers.DecimalField(max_digits=8, decimal_places=2, min_value=Decimal("0.01"),
                                         max_value=MAX_HOURS_LIMIT, required=False, coerce_to_string=False)
    ttl_after_finished_s = serializers.IntegerField(min_value=0, required=False, allow_null=True,
                                                    help_text="keep the logs this long after the job ends "
                                                              "(default: the log retention setting)")


class JobWorkerSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    restart = serializers.IntegerField(source="run.restart")
    node = serializers.IntegerField(source="node_id", allow_null=True)
    ip = serializers.CharField(source="node.ip", allow_null=True, default=None)
    ready_at = serializers.DateTimeField(allow_null=True)
    exit_code = serializers.IntegerField(allow_null=True)
    exited_at = serializers.DateTimeField(allow_null=True)


class JobRunSerializer(serializers.Serializer):
    restart = serializers.IntegerField()
    rental = serializers.IntegerField(source="rental_id")
    rental_state = serializers.CharField(source="rental.state")


class JobEventSerializer(EventSerializer):
    actor = serializers.CharField()


class JobSerializer(serializers.Serializer):
    """A job (DESIGN §11): state, workers with exit codes, runs, events, cost."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    state = serializers.ChoiceField(choices=JobState.choices)
    image = BlankAsNull()
    command = serializers.ListField(child=serializers.CharField())
    env = serializers.SerializerMethodField()
    template = serializers.ChoiceField(choices=JobTemplate.choices)
    workers = serializers.IntegerField()
    request = StoredRequestField()
    max_retries = serializers.IntegerField()
    restart_count = serializers.IntegerField()
    max_hours = serializers.FloatField()
    ttl_after_finished_s = serializers.IntegerField(allow_null=True)
    exit_code = serializers.IntegerField(allow_null=True)
    failure_kind = serializers.ChoiceField(choices=FailureKind.choices, allow_blank=True)
    failure_reason = BlankAsNull()
    worker_list = serializers.SerializerMethodField()
    runs = JobRunSerializer(many=True)
    events = JobEventSerializer(many=True)
    cost = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_env(self, job: Job) -> dict:
        """Plain values as given; a secret by its reference."""
        return {name: f"<secret:{value['secret']}>" if isinstance(value, dict) else value
                for name, value in job.env.items()}

    @extend_schema_field(JobWorkerSerializer(many=True))
    def get_worker_list(self, job: Job) -> list[dict]:
        workers = [w for run in job.runs.all() for w in run.workers.all()]
        return JobWorkerSerializer(workers, many=True).data

    @extend_schema_field(OpenApiTypes.DOUBLE)
    def get_cost(self, job: Job) -> float:
        return float(job_cost(job, now=timezone.now()))


class PlainTextRenderer(renderers.BaseRenderer):
    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, (str, bytes)) else str(data)


LOG_PARAMETERS = [OpenApiParameter("worker", int, description="one worker's output (default: all, lines `[N] …`)"),
                  OpenApiParameter("follow", bool, description="stream until the job ends")]


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated, CanWriteInWorkspace]
    throttle_classes = [ApiKeyWriteThrottle]
    serializer_class = JobSerializer
    queryset = Job.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self):
        return (Job.objects.filter(workspace=request_workspace(self.request))
                .prefetch_related("events", "runs__rental", "runs__workers__node", "runs__workers__run"))

    def get_serializer_class(self):
        return JobRequestSerializer if self.action == "metadata" else JobSerializer

    @extend_schema(parameters=[OpenApiParameter("state", str, enum=JobState.values)],
                   responses={200: JobSerializer(many=True), 400: ErrorsSerializer})
    def list(self, request, *args, **kwargs):
        queryset = self.get_queryset()
        if state := request.query_params.get("state"):
            if state not in JobState.values:
                raise ValidationError({"state": [f"unknown state {state!r}; one of {', '.join(JobState.values)}"]})
            queryset = queryset.filter(state=state)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(JobSerializer(page, many=True).data)

    @extend_schema(parameters=[IDEMPOTENCY_KEY], request=JobRequestSerializer,
                   responses={202: JobSerializer, 200: JobSerializer, 400: ErrorsSerializer,
                              402: DetailSerializer, 409: ConflictSerializer, 422: DetailSerializer})
    def create(self, request, *args, **kwargs):
        data = parse_job_request(request.data)
        job, created = job_create(workspace=request_workspace(request), user=request.user, data=data,
                                  idempotency_key=idempotency_key(request), body_hash=request_hash(request.data))
        return Response(JobSerializer(self.get_queryset().get(pk=job.pk)).data,
                        status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)

    @extend_schema(request=None, responses={202: JobSerializer, 409: DetailSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = job_cancel(self.get_object(), actor=request.user.username)
        if job.state in (JobState.SUCCEEDED, JobState.FAILED):
            raise Conflict(f"job {job.pk} already {job.state}; nothing runs to cancel")
        return Response(JobSerializer(self.get_queryset().get(pk=job.pk)).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(parameters=LOG_PARAMETERS, responses={(200, "text/plain"): OpenApiTypes.STR,
                                                         400: ErrorsSerializer})
    @action(detail=True, methods=["get"], renderer_classes=[PlainTextRenderer, renderers.JSONRenderer])
    def logs(self, request, pk=None):
        """The job's output as text; `follow=1` streams it until the job ends."""
        job = self.get_object()
        worker = request.query_params.get("worker")
        if worker is not None and (not worker.isdigit() or int(worker) >= job.workers):
            raise ValidationError({"worker": [f"a worker index from 0 to {job.workers - 1}"]})
        follow = request.query_params.get("follow", "").lower() in ("1", "true", "yes")
        chunks = log_text(job, worker=None if worker is None else int(worker), follow=follow)
        if isinstance(request._request, ASGIRequest):  # under ASGI a sync iterator would be read whole first
            chunks = _async_chunks(chunks)
        response = StreamingHttpResponse(chunks, content_type="text/plain; charset=utf-8")
        response["X-Accel-Buffering"] = "no"  # a proxy must not hold a followed log back
        return response


async def _async_chunks(chunks):
    """The same chunks, each read (database and sleeps included) on a worker thread."""
    step = sync_to_async(lambda: next(chunks, None), thread_sensitive=False)
    while (chunk := await step()) is not None:
        yield chunk
