"""The fleet agent's endpoints: join (the fleet's join token) and the long poll (the machine's credential)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotAuthenticated, NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fleets.inputs import parse_join, parse_poll
from fleets.services.fleets import fleet_join, machine_for_token
from fleets.services.machines import instructions_wait, machine_heard
from marketplace.api.errors import DetailSerializer, ErrorsSerializer

from .serializers import JoinAnswerSerializer, JoinInputSerializer, PollAnswerSerializer, PollInputSerializer

MACHINE_SCHEME = "machine"


class JoinView(APIView):
    """`POST /api/v1/fleets/join`: a machine registers itself with its fleet's join token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=JoinInputSerializer, auth=[],
                   responses={201: JoinAnswerSerializer, 400: ErrorsSerializer})
    def post(self, request: Request) -> Response:
        machine, token = fleet_join(parse_join(request.data))
        return Response(JoinAnswerSerializer({"machine": machine, "machine_token": token}).data,
                        status=status.HTTP_201_CREATED)


def _wait_s(request: Request) -> float:
    raw = request.query_params.get("wait", "0")
    try:
        wait = float(raw)
    except ValueError:
        raise ValidationError({"wait": ["a number of seconds"]}) from None
    if not 0 <= wait <= 600:
        raise ValidationError({"wait": ["between 0 and 600 seconds"]})
    return wait


class PollView(APIView):
    """`POST /api/v1/fleet-machines/{id}/poll`: heartbeat + work states in, work to start and stop out."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request: Request) -> str:
        return "Machine"

    @extend_schema(request=PollInputSerializer, auth=[{"MachineToken": []}],
                   parameters=[OpenApiParameter("wait", OpenApiTypes.NUMBER, description="long poll, seconds")],
                   responses={200: PollAnswerSerializer, 400: ErrorsSerializer, 401: DetailSerializer,
                              404: DetailSerializer})
    def post(self, request: Request, machine_id: int) -> Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != MACHINE_SCHEME or not token.strip():
            raise NotAuthenticated("Authorization header must be 'Machine <token>'.")
        machine = machine_for_token(machine_id, token.strip())
        if machine is None:
            raise NotFound()
        wait = _wait_s(request)
        health, reason, works = parse_poll(request.data)
        if machine.state != "removed":
            machine_heard(machine, health=health, reason=reason, works=works)
        answer = instructions_wait(machine, wait)
        return Response(PollAnswerSerializer({"state": answer.state, "start": [
            {"id": pk, "plan": plan} for pk, plan in answer.start], "stop": answer.stop}).data)
