"""ASGI entry point (`uvicorn broker.asgi:application`): the gateway streams without a worker per request."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "broker.settings")
application = get_asgi_application()
