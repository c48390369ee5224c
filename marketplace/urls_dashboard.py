"""Dashboard routes (included at the site root by broker/urls.py)."""

from django.urls import path
from django.views.generic import RedirectView

from marketplace.views import accounts, keys, offers, settings

app_name = "dashboard"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="dashboard:offers"), name="home"),
    path("accounts/signup/", accounts.signup, name="signup"),
    path("accounts/login/", accounts.SignInView.as_view(), name="login"),
    path("accounts/logout/", accounts.SignOutView.as_view(), name="logout"),
    path("workspace/switch/", accounts.switch_workspace, name="switch-workspace"),
    path("offers/", offers.offer_list, name="offers"),
    path("offers/compare/", offers.offer_compare, name="offer-compare"),
    path("offers/<int:offer_id>/", offers.offer_detail, name="offer"),
    path("keys/", keys.key_list, name="keys"),
    path("keys/new/", keys.key_create, name="key-create"),
    path("keys/<int:key_id>/revoke/", keys.key_revoke, name="key-revoke"),
    path("settings/budget/", settings.budget, name="budget"),
]
