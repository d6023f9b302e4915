"""Start the ASGI server: `python -m crm.serve --workers N` (uvicorn, with two traps of PERF-NOTES fixed).

1. `uvicorn --workers N` binds its listening socket with protocol 0, so asyncio never sets TCP_NODELAY on the
   accepted connections and every keep-alive response waits ~40 ms for a delayed ACK (Kludex/uvicorn#3149).
   We bind the listener with IPPROTO_TCP instead.
2. Plain uvicorn never exits on SIGTERM while an SSE stream is open; a graceful-shutdown timeout ends streams.
3. The supervisor restarts a worker that misses its 5 s health check, dropping every stream it holds; a worker busy
   fanning out a burst of events is not dead, so it gets 30 s (bench/sse_results.md, note 2).
"""

import argparse
import logging
import os
import socket

import uvicorn
from uvicorn.config import Config

logger = logging.getLogger("crm.serve")


def _bind_tcp_socket(self: Config) -> socket.socket:
    family = socket.AF_INET6 if self.host and ":" in self.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((self.host.strip("[]"), self.port))
    sock.set_inheritable(True)
    logger.info("Listening on http://%s:%d (%d workers)", self.host, sock.getsockname()[1], self.workers)
    return sock


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    parser.add_argument("--graceful-timeout", type=int, default=3)
    parser.add_argument("--worker-healthcheck-timeout", type=int, default=30)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    Config.bind_socket = _bind_tcp_socket  # type: ignore[method-assign]  # deliberate; crm/tests/test_private_contracts.py
    uvicorn.run(
        "crm.asgi:application",
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=args.graceful_timeout,
        timeout_worker_healthcheck=args.worker_healthcheck_timeout,
    )


if __name__ == "__main__":
    main()
