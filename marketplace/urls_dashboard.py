"""Dashboard routes (included at the site root by broker/urls.py)."""

from django.urls import path, re_path
from django.views.generic import RedirectView

from marketplace.views import (
    accounts,
    keys,
    members,
    nodes,
    offers,
    partners,
    rent,
    rentals,
    settings,
    usage,
)

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
    path("rent/", rent.rent, name="rent"),
    path("rent/preview/", rent.rent_preview, name="rent-preview"),
    path("rentals/", rentals.rental_list, name="rentals"),
    path("rentals/<int:rental_id>/", rentals.rental_detail, name="rental"),
    path("rentals/<int:rental_id>/terminate/", rentals.rental_terminate_view, name="rental-terminate"),
    path("usage/", usage.usage, name="usage"),
    path("nodes/", nodes.node_list, name="nodes"),
    path("partners/", partners.partner_list, name="partners"),
    path("partners/new/", partners.partner_onboard, name="partner-onboard"),
    re_path(r"^partners/(?P<slug>[-\w]+)/(?P<action>verify|sync|activate|suspend)/$", partners.partner_action,
            name="partner-action"),
    path("keys/", keys.key_list, name="keys"),
    path("keys/new/", keys.key_create, name="key-create"),
    path("keys/<int:key_id>/revoke/", keys.key_revoke, name="key-revoke"),
    path("settings/budget/", settings.budget, name="budget"),
    path("members/", members.member_list, name="members"),
    path("members/add/", members.member_add_view, name="member_add"),
    path("members/<int:membership_id>/role/", members.member_role_view, name="member_role"),
    path("members/<int:membership_id>/remove/", members.member_remove_view, name="member_remove"),
]
