"""Members page: everyone in the workspace sees who is in; only owners add, re-role and remove people."""

import threading

import pytest
from django.db import connections
from django.test import Client

from marketplace.models import ApiKey, Membership, Role, Workspace
from marketplace.services.api_keys import api_key_create, resolve_api_key
from marketplace.services.members import MemberError, member_add, member_remove, member_set_role

from .conftest import join, make_user


def membership(persona) -> Membership:
    return Membership.objects.get(user=persona.user, workspace=persona.workspace)


# --- the page ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("persona_name", ["owner", "teammate", "viewer"])
def test_every_member_sees_the_list_with_emails_and_roles(request, owner, teammate, viewer, persona_name):
    html = request.getfixturevalue(persona_name).client.get("/members/").content.decode()
    for email in ("owner@acme.test", "teammate@acme.test", "viewer@acme.test"):
        assert email in html
    assert "Account created" in html


def test_owner_sees_the_add_form_role_selects_and_remove_buttons(owner, teammate):
    html = owner.client.get("/members/").content.decode()
    assert '<label for="id_email">E-mail</label>' in html and 'type="email" name="email"' in html
    assert f'<label for="role-{membership(teammate).pk}" class="visually-hidden">' in html
    assert f'action="/members/{membership(teammate).pk}/role/"' in html
    assert f'href="/members/{membership(teammate).pk}/remove/"' in html


@pytest.mark.parametrize("persona_name", ["teammate", "viewer"])
def test_non_owners_see_no_management_controls(request, owner, persona_name):
    html = request.getfixturevalue(persona_name).client.get("/members/").content.decode()
    assert 'name="email"' not in html and "/role/" not in html and "/remove/" not in html


def test_stranger_sees_only_their_own_workspace_members(owner, stranger):
    html = stranger.client.get("/members/").content.decode()
    assert "someone@other.test" in html and "owner@acme.test" not in html


def test_nav_links_to_members_for_every_role(owner, viewer):
    for persona in (owner, viewer):
        assert b'href="/members/"' in persona.client.get("/offers/").content


def test_anonymous_visitor_is_sent_to_sign_in(db):
    response = Client().get("/members/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=/members/")


# --- adding -----------------------------------------------------------------------------------------------

def test_owner_adds_an_existing_user_as_viewer_who_then_sees_the_workspace(owner, stranger):
    response = owner.client.post("/members/add/", {"email": "SomeOne@Other.TEST", "role": "viewer"}, follow=True)
    assert response.status_code == 200 and b"someone@other.test joined as viewer" in response.content
    assert Membership.objects.get(user=stranger.user, workspace=owner.workspace).role == Role.VIEWER
    html = stranger.client.get("/offers/").content.decode()
    assert "acme-ml (viewer)" in html and "other-co (owner)" in html
    stranger.client.post("/workspace/switch/", {"workspace_id": owner.workspace.pk})
    assert stranger.client.get("/keys/").status_code == 403  # a viewer there, not an owner
    assert "owner@acme.test" in stranger.client.get("/members/").content.decode()


def test_adding_an_unknown_email_asks_them_to_sign_up(owner):
    response = owner.client.post("/members/add/", {"email": "nobody@nowhere.test", "role": "member"})
    html = response.content.decode()
    assert response.status_code == 400 and "ask them to sign up first" in html
    assert 'id="id_email_error"><p>No account uses nobody@nowhere.test' in html
    assert Membership.objects.filter(workspace=owner.workspace).count() == 1


def test_adding_someone_already_in_is_refused(owner, teammate):
    response = owner.client.post("/members/add/", {"email": "teammate@acme.test", "role": "viewer"})
    assert response.status_code == 400 and b"already a member of this workspace" in response.content
    assert membership(teammate).role == Role.MEMBER


def test_adding_with_an_unknown_role_is_refused_next_to_the_role(owner, stranger):
    response = owner.client.post("/members/add/", {"email": "someone@other.test", "role": "admin"})
    assert response.status_code == 400 and 'id="id_role_error"><p>Select a valid choice' in response.content.decode()
    assert not Membership.objects.filter(user=stranger.user, workspace=owner.workspace).exists()


