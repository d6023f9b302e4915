"""A per-process cache of the user + tenant row an access token names (issue 18: the fixed cost of a request).

Every API request reads that row, and on a loaded 2-CPU box the round trip is as dear as a list's page statement
(BENCHMARKS §11). The cache keeps rows only while this process LISTENs on `crm_auth_rows`, on which triggers
(crm migration 0006) notify every change to the users and tenants tables, whoever makes it: the ORM's save, a
queryset `.update()`, raw SQL, a TRUNCATE. Before each lookup the cache takes in what has arrived on that
connection (a non-blocking read of its socket, no round trip) and forgets every row on any notification. So a
revocation holds as soon as PostgreSQL delivers its notification, which it signals before the revoking COMMIT
returns.

The row is read from the database instead when:
- AUTH_ROW_CACHE is off (behind a transaction-mode pooler, which does not keep a session's LISTEN);
- the database is not PostgreSQL (SQLite in `make run` has no notifications);
- the caller is inside a transaction: it must see its own uncommitted writes, which nothing has announced yet;
- the listening connection cannot be opened or has failed: rows are forgotten, notifications may have been lost;
- the row is older than MAX_AGE seconds, which bounds what a connection that died silently could leave stale.
"""

import os
import select
import threading
import time
from collections.abc import Callable, Hashable

import psycopg
from django.conf import settings
from django.db import connection

CHANNEL = "crm_auth_rows"
MAX_AGE = 5.0
MAX_ROWS = 10_000
LISTENER_NAME_SUFFIX = " auth-rows"

Row = tuple


class _Listener:
    """The LISTEN connection and what it guards. One per process; connected on first use, in the serving process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the socket and the connect are not shared safely between threads
        self._connection: psycopg.Connection | None = None
        self._readable = select.poll()
        self.rows: dict[Hashable, tuple[float, Row]] = {}
        # Bumped whenever rows are forgotten: a row read before then must not be stored after.
        self.generation = 0

    def trusted(self) -> bool:
        """Take in what has been notified; False when the rows cannot be trusted (no listening connection)."""
        with self._lock:
            if self._connection is None:
                self._connection = self._connect()
                if self._connection is None:
                    return False
                self._readable = select.poll()  # not select(): a server's descriptors may pass 1024
                self._readable.register(self._connection.pgconn.socket, select.POLLIN)
                self._forget()  # anything cached before this LISTEN may have changed unannounced
            pgconn = self._connection.pgconn
            try:
                # Until nothing is left: a closed connection shows as a last read after its FATAL message.
                while self._readable.poll(0):
                    pgconn.consume_input()
                notified = False
                while pgconn.notifies() is not None:
                    notified = True
            except psycopg.Error:
                self._drop()
                return False
            if pgconn.status != psycopg.pq.ConnStatus.OK:
                self._drop()
                return False
            if notified:
                self._forget()
            return True

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _connect(self) -> psycopg.Connection | None:
        params = connection.get_connection_params()
        # Told apart from the pool's sessions in pg_stat_activity: one per process, however many requests or streams.
        name = params.get("application_name") or os.environ.get("PGAPPNAME") or "crm"
        params["application_name"] = f"{name}{LISTENER_NAME_SUFFIX}"
        try:
            listening = psycopg.connect(**params, autocommit=True)
            listening.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error:
            return None
        return listening

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._forget()

    def _forget(self) -> None:
        self.generation += 1
        self.rows.clear()


_listener = _Listener()


def cached_row(key: Hashable, read: Callable[[], Row | None]) -> Row | None:
    """The row `read()` returns for `key`, from this process's cache when it can be trusted. Misses are not kept."""
    if (
        not settings.AUTH_ROW_CACHE
        or connection.vendor != "postgresql"
        or connection.in_atomic_block
        or not _listener.trusted()
    ):
        return read()
    generation = _listener.generation
    now = time.monotonic()
    entry = _listener.rows.get(key)
    if entry is not None and now - entry[0] < MAX_AGE:
        return entry[1]
    row = read()
    # Another thread may have forgotten everything while this one read: its row may predate that change.
    if row is not None and _listener.generation == generation:
        if len(_listener.rows) >= MAX_ROWS:
            _listener.rows.clear()
        _listener.rows[key] = (now, row)
    return row


def close_listener() -> None:
    """Close this process's LISTEN connection (a test run's, before its database is dropped)."""
    _listener.close()
