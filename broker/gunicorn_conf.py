"""gunicorn settings for the web process (dashboard and REST API): sync Django on gthread workers.

Measured with benchmarks/web_api.py: for these sync views a gthread worker spends about half the CPU per
request that uvicorn does (no thread hop per request); the async gateway runs on uvicorn (Procfile `gateway`).
"""

import os

wsgi_app = "broker.wsgi:application"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
keepalive = 75  # seconds an idle keep-alive connection stays open (longer than a proxy's idle timeout)
accesslog = None
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