def test_adding_with_a_malformed_email_is_a_field_error(owner):
    response = owner.client.post("/members/add/", {"email": "not-an-email", "role": "member"})
    assert response.status_code == 400 and 'id="id_email_error"><p>Enter a valid email' in response.content.decode()


# --- changing roles ---------------------------------------------------------------------------------------

def test_owner_changes_a_role(owner, teammate):
    response = owner.client.post(f"/members/{membership(teammate).pk}/role/", {"role": "owner"}, follow=True)
    assert b"teammate@acme.test is now owner" in response.content
    assert membership(teammate).role == Role.OWNER
    assert teammate.client.get("/keys/").status_code == 200


def test_demoting_the_last_owner_is_refused(owner, teammate):
    response = owner.client.post(f"/members/{membership(owner).pk}/role/", {"role": "viewer"})
    html = response.content.decode()
    assert response.status_code == 400 and "cannot demote the last owner" in html
    assert f'id="role-{membership(owner).pk}_error"><p>You cannot demote' in html
    assert membership(owner).role == Role.OWNER


def test_an_owner_may_step_down_when_another_owner_remains(owner, teammate):
    Membership.objects.filter(pk=membership(teammate).pk).update(role=Role.OWNER)
    owner.client.post(f"/members/{membership(owner).pk}/role/", {"role": "member"})
    assert membership(owner).role == Role.MEMBER
    assert owner.client.get("/keys/").status_code == 403


def test_a_bogus_role_is_refused_on_the_row(owner, teammate):
    response = owner.client.post(f"/members/{membership(teammate).pk}/role/", {"role": "root"})
    assert response.status_code == 400 and b"Choose one of the listed roles" in response.content
    assert membership(teammate).role == Role.MEMBER


# --- removing ---------------------------------------------------------------------------------------------

def test_remove_asks_for_confirmation_then_removes_and_revokes_their_keys(owner, teammate):
    _, token = api_key_create(workspace=owner.workspace, user=teammate.user, name="laptop")
    pk = membership(teammate).pk
    confirm = owner.client.get(f"/members/{pk}/remove/")
    assert confirm.status_code == 200 and b"Remove teammate@acme.test?" in confirm.content
    assert b"1 active API key" in confirm.content
    assert Membership.objects.filter(pk=pk).exists()  # looking at the confirmation changes nothing
    response = owner.client.post(f"/members/{pk}/remove/", follow=True)
    assert b"teammate@acme.test no longer has access" in response.content
    assert not Membership.objects.filter(pk=pk).exists() and resolve_api_key(token) is None
    assert teammate.client.get("/rentals/").status_code == 403  # no workspace left


def test_removing_the_last_owner_is_refused(owner, viewer):
    response = owner.client.post(f"/members/{membership(owner).pk}/remove/")
    assert response.status_code == 400 and b"cannot remove the last owner" in response.content
    assert membership(owner).role == Role.OWNER


def test_owner_who_removes_themselves_is_sent_away_from_the_members_page(owner, teammate):
    Membership.objects.filter(pk=membership(teammate).pk).update(role=Role.OWNER)
    other = Workspace.objects.create(name="zz-lab")
    join(owner.user, other, Role.OWNER)
    response = owner.client.post(f"/members/{membership(owner).pk}/remove/")
    assert response.status_code == 302 and response["Location"] == "/offers/"
    assert not Membership.objects.filter(user=owner.user, workspace=owner.workspace).exists()


def test_another_workspaces_membership_is_404(owner, stranger):
    theirs = membership(stranger).pk
    assert owner.client.get(f"/members/{theirs}/remove/").status_code == 404
    assert owner.client.post(f"/members/{theirs}/remove/").status_code == 404
    assert owner.client.post(f"/members/{theirs}/role/", {"role": "viewer"}).status_code == 404
    assert membership(stranger).role == Role.OWNER


# --- who may do it ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("persona_name", ["teammate", "viewer"])
def test_non_owners_cannot_add_change_or_remove(request, owner, persona_name, stranger):
    persona = request.getfixturevalue(persona_name)
    target = membership(owner).pk
    for response in (persona.client.post("/members/add/", {"email": "someone@other.test", "role": "owner"}),
                     persona.client.post(f"/members/{target}/role/", {"role": "viewer"}),
                     persona.client.post(f"/members/{membership(persona).pk}/role/", {"role": "owner"}),
                     persona.client.get(f"/members/{target}/remove/"),
                     persona.client.post(f"/members/{target}/remove/")):
        assert response.status_code == 403 and b"Your role in" in response.content
    assert membership(owner).role == Role.OWNER and membership(persona).role == persona.role
    assert not Membership.objects.filter(user=stranger.user, workspace=owner.workspace).exists()


