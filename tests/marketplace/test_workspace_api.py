"""The workspace endpoint: budget and the NGC key (encrypted, write-only, owner only)."""

from marketplace.models import Membership, Role, Workspace
from marketplace.secrets import decrypt_text
from tests.conftest import make_persona


def test_owner_sets_budget_and_ngc_key_which_is_never_returned(owner):
    response = owner.client.patch("/api/v1/workspace", {"monthly_budget": "250.00", "ngc_api_key": "nvapi-secret"},
                                  format="json")
    assert response.status_code == 200
    body = response.json()
    assert body == {"name": "acme-ml", "monthly_budget": 250.0, "month_spend": 0.0, "has_ngc_api_key": True}
    stored = Workspace.objects.get(pk=owner.workspace.pk).ngc_api_key_encrypted
    assert "nvapi-secret" not in stored and decrypt_text(stored) == "nvapi-secret"
    assert "nvapi-secret" not in owner.client.get("/api/v1/workspace").content.decode()


def test_budget_must_be_a_non_negative_amount(owner):
    response = owner.client.patch("/api/v1/workspace", {"monthly_budget": "-5"}, format="json")
    assert response.status_code == 400 and "monthly_budget" in response.json()["errors"]


def test_members_cannot_change_the_workspace(owner):
    member = make_persona(owner.workspace.name, "dev@acme.test")
    Membership.objects.filter(user=member.user).update(role=Role.MEMBER)
    assert member.client.patch("/api/v1/workspace", {"monthly_budget": "1"}, format="json").status_code == 403
    assert member.client.get("/api/v1/workspace").status_code == 200
