"""Job routes (included at /api/v1/): the jobs API and the workers' node endpoints."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .jobs import JobViewSet
from .nodes import ExitView, LogChunkView, RendezvousView

router = SimpleRouter(trailing_slash=False)
router.register("jobs", JobViewSet, basename="job")

urlpatterns = [
    path("nodes/<int:node_id>/job/rendezvous", RendezvousView.as_view(), name="job-rendezvous"),
    path("nodes/<int:node_id>/job/logs", LogChunkView.as_view(), name="job-logs"),
    path("nodes/<int:node_id>/job/exit", ExitView.as_view(), name="job-exit"),
    *router.urls,
]
