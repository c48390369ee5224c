from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import catalog  # noqa: F401

router = SimpleRouter(trailing_slash=False)

urlpatterns = [
    path("", include(router.urls)),
]
