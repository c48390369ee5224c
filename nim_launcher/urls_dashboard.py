"""Deployment dashboard routes (included at the site root by broker/urls.py)."""

from django.urls import path

from nim_launcher.views import deployments

app_name = "deployments"

urlpatterns = [
    path("deployments/", deployments.deployment_list, name="deployments"),
    path("deployments/new/", deployments.deployment_new, name="deployment-new"),
    path("deployments/<int:deployment_id>/", deployments.deployment_detail, name="deployment"),
    path("deployments/<int:deployment_id>/try/", deployments.deployment_try, name="deployment-try"),
    path("deployments/<int:deployment_id>/delete/", deployments.deployment_delete_view, name="deployment-delete"),
]
