"""MySQL access: writes to the writer endpoint, cache misses to the reader (replica) endpoint.

A read on the reader endpoint is *fresh*: before it runs, the replica must have applied everything the
writer had committed when the read began (``replication.py``). Otherwise it runs on the writer. So a write
that returned is visible to every read that starts after it, whatever the replica lag.

With several replicas (``DB_READER_HOSTS``) reads are spread over them round-robin; a replica that cannot
be reached is skipped for ``replica_down_seconds`` and, when none is left, reads go to the writer.

One connection per server and thread, opened lazily and kept across invocations (Lambda runs one request
at a time per container: the writer plus one per replica it has read from). A lost connection is reopened
on the next use. Any connection-level failure surfaces as :class:`DatabaseUnavailable`.
"""

from __future__ import annotations

import contextlib
import itertools
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

import pymysql
import pymysql.cursors
from pymysql.constants import CLIENT

from cachelib import replication
from cachelib.errors import ConfigurationError, DatabaseUnavailable
from cachelib.secret_store import get_secret, parse_credentials

if TYPE_CHECKING:
    from cachelib.settings import Settings

T = TypeVar("T")

_ACCESS_DENIED = 1045


class ReadEndpoint(StrEnum):
    """Where a loader must read. ``WRITER`` right after a write (read-your-writes despite replica lag)."""

    READER = "reader"
    WRITER = "writer"


LOCK_CONFLICTS = frozenset({1205, 1213})
"""Lock wait timeout and deadlock: the transaction lost a race and may simply be run again."""


def _is_connection_error(exc: BaseException) -> bool:
    # OperationalError covers 2003 can't connect, 2006 gone away, 2013 lost connection, timeouts;
    # InterfaceError is raised on a closed connection. SQL errors (ProgrammingError...) are bugs: re-raised,
    # and so are lock conflicts, which the caller retries (Database.run_transaction).
    if isinstance(exc, pymysql.err.OperationalError) and exc.args and exc.args[0] in LOCK_CONFLICTS:
        return False
    return isinstance(exc, (pymysql.err.OperationalError, pymysql.err.InterfaceError, OSError))


Target = tuple[str, int]
"""A server: ``(host, port)``."""


def _target(entry: str, default_port: int) -> Target:
    """``host`` or ``host:port`` (RDS replicas share the writer's port; local test replicas do not)."""
    host, sep, port = entry.rpartition(":")
    if sep and port.isdigit() and host:
        return host, int(port)
    return entry, default_port


