"""Typed JSON for cached values, and the entry framing that carries the soft deadline.

Values round-trip ``Decimal``, ``datetime``, ``date`` and ``bytes`` exactly: they are written as one-key
tagged objects (``{"$dec": "9.99"}``, ``{"$dt": "2026-01-01T00:00:00.000001+00:00"}``); a user dict that
happens to look like a tag is escaped as ``{"$obj": [[key, value]]}``, so decoding is unambiguous.

An entry is ``<kind>|<soft deadline, epoch ms>|<payload>`` in one Redis string, so a hit is one ``GET``
and one JSON scan. ``kind`` is ``V`` (a value), ``Z`` (a value whose JSON is zlib-compressed: written when
the JSON is at least ``compress_min_bytes`` long and compression makes it smaller) or ``N`` (the row does
not exist: negative entry, empty payload). The kind is in every frame, so entries written with and without
compression coexist, and changing the threshold needs no flush.

**Depth limit.** A payload nests at most :data:`MAX_DEPTH` (64) JSON arrays/objects, counted on the JSON
text: a list or dict is one level, a tagged scalar (``{"$dec": ...}``) one level, an escaped tag-like dict
(``{"$obj": [[k, v]]}``) three. Product rows and list pages use 2-4. :func:`dumps`/:func:`encode_entry`
refuse a deeper value with :class:`SerializationError` (so also a self-referencing one), and
:func:`decode_entry` calls a deeper payload corrupt, so the library never writes an entry it would later
call corrupt, and every value it decodes can be encoded again.

**Corrupt entries.** :func:`decode_entry` returns ``(kind, deadline, value)`` or raises
:class:`CorruptEntry`, whatever the bytes: bad framing, a deadline that is not ``-?[0-9]+``, an unknown kind,
a payload on an ``N`` entry, bad UTF-8, anything but exactly one JSON value (no surrounding whitespace or
trailing bytes), ``NaN``/``Infinity`` or a float that overflows, a malformed tag (``{"$dec": 5}``,
``{"$b64": "!!"}``, an ``$obj`` that is not one ``[tag, value]`` pair), a lone UTF-16 surrogate escape,
or nesting past :data:`MAX_DEPTH` (however deep: the C scanner's ``RecursionError`` is caught too).

The hit path stays one C-level JSON scan: the depth is only walked (in Python) when the payload has more
than :data:`MAX_DEPTH` ``[``/``{`` bytes (a product has 3, a 20-item list page 62), and only payloads of
more than 8 KiB skip straight to the walk (counting bytes costs more there than walking the value).
"""

from __future__ import annotations

import base64
import json
import math
import re
import zlib
from datetime import date, datetime
from decimal import Context, Decimal
from typing import Any

from cachelib.errors import CorruptEntry, SerializationError

KIND_VALUE = b"V"
KIND_COMPRESSED = b"Z"
KIND_NEGATIVE = b"N"
MAX_INFLATED_BYTES = 4 * 1024 * 1024
"""A compressed payload inflating past this is corrupt (a zlib bomb must not exhaust a function's memory)."""
_ZLIB_LEVEL = 1  # the fastest level: most of the gain on JSON, a fraction of the CPU of the default 6

MAX_DEPTH = 64
"""Deepest JSON nesting an entry may have; see the module docstring."""

_TAGS = frozenset({"$dec", "$dt", "$date", "$b64", "$obj"})
_PLAIN = (str, int, float, type(None))  # JSON scalars written as they are (bool is an int)
_COUNT_BELOW = 8 * 1024  # payloads up to this size count their brackets before walking the value
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_MAX_DEADLINE_DIGITS = 20  # with the sign; epoch milliseconds have 13
_DECIMAL_CONTEXT = Context()  # traps InvalidOperation, whatever the thread's current context says


class _TooDeep(SerializationError):
    pass


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return {"$dec": str(obj)}
    if isinstance(obj, datetime):
        return {"$dt": obj.isoformat()}
    if isinstance(obj, date):
        return {"$date": obj.isoformat()}
    if isinstance(obj, (bytes, bytearray)):
        return {"$b64": base64.b64encode(obj).decode("ascii")}
    raise SerializationError(f"cannot cache a value of type {type(obj).__name__}")


