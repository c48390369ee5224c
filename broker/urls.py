from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("marketplace.api.urls")),
    path("api/v1/", include("nim_launcher.api.urls")),
    path("api/v1/", include("jobs.api.urls")),
    path("api/v1/", include("fleets.api.urls")),
    path("api/v1/", include("pods.api.urls")),
    path("v1/", include("nim_launcher.urls_gateway")),
    path("", include("marketplace.urls_dashboard")),
    path("", include("nim_launcher.urls_dashboard")),
    path("", include("jobs.urls_dashboard")),
    path("", include("fleets.urls_dashboard")),
    path("", include("pods.urls_dashboard")),
]
