"""Typed JSON for cached values, and the entry framing that carries the soft deadline.

Values round-trip ``Decimal``, ``datetime``, ``date`` and ``bytes`` exactly: they are written as one-key
tagged objects (``{"$dec": "9.99"}``, ``{"$dt": "2026-01-01T00:00:00.000001+00:00"}``); a user dict that
happens to look like a tag is escaped as ``{"$obj": [[key, value]]}``, so decoding is unambiguous.

An entry is ``<kind>|<soft deadline, epoch ms>|<payload>`` in one Redis string, so a hit is one ``GET``
and one ``json.loads``. ``kind`` is ``V`` (a value) or ``N`` (the row does not exist: negative entry).
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from cachelib.errors import CorruptEntry, SerializationError

KIND_VALUE = b"V"
KIND_NEGATIVE = b"N"

_TAGS = frozenset({"$dec", "$dt", "$date", "$b64", "$obj"})


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return {"$dec": str(obj)}
    if isinstance(obj, datetime):
        return {"$dt": obj.isoformat()}
    if isinstance(obj, date):
        return {"$date": obj.isoformat()}
    if isinstance(obj, (bytes, bytearray)):
        return {"$b64": base64.b64encode(obj).decode("ascii")}
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise SerializationError(f"cannot cache a value of type {type(obj).__name__}")


def _escape(value: Any) -> Any:
    # Only dicts that could be mistaken for a tag need escaping; walk containers lazily.
    if isinstance(value, dict):
        escaped = {k: _escape(v) for k, v in value.items()}
        if len(escaped) == 1 and next(iter(escaped)) in _TAGS:
            # As a list of pairs: the decoder's object hook runs bottom-up and must not see the tag.
            return {"$obj": [list(item) for item in escaped.items()]}
        return escaped
    if isinstance(value, (list, tuple)):
        return [_escape(v) for v in value]
    return value


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) != 1:
        return obj
    tag, raw = next(iter(obj.items()))
    if tag == "$dec":
        return Decimal(raw)
    if tag == "$dt":
        return datetime.fromisoformat(raw)
    if tag == "$date":
        return date.fromisoformat(raw)
    if tag == "$b64":
        return base64.b64decode(raw)
    if tag == "$obj":
        return dict(raw)
    return obj


_encoder = json.JSONEncoder(default=_default, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_decoder = json.JSONDecoder(object_hook=_hook)


def dumps(value: Any) -> str:
    """Typed JSON text of ``value``; raises :class:`SerializationError` for unsupported types."""
    try:
        return _encoder.encode(_escape(value))
    except (TypeError, ValueError) as exc:
        raise SerializationError(str(exc)) from exc


def loads(text: str | bytes) -> Any:
    """Inverse of :func:`dumps`."""
    return _decoder.decode(text.decode("utf-8") if isinstance(text, (bytes, bytearray)) else text)


def encode_entry(kind: bytes, soft_deadline_ms: int, value: Any) -> bytes:
    """Frame a value (or a negative marker when ``kind`` is ``N``) for storage."""
    payload = b"" if kind == KIND_NEGATIVE else dumps(value).encode("utf-8")
    return b"%s|%d|%s" % (kind, soft_deadline_ms, payload)


def decode_entry(raw: bytes) -> tuple[bytes, int, Any]:
    """``(kind, soft_deadline_ms, value)``; raises :class:`CorruptEntry` on anything malformed."""
    try:
        kind, deadline, payload = raw.split(b"|", 2)
        soft = int(deadline)
        if kind == KIND_VALUE:
            return kind, soft, _decoder.decode(payload.decode("utf-8"))
        if kind == KIND_NEGATIVE and not payload:
            return kind, soft, None
    except (ValueError, TypeError, UnicodeDecodeError, ArithmeticError) as exc:
        raise CorruptEntry(f"undecodable cache entry: {exc}") from exc
    raise CorruptEntry(f"unknown cache entry kind {kind[:8]!r}")