class Database:
    """Lazily connected writer and replicas. Create one at module scope: ``DB = Database(SETTINGS)``."""

    idle_check_seconds = 30.0
    """A connection idle longer than this is pinged before use: the server, a proxy or a failover may have
    dropped it while the container was frozen, and a dead socket must cost a reconnect, not a 503."""

    replica_behind_backoff_seconds = 1.0
    """After a replica failed to catch up within ``DB_REPLICA_WAIT_MS``, reads skip it for this long instead
    of waiting again on every miss."""

    replica_down_seconds = 10.0
    """A replica that could not be reached is skipped for this long."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._local = threading.local()
        self.writer: Target = (settings.db_writer_host, settings.db_port)
        reader_port = settings.db_reader_port or settings.db_port
        hosts = settings.db_reader_hosts or (settings.db_reader_host,)
        self.readers: tuple[Target, ...] = tuple(dict.fromkeys(_target(host, reader_port) for host in hosts))
        self._replicas = tuple(target for target in self.readers if target != self.writer)
        self._next = itertools.count()
        self._skip_until: dict[Target, float] = {}
        self._ssl_context: ssl.SSLContext | None = None
        self.replica_fallbacks = 0
        """Reads sent to the writer because no replica had caught up (or its freshness was unknown)."""

    # --- replica choice and freshness ---------------------------------------------------------------

    def _candidates(self) -> list[Target]:
        """The replicas not skipped right now, in round-robin order."""
        replicas = self._replicas
        if not replicas:
            return []
        start = next(self._next) % len(replicas)
        now = time.monotonic()
        ordered = replicas[start:] + replicas[:start]
        return [target for target in ordered if self._skip_until.get(target, 0.0) <= now]

    def fresh_read_target(self) -> Target:
        """A replica that has applied every transaction the writer has committed now (each waited on for up
        to ``DB_REPLICA_WAIT_MS``), else the writer. Replicas take turns; one that cannot be reached is
        skipped for a while.

        With the writer unreachable a replica is the only answer: it is used, and the read is marked
        unverified so the cache answers it without storing it.
        """
        if not self._replicas:
            return self.writer
        try:
            writer = self.connection_to(self.writer)
            dialect = replication.dialect_for(writer.get_server_info())
            with writer.cursor() as cur:
                cur.execute(dialect.writer_position_sql)
                (position,) = _one_row(cur)
        except Exception as exc:
            if not (isinstance(exc, DatabaseUnavailable) or _is_connection_error(exc)):
                raise
            self._discard(self.writer)
            for target in self._candidates():
                try:
                    self.connection_to(target)
                except DatabaseUnavailable:
                    self._skip(target, self.replica_down_seconds)
                    continue
                replication.mark_unverified()
                return target
            raise DatabaseUnavailable(f"neither the writer nor a replica can be reached: {exc}") from exc
        if not position:  # no GTIDs on this server: freshness cannot be proven
            self.replica_fallbacks += 1
            return self.writer
        wait_seconds = self.settings.db_replica_wait_ms / 1000
        for target in self._candidates():
            try:
                reader = self.connection_to(target)
                with reader.cursor() as cur:
                    cur.execute(dialect.wait_sql, (position, dialect.wait_timeout(wait_seconds)))
                    (code,) = _one_row(cur)
            except Exception as exc:
                if not (isinstance(exc, DatabaseUnavailable) or _is_connection_error(exc)):
                    raise
                self._discard(target)
                self._skip(target, self.replica_down_seconds)
                continue
            if dialect.caught_up(code):
                return target
            self._skip(target, self.replica_behind_backoff_seconds)
        self.replica_fallbacks += 1
        return self.writer

    def _skip(self, target: Target, seconds: float) -> None:
        self._skip_until[target] = time.monotonic() + seconds

    # --- connections ----------------------------------------------------------------------------------

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
        """The TLS context, built once per container (loading the CA bundle costs milliseconds); ``None``
        with TLS off."""
        if not self.settings.db_tls:
            return None
        context = self._ssl_context
        if context is None:
            context = ssl.create_default_context(cafile=self.settings.db_tls_ca_file)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            self._ssl_context = context
        return context

    def _role(self, target: Target) -> str:
        return "writer" if target == self.writer else f"reader {target[0]}:{target[1]}"

    def _open(self, target: Target) -> pymysql.connections.Connection:
        s = self.settings
        for attempt in (0, 1):
            user, password = self._credentials(force_fetch=attempt == 1)
            try:
                return pymysql.connect(
                    host=target[0],
                    port=target[1],
                    user=user,
                    password=password,
                    database=s.db_name or None,
                    charset="utf8mb4",
                    connect_timeout=s.db_connect_timeout_seconds,
                    read_timeout=s.db_read_timeout_seconds,
                    write_timeout=s.db_read_timeout_seconds,
                    autocommit=True,
                    ssl=self._ssl(),
                    # PyMySQL reads "no TLS options" as "TLS preferred" and builds a default context on every
                    # connect (~17 ms): with TLS off, say so.
                    ssl_disabled=not s.db_tls,
                    client_flag=CLIENT.FOUND_ROWS,
                    cursorclass=pymysql.cursors.Cursor,
                )
            except pymysql.err.OperationalError as exc:
                # A rotated password: refetch the secret once, bypassing the cache.
                if exc.args and exc.args[0] == _ACCESS_DENIED and attempt == 0 and s.db_secret_arn:
                    continue
                raise DatabaseUnavailable(f"cannot connect to the {self._role(target)}: {exc}") from exc
            except OSError as exc:
                raise DatabaseUnavailable(f"cannot connect to the {self._role(target)}: {exc}") from exc
        raise DatabaseUnavailable(f"cannot connect to the {self._role(target)}")  # pragma: no cover

    def connection_to(self, target: Target) -> pymysql.connections.Connection:
        """The thread's open connection to ``target`` (opened on first use)."""
        conns: dict[Target, Any] = self._local.__dict__.setdefault("conns", {})
        last_used: dict[Target, float] = self._local.__dict__.setdefault("last_used", {})
        now = time.monotonic()
        conn = conns.get(target)
        if conn is not None and conn.open and now - last_used.get(target, now) >= self.idle_check_seconds:
            try:
                conn.ping(reconnect=False)
            except Exception:  # dropped while idle: replace it below
                self._discard(target)
                conn = None
        if conn is None or not conn.open:
            conn = conns[target] = self._open(target)
        last_used[target] = now
        return conn

    def target(self, endpoint: ReadEndpoint) -> Target:
        """Where a read on ``endpoint`` runs now: the writer, or a fresh replica (``fresh_read_target``)."""
        return self.writer if endpoint is ReadEndpoint.WRITER else self.fresh_read_target()

    def connection(self, endpoint: ReadEndpoint = ReadEndpoint.READER) -> pymysql.connections.Connection:
        """The thread's connection for ``endpoint``: ``READER`` is a fresh replica or the writer."""
        return self.connection_to(self.target(endpoint))

    def _discard(self, target: Target) -> None:
        conn = self._local.__dict__.get("conns", {}).pop(target, None)
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken; closing is best effort
                conn.close()

    @contextmanager
    def cursor(self, endpoint: ReadEndpoint = ReadEndpoint.READER) -> Iterator[pymysql.cursors.Cursor]:
        """A cursor for reads on ``endpoint``; connection failures become :class:`DatabaseUnavailable`.

        ``READER`` means "a fresh read": it runs on a replica only once that replica has caught up with
        the writer (:meth:`fresh_read_target`), else on the writer."""
        target = self.target(endpoint)
        try:
            conn = self.connection_to(target)
            with conn.cursor() as cur:
                yield cur
        except DatabaseUnavailable:
            self._discard(target)
            raise
        except Exception as exc:
            if _is_connection_error(exc):
                self._discard(target)
                if target != self.writer:
                    self._skip(target, self.replica_down_seconds)
                raise DatabaseUnavailable(f"{self._role(target)} failed: {exc}") from exc
            raise

    @contextmanager
    def transaction(self) -> Iterator[pymysql.cursors.Cursor]:
        """A cursor in a transaction on the writer: committed on normal exit, rolled back on error."""
        try:
            conn = self.connection_to(self.writer)
            conn.begin()
        except DatabaseUnavailable:
            self._discard(self.writer)
            raise
        except Exception as exc:
            self._discard(self.writer)
            raise DatabaseUnavailable(f"writer endpoint failed: {exc}") from exc
        try:
            with conn.cursor() as cur:
                yield cur
            conn.commit()
        except Exception as exc:
            try:
                conn.rollback()
            except Exception:  # the connection is gone; the server rolls back
                self._discard(self.writer)
            if _is_connection_error(exc):
                self._discard(self.writer)
                raise DatabaseUnavailable(f"writer endpoint failed: {exc}") from exc
            raise

    def run_transaction(self, work: Callable[[Any], T], *, attempts: int = 3) -> T:
        """``work(cursor)`` in a writer transaction, run again (from the start) when it loses a lock race
        (deadlock, lock wait timeout); after ``attempts`` losses, :class:`DatabaseUnavailable`."""
        for attempt in range(attempts):
            try:
                with self.transaction() as cursor:
                    return work(cursor)
            except pymysql.err.OperationalError as exc:
                if not (exc.args and exc.args[0] in LOCK_CONFLICTS):
                    raise
                if attempt == attempts - 1:
                    raise DatabaseUnavailable(f"writer endpoint: lock conflict persisted: {exc}") from exc
                time.sleep(0.005 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close this thread's connections (tests; Lambda keeps them for the container's life)."""
        for target in list(self._local.__dict__.get("conns", {})):
            self._discard(target)


def _one_row(cursor: Any) -> tuple[Any, ...]:
    """The row a single-row query (a position, a wait's result) always returns."""
    row = cursor.fetchone()
    if row is None:
        raise DatabaseUnavailable("a single-row query returned no row")
    return tuple(row)
