"""Role checks of the rent, rentals, deployments, usage and nodes pages for every persona."""

import pytest
from django.test import Client

from marketplace.models import Role
from marketplace.views.access import role_allows

PAGES = [
    ("/rent/", "get", Role.MEMBER),
    ("/rent/", "post", Role.MEMBER),
    ("/rent/preview/", "post", Role.MEMBER),
    ("/rentals/", "get", Role.VIEWER),
    ("/deployments/", "get", Role.VIEWER),
    ("/deployments/new/", "get", Role.MEMBER),
    ("/deployments/new/", "post", Role.MEMBER),
    ("/usage/", "get", Role.VIEWER),
    ("/nodes/", "get", Role.VIEWER),
]


@pytest.mark.parametrize("path,method,_", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(db, path, method, _):
    response = getattr(Client(), method)(path)
    assert response.status_code == 302 and response["Location"].startswith(f"/accounts/login/?next={path}")


@pytest.mark.parametrize("path,method,needed", PAGES)
@pytest.mark.parametrize("persona_name", ["owner", "teammate", "viewer", "stranger"])
def test_each_persona_reaches_only_what_its_role_allows(request, catalogue, path, method, needed, persona_name):
    persona = request.getfixturevalue(persona_name)
    response = getattr(persona.client, method)(path)
    if role_allows(persona.role, needed):
        assert response.status_code in (200, 400)
    else:
        assert response.status_code == 403 and b"Your role in" in response.content


@pytest.mark.parametrize("persona_name,visible", [("owner", True), ("teammate", True), ("viewer", False)])
def test_rent_and_deploy_controls_follow_the_role(request, persona_name, visible):
    client = request.getfixturevalue(persona_name).client
    nav = client.get("/rentals/").content.decode()
    assert ('href="/rent/"' in nav) is visible
    assert ('href="/deployments/new/"' in client.get("/deployments/").content.decode()) is visible
    for name in ("Rentals", "Deployments", "Usage", "Nodes"):
        assert f">{name}</a>" in nav
