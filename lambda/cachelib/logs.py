"""One log shape for every function: each line on stdout is one top-level JSON object.

Two writers produce it:

- :func:`request_line` builds the HTTP handlers' one line per request by hand from pre-encoded parts. It is
  on the hit path, where the ``logging`` module's record, formatter and handler would cost ~15 us for nothing.
  When metrics are on, the same object is the invocation's EMF document (``CacheMetrics.emf_line``): one
  line carries the request's fields and its metrics.
- :class:`JsonLogFormatter` formats every ``logging`` record (the library's warnings, the warmer's summary,
  tracebacks) into the same shape, with ``extra=`` fields flattened to top-level keys. Never put JSON inside
  a message: pass fields as ``extra``.

Which requests write a line. Every request that is worth reading writes its line in its own invocation:
an error or a client error, a miss, a stale or bypassed read, a write, a cold start, a request slower than
``SLOW_REQUEST_MS``. A *routine* request (a fast 200 cache hit) writes its line only when the container
has written none for ``ROUTINE_LINE_INTERVAL_SECONDS``; in between, its metrics stay in the container's
aggregate and ride on the next line. Why: on a hit the line is a third of the handler's own cost, and API
Gateway's access log already records every request with its request id (the default correlation id).
``REQUEST_LOG_ALL=true``, or an invocation drawn for debug sampling, writes every line. What this can lose:
the cache-hit counts and latencies of at most the last ``ROUTINE_LINE_INTERVAL_SECONDS`` of a container
that is reclaimed without another invocation; never a miss, an error or a bypass, which are never deferred.
An aggregate older than ``STALE_AGGREGATE_SECONDS`` (the container sat frozen) is written, stamped with its
own time, when the next invocation begins, so no count lands in the wrong minute.

Keys (named as Powertools Logger names them, so queries written for it work here): ``level``, ``message``,
``service``, ``environment``, ``correlation_id``, ``function_request_id``, ``cold_start``, and for records
``timestamp``, ``logger``, ``exception``. Debug logs are sampled per invocation:
``POWERTOOLS_LOGGER_SAMPLE_RATE`` (0..1) turns DEBUG on for that share of invocations.

Standard library only: importing it costs nothing at cold start.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import time
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from caching_contract.variables import ENVIRONMENT, LOG_SAMPLE_RATE, REQUEST_LOG_ALL, SERVICE_NAME

ROUTINE_LINE_INTERVAL_SECONDS = 1.0
SLOW_REQUEST_MS = 50.0
STALE_AGGREGATE_SECONDS = 60.0
LEVEL_VARIABLES = ("AWS_LAMBDA_LOG_LEVEL", "LOG_LEVEL")
"""Lambda sets ``AWS_LAMBDA_LOG_LEVEL`` from the function's application log level; ``LOG_LEVEL`` locally."""

REQUEST_MESSAGE = "request"
REQUEST_KEYS: tuple[str, ...] = (
    "service",
    "environment",
    "level",
    "message",
    "correlation_id",
    "function_request_id",
    "cold_start",
    "method",
    "path",
    "status",
    "duration_ms",
)
"""The keys every request line has, in order (``environment`` only when set); handler fields follow. In the
EMF form the metrics' directive comes first and the counts follow ``environment`` (EMF's dimensions)."""

_PATH_MAX = 256
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class _Invocation:
    """What every line of the current invocation shares; one per container, reset per invocation."""

    cold_start = True
    correlation_id: str | None = None
    request_id: str | None = None
    debug_sampled = False
    last_line_at = float("-inf")  # time.monotonic() of the container's last request line


_INVOCATION = _Invocation()


@dataclass(frozen=True)
class _Settings:
    """The log settings, read once per container: a function's environment does not change in one."""

    service: str
    environment: str | None
    service_members: str
    """``,"service":"...","environment":"..."``, encoded once."""
    log_all: bool
    sample_rate: float

    @classmethod
    def from_env(cls) -> _Settings:
        service = os.environ.get(SERVICE_NAME) or "caching-service"
        environment = os.environ.get(ENVIRONMENT) or None
        members = f',"service":{encode_basestring(service)}' + (
            f',"environment":{encode_basestring(environment)}' if environment else ""
        )
        try:
            rate = min(max(float(os.environ.get(LOG_SAMPLE_RATE, "").strip() or 0), 0.0), 1.0)
        except ValueError:
            rate = 0.0
        log_all = os.environ.get(REQUEST_LOG_ALL, "").strip().lower() == "true"
        return cls(service, environment, members, log_all, rate)


_SETTINGS: list[_Settings] = []  # empty until first read, and again after reset()


def _settings() -> _Settings:
    if not _SETTINGS:
        _SETTINGS.append(_Settings.from_env())
    return _SETTINGS[0]


def begin_invocation(correlation_id: str, context: Any = None, metrics: Any = None) -> bool:
    """Start an invocation's log context; returns whether this is the container's first (cold) one.

    Draws the debug sample: with ``POWERTOOLS_LOGGER_SAMPLE_RATE`` set, DEBUG (and a line for every request)
    is on for that share of invocations. With ``metrics`` (a ``CacheMetrics``), first writes an aggregate left
    over from before the container was frozen, stamped with its own time."""
    cold = _INVOCATION.cold_start
    _INVOCATION.cold_start = False
    _INVOCATION.correlation_id = correlation_id
    request_id = getattr(context, "aws_request_id", None)
    _INVOCATION.request_id = request_id if isinstance(request_id, str) else None
    rate = _settings().sample_rate
    if rate:
        _INVOCATION.debug_sampled = random.random() < rate
        logging.getLogger().setLevel(logging.DEBUG if _INVOCATION.debug_sampled else _base_level())
    if metrics is not None:
        since = metrics.pending_since()
        if since is not None and time.time() - since >= STALE_AGGREGATE_SECONDS:
            line = metrics.emf_line(timestamp_ms=int(since * 1000))
            if line:
                write(line)
    return cold


