"""Pod routes (included at /api/v1/)."""

from rest_framework.routers import SimpleRouter

from .pods import PodViewSet

router = SimpleRouter(trailing_slash=False)
router.register("pods", PodViewSet, basename="pod")

urlpatterns = router.urls
