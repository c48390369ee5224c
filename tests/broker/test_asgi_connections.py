"""The web process under ASGI holds no more database connections than it has requests in flight."""

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from tests.nim_launcher.conftest import serve

CLIENTS = 30
REQUESTS_PER_CLIENT = 4


def _backends(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid()").fetchone()[0]


def _dsn() -> str:
    db = connection.settings_dict
    return f"host={db['HOST']} port={db['PORT'] or 5432} user={db['USER']} dbname={db['NAME']}"


class PeakSampler(threading.Thread):
    """Counts the server's backends until stopped; keeps the highest count seen."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn, self.peak, self.done = dsn, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, _backends(self.dsn))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_thirty_concurrent_clients_hold_bounded_connections_and_get_no_500(owner):
    from broker.asgi import application

    connection.close()  # this test's own connection is not the server's
    dsn = _dsn()
    headers = {"Authorization": f"Bearer {owner.token}"}
    with serve(application) as url:
        sampler = PeakSampler(dsn)
        sampler.start()

        def client(_: int) -> list[int]:
            with requests.Session() as http:
                return [http.get(f"{url}/api/v1/rentals", headers=headers, timeout=30).status_code
                        for _ in range(REQUESTS_PER_CLIENT)]

        with ThreadPoolExecutor(CLIENTS) as pool:
            codes = [code for codes in pool.map(client, range(CLIENTS)) for code in codes]
        sampler.done.set()
        sampler.join()
        left_open = _backends(dsn)
    assert codes == [200] * CLIENTS * REQUESTS_PER_CLIENT
    assert sampler.peak <= CLIENTS + 1  # at most one per request in flight (+ the gateway's shared thread)
    assert left_open <= 1


def test_asgi_refuses_persistent_connections(monkeypatch):
    from broker import asgi

    monkeypatch.setitem(settings.DATABASES["default"], "CONN_MAX_AGE", 60)
    with pytest.raises(ImproperlyConfigured, match="CONN_MAX_AGE must be 0 under ASGI"):
        asgi.refuse_persistent_connections()
