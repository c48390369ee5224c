"""Sign up, sign in and sign out."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from marketplace.models import Membership, Role, Workspace

from .conftest import PASSWORD

GOOD = {"email": "Ada@Example.test", "workspace": "ada-lab", "password": PASSWORD, "password_confirm": PASSWORD}


def test_signup_creates_user_workspace_and_owner_membership_and_signs_in(db):
    client = Client()
    response = client.post("/accounts/signup/", GOOD)
    assert response.status_code == 302 and response["Location"] == "/offers/"
    user = User.objects.get(username="ada@example.test")
    membership = Membership.objects.get(user=user)
    assert membership.workspace.name == "ada-lab" and membership.role == Role.OWNER
    assert client.get("/keys/").status_code == 200  # signed in, as owner of the new workspace


@pytest.mark.parametrize("change,field,message", [
    ({"email": "not-an-email"}, "email", "valid email"),
    ({"password_confirm": "something-else-entirely"}, "password_confirm", "differ"),
    ({"password": "password", "password_confirm": "password"}, "password", "too common"),
    ({"workspace": ""}, "workspace", "required"),
])
def test_signup_rejects_bad_input_next_to_the_field(db, change, field, message):
    response = Client().post("/accounts/signup/", GOOD | change)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not User.objects.exists() and not Workspace.objects.exists()


def test_signup_refuses_an_existing_email_or_workspace_name(owner):
    response = Client().post("/accounts/signup/", GOOD | {"email": "OWNER@acme.test", "workspace": "ACME-ML"})
    errors = response.context["form"].errors
    assert response.status_code == 400 and "email" in errors and "workspace" in errors


def test_signup_page_labels_every_input(db):
    html = Client().get("/accounts/signup/").content.decode()
    for name in ("email", "workspace", "password", "password_confirm"):
        assert f'<label for="id_{name}">' in html


def test_sign_in_with_email_in_any_case_then_sign_out(owner):
    client = Client()
    response = client.post("/accounts/login/", {"username": "Owner@ACME.test", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/rentals/").status_code == 200
    assert client.get("/accounts/logout/").status_code == 405  # signing out takes a POST
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/rentals/").status_code == 302


def test_wrong_password_says_so(owner):
    response = Client().post("/accounts/login/", {"username": "owner@acme.test", "password": "nope"})
    assert response.status_code == 200 and b"correct" in response.content


def test_sign_in_form_requires_csrf(owner):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/accounts/login/", {"username": "owner@acme.test", "password": PASSWORD}).status_code == 403


def test_root_redirects_to_offers(db):
    assert Client().get("/")["Location"] == "/offers/"
