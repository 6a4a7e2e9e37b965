"""Idempotent writes: a POST or PUT repeated with the same ``Idempotency-Key`` changes nothing and gets the
first response.

The key is recorded **in the same MySQL transaction as the write** (a placeholder row first, then the
response), so "written but not recorded" cannot happen, whatever crashes when. Two identical requests in
flight at once cannot both write: the second one's insert of the same primary key waits on the first one's
row lock, and once the first commits it finds the recorded response and replays it. The same key with a
different request (another route, or another body) is a 422.

Keys expire after ``IDEMPOTENCY_TTL_SECONDS`` (default 24 h): an expired row is taken over by the next
request with that key, and :func:`purge_expired` deletes them in index order (``expires_at``), a bounded
batch at a time, off the hot path (the scheduled warmer runs it). The table's DDL is in
``catalog_schema.DDL`` with the rest of the schema.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import pymysql

DEFAULT_TTL_SECONDS = 24 * 3600
_KEY = re.compile(
    r"[\x21-\x7e]{1,255}"
)  # printable ASCII without spaces, as IETF draft-ietf-httpapi-idempotency-key
_DUPLICATE_KEY = 1062
PURGE_BATCH = 500


class InvalidIdempotencyKey(ValueError):
    pass


class IdempotencyConflict(Exception):
    """The key was used for a different request."""


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    key: str
    request_hash: bytes

    @classmethod
    def of(cls, key: str | None, method: str, route: str, canonical_body: Any) -> IdempotentRequest | None:
        """``None`` without a key; raises :class:`InvalidIdempotencyKey` for a malformed one."""
        if key is None:
            return None
        if not _KEY.fullmatch(key):
            raise InvalidIdempotencyKey(
                "Idempotency-Key must be 1-255 printable ASCII characters without spaces"
            )
        text = json.dumps([method, route, canonical_body], sort_keys=True, separators=(",", ":"), default=str)
        return cls(key, hashlib.sha256(text.encode()).digest())


@dataclass(frozen=True, slots=True)
class Recorded:
    """The response of the first request with this key, and what its commit had to put right."""

    status: int
    body: Any
    after_commit: Any


def claim(cursor: Any, request: IdempotentRequest, ttl_seconds: int) -> Recorded | None:
    """First statement of the write's transaction. ``None``: this request is the first (or the key expired)
    and must write; a :class:`Recorded`: replay it and write nothing. Raises :class:`IdempotencyConflict`."""
    try:
        cursor.execute(
            "INSERT INTO idempotency_keys (idem_key, request_hash, response, expires_at) "
            "VALUES (%s, %s, '', NOW(6) + INTERVAL %s SECOND)",
            (request.key, request.request_hash, ttl_seconds),
        )
        return None
    except pymysql.err.IntegrityError as exc:
        if not exc.args or exc.args[0] != _DUPLICATE_KEY:
            raise
    # The first request has committed (an uncommitted one made the insert above wait for its lock). A shared
    # lock, not FOR UPDATE: concurrent duplicates all hold one after their failed insert, and upgrading them
    # would deadlock each other. (LOCK IN SHARE MODE: MariaDB has no FOR SHARE; MySQL 8.4 keeps both.)
    cursor.execute(
        "SELECT request_hash, status, response, after_commit, expires_at > NOW(6) "
        "FROM idempotency_keys WHERE idem_key = %s LOCK IN SHARE MODE",
        (request.key,),
    )
    request_hash, status, response, after_commit, live = cursor.fetchone()
    if not live:  # expired: this request takes the key over (a racing takeover deadlocks and is retried)
        cursor.execute(
            "UPDATE idempotency_keys SET request_hash = %s, status = 0, response = '', after_commit = '', "
            "expires_at = NOW(6) + INTERVAL %s SECOND WHERE idem_key = %s",
            (request.request_hash, ttl_seconds, request.key),
        )
        return None
    if bytes(request_hash) != request.request_hash:
        raise IdempotencyConflict(request.key)
    return Recorded(int(status), json.loads(response), json.loads(after_commit) if after_commit else None)


def record(cursor: Any, request: IdempotentRequest, status: int, body: str, after_commit: Any) -> None:
    """Last statement of the write's transaction: the response to replay and what to put right again."""
    cursor.execute(
        "UPDATE idempotency_keys SET status = %s, response = %s, after_commit = %s WHERE idem_key = %s",
        (status, body, json.dumps(after_commit, separators=(",", ":")), request.key),
    )


def purge_expired(connection: Any, *, batches: int = 20) -> int:
    """Delete expired keys oldest first, ``PURGE_BATCH`` rows per statement (an index range on
    ``expires_at``, never a table scan); returns how many were deleted."""
    deleted = 0
    with connection.cursor() as cursor:
        for _ in range(batches):
            cursor.execute(
                "DELETE FROM idempotency_keys WHERE expires_at < NOW(6) ORDER BY expires_at LIMIT %s",
                (PURGE_BATCH,),
            )
            deleted += cursor.rowcount
            if cursor.rowcount < PURGE_BATCH:
                break
    return deleted
