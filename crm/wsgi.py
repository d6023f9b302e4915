"""WSGI entry point: gunicorn's sync workers serve the request/response API (README, "Architecture").

The event stream is not served here: a stream held by a sync worker pins it for hours (and WSGI cannot send an async
body at all), so its route answers 404 with the envelope naming the ASGI server that does serve it.
"""

import json
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

django_application = get_wsgi_application()

from django.urls import Resolver404, resolve  # noqa: E402 - after Django is set up

from crm.api.exceptions import envelope  # noqa: E402
from crm.warmup import warm_up_and_freeze  # noqa: E402
from events.api.views import EventStreamView  # noqa: E402

STREAM_REFUSED = json.dumps(
    envelope(
        "not_found",
        "The event stream is served by the ASGI server (python -m crm.serve), not by this WSGI application.",
    )
).encode()


def _is_stream(path: str) -> bool:
    # Resolving walks the URL patterns (a twentieth of a list request's CPU); only a path ending in /stream can be it.
    if not path.rstrip("/").endswith("/stream"):
        return False
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return getattr(match.func, "view_class", None) is EventStreamView


def application(environ, start_response):
    if _is_stream(environ.get("PATH_INFO") or "/"):
        start_response(
            "404 Not Found",
            [("Content-Type", "application/json"), ("Content-Length", str(len(STREAM_REFUSED)))],
        )
        return [STREAM_REFUSED]
    return django_application(environ, start_response)


warm_up_and_freeze()
