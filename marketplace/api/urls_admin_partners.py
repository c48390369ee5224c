"""Staff partner routes, included at /api/v1/admin/ by marketplace/api/urls.py."""

from rest_framework.routers import SimpleRouter

from .admin_partners import AdminPartnerViewSet

router = SimpleRouter(trailing_slash=False)
router.register("partners", AdminPartnerViewSet, basename="admin-partner")

urlpatterns = router.urls
