"""Deployment and node agent routes (included at /api/v1/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .agent import AgentFileView, AgentView
from .deployments import DeploymentViewSet

router = SimpleRouter(trailing_slash=False)
router.register("deployments", DeploymentViewSet, basename="deployment")

urlpatterns = [
    path("agent", AgentView.as_view(), name="agent"),
    path("agent/<str:filename>", AgentFileView.as_view(), name="agent-file"),
    *router.urls,
]
