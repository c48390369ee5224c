"""Budget setting: owners only, a non-negative amount or empty for unlimited."""

from decimal import Decimal

import pytest
from django.test import Client

from marketplace.models import Workspace


def budget_of(persona) -> Decimal | None:
    return Workspace.objects.get(pk=persona.workspace.pk).monthly_budget


def test_owner_sets_and_clears_the_budget(owner):
    response = owner.client.post("/settings/budget/", {"monthly_budget": "1500.50"}, follow=True)
    assert budget_of(owner) == Decimal("1500.50") and b"$1,500.50" in response.content
    owner.client.post("/settings/budget/", {"monthly_budget": ""})
    assert budget_of(owner) is None
    assert b"Currently unlimited" in owner.client.get("/settings/budget/").content


def test_zero_is_a_valid_budget(owner):
    owner.client.post("/settings/budget/", {"monthly_budget": "0"})
    assert budget_of(owner) == Decimal("0")


@pytest.mark.parametrize("value,message", [
    ("-1", "greater than or equal to 0"),
    ("lots", "Enter a number"),
    ("1.234", "no more than 2 decimal places"),
    ("1e20", "no more than 12 digits"),
])
def test_bad_budgets_are_rejected_next_to_the_field(owner, value, message):
    owner.workspace.monthly_budget = Decimal("100")
    owner.workspace.save()
    response = owner.client.post("/settings/budget/", {"monthly_budget": value})
    assert response.status_code == 400 and message in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()
    assert budget_of(owner) == Decimal("100")


@pytest.mark.parametrize("persona_name", ["teammate", "viewer"])
def test_only_owners_change_the_budget(request, owner, persona_name):
    persona = request.getfixturevalue(persona_name)
    assert persona.client.post("/settings/budget/", {"monthly_budget": "1"}).status_code == 403
    assert budget_of(owner) is None


def test_stranger_changes_only_their_own_workspace(owner, stranger):
    stranger.client.post("/settings/budget/", {"monthly_budget": "5"})
    assert budget_of(owner) is None and budget_of(stranger) == Decimal("5")


def test_budget_form_requires_csrf(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner.user)
    assert client.post("/settings/budget/", {"monthly_budget": "1"}).status_code == 403
    assert budget_of(owner) is None
