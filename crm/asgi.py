"""ASGI entry point: `crm.asgi:application` serves the API, the admin, the docs and the SSE stream."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

application = get_asgi_application()
