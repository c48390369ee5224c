"""An idempotent task whose effects are counted in a SQLite file (`QUEUE_TEST_EFFECTS`), for queue tests.

Each run is logged in `runs`; the effect (one row per key in `effects`) is applied at most once however many
times the message is delivered, as the broker's real tasks are idempotent.
"""

import os
import sqlite3
import threading
import time

from celery import shared_task

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (key TEXT NOT NULL, pid INTEGER NOT NULL, queue_wait_s REAL NOT NULL);
CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY);
"""


_local = threading.local()


def _effects_db() -> sqlite3.Connection:
    """One connection per pool thread, kept for the thread's life."""
    if not hasattr(_local, "conn"):
        _local.conn = sqlite3.connect(os.environ["QUEUE_TEST_EFFECTS"], timeout=30, isolation_level=None)
        _local.conn.execute("PRAGMA journal_mode=WAL")
        _local.conn.executescript(SCHEMA)
    return _local.conn


@shared_task(name="tests.record_effect", ignore_result=True, acks_late=True)
def record_effect(key: str, published_at: float, work_s: float = 0.0) -> None:
    """Apply the effect for `key` once: a second delivery finds it applied and changes nothing."""
    queue_wait = time.time() - published_at
    time.sleep(work_s)
    conn = _effects_db()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO runs VALUES (?, ?, ?)", (key, os.getpid(), queue_wait))
    conn.execute("INSERT INTO effects VALUES (?) ON CONFLICT (key) DO NOTHING", (key,))
    conn.execute("COMMIT")
