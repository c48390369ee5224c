"""Pod dashboard routes (included at the site root by broker/urls.py)."""

from django.urls import path

from pods.views import pods

app_name = "pods"

urlpatterns = [
    path("pods/", pods.pod_list, name="pods"),
    path("pods/new/", pods.pod_new, name="pod-new"),
    path("pods/<int:pod_id>/", pods.pod_detail, name="pod"),
    path("pods/<int:pod_id>/<str:verb>/", pods.pod_action, name="pod-action"),
]
