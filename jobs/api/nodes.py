"""The job's endpoints for its workers' node agents (node token): rendezvous, log chunks, exit status.

`POST /api/v1/nodes/{id}/job/rendezvous` → 200 with the environment once every worker is up, 202 with
`retry_after` until then; `…/job/logs` takes one chunk; `…/job/exit` the worker's exit status. 410 when
the node's run is over (the job ended or restarted elsewhere): the worker has nothing left to do.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotAuthenticated, NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.services.workers import LOG_CHUNK_MAX_CHARS, RETRY_AFTER_S, worker_exited, worker_log, worker_rendezvous
from marketplace.api.errors import DetailSerializer, ErrorsSerializer
from marketplace.api.nodes import node_token_from
from marketplace.models import Node
from marketplace.services.node_health import node_token_check


class RendezvousSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["ready", "waiting"])
    env = serializers.DictField(child=serializers.CharField(), required=False)
    hosts = serializers.ListField(child=serializers.CharField(), required=False)
    retry_after = serializers.FloatField(required=False)


class LogChunkSerializer(serializers.Serializer):
    seq = serializers.IntegerField(min_value=0, max_value=2**31 - 1)
    data = serializers.CharField(max_length=LOG_CHUNK_MAX_CHARS, allow_blank=True, trim_whitespace=False)


class ExitSerializer(serializers.Serializer):
    exit_code = serializers.IntegerField(min_value=-(2**31), max_value=2**31 - 1)


class AcceptedSerializer(serializers.Serializer):
    ok = serializers.BooleanField()


class NodeJobView(APIView):
    """Only the node's own token is accepted; any other answer is 404."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request: Request) -> str:
        return "Node"

    def node(self, request: Request, node_id: int) -> Node:
        token = node_token_from(request)
        if token is None:
            raise NotAuthenticated("Authorization header must be 'Node <token>'.")
        node = Node.objects.filter(pk=node_id).first()
        if node is None or not node_token_check(node, token):
            raise NotFound()
        return node


GONE = Response({"detail": "this node's job run is over"}, status=status.HTTP_410_GONE)
NODE_ERRORS = {401: DetailSerializer, 404: DetailSerializer, 410: DetailSerializer}


class RendezvousView(NodeJobView):
    @extend_schema(request=None, auth=[{"NodeToken": []}],
                   responses={200: RendezvousSerializer, 202: RendezvousSerializer, **NODE_ERRORS})
    def post(self, request: Request, node_id: int) -> Response:
        answer = worker_rendezvous(self.node(request, node_id))
        if answer.over:
            return Response(GONE.data, status=GONE.status_code)
        if answer.waiting:
            return Response(RendezvousSerializer({"state": "waiting", "retry_after": RETRY_AFTER_S}).data,
                            status=status.HTTP_202_ACCEPTED)
        return Response(RendezvousSerializer({"state": "ready", "env": answer.env, "hosts": answer.hosts}).data)


class LogChunkView(NodeJobView):
    @extend_schema(request=LogChunkSerializer, auth=[{"NodeToken": []}],
                   responses={200: AcceptedSerializer, 400: ErrorsSerializer, **NODE_ERRORS})
    def post(self, request: Request, node_id: int) -> Response:
        node = self.node(request, node_id)
        chunk = LogChunkSerializer(data=request.data)
        chunk.is_valid(raise_exception=True)
        if not worker_log(node, **chunk.validated_data):
            return Response(GONE.data, status=GONE.status_code)
        return Response({"ok": True})


class ExitView(NodeJobView):
    @extend_schema(request=ExitSerializer, auth=[{"NodeToken": []}],
                   responses={200: AcceptedSerializer, 400: ErrorsSerializer, **NODE_ERRORS})
    def post(self, request: Request, node_id: int) -> Response:
        node = self.node(request, node_id)
        report = ExitSerializer(data=request.data)
        report.is_valid(raise_exception=True)
        if not worker_exited(node, exit_code=report.validated_data["exit_code"]):
            return Response(GONE.data, status=GONE.status_code)
        return Response({"ok": True})
