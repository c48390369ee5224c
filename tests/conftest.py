"""Shared fixtures: named personas (owner, teammate, stranger) with API clients."""

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from marketplace.models import Membership, Role
from marketplace.services.api_keys import api_key_create, workspace_ensure


class Persona:
    def __init__(self, workspace, user, token):
        self.workspace, self.user, self.token = workspace, user, token
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")


def make_persona(workspace_name: str, email: str, *, role: str = Role.OWNER, staff: bool = False) -> Persona:
    workspace, user = workspace_ensure(name=workspace_name, owner_email=email, staff=staff)
    Membership.objects.filter(user=user, workspace=workspace).update(role=role)
    _, token = api_key_create(workspace=workspace, user=user)
    return Persona(workspace, user, token)


@pytest.fixture
def owner(db) -> Persona:
    return make_persona("acme-ml", "owner@acme.test")


@pytest.fixture
def stranger(db) -> Persona:
    return make_persona("other-co", "someone@other.test")


@pytest.fixture
def staff(db) -> Persona:
    return make_persona("broker-ops", "ops@broker.test", staff=True)


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


SHARED_CATALOG = Path(__file__).resolve().parents[2] / "shared" / "catalog" / "skypilot"


@pytest.fixture(scope="session")
def parsed_catalog():
    """The shared catalogue when it is beside the checkout, else the bundled snapshot of it."""
    from marketplace.catalog.skypilot import parse_catalog
    from marketplace.catalog.snapshot import load_snapshot

    return parse_catalog(SHARED_CATALOG) if SHARED_CATALOG.is_dir() else load_snapshot()


@pytest.fixture
def real_catalog(db, parsed_catalog):
    """The real catalogue imported into the test database."""
    from marketplace.catalog.importer import import_parsed

    return import_parsed(parsed_catalog)
