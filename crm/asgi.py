"""ASGI entry point: `crm.asgi:application` serves the API, the admin, the docs and the SSE stream."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

application = get_asgi_application()

from crm.warmup import warm_up_and_freeze  # noqa: E402 - after Django is set up

warm_up_and_freeze()


def _end_streams_before_uvicorn_shuts_down() -> None:
    """On SIGTERM uvicorn waits for open responses, cancels them after its graceful timeout, then re-raises the signal
    and the process dies: Django's response task is never cancelled, so a stream's `finally` (which releases its slot
    under the stream caps) never runs. Ending every stream first lets each one finish cleanly and at once."""
    try:
        from uvicorn.server import Server
    except ImportError:  # another ASGI server
        return
    if getattr(Server.shutdown, "ends_streams", False):
        return
    original = Server.shutdown

    async def shutdown(self, sockets=None):
        from events.stream import end_all_streams

        end_all_streams()
        await original(self, sockets)

    shutdown.ends_streams = True  # type: ignore[attr-defined]
    Server.shutdown = shutdown  # type: ignore[method-assign]  # deliberate; crm/tests/test_private_contracts.py


_end_streams_before_uvicorn_shuts_down()
