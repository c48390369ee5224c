"""Roles, the active workspace and the login gate shared by every dashboard view."""

import pytest
from django.test import Client

from marketplace.models import Membership, Role, Workspace
from marketplace.views.access import role_allows

from .conftest import join

# (url name, method, minimum role) for every workspace view of this phase.
PAGES = [
    ("/rentals/", "get", Role.VIEWER),
    ("/usage/", "get", Role.VIEWER),
    ("/rent/", "get", Role.MEMBER),
    ("/keys/", "get", Role.OWNER),
    ("/keys/new/", "post", Role.OWNER),
    ("/settings/budget/", "get", Role.OWNER),
    ("/settings/budget/", "post", Role.OWNER),
]


@pytest.mark.parametrize("role,needed,allowed", [
    (Role.VIEWER, Role.VIEWER, True), (Role.VIEWER, Role.MEMBER, False), (Role.MEMBER, Role.MEMBER, True),
    (Role.MEMBER, Role.OWNER, False), (Role.OWNER, Role.MEMBER, True), ("bogus", Role.VIEWER, False),
])
def test_role_ladder(role, needed, allowed):
    assert role_allows(role, needed) is allowed


@pytest.mark.parametrize("path,method,_", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(db, path, method, _):
    response = getattr(Client(), method)(path)
    assert response.status_code == 302 and response["Location"].startswith(f"/accounts/login/?next={path}")


def test_expired_session_under_htmx_redirects_the_whole_window(db):
    response = Client().get("/rentals/?state=running", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response["HX-Redirect"] == "/accounts/login/?next=%2Frentals%2F%3Fstate%3Drunning"


@pytest.mark.parametrize("path,method,needed", PAGES)
@pytest.mark.parametrize("persona_name", ["owner", "teammate", "viewer", "stranger"])
def test_each_persona_reaches_only_what_its_role_allows(request, path, method, needed, persona_name):
    persona = request.getfixturevalue(persona_name)
    response = getattr(persona.client, method)(path)
    if role_allows(persona.role, needed):
        assert response.status_code in (200, 400)
    else:
        assert response.status_code == 403
        assert b"Your role in" in response.content


def test_user_without_any_workspace_gets_a_clear_page(db):
    from .conftest import make_user
    client = Client()
    client.force_login(make_user("lonely@example.test"))
    response = client.get("/rentals/")
    assert response.status_code == 403 and b"don\xe2\x80\x99t belong to a workspace" in response.content


def test_role_follows_the_active_workspace(owner, viewer, stranger):
    # the viewer of acme-ml also owns their own workspace: switching changes what they may do
    own = Workspace.objects.create(name="viewer-lab")
    Membership.objects.create(user=viewer.user, workspace=own, role=Role.OWNER)
    client = viewer.client
    client.post("/workspace/switch/", {"workspace_id": viewer.workspace.pk})
    assert client.get("/keys/").status_code == 403
    response = client.post("/workspace/switch/", {"workspace_id": own.pk, "next": "/keys/"})
    assert response.status_code == 302 and response["Location"] == "/keys/"
    assert client.get("/keys/").status_code == 200


def test_switching_to_a_workspace_you_do_not_belong_to_is_refused(owner, stranger):
    response = owner.client.post("/workspace/switch/", {"workspace_id": stranger.workspace.pk}, follow=True)
    assert b"not a member of that workspace" in response.content
    assert owner.client.session["workspace_id"] == owner.workspace.pk


def test_switch_ignores_an_offsite_next_url(owner):
    other = Workspace.objects.create(name="second")
    join(owner.user, other, Role.MEMBER)
    response = owner.client.post("/workspace/switch/", {"workspace_id": other.pk, "next": "https://evil.test/"})
    assert response["Location"] == "/offers/"


def test_removed_membership_falls_back_to_a_remaining_workspace(owner, stranger):
    join(owner.user, stranger.workspace, Role.VIEWER)
    owner.client.post("/workspace/switch/", {"workspace_id": stranger.workspace.pk})
    Membership.objects.filter(user=owner.user, workspace=stranger.workspace).delete()
    response = owner.client.get("/offers/")
    assert response.status_code == 200 and owner.client.session["workspace_id"] == owner.workspace.pk


def test_switcher_lists_every_workspace_of_the_user(owner, stranger):
    join(owner.user, stranger.workspace, Role.VIEWER)
    html = owner.client.get("/offers/").content.decode()
    assert 'name="workspace_id"' in html and "other-co (viewer)" in html and "acme-ml (owner)" in html


def test_switch_requires_a_csrf_token(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner.user)
    assert client.post("/workspace/switch/", {"workspace_id": owner.workspace.pk}).status_code == 403


def test_nav_shows_owner_pages_only_to_owners(owner, teammate):
    assert b'href="/keys/"' in owner.client.get("/offers/").content
    assert b'href="/keys/"' not in teammate.client.get("/offers/").content


def test_every_page_carries_the_csrf_header_for_htmx_and_a_skip_link(owner):
    html = owner.client.get("/offers/").content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in html and 'href="#main"' in html and 'id="main"' in html


PUBLIC_VIEWS = {"home", "signup", "login", "logout", "switch-workspace"}
CATALOGUE_PAGES = {"offers", "offer-compare", "offer"}


def test_every_dashboard_view_declares_the_role_it_needs():
    from marketplace import urls_dashboard

    guarded = {p.name: getattr(p.callback, "min_role", None) or getattr(p.callback, "staff_only", None)
               or getattr(p.callback, "public", None) for p in urls_dashboard.urlpatterns}
    unguarded = {name for name, role in guarded.items() if role is None} - PUBLIC_VIEWS
    assert not unguarded, f"views without workspace_required or staff_required: {sorted(unguarded)}"


def test_only_the_catalogue_pages_are_public():
    from marketplace import urls_dashboard

    public = {p.name for p in urls_dashboard.urlpatterns if getattr(p.callback, "public", False)}
    assert public == CATALOGUE_PAGES
