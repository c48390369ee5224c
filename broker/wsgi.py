import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "broker.settings")
application = get_wsgi_application()

from broker.startup import require_own_secrets  # noqa: E402 (needs the settings module set above)

require_own_secrets()
