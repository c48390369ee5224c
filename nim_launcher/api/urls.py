"""Deployment routes (included at /api/v1/)."""

from rest_framework.routers import SimpleRouter

from .deployments import DeploymentViewSet

router = SimpleRouter(trailing_slash=False)
router.register("deployments", DeploymentViewSet, basename="deployment")

urlpatterns = router.urls
