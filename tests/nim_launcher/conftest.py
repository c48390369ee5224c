"""Live servers for the gateway and runtime tests: uvicorn in a background thread on a free port."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
import uvicorn
from asgiref.sync import SyncToAsync
from django.db import connections

from nim_launcher.gateway import auth, routing, stats
from nim_launcher.models import Deployment, DeploymentState, Replica, ReplicaState
from nim_launcher.profiles import TINY_CHAT_MODEL, TINY_EMBED_MODEL
from nim_launcher.runtime import RuntimeApp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(app, *, port: int | None = None) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1 in a daemon thread; yield its base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def runtime_url() -> Iterator[str]:
    with serve(RuntimeApp([TINY_CHAT_MODEL, TINY_EMBED_MODEL])) as url:
        yield url


@pytest.fixture(scope="session")
def slow_runtime_url() -> Iterator[str]:
    """A replica that streams one token every 50 ms."""
    with serve(RuntimeApp([TINY_CHAT_MODEL], token_delay=0.05)) as url:
        yield url


@pytest.fixture(scope="session")
def broker_url(django_db_setup) -> Iterator[str]:
    """The broker's ASGI app; set up after (so torn down before) the test database."""
    from broker.asgi import application

    with serve(application) as url:
        yield url
    # The gateway's ORM calls run on asgiref's shared sync thread and keep its connection open
    # (CONN_MAX_AGE); close it there so the test database can be dropped.
    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)


@pytest.fixture(autouse=True)
def _fresh_gateway_state():
    auth.clear_cache()
    routing.clear_cache()
    routing.balancer.__init__()
    stats.reset()
    yield
    auth.clear_cache()
    routing.clear_cache()


def make_deployment(workspace, name: str, *, model: str = TINY_CHAT_MODEL,
                    state: str = DeploymentState.READY) -> Deployment:
    return Deployment.objects.create(workspace=workspace, name=name, model=model, state=state)


def add_replica(deployment: Deployment, endpoint: str, *, state: str = ReplicaState.READY) -> Replica:
    """A replica row and the rental it runs on (created directly: no partner is involved)."""
    from marketplace.models import Rental, RentalState

    rental = Rental.objects.create(workspace=deployment.workspace, request={"gpu": None, "nodes": 1},
                                   request_hash="test", state=RentalState.RUNNING, max_hours=Decimal("1"))
    return Replica.objects.create(deployment=deployment, rental=rental, state=state, endpoint=endpoint)
