"""ASGI entry point: `uvicorn broker.asgi:application`.

The OpenAI-compatible gateway's routes (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`,
`/v1/models`) are served by a lean ASGI app of their own (nim_launcher/gateway/asgi.py), without Django's
request handling. Other `/v1/` paths get a Django handler with a short, fully async middleware chain: their
callers authenticate with API keys, so sessions, CSRF, messages and static files do nothing for them, while
sync-only middleware (whitenoise) would make Django hop to a worker thread and back on every request.
Everything else gets the full stack.
"""

import os

from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response
from django.utils.module_loading import import_string

from broker.startup import require_own_secrets

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "broker.settings")

GATEWAY_PREFIX = "/v1/"
GATEWAY_MIDDLEWARE = ("django.middleware.security.SecurityMiddleware", "broker.middleware.RequestGuardMiddleware")


class GatewayASGIHandler(ASGIHandler):
    """Django's ASGI handler with GATEWAY_MIDDLEWARE instead of settings.MIDDLEWARE."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware, self._template_response_middleware, self._exception_middleware = [], [], []
        handler = convert_exception_to_response(self._get_response_async)
        for path in reversed(GATEWAY_MIDDLEWARE):
            middleware = import_string(path)
            if not getattr(middleware, "async_capable", False):
                raise TypeError(f"gateway middleware {path} must be async-capable")
            handler = convert_exception_to_response(middleware(handler))
        self._middleware_chain = handler

    async def __call__(self, scope: dict, receive, send) -> None:
        # Unlike the stock handler, no per-request ThreadSensitiveContext: that costs two new threads
        # per request. The gateway's few sync calls (signal receivers, cached ORM lookups) share one
        # thread instead, which also lets them reuse one database connection.
        await self.handle(scope, receive, send)


def refuse_persistent_connections() -> None:
    """Under ASGI each request's sync code runs on a new thread; a persistent connection there is never
    reused nor closed, so the web process would pile up idle connections until PostgreSQL refuses more."""
    for alias, db in settings.DATABASES.items():
        if db.get("CONN_MAX_AGE"):
            raise ImproperlyConfigured(f"DATABASES[{alias!r}] CONN_MAX_AGE must be 0 under ASGI "
                                       f"(DB_CONN_MAX_AGE={db['CONN_MAX_AGE']}): persistent connections leak here")


django_application = get_asgi_application()  # sets Django up before the gateway handler loads
refuse_persistent_connections()
require_own_secrets()

from nim_launcher.gateway.asgi import GatewayApp  # noqa: E402 (needs the apps loaded above)

gateway_application = GatewayApp(fallback=GatewayASGIHandler())


async def application(scope: dict, receive, send) -> None:
    if scope["type"] == "http" and scope["path"].startswith(GATEWAY_PREFIX):
        await gateway_application(scope, receive, send)
    else:
        await django_application(scope, receive, send)
