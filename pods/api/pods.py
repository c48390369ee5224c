"""Pods API (DESIGN §12): create (202, Idempotency-Key), list, detail, stop, start, terminate."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from marketplace.api.access import CanWriteInWorkspace, request_workspace
from marketplace.api.errors import ConflictSerializer, DetailSerializer, ErrorsSerializer
from marketplace.api.rentals import IDEMPOTENCY_KEY, idempotency_key
from marketplace.api.throttling import ApiKeyWriteThrottle
from marketplace.services.rentals import request_hash
from pods.api.inputs import PodRequestSerializer, parse_pod_request
from pods.api.serializers import PodSerializer
from pods.models import Pod
from pods.selectors import pod_view, workspace_pods
from pods.services.pods import pod_create, pod_start, pod_stop, pod_terminate


def _answer(pod: Pod, code: int = status.HTTP_200_OK, *, jupyter_token: str = "") -> Response:
    return Response(PodSerializer(pod_view(pod, jupyter_token=jupyter_token)).data, status=code)


class PodViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated, CanWriteInWorkspace]
    throttle_classes = [ApiKeyWriteThrottle]
    serializer_class = PodSerializer
    queryset = Pod.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self):
        # Another workspace's pod is simply not in this queryset: 404, never 403.
        return workspace_pods(request_workspace(self.request))

    def get_serializer_class(self):
        return PodRequestSerializer if self.action == "metadata" else PodSerializer

    @extend_schema(responses={200: PodSerializer(many=True)})
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(PodSerializer([pod_view(pod) for pod in page], many=True).data)

    def retrieve(self, request, *args, **kwargs):
        return _answer(self.get_object())

    @extend_schema(parameters=[IDEMPOTENCY_KEY], request=PodRequestSerializer,
                   responses={202: PodSerializer, 200: PodSerializer, 400: ErrorsSerializer,
                              402: DetailSerializer, 409: ConflictSerializer, 422: DetailSerializer})
    def create(self, request, *args, **kwargs):
        data = parse_pod_request(request.data)
        pod, created, token = pod_create(workspace=request_workspace(request), user=request.user, data=data,
                                         idempotency_key=idempotency_key(request),
                                         body_hash=request_hash(request.data))
        return _answer(pod, status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK, jupyter_token=token)

    @extend_schema(request=None, responses={202: PodSerializer, 409: DetailSerializer})
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        """Stop the pod now (metering stops); where the partner cannot stop a node, it is terminated."""
        pod = pod_stop(self.get_object(), reason=f"stopped by {request.user.username}", actor=request.user.username)
        return _answer(pod, status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: PodSerializer, 409: DetailSerializer})
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        """Start a stopped pod on the node it stopped on (409 when its partner could not keep the node)."""
        return _answer(pod_start(self.get_object(), actor=request.user.username), status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: PodSerializer, 409: DetailSerializer})
    @action(detail=True, methods=["post"])
    def terminate(self, request, pk=None):
        return _answer(pod_terminate(self.get_object(), actor=request.user.username), status.HTTP_202_ACCEPTED)
