from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import catalog

router = SimpleRouter(trailing_slash=False)
router.register("gpus", catalog.GpuModelViewSet, basename="gpu")
router.register("partners", catalog.PartnerViewSet, basename="partner")
router.register("offers", catalog.OfferViewSet, basename="offer")

urlpatterns = [
    path("", include(router.urls)),
    path("", include("marketplace.api.urls_match")),
    path("", include("marketplace.api.urls_rentals")),
    path("", include("marketplace.api.urls_nodes")),
    path("admin/", include("marketplace.api.urls_admin_partners")),
    path("", include("nim_launcher.api.urls")),
]
