"""API keys page: owners create (shown once), list and revoke; nobody else can."""

import re

import pytest
from django.test import Client

from marketplace.models import ApiKey
from marketplace.services.api_keys import api_key_create, resolve_api_key

TOKEN = re.compile(r"gpub_[0-9a-f]{12}_[A-Za-z0-9_\-]{20,}")


def test_created_key_is_shown_once_and_works(owner):
    response = owner.client.post("/keys/new/", {"name": "CI pipeline"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    token = TOKEN.search(response.content.decode()).group(0)
    key = resolve_api_key(token)
    assert key is not None and key.workspace == owner.workspace and key.name == "CI pipeline"
    listing = owner.client.get("/keys/").content.decode()
    assert token not in listing and f"gpub_{key.prefix}_…" in listing and "CI pipeline" in listing
    assert not TOKEN.search(listing)


def test_key_name_is_required(owner):
    response = owner.client.post("/keys/new/", {"name": ""})
    assert response.status_code == 400 and b"This field is required" in response.content
    assert not ApiKey.objects.exists()


def test_creating_a_key_needs_a_get_free_post(owner):
    assert owner.client.get("/keys/new/").status_code == 405


@pytest.mark.parametrize("persona_name", ["teammate", "viewer"])
def test_non_owners_can_neither_see_nor_create_keys(request, owner, persona_name):
    persona = request.getfixturevalue(persona_name)
    page = persona.client.get("/keys/")
    assert page.status_code == 403 and b"Create key" not in page.content
    assert persona.client.post("/keys/new/", {"name": "sneaky"}).status_code == 403
    assert not ApiKey.objects.filter(name="sneaky").exists()


def test_empty_state_when_no_keys(owner):
    assert b"No API keys yet" in owner.client.get("/keys/").content


def test_revoke_asks_for_confirmation_then_revokes(owner):
    key, token = api_key_create(workspace=owner.workspace, user=owner.user, name="laptop")
    confirm = owner.client.get(f"/keys/{key.pk}/revoke/")
    assert confirm.status_code == 200 and b"cannot be undone" in confirm.content
    assert resolve_api_key(token) is not None  # looking at the confirmation changes nothing
    response = owner.client.post(f"/keys/{key.pk}/revoke/", follow=True)
    assert resolve_api_key(token) is None
    assert b"is revoked" in response.content and b"revoked " in response.content


def test_revoking_twice_is_harmless(owner):
    key, _ = api_key_create(workspace=owner.workspace, user=owner.user)
    owner.client.post(f"/keys/{key.pk}/revoke/")
    first = ApiKey.objects.get(pk=key.pk).revoked_at
    assert owner.client.post(f"/keys/{key.pk}/revoke/").status_code == 302
    assert ApiKey.objects.get(pk=key.pk).revoked_at == first


def test_another_workspace_key_is_404_for_an_owner(owner, stranger):
    key, token = api_key_create(workspace=stranger.workspace, user=stranger.user)
    assert owner.client.get(f"/keys/{key.pk}/revoke/").status_code == 404
    assert owner.client.post(f"/keys/{key.pk}/revoke/").status_code == 404
    assert resolve_api_key(token) is not None
    assert key.prefix not in owner.client.get("/keys/").content.decode()


def test_viewer_cannot_revoke(owner, viewer):
    key, token = api_key_create(workspace=owner.workspace, user=owner.user)
    assert viewer.client.post(f"/keys/{key.pk}/revoke/").status_code == 403
    assert resolve_api_key(token) is not None


def test_key_forms_require_csrf(owner):
    key, token = api_key_create(workspace=owner.workspace, user=owner.user)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner.user)
    assert client.post("/keys/new/", {"name": "x"}).status_code == 403
    assert client.post(f"/keys/{key.pk}/revoke/").status_code == 403
    assert resolve_api_key(token) is not None and ApiKey.objects.count() == 1