def _escape(value: Any, room: int) -> Any:
    """``value`` with tag-like dicts escaped and tuples/sets as lists; ``room`` is the number of JSON levels
    still allowed at this point. Raises :class:`_TooDeep` past :data:`MAX_DEPTH`."""
    if isinstance(value, dict):
        if room < 1:
            raise _TooDeep(f"value nested deeper than {MAX_DEPTH} levels")
        if len(value) == 1:
            [(key, item)] = value.items()
            if isinstance(key, str) and key in _TAGS:
                # As a list of pairs: the decoder's object hook runs bottom-up and must not see the tag.
                if room < 3:
                    raise _TooDeep(f"value nested deeper than {MAX_DEPTH} levels")
                return {"$obj": [[key, _escape(item, room - 3)]]}
        return {k: _escape(v, room - 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        if room < 1:
            raise _TooDeep(f"value nested deeper than {MAX_DEPTH} levels")
        return [_escape(v, room - 1) for v in value]
    if room < 1 and not isinstance(value, _PLAIN):  # a tagged scalar takes one level
        raise _TooDeep(f"value nested deeper than {MAX_DEPTH} levels")
    return value


# --- decoding -------------------------------------------------------------------------------------------


def _hook(obj: dict[str, Any]) -> Any:
    # Runs for every JSON object on the hit path: a plain row returns at once, the common tags come first.
    if len(obj) != 1:
        return obj
    [(tag, raw)] = obj.items()
    if type(raw) is str:
        if tag == "$dec":
            return Decimal(raw, _DECIMAL_CONTEXT)  # InvalidOperation (an ArithmeticError) if malformed
        if tag == "$dt":
            return datetime.fromisoformat(raw)
        if tag == "$date":
            return date.fromisoformat(raw)
        if tag == "$b64":
            return base64.b64decode(raw, validate=True)  # binascii.Error (a ValueError) on non-alphabet
    elif tag == "$obj" and type(raw) is list and len(raw) == 1:
        # Exactly what _escape writes, one [tag, value] pair, so the dict re-encodes to the same text.
        pair = raw[0]
        if type(pair) is list and len(pair) == 2 and type(pair[0]) is str and pair[0] in _TAGS:
            return {pair[0]: pair[1]}
    if tag in _TAGS:
        raise ValueError(f"malformed {tag} tag")
    return obj


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: the encoder (allow_nan=False) could not write it back
        raise ValueError(f"float out of range: {text[:32]}")
    return value


def _parse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_encoder = json.JSONEncoder(default=_default, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_scan = json.JSONDecoder(  # scan_once is set by JSONDecoder.__init__ (no stub declares it)
    object_hook=_hook, parse_float=_parse_float, parse_constant=_parse_constant
).scan_once  # type: ignore[attr-defined]


def _container_depth_at_most(value: Any, limit: int) -> bool:
    """Whether lists/dicts nest at most ``limit`` deep in a decoded value (one pass over its containers)."""
    level = [value] if type(value) is dict or type(value) is list else []
    for _ in range(limit):
        if not level:
            return True
        level = [
            child
            for container in level
            for child in (container.values() if type(container) is dict else container)
            if type(child) is dict or type(child) is list
        ]
    return not level


def _check_depth(value: Any) -> None:
    # Each container level costs at most 3 JSON levels (an escaped tag-like dict), plus 1 for a tagged scalar.
    if not _container_depth_at_most(value, (MAX_DEPTH - 1) // 3):
        _escape(value, MAX_DEPTH)  # the exact rule, shared with the encoder; raises _TooDeep


def _decode_payload(payload: bytes) -> Any:
    """The value of a typed-JSON payload; ``ValueError`` (or ``ArithmeticError``, ``RecursionError``,
    ``SerializationError``) if it is not exactly one well-formed value within :data:`MAX_DEPTH`."""
    text = payload.decode("utf-8")
    try:
        value, end = _scan(text, 0)
    except StopIteration:  # no JSON value at all (e.g. empty)
        raise ValueError("no JSON value") from None
    if end != len(text):
        raise ValueError(f"trailing data after the JSON value at offset {end}")
    size = len(payload)
    if size > 2 * MAX_DEPTH + 1:  # 65 levels need 130 bytes of brackets
        if size > _COUNT_BELOW:
            _check_depth(value)
        else:
            # Depth <= the number of "{" and "[" bytes. Rows have no "[" and pages one, so the "[" are
            # found one memchr at a time (an int argument; a bytes one is much slower), stopping past 64.
            openers = payload.count(b"{")
            at = payload.find(91)
            while at >= 0 and openers <= MAX_DEPTH:
                openers += 1
                at = payload.find(91, at + 1)
            if openers > MAX_DEPTH:
                _check_depth(value)
    if 92 in payload and _SURROGATE_ESCAPE.search(payload):  # 92: a backslash, so maybe a \uD800 escape
        # A lone surrogate escape decodes to a str that UTF-8 cannot carry back: check it re-encodes.
        _encoder.encode(value).encode("utf-8")
    return value


_DECODE_ERRORS = (ValueError, TypeError, ArithmeticError, RecursionError, SerializationError)


# --- public API -----------------------------------------------------------------------------------------


def dumps(value: Any) -> str:
    """Typed JSON text of ``value``; raises :class:`SerializationError` for unsupported types and for values
    nested deeper than :data:`MAX_DEPTH`."""
    try:
        return _encoder.encode(_escape(value, MAX_DEPTH))
    except SerializationError:
        raise
    except (TypeError, ValueError, RecursionError) as exc:
        raise SerializationError(str(exc)) from exc


def loads(text: str | bytes) -> Any:
    """Inverse of :func:`dumps`; ``ValueError`` for any text :func:`decode_entry` would call corrupt."""
    payload = text if isinstance(text, (bytes, bytearray)) else text.encode("utf-8", "surrogatepass")
    try:
        return _decode_payload(bytes(payload))
    except ValueError:
        raise
    except _DECODE_ERRORS as exc:
        raise ValueError(f"undecodable typed JSON: {exc}") from exc


def encode_entry(kind: bytes, soft_deadline_ms: int, value: Any, *, compress_min_bytes: int = 0) -> bytes:
    """Frame a value (or a negative marker when ``kind`` is ``N``) for storage. A value whose JSON is at
    least ``compress_min_bytes`` long (0: never) is stored compressed (``Z``) when that makes it smaller."""
    if kind == KIND_NEGATIVE:
        payload = b""
    elif kind == KIND_VALUE:
        try:
            payload = dumps(value).encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate in a string
            raise SerializationError(f"cannot cache a string that is not valid Unicode: {exc}") from exc
        if 0 < compress_min_bytes <= len(payload):
            packed = zlib.compress(payload, _ZLIB_LEVEL)
            if len(packed) < len(payload):
                kind, payload = KIND_COMPRESSED, packed
    else:
        raise ValueError(f"unknown cache entry kind {kind!r}")
    deadline = b"%d" % soft_deadline_ms
    if len(deadline) > _MAX_DEADLINE_DIGITS:  # decode_entry would not read it back
        raise ValueError(f"soft deadline {soft_deadline_ms} out of range")
    return b"%s|%s|%s" % (kind, deadline, payload)


def decode_entry(raw: bytes) -> tuple[bytes, int, Any]:
    """``(kind, soft_deadline_ms, value)``; raises :class:`CorruptEntry` on anything malformed, and nothing
    else, whatever bytes ``raw`` holds (a ``str`` is a programming error: ``TypeError``)."""
    try:
        kind, deadline, payload = raw.split(b"|", 2)
    except ValueError:
        raise CorruptEntry("undecodable cache entry: no <kind>|<deadline>| framing") from None
    if len(deadline) > _MAX_DEADLINE_DIGITS or not (
        deadline.isdigit() or (deadline[:1] == b"-" and deadline[1:].isdigit())
    ):
        raise CorruptEntry(f"undecodable cache entry: deadline {deadline[:24]!r} is not an integer")
    soft = int(deadline)
    if kind == KIND_VALUE:
        try:
            value = _decode_payload(payload)
        except _DECODE_ERRORS as exc:
            raise CorruptEntry(f"undecodable cache entry: {type(exc).__name__}: {exc}"[:300]) from exc
        if value is None:  # "does not exist" is kind N; a V entry holding null was never written by us
            raise CorruptEntry("undecodable cache entry: a value entry holding null")
        return kind, soft, value
    if kind == KIND_COMPRESSED:
        try:
            inflater = zlib.decompressobj()
            text = inflater.decompress(payload, MAX_INFLATED_BYTES)
            if inflater.unconsumed_tail or not inflater.eof or inflater.unused_data:
                raise ValueError("truncated, oversized or trailing compressed data")
            value = _decode_payload(text)
        except (zlib.error, *_DECODE_ERRORS) as exc:
            raise CorruptEntry(
                f"undecodable compressed cache entry: {type(exc).__name__}: {exc}"[:300]
            ) from exc
        if value is None:
            raise CorruptEntry("undecodable cache entry: a value entry holding null")
        return KIND_VALUE, soft, value
    if kind == KIND_NEGATIVE:
        if payload:
            raise CorruptEntry("undecodable cache entry: a negative entry with a payload")
        return kind, soft, None
    raise CorruptEntry(f"unknown cache entry kind {kind[:8]!r}")
