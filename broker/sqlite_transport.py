"""A kombu transport on one SQLite file: the server-less default queue of `make run` (`sqlite:///path`).

Every message is a row written in one transaction, so a reader never sees half a message. Delivery is
at-least-once: taking a message leases its row to the consuming channel, a background thread renews the
channel's leases, an ack deletes the row, and a row whose lease lapses (its worker was SIGKILLed) is delivered
again. kombu's own SQLAlchemy transport marks a delivered row invisible and forgets it, so a killed worker's
unacknowledged messages were lost there (and delivered rows were never deleted).

WAL mode lets readers run beside the one writer; the busy timeout makes the web, beat and worker processes
queue for the write lock instead of failing. Idle consumers poll every `polling_interval` seconds; an ack or a
publish in the same process wakes the poller at once, so a full prefetch window never waits out a sleep.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from queue import Empty

from kombu.transport import virtual
from kombu.utils.json import dumps, loads

SCHEMA = """
CREATE TABLE IF NOT EXISTS kombu_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL,
    published_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL NOT NULL DEFAULT 0,
    deliveries INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS kombu_messages_ready ON kombu_messages (queue, id);
"""


def connect(path: str, busy_timeout_s: float) -> sqlite3.Connection:
    """An autocommit connection in WAL mode (each statement is its own transaction)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process crash; power loss may drop the last commits
    conn.executescript(SCHEMA)
    return conn


class Channel(virtual.Channel):
    """One SQLite connection per channel, shared by the consuming thread and the pool threads that ack."""

    lease_s = 30.0
    busy_timeout_s = 30.0
    clock = staticmethod(time.time)  # tests move it
    from_transport_options = (*virtual.Channel.from_transport_options, "lease_s", "busy_timeout_s")

    def __init__(self, connection, **kwargs) -> None:
        super().__init__(connection, **kwargs)
        self._path = self._database_path()
        self._lock = threading.Lock()
        self._db = connect(self._path, self.busy_timeout_s)
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._rows: dict[str, int] = {}  # delivery tag -> row id, for the messages this channel holds
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _database_path(self) -> str:
        path = self.connection.client.virtual_host
        if not path or path == "/":
            raise ValueError("sqlite transport needs a database path: sqlite:///relative or sqlite:////absolute")
        return path

    def _execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _put(self, queue: str, message: dict, **kwargs) -> None:
        self._execute("INSERT INTO kombu_messages (queue, payload, published_at) VALUES (?, ?, ?)",
                      (queue, dumps(message), self.clock()))
        self._wake()

    def _wake(self) -> None:
        if self.connection is not None:  # None once the channel is closed
            self.connection.wake()

    def _get(self, queue: str, timeout: float | None = None) -> dict:
        for _ in range(5):  # another consumer may lease the row between the read and the update
            now = self.clock()
            found = self._execute("SELECT id FROM kombu_messages WHERE queue = ? AND lease_until <= ? "
                                  "ORDER BY id LIMIT 1", (queue, now))
            if not found:
                raise Empty()
            taken = self._execute(
                "UPDATE kombu_messages SET lease_owner = ?, lease_until = ?, deliveries = deliveries + 1 "
                "WHERE id = ? AND lease_until <= ? RETURNING payload",
                (self._owner, now + self.lease_s, found[0][0], now))
            if taken:
                message = loads(taken[0][0])
                self._rows[message["properties"]["delivery_tag"]] = found[0][0]
                self._start_renewing()
                return message
        raise Empty()

    def _start_renewing(self) -> None:
        if self._renewer is None:
            self._renewer = threading.Thread(target=self._renew, name="sqlite-lease-renewer", daemon=True)
            self._renewer.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                self.renew_leases()
            except sqlite3.Error:
                continue  # a busy database: the next round renews, leases still have two thirds left

    def renew_leases(self) -> None:
        """Extend the lease of every message this channel holds."""
        self._execute("UPDATE kombu_messages SET lease_until = ? WHERE lease_owner = ?",
                      (self.clock() + self.lease_s, self._owner))

    def _forget(self, delivery_tag: str) -> int | None:
        return self._rows.pop(delivery_tag, None)

    def basic_ack(self, delivery_tag: str, multiple: bool = False) -> None:
        row = self._forget(delivery_tag)
        if row is not None:
            self._execute("DELETE FROM kombu_messages WHERE id = ?", (row,))
        super().basic_ack(delivery_tag)
        self._wake()

    def basic_reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if not requeue:
            row = self._forget(delivery_tag)
            if row is not None:
                self._execute("DELETE FROM kombu_messages WHERE id = ?", (row,))
        super().basic_reject(delivery_tag, requeue=requeue)
        self._wake()

    def _restore(self, message) -> None:
        """Give a held message back (shutdown, reject with requeue): release its lease, never copy it."""
        row = self._forget(message.delivery_tag)
        if row is not None:
            self._execute("UPDATE kombu_messages SET lease_owner = NULL, lease_until = 0 WHERE id = ?", (row,))

    def _purge(self, queue: str) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM kombu_messages WHERE queue = ? AND lease_until <= ?",
                                    (queue, self.clock())).rowcount

    def _size(self, queue: str) -> int:
        return self._execute("SELECT COUNT(*) FROM kombu_messages WHERE queue = ?", (queue,))[0][0]

    def _delete(self, queue: str, *args, **kwargs) -> None:
        self._execute("DELETE FROM kombu_messages WHERE queue = ?", (queue,))

    def _has_queue(self, queue: str, **kwargs) -> bool:
        return True  # queues exist implicitly, as rows name them

    def _new_queue(self, queue: str, **kwargs) -> None:
        pass

    def close(self) -> None:
        if self.closed:
            return
        super().close()  # restores what this channel still holds
        self._stop.set()
        with self._lock:
            self._db.close()


class Transport(virtual.Transport):
    """Direct and topic exchanges (no fanout: remote control and broadcast need Redis)."""

    Channel = Channel
    polling_interval = 0.05
    default_port = 0
    driver_type = "sqlite"
    driver_name = "sqlite3"
    global_state = virtual.BrokerState()  # exchange bindings are per process, as in kombu's filesystem transport
    # a database locked past the busy timeout is retried by kombu (publish) or Celery (reconnect), never fatal
    connection_errors = (*virtual.Transport.connection_errors, sqlite3.OperationalError)
    implements = virtual.Transport.implements.extend(asynchronous=False, exchange_type=frozenset(["direct", "topic"]))

    def __init__(self, client, **kwargs) -> None:
        super().__init__(client, **kwargs)
        self.state = self.global_state
        self._wakeup = threading.Event()

    def wake(self) -> None:
        self._wakeup.set()

    def drain_events(self, connection, timeout: float | None = None) -> None:
        """kombu's polling loop, except that an ack or a local publish ends the wait between polls."""
        started = time.monotonic()
        interval = min(self.polling_interval, timeout) if timeout else self.polling_interval
        while True:
            self._wakeup.clear()
            try:
                self.cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                if timeout is not None and time.monotonic() - started >= timeout:
                    raise TimeoutError() from None  # socket.timeout, which Celery expects
                self._wakeup.wait(interval)

    @property
    def default_connection_params(self) -> dict:
        return {"port": 0, "hostname": ""}  # a file has no host: no "reverting to localhost" warning

    def driver_version(self) -> str:
        return sqlite3.sqlite_version
