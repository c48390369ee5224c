"""Fleet pages (mounted at the site root by broker/urls.py)."""

from django.urls import path

from fleets import views

app_name = "fleets"

urlpatterns = [
    path("fleets/", views.fleet_list, name="fleets"),
    path("fleets/<int:fleet_id>/", views.fleet_detail, name="fleet"),
    path("fleets/<int:fleet_id>/machines/<int:machine_id>/<str:verb>", views.machine_action,
         name="machine-action"),
]
