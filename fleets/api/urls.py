"""Fleet routes (included at /api/v1/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .agent import JoinView, PollView
from .fleets import FleetViewSet

router = SimpleRouter(trailing_slash=False)
router.register("fleets", FleetViewSet, basename="fleet")

urlpatterns = [
    path("fleets/join", JoinView.as_view(), name="fleet-join"),
    path("fleet-machines/<int:machine_id>/poll", PollView.as_view(), name="fleet-machine-poll"),
    *router.urls,
]
