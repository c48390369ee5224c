from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import catalog
from .workspace import WorkspaceView

router = SimpleRouter(trailing_slash=False)
router.register("gpus", catalog.GpuModelViewSet, basename="gpu")
router.register("partners", catalog.PartnerViewSet, basename="partner")
router.register("offers", catalog.OfferViewSet, basename="offer")

urlpatterns = [
    path("", include(router.urls)),
    path("workspace", WorkspaceView.as_view(), name="workspace"),
    path("", include("marketplace.api.urls_match")),
    path("", include("marketplace.api.urls_rentals")),
    path("", include("marketplace.api.urls_nodes")),
    path("admin/", include("marketplace.api.urls_admin_partners")),
]
