"""Rentals and usage routes (included at /api/v1/)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from .rentals import RentalViewSet, UsageView

router = SimpleRouter(trailing_slash=False)
router.register("rentals", RentalViewSet, basename="rental")

urlpatterns = [
    path("", include(router.urls)),
    path("usage", UsageView.as_view(), name="usage"),
]
