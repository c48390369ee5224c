"""Fleets API: create (join token shown once), list, detail, delete, new join token; cordon/uncordon/drain."""

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from fleets.inputs import parse_fleet
from fleets.models import Fleet, Machine
from fleets.services.fleets import fleet_create, fleet_delete, fleet_join_token_issue
from fleets.services.machines import machine_cordon, machine_drain, machine_uncordon
from marketplace.api.access import CanWriteInWorkspace, request_workspace
from marketplace.api.errors import ConflictSerializer, DetailSerializer, ErrorsSerializer
from marketplace.api.throttling import ApiKeyWriteThrottle

from .serializers import FleetCreatedSerializer, FleetInputSerializer, FleetSerializer, MachineDetailSerializer


class FleetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated, CanWriteInWorkspace]
    throttle_classes = [ApiKeyWriteThrottle]
    serializer_class = FleetSerializer
    queryset = Fleet.objects.none()  # for the schema; requests use get_queryset
    pagination_class = None

    def get_queryset(self):
        # Another workspace's fleet is simply not in this queryset: 404, never 403.
        return (Fleet.objects.filter(workspace=request_workspace(self.request)).select_related("partner")
                .prefetch_related(Prefetch("machines", queryset=Machine.objects.exclude(state="removed"))))

    @extend_schema(responses={200: FleetSerializer, 404: DetailSerializer})
    def retrieve(self, request, *args, **kwargs):
        return Response(FleetSerializer(self.get_object()).data)

    @extend_schema(request=FleetInputSerializer, responses={201: FleetCreatedSerializer, 400: ErrorsSerializer})
    def create(self, request, *args, **kwargs):
        name, price = parse_fleet(request.data)
        fleet, token = fleet_create(workspace=request_workspace(request), name=name, price_per_gpu_hour=price)
        fleet = self.get_queryset().get(pk=fleet.pk)
        fleet.join_token = token
        return Response(FleetCreatedSerializer(fleet).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None, 404: DetailSerializer, 409: ConflictSerializer})
    def destroy(self, request, *args, **kwargs):
        fleet_delete(self.get_object(), actor=request.user.username)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={201: FleetCreatedSerializer, 404: DetailSerializer})
    @action(detail=True, methods=["post"], url_path="join-token")
    def join_token(self, request, pk=None):
        """A new join token (the previous one stops working), shown once."""
        fleet = self.get_object()
        fleet.join_token = fleet_join_token_issue(fleet)
        return Response(FleetCreatedSerializer(fleet).data, status=status.HTTP_201_CREATED)

    def _machine(self, machine_id: str) -> Machine:
        machine = Machine.objects.filter(fleet=self.get_object(), pk=machine_id).select_related("fleet").first()
        if machine is None:
            raise NotFound()
        return machine

    def _machine_answer(self, machine: Machine) -> Response:
        machine = Machine.objects.prefetch_related("works", "events").get(pk=machine.pk)
        return Response(MachineDetailSerializer(machine).data)

    @extend_schema(responses={200: MachineDetailSerializer, 404: DetailSerializer})
    @action(detail=True, methods=["get"], url_path=r"machines/(?P<machine_id>\d+)")
    def machine(self, request, pk=None, machine_id=None):
        """One machine with its work and its state history."""
        return self._machine_answer(self._machine(machine_id))

    @extend_schema(request=None, responses={200: MachineDetailSerializer, 404: DetailSerializer,
                                            409: ConflictSerializer})
    @action(detail=True, methods=["post"], url_path=r"machines/(?P<machine_id>\d+)/cordon")
    def cordon(self, request, pk=None, machine_id=None):
        """No new work on the machine; what runs there keeps running."""
        return self._machine_answer(machine_cordon(self._machine(machine_id), actor=request.user.username))

    @extend_schema(request=None, responses={200: MachineDetailSerializer, 404: DetailSerializer,
                                            409: ConflictSerializer})
    @action(detail=True, methods=["post"], url_path=r"machines/(?P<machine_id>\d+)/uncordon")
    def uncordon(self, request, pk=None, machine_id=None):
        return self._machine_answer(machine_uncordon(self._machine(machine_id), actor=request.user.username))

    @extend_schema(request=None, responses={200: MachineDetailSerializer, 404: DetailSerializer,
                                            409: ConflictSerializer})
    @action(detail=True, methods=["post"], url_path=r"machines/(?P<machine_id>\d+)/drain")
    def drain(self, request, pk=None, machine_id=None):
        """Cordon, terminate the machine's rentals (their owners place them again), then remove the machine."""
        return self._machine_answer(machine_drain(self._machine(machine_id), actor=request.user.username))