def test_a_stranger_cannot_touch_another_workspace(owner, teammate, stranger):
    target = membership(teammate).pk
    assert stranger.client.post(f"/members/{target}/role/", {"role": "viewer"}).status_code == 404
    assert stranger.client.post(f"/members/{target}/remove/").status_code == 404
    assert stranger.client.get(f"/members/{target}/remove/").status_code == 404
    stranger.client.post("/members/add/", {"email": "teammate@acme.test", "role": "viewer"})
    assert membership(teammate).role == Role.MEMBER  # adding only ever targets the adder's own workspace
    assert Membership.objects.get(user=teammate.user, workspace=stranger.workspace).role == Role.VIEWER


def test_adding_needs_post(owner):
    assert owner.client.get("/members/add/").status_code == 405
    assert owner.client.get(f"/members/{membership(owner).pk}/role/").status_code == 405


def test_member_forms_require_csrf(owner, teammate, stranger):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner.user)
    target = membership(teammate).pk
    assert client.post("/members/add/", {"email": "someone@other.test", "role": "viewer"}).status_code == 403
    assert client.post(f"/members/{target}/role/", {"role": "viewer"}).status_code == 403
    assert client.post(f"/members/{target}/remove/").status_code == 403
    assert membership(teammate).role == Role.MEMBER
    assert Membership.objects.filter(workspace=owner.workspace).count() == 2


# --- the service ------------------------------------------------------------------------------------------

def test_service_keeps_at_least_one_owner(owner, teammate):
    workspace, own = owner.workspace, membership(owner).pk
    with pytest.raises(MemberError, match="last owner"):
        member_set_role(workspace=workspace, membership_id=own, role=Role.MEMBER)
    with pytest.raises(MemberError, match="last owner"):
        member_remove(workspace=workspace, membership_id=own)
    member_set_role(workspace=workspace, membership_id=membership(teammate).pk, role=Role.OWNER)
    member_remove(workspace=workspace, membership_id=own)  # another owner remains now
    assert list(Membership.objects.filter(workspace=workspace).values_list("role", flat=True)) == [Role.OWNER]


def test_service_finds_accounts_by_username_or_email_in_any_case(owner):
    user = make_user("ada@lab.test")
    user.username = "ada"
    user.save()
    assert member_add(workspace=owner.workspace, email=" ADA@Lab.Test ", role=Role.MEMBER).user == user
    with pytest.raises(MemberError, match="already a member") as error:
        member_add(workspace=owner.workspace, email="ada", role=Role.VIEWER)
    assert error.value.field == "email"


def test_service_refuses_unknown_roles_and_inactive_accounts(owner):
    user = make_user("gone@lab.test")
    with pytest.raises(MemberError, match="Unknown role") as error:
        member_add(workspace=owner.workspace, email="gone@lab.test", role="admin")
    assert error.value.field == "role"
    user.is_active = False
    user.save()
    with pytest.raises(MemberError, match="sign up first"):
        member_add(workspace=owner.workspace, email="gone@lab.test", role=Role.VIEWER)


def test_service_ignores_memberships_of_other_workspaces(owner, stranger):
    with pytest.raises(Membership.DoesNotExist):
        member_remove(workspace=owner.workspace, membership_id=membership(stranger).pk)
    assert not ApiKey.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner():
    workspace = Workspace.objects.create(name="race")
    first, second = (Membership.objects.create(workspace=workspace, user=make_user(f"{n}@race.test"),
                                               role=Role.OWNER) for n in ("a", "b"))
    start, outcomes = threading.Barrier(2), []

    def demote(membership_id: int) -> None:
        try:
            start.wait()
            member_set_role(workspace=workspace, membership_id=membership_id, role=Role.VIEWER)
            outcomes.append("ok")
        except MemberError:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=demote, args=(m.pk,)) for m in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok", "refused"]
    assert Membership.objects.filter(workspace=workspace, role=Role.OWNER).count() == 1