def line_due(routine: bool, started: float) -> bool:
    """Whether a request's line is written now (see the module docstring); ``started`` is its
    ``time.perf_counter()`` start."""
    if not routine or _INVOCATION.debug_sampled or _settings().log_all:
        return True
    if (time.perf_counter() - started) * 1000 >= SLOW_REQUEST_MS:
        return True
    return time.monotonic() - _INVOCATION.last_line_at >= ROUTINE_LINE_INTERVAL_SECONDS


def _base_level() -> int:
    for name in LEVEL_VARIABLES:
        level = logging.getLevelName(os.environ.get(name, "").strip().upper() or "-")
        if isinstance(level, int):
            return level
    return logging.INFO


def _member(key: str, value: Any) -> str:
    if value is None:
        encoded = "null"
    elif value is True:
        encoded = "true"
    elif value is False:
        encoded = "false"
    elif isinstance(value, str):
        encoded = encode_basestring(value)
    elif isinstance(value, int | float):
        encoded = repr(value)
    else:
        encoded = json.dumps(value, default=str, ensure_ascii=False)
    return f',"{key}":{encoded}'


def request_members(
    status: int, method: str, path: str, started: float, cold_start: bool, fields: dict[str, Any]
) -> str:
    """The request line's own members, ``"level":...,"key":value``, for :func:`request_line`. Keys of
    ``fields`` must be plain identifiers: they are written without escaping."""
    request_id = _INVOCATION.request_id
    line = (
        f'"level":"{"ERROR" if status >= 500 else "INFO"}","message":"request"'
        f',"correlation_id":{encode_basestring(_INVOCATION.correlation_id or "")}'
        f',"function_request_id":{"null" if request_id is None else encode_basestring(request_id)}'
        f',"cold_start":{"true" if cold_start else "false"}'
        f',"method":{encode_basestring(method)},"path":{encode_basestring(path[:_PATH_MAX])}'
        f',"status":{status:d},"duration_ms":{round((time.perf_counter() - started) * 1000, 3)!r}'
    )
    if fields:
        line += "".join([_member(key, value) for key, value in fields.items()])
    return line


def request_line(members: str, metrics: Any = None) -> str:
    """The request's one line (with its newline): the invocation's EMF document carrying ``members`` when
    ``metrics`` (a ``CacheMetrics``) is given and enabled (its dimensions are the line's ``service`` and
    ``environment``), else a plain JSON object that starts with them."""
    if metrics is not None:
        try:
            line = metrics.emf_line(members)
        except Exception:  # a metrics bug must not cost the request its log line
            logging.getLogger(__name__).exception("metrics document failed")
            line = ""
        if line:
            return line
    return "{" + _settings().service_members[1:] + "," + members + "}\n"


def write(line: str) -> None:
    out = sys.stdout
    out.write(line)
    out.flush()  # never left in a buffer when the runtime freezes the container
    _INVOCATION.last_line_at = time.monotonic()


class JsonLogFormatter(logging.Formatter):
    """A ``logging`` record as one JSON object in the request lines' shape (see the module docstring)."""

    converter = staticmethod(time.gmtime)  # timestamps in UTC, as the trailing Z says

    def format(self, record: logging.LogRecord) -> str:
        settings = _settings()
        document: dict[str, Any] = {
            "level": record.levelname,
            "message": record.getMessage(),
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "logger": record.name,
            "service": settings.service,
        }
        if settings.environment:
            document["environment"] = settings.environment
        if _INVOCATION.correlation_id is not None:
            document["correlation_id"] = _INVOCATION.correlation_id
        if _INVOCATION.request_id is not None:
            document["function_request_id"] = _INVOCATION.request_id
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
            document["exception_name"] = getattr(record.exc_info[0], "__name__", None)
        return json.dumps(document, default=str, ensure_ascii=False)


def configure_logging(*, force: bool = False) -> None:
    """Put every ``logging`` record into the one shape, at ``AWS_LAMBDA_LOG_LEVEL`` (or ``LOG_LEVEL``).

    In Lambda (``AWS_LAMBDA_RUNTIME_API`` set) the runtime's own root handler is kept, because it writes to
    the log stream with the right framing, and gets this formatter. Elsewhere (tests, the local server)
    nothing changes unless ``force``; then stderr gets a handler of its own."""
    root = logging.getLogger()
    if not (force or os.environ.get("AWS_LAMBDA_RUNTIME_API")):
        return
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    for handler in root.handlers:
        handler.setFormatter(JsonLogFormatter())
    root.setLevel(_base_level())


def reset() -> None:
    """Forget the container's log state: cold start, last line, cached settings (tests, local restarts)."""
    _INVOCATION.cold_start = True
    _INVOCATION.correlation_id = None
    _INVOCATION.request_id = None
    _INVOCATION.debug_sampled = False
    _INVOCATION.last_line_at = float("-inf")
    _SETTINGS.clear()
