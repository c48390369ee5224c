"""Concurrent pod creates with one Idempotency-Key make one pod, answered 200 to every retry, never 409."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from pods.models import Pod
from tests.conftest import Persona
from tests.pods.conftest import pod_body

CLIENTS = 6


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_with_one_key_make_one_pod(owner, key_pair, live_partners):
    barrier = threading.Barrier(CLIENTS)
    body = pod_body(key_pair[0])

    def create(_n: int) -> int:
        client = Persona(owner.workspace, owner.user, owner.token).client
        try:
            barrier.wait()
            return client.post("/api/v1/pods", body, format="json", HTTP_IDEMPOTENCY_KEY="pod-7").status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(CLIENTS) as pool:
        codes = sorted(pool.map(create, range(CLIENTS)))

    assert codes == [200] * (CLIENTS - 1) + [202]
    assert Pod.objects.count() == 1
