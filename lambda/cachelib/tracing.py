"""X-Ray subsegments for Redis and MySQL calls, switched on lazily inside a traced Lambda function.

Handlers call :func:`trace_if_enabled` at the start of every invocation. The first call decides, from the
environment Lambda sets, whether this container is traced: ``LAMBDA_TASK_ROOT`` (running in Lambda) and
``AWS_XRAY_DAEMON_ADDRESS`` or ``_X_AMZN_TRACE_ID`` (active tracing). Only then are the client classes
patched; a local run or a test without those variables patches nothing, and later calls cost one global
read. ``AWS_XRAY_SDK_ENABLED=false`` turns it off in a traced function too.

Why not ``aws-xray-sdk`` (or Powertools Tracer, which needs it): it has no Redis patch, and it and its
``wrapt`` dependency add 1.1 MiB to the asset, which then misses its 5 MiB budget. What Lambda needs is
small and documented: each subsegment is one JSON segment document sent over UDP to the daemon address,
as a child of the function's own segment (``Parent`` in ``_X_AMZN_TRACE_ID``, refreshed per invocation),
and only when that header says ``Sampled=1``; exactly what the SDK does in Lambda (streaming threshold 0).

What gets a subsegment (namespace ``remote``, so the service map shows Redis and MySQL as nodes):

* Redis: every command of ``redis.Redis``/``RedisCluster`` (Lua scripts are ``EVALSHA`` commands) and each
  pipeline as one subsegment, named ``redis``. Only the command name is recorded (annotation
  ``redis_command``), never keys or values.
* MySQL: every ``Cursor.execute`` (``executemany`` runs through it), named ``<database>@<host>`` with the
  ``sql`` block X-Ray shows for databases (type, URL, user, driver); never the statement or parameters.

A failed call is recorded with ``fault`` and the exception type, and the exception propagates unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

REDIS_SUBSEGMENT = "redis"
_DAEMON_DEFAULT = ("127.0.0.1", 2000)
_HEADER = b'{"format":"json","version":1}\n'
_ENABLED: bool | None = None  # None until the first invocation decided
_LOCK = threading.Lock()
_PATCHED: list[tuple[type, str, Any]] = []  # (class, attribute, original) for disable_tracing
_emitter: _UdpEmitter | None = None


def tracing_requested(env: Mapping[str, str] | None = None) -> bool:
    """True when this process is a Lambda function with X-Ray tracing turned on."""
    env = os.environ if env is None else env
    if env.get("AWS_XRAY_SDK_ENABLED", "").strip().lower() == "false":
        return False
    in_lambda = bool(env.get("LAMBDA_TASK_ROOT"))
    return in_lambda and bool(env.get("AWS_XRAY_DAEMON_ADDRESS") or env.get("_X_AMZN_TRACE_ID"))


def trace_if_enabled() -> bool:
    """Patch Redis and MySQL on the first call if :func:`tracing_requested`. Returns whether tracing is on.
    Cheap after the first call; safe to call from every handler on every invocation."""
    enabled = _ENABLED
    if enabled is not None:
        return enabled
    with _LOCK:
        if _ENABLED is None:
            if tracing_requested():
                enable_tracing()
            else:
                _set_enabled(False)
        return bool(_ENABLED)


def _set_enabled(value: bool | None) -> None:
    global _ENABLED
    _ENABLED = value


def enable_tracing(daemon_address: str | None = None) -> None:
    """Patch the Redis and PyMySQL client classes unconditionally. Idempotent."""
    global _emitter
    _emitter = _UdpEmitter(daemon_address or os.environ.get("AWS_XRAY_DAEMON_ADDRESS", ""))
    if not _PATCHED:
        _patch_clients()
    _set_enabled(True)


def disable_tracing() -> None:
    """Undo :func:`enable_tracing` (tests)."""
    global _emitter
    while _PATCHED:
        cls, name, original = _PATCHED.pop()
        setattr(cls, name, original)
    if _emitter is not None:
        _emitter.close()
    _emitter = None
    _set_enabled(None)


class _UdpEmitter:
    """Sends segment documents to the X-Ray daemon; never raises (tracing must not fail a request)."""

    def __init__(self, address: str) -> None:
        self.address = _parse_daemon_address(address)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.setblocking(False)

    def send(self, document: dict[str, Any]) -> None:
        # A full buffer or an absent daemon loses one subsegment, as the SDK does; never the request.
        with contextlib.suppress(OSError):
            self._socket.sendto(_HEADER + json.dumps(document, separators=(",", ":")).encode(), self.address)

    def close(self) -> None:
        self._socket.close()


def _parse_daemon_address(address: str) -> tuple[str, int]:
    """``host:port`` or the ``tcp:host:port udp:host:port`` form Lambda may set; the UDP one is used."""
    for part in address.split():
        if part.startswith("udp:"):
            address = part[4:]
            break
    host, _, port = address.strip().rpartition(":")
    if not host or not port.isdigit():
        return _DAEMON_DEFAULT
    return host, int(port)


def current_parent() -> tuple[str, str] | None:
    """``(trace id, parent segment id)`` of the current invocation if it is sampled, else ``None``."""
    header = os.environ.get("_X_AMZN_TRACE_ID", "")
    fields = dict(part.split("=", 1) for part in header.split(";") if "=" in part)
    root, parent = fields.get("Root"), fields.get("Parent")
    if fields.get("Sampled") != "1" or not root or not parent:
        return None
    return root, parent


def _record(name: str, extra: dict[str, Any], started: float, parent: tuple[str, str], error: Any) -> None:
    emitter = _emitter
    if emitter is None:
        return
    document: dict[str, Any] = {
        "id": secrets.token_hex(8),
        "trace_id": parent[0],
        "parent_id": parent[1],
        "type": "subsegment",
        "name": name,
        "namespace": "remote",
        "start_time": started,
        "end_time": time.time(),
        **extra,
    }
    if error is not None:
        document["fault"] = True
        document["cause"] = {"exceptions": [{"id": secrets.token_hex(8), "type": type(error).__name__}]}
    emitter.send(document)


def _traced(original: Callable[..., Any], describe: Callable[[Any, tuple], tuple[str, dict]]) -> Callable:
    @functools.wraps(original)
    def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
        parent = current_parent()
        if parent is None:
            return original(self, *args, **kwargs)
        started = time.time()
        try:
            result = original(self, *args, **kwargs)
        except Exception as exc:
            name, extra = _described(describe, self, args)
            _record(name, extra, started, parent, exc)
            raise
        name, extra = _described(describe, self, args)
        _record(name, extra, started, parent, None)
        return result

    return traced


def _described(describe: Callable[[Any, tuple], tuple[str, dict]], instance: Any, args: tuple) -> tuple:
    try:
        return describe(instance, args)
    except Exception:  # a subsegment without details beats a failed request
        return "unknown", {}


def _redis_command(_client: Any, args: tuple) -> tuple[str, dict]:
    name = args[0] if args else "?"
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    return REDIS_SUBSEGMENT, {"annotations": {"redis_command": str(name).split(" ", 1)[0].upper()[:32]}}


def _redis_pipeline(_client: Any, _args: tuple) -> tuple[str, dict]:
    return REDIS_SUBSEGMENT, {"annotations": {"redis_command": "PIPELINE"}}


def _mysql_statement(cursor: Any, _args: tuple) -> tuple[str, dict]:
    conn = cursor.connection
    database = conn.db.decode() if isinstance(conn.db, bytes) else (conn.db or "")
    user = conn.user.decode() if isinstance(conn.user, bytes) else (conn.user or "")
    sql = {
        "database_type": "MySQL",
        "url": f"{conn.host}:{conn.port}/{database}",
        "user": user,
        "driver_version": "PyMySQL",
    }
    return f"{database}@{conn.host}", {"sql": sql}


def _patch_clients() -> None:
    import pymysql.cursors
    import redis.client
    import redis.cluster

    targets = (
        (redis.client.Redis, "execute_command", _redis_command),
        (redis.client.Pipeline, "execute", _redis_pipeline),
        (redis.cluster.RedisCluster, "execute_command", _redis_command),
        (redis.cluster.ClusterPipeline, "execute", _redis_pipeline),
        (pymysql.cursors.Cursor, "execute", _mysql_statement),
    )
    for cls, name, describe in targets:
        original = cls.__dict__[name]
        setattr(cls, name, _traced(original, describe))
        _PATCHED.append((cls, name, original))
