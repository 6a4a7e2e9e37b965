"""MySQL access: writes to the writer endpoint, cache misses to the reader (replica) endpoint.

A read on the reader endpoint is *fresh*: before it runs, the replica must have applied everything the
writer had committed when the read began (``replication.py``). Otherwise it runs on the writer. So a write
that returned is visible to every read that starts after it, whatever the replica lag.

One connection per endpoint and thread, opened lazily and kept across invocations (Lambda runs one
request at a time per container, so that is one or two connections per container). A lost connection is
reopened on the next use. Any connection-level failure surfaces as :class:`DatabaseUnavailable`.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import pymysql
import pymysql.cursors
from pymysql.constants import CLIENT

from cachelib import replication
from cachelib.errors import ConfigurationError, DatabaseUnavailable
from cachelib.secret_store import get_secret, parse_credentials

if TYPE_CHECKING:
    from cachelib.settings import Settings

_ACCESS_DENIED = 1045


class ReadEndpoint(StrEnum):
    """Where a loader must read. ``WRITER`` right after a write (read-your-writes despite replica lag)."""

    READER = "reader"
    WRITER = "writer"


def _is_connection_error(exc: BaseException) -> bool:
    # OperationalError covers 2003 can't connect, 2006 gone away, 2013 lost connection, timeouts;
    # InterfaceError is raised on a closed connection. SQL errors (ProgrammingError...) are bugs: re-raised.
    return isinstance(exc, (pymysql.err.OperationalError, pymysql.err.InterfaceError, OSError))


class Database:
    """Lazily connected writer/reader pair. Create one at module scope: ``DB = Database(SETTINGS)``."""

    idle_check_seconds = 30.0
    """A connection idle longer than this is pinged before use: the server, a proxy or a failover may have
    dropped it while the container was frozen, and a dead socket must cost a reconnect, not a 503."""

    replica_behind_backoff_seconds = 1.0
    """After the replica failed to catch up within ``DB_REPLICA_WAIT_MS``, reads go straight to the writer
    for this long instead of waiting again on every miss."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._local = threading.local()
        self._reader_is_replica = (settings.db_reader_host, self._port(ReadEndpoint.READER)) != (
            settings.db_writer_host,
            settings.db_port,
        )
        self._replica_behind_until = 0.0
        self.replica_fallbacks = 0
        """Reads sent to the writer because the replica had not caught up (or its freshness was unknown)."""

    # --- replica freshness --------------------------------------------------------------------------

    def fresh_read_endpoint(self) -> ReadEndpoint:
        """``READER`` when the replica has applied every transaction the writer has committed now (waiting
        up to ``DB_REPLICA_WAIT_MS``), else ``WRITER``.

        With the writer unreachable the replica is the only answer: it is used, and the read is marked
        unverified so the cache answers it without storing it.
        """
        if not self._reader_is_replica:
            return ReadEndpoint.READER
        if time.monotonic() < self._replica_behind_until:
            self.replica_fallbacks += 1
            return ReadEndpoint.WRITER
        try:
            writer = self.connection(ReadEndpoint.WRITER)
            dialect = replication.dialect_for(writer.get_server_info())
            with writer.cursor() as cur:
                cur.execute(dialect.writer_position_sql)
                (position,) = cur.fetchone()
        except Exception as exc:
            if not (isinstance(exc, DatabaseUnavailable) or _is_connection_error(exc)):
                raise
            self._discard(ReadEndpoint.WRITER)
            replication.mark_unverified()
            return ReadEndpoint.READER
        if not position:  # no GTIDs on this server: freshness cannot be proven
            self.replica_fallbacks += 1
            return ReadEndpoint.WRITER
        wait_seconds = self.settings.db_replica_wait_ms / 1000
        try:
            reader = self.connection(ReadEndpoint.READER)
            with reader.cursor() as cur:
                cur.execute(dialect.wait_sql, (position, dialect.wait_timeout(wait_seconds)))
                (code,) = cur.fetchone()
        except Exception as exc:
            if not (isinstance(exc, DatabaseUnavailable) or _is_connection_error(exc)):
                raise
            self._discard(ReadEndpoint.READER)
            self.replica_fallbacks += 1
            return ReadEndpoint.WRITER
        if dialect.caught_up(code):
            return ReadEndpoint.READER
        self._replica_behind_until = time.monotonic() + self.replica_behind_backoff_seconds
        self.replica_fallbacks += 1
        return ReadEndpoint.WRITER

    def _credentials(self, force_fetch: bool = False) -> tuple[str, str]:
        s = self.settings
        if s.db_secret_arn:
            try:
                secret = get_secret(s.db_secret_arn, force_fetch=force_fetch)
            except Exception as exc:
                raise DatabaseUnavailable(f"cannot read the database secret: {exc}") from exc
            username, password = parse_credentials(secret)
            if not username:
                raise ConfigurationError("DB_SECRET_ARN: the secret has no 'username'")
            return username, password
        if s.db_user is None:
            raise ConfigurationError("DB_SECRET_ARN: not set (or DB_USER/DB_PASSWORD for local runs)")
        return s.db_user, s.db_password or ""

    def _ssl(self) -> ssl.SSLContext | None:
        if not self.settings.db_tls:
            return None
        context = ssl.create_default_context(cafile=self.settings.db_tls_ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def _port(self, endpoint: ReadEndpoint) -> int:
        s = self.settings
        return (s.db_reader_port or s.db_port) if endpoint is ReadEndpoint.READER else s.db_port

    def _open(self, endpoint: ReadEndpoint) -> pymysql.connections.Connection:
        s = self.settings
        host = s.db_writer_host if endpoint is ReadEndpoint.WRITER else s.db_reader_host
        for attempt in (0, 1):
            user, password = self._credentials(force_fetch=attempt == 1)
            try:
                return pymysql.connect(
                    host=host,
                    port=self._port(endpoint),
                    user=user,
                    password=password,
                    database=s.db_name or None,
                    charset="utf8mb4",
                    connect_timeout=s.db_connect_timeout_seconds,
                    read_timeout=s.db_read_timeout_seconds,
                    write_timeout=s.db_read_timeout_seconds,
                    autocommit=True,
                    ssl=self._ssl(),
                    client_flag=CLIENT.FOUND_ROWS,
                    cursorclass=pymysql.cursors.Cursor,
                )
            except pymysql.err.OperationalError as exc:
                # A rotated password: refetch the secret once, bypassing the cache.
                if exc.args and exc.args[0] == _ACCESS_DENIED and attempt == 0 and s.db_secret_arn:
                    continue
                raise DatabaseUnavailable(f"cannot connect to the {endpoint.value} endpoint: {exc}") from exc
            except OSError as exc:
                raise DatabaseUnavailable(f"cannot connect to the {endpoint.value} endpoint: {exc}") from exc
        raise DatabaseUnavailable(f"cannot connect to the {endpoint.value} endpoint")  # pragma: no cover

    def connection(self, endpoint: ReadEndpoint = ReadEndpoint.READER) -> pymysql.connections.Connection:
        """The thread's open connection to ``endpoint`` (opened on first use)."""
        conns: dict[ReadEndpoint, Any] = self._local.__dict__.setdefault("conns", {})
        last_used: dict[ReadEndpoint, float] = self._local.__dict__.setdefault("last_used", {})
        now = time.monotonic()
        conn = conns.get(endpoint)
        if conn is not None and conn.open and now - last_used.get(endpoint, now) >= self.idle_check_seconds:
            try:
                conn.ping(reconnect=False)
            except Exception:  # dropped while idle: replace it below
                self._discard(endpoint)
                conn = None
        if conn is None or not conn.open:
            conn = conns[endpoint] = self._open(endpoint)
        last_used[endpoint] = now
        return conn

    def _discard(self, endpoint: ReadEndpoint) -> None:
        conn = self._local.__dict__.get("conns", {}).pop(endpoint, None)
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken; closing is best effort
                conn.close()

    @contextmanager
    def cursor(self, endpoint: ReadEndpoint = ReadEndpoint.READER) -> Iterator[pymysql.cursors.Cursor]:
        """A cursor for reads on ``endpoint``; connection failures become :class:`DatabaseUnavailable`.

        ``READER`` means "a fresh read": it runs on the replica only once the replica has caught up with
        the writer (:meth:`fresh_read_endpoint`), else on the writer."""
        if endpoint is ReadEndpoint.READER:
            endpoint = self.fresh_read_endpoint()
        try:
            conn = self.connection(endpoint)
            with conn.cursor() as cur:
                yield cur
        except DatabaseUnavailable:
            self._discard(endpoint)
            raise
        except Exception as exc:
            if _is_connection_error(exc):
                self._discard(endpoint)
                raise DatabaseUnavailable(f"{endpoint.value} endpoint failed: {exc}") from exc
            raise

    @contextmanager
    def transaction(self) -> Iterator[pymysql.cursors.Cursor]:
        """A cursor in a transaction on the writer: committed on normal exit, rolled back on error."""
        try:
            conn = self.connection(ReadEndpoint.WRITER)
            conn.begin()
        except DatabaseUnavailable:
            self._discard(ReadEndpoint.WRITER)
            raise
        except Exception as exc:
            self._discard(ReadEndpoint.WRITER)
            raise DatabaseUnavailable(f"writer endpoint failed: {exc}") from exc
        try:
            with conn.cursor() as cur:
                yield cur
            conn.commit()
        except Exception as exc:
            try:
                conn.rollback()
            except Exception:  # the connection is gone; the server rolls back
                self._discard(ReadEndpoint.WRITER)
            if _is_connection_error(exc):
                self._discard(ReadEndpoint.WRITER)
                raise DatabaseUnavailable(f"writer endpoint failed: {exc}") from exc
            raise

    def close(self) -> None:
        """Close this thread's connections (tests; Lambda keeps them for the container's life)."""
        for endpoint in list(self._local.__dict__.get("conns", {})):
            self._discard(endpoint)
