"""Concurrent deployment creates: one name is one live deployment (409 for the others), one Idempotency-Key is
one deployment, and a key reused with another body is 422, as for rentals."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from nim_launcher.models import Deployment
from tests.conftest import Persona

BODY = {"name": "chat", "model": "gpu-broker/tiny-cpu-chat", "max_hours": 2}
CLIENTS = 6


def _storm(persona: Persona, bodies: list[dict], **headers) -> list[int]:
    """POST every body at once (a barrier lines the threads up), each thread on its own connection."""
    barrier = threading.Barrier(len(bodies))

    def create(body: dict) -> int:
        client = Persona(persona.workspace, persona.user, persona.token).client
        try:
            barrier.wait()
            return client.post("/api/v1/deployments", body, format="json", **headers).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(len(bodies)) as pool:
        return sorted(pool.map(create, bodies))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_of_one_name_make_one_deployment_and_409s(owner, live_partners):
    codes = _storm(owner, [BODY] * CLIENTS)
    assert codes == [202] + [409] * (CLIENTS - 1)
    assert Deployment.objects.filter(name="chat").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_with_one_key_make_one_deployment(owner, live_partners):
    codes = _storm(owner, [BODY] * CLIENTS, HTTP_IDEMPOTENCY_KEY="deploy-42")
    assert codes == [200] * (CLIENTS - 1) + [202]
    assert Deployment.objects.count() == 1


def test_a_key_reused_with_another_body_is_422(owner, live_partners):
    first = owner.client.post("/api/v1/deployments", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = owner.client.post("/api/v1/deployments", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    other = owner.client.post("/api/v1/deployments", {**BODY, "max_hours": 3}, format="json",
                              HTTP_IDEMPOTENCY_KEY="k1")
    assert (first.status_code, again.status_code, other.status_code) == (202, 200, 422)
    assert again.json()["id"] == first.json()["id"] and Deployment.objects.count() == 1
