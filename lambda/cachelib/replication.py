"""Replica freshness by replication position: the one place where MySQL and MariaDB differ.

A cache miss may read the replica only once the replica has applied every transaction the writer had
committed when the miss began. Then a write that returned before a read began is always visible to that
read, whatever the replica lag, and whether or not any cache key survived (fences, leases and version
counters can be evicted, and a Redis restart or failover loses them all).

The check is two tiny statements: the writer's executed GTID set, then a bounded wait for it on the reader
connection that will run the query. On timeout the read goes to the writer.

=====================  ====================================  ==========================================
                       MySQL 8.4 (RDS)                       MariaDB 10.11 (the tests)
=====================  ====================================  ==========================================
writer position        ``SELECT @@GLOBAL.gtid_executed``     ``SELECT @@GLOBAL.gtid_binlog_pos``
wait on the replica    ``WAIT_FOR_EXECUTED_GTID_SET(s, t)``  ``MASTER_GTID_WAIT(s, t)``
caught up / timed out  returns 0 / 1                         returns 0 / -1
needs                  ``gtid-mode=ON`` and                  binary log on the writer (GTIDs are
                       ``enforce_gtid_consistency=ON`` in    always on), replica applying with
                       the RDS parameter group (the CDK app  GTIDs (``MASTER_USE_GTID=slave_pos``)
                       sets both)
=====================  ====================================  ==========================================

MySQL side checked against the MySQL 8.4 Reference Manual, 14.18.2 "Functions Used with Global Transaction
Identifiers" (``WAIT_FOR_EXECUTED_GTID_SET(gtid_set[, timeout])``: 0 on success, 1 on timeout; the older
``WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS`` is gone in 8.4) and 19.1.3 (``gtid_executed``). MariaDB side checked
against MariaDB's ``MASTER_GTID_WAIT`` (0 on success, -1 on timeout) and ``gtid_binlog_pos`` and tested here.

An empty writer position means the server writes no GTIDs (MySQL with ``gtid_mode=OFF``, MariaDB without a
binary log): freshness cannot be proven, so the read goes to the writer. Never "assume caught up".
"""

from __future__ import annotations

import math
from contextvars import ContextVar
from dataclasses import dataclass

_UNVERIFIED: ContextVar[bool] = ContextVar("cachelib_unverified_read", default=False)


@dataclass(frozen=True, slots=True)
class ReplicationDialect:
    name: str
    writer_position_sql: str
    """One row, one column: the set of transactions the writer has committed."""
    wait_sql: str
    """Parameters ``(position, timeout seconds)``; one row, one column: the wait's result code."""
    caught_up_code: int
    """The result code that means the replica has applied ``position``."""
    fractional_timeout: bool
    """MariaDB takes a fractional timeout; MySQL's is documented in whole seconds, so it is rounded up
    (the wait returns as soon as the replica catches up: the timeout is only the bound)."""

    def wait_timeout(self, seconds: float) -> float | int:
        return seconds if self.fractional_timeout else max(1, math.ceil(seconds))

    def caught_up(self, code: object) -> bool:
        return code is not None and int(code) == self.caught_up_code  # type: ignore[call-overload]


MYSQL = ReplicationDialect(
    name="mysql",
    writer_position_sql="SELECT @@GLOBAL.gtid_executed",
    wait_sql="SELECT WAIT_FOR_EXECUTED_GTID_SET(%s, %s)",
    caught_up_code=0,
    fractional_timeout=False,
)

MARIADB = ReplicationDialect(
    name="mariadb",
    writer_position_sql="SELECT @@GLOBAL.gtid_binlog_pos",
    wait_sql="SELECT MASTER_GTID_WAIT(%s, %s)",
    caught_up_code=0,
    fractional_timeout=True,
)


def dialect_for(server_version: str | bytes | None) -> ReplicationDialect:
    """The dialect of a server from its handshake version string (``10.11.9-MariaDB-...`` or ``8.4.6``)."""
    text = server_version.decode() if isinstance(server_version, bytes) else (server_version or "")
    return MARIADB if "mariadb" in text.lower() else MYSQL


def begin_verified_scope() -> object:
    """Start tracking whether the reads of this thread's next load were all proven fresh."""
    return _UNVERIFIED.set(False)


def mark_unverified() -> None:
    """A read went to a replica whose freshness could not be proven (the writer was unreachable)."""
    _UNVERIFIED.set(True)


def end_verified_scope(token: object) -> bool:
    """True when every read since :func:`begin_verified_scope` was proven fresh: only then may the loaded
    value be stored in the cache."""
    verified = not _UNVERIFIED.get()
    _UNVERIFIED.reset(token)  # type: ignore[arg-type]
    return verified
