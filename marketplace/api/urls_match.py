"""URL routes (wired from broker/urls.py / marketplace/api/urls.py)."""

from django.urls import path

from .match import MatchView

urlpatterns = [
    path("match", MatchView.as_view(), name="match"),
]
