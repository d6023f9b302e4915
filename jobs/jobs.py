"""Jobs of the engine itself."""

import os
import socket

from huey.contrib.djhuey import task


@task(name="jobs.ping")
def ping() -> dict:
    """Which worker answered: an operator's round-trip check of the queue (README, "Workers")."""
    return {"host": socket.gethostname(), "pid": os.getpid()}
