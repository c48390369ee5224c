"""URL routes (wired from broker/urls.py / marketplace/api/urls.py)."""

urlpatterns: list = []
