"""WSGI entry point, for WSGI-only tooling; production serves `crm.asgi:application` (SSE needs ASGI)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

application = get_wsgi_application()
