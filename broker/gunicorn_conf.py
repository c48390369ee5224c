"""gunicorn settings for the web process (dashboard and REST API): sync Django on gthread workers.

Measured with benchmarks/web_api.py: for these sync views a gthread worker spends about half the CPU per
request that uvicorn does (no thread hop per request); the async gateway runs on uvicorn (Procfile `gateway`).

A gthread worker's threads live as long as the worker, so each can keep one database connection open
across requests: the Procfile's `web` line sets DB_CONN_MAX_AGE=300 (connecting to PostgreSQL per request
cost about 1 ms of CPU and 3 ms of wall time). At most workers × threads connections stay open. (It cannot be
set here: importing this module imports the `broker` package, which has read the settings already.)
"""

import os
import threading

wsgi_app = "broker.wsgi:application"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
keepalive = 75  # seconds an idle keep-alive connection stays open (longer than a proxy's idle timeout)
accesslog = None
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def post_worker_init(worker) -> None:
    """Each worker builds its offer index in the background as it starts (seconds at 1M offers), instead of
    the first offers or match request it happens to receive."""
    from marketplace.selectors.offer_index import warm_offer_index

    threading.Thread(target=warm_offer_index, name="offer-index-warm", daemon=True).start()
