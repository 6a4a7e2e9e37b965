"""A corrupt entry is a miss, never a 500: ``decode_entry`` returns a value or raises ``CorruptEntry``.

And the codec never writes what it would later call corrupt: values nested past ``MAX_DEPTH`` are refused on
encode, payloads nested past it are corrupt on decode, so every decoded value can be encoded again.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cachelib import SerializationError, codec
from cachelib.codec import KIND_NEGATIVE, KIND_VALUE, MAX_DEPTH, decode_entry, encode_entry
from cachelib.errors import CorruptEntry

DEADLINE = 1767225600000


def entry(payload: str | bytes, kind: bytes = b"V", deadline: bytes = b"1767225600000") -> bytes:
    body = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
    return kind + b"|" + deadline + b"|" + body


def decodes_or_is_corrupt(raw: bytes) -> None:
    """The contract, plus: whatever decodes can be written back, and decodes to the same thing again."""
    try:
        kind, soft, value = decode_entry(raw)
    except CorruptEntry:
        return
    again = encode_entry(kind, soft, value)  # never SerializationError for a decoded value
    assert encode_entry(*decode_entry(again)) == again


def assert_same(a: Any, b: Any) -> None:
    """Equal, and of the same types all the way down (1 vs 1.0, Decimal("1.0") vs Decimal("1.00"), ...)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, Decimal):
        assert a.as_tuple() == b.as_tuple()
    elif isinstance(a, datetime):
        assert (a.replace(tzinfo=None), a.utcoffset()) == (b.replace(tzinfo=None), b.utcoffset())
    elif isinstance(a, float):
        assert repr(a) == repr(b)
    else:
        assert a == b


# --- round trips ----------------------------------------------------------------------------------------

TAG_KEYS = ["$dec", "$dt", "$date", "$b64", "$obj", "$other", "dec", "$"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.datetimes(timezones=st.none() | st.just(UTC) | st.timezones()),
    st.datetimes(timezones=st.builds(timezone, st.integers(-1439, 1439).map(lambda m: timedelta(minutes=m)))),
    st.dates(),
    st.binary(max_size=16),
)
typed_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=5), inner, max_size=4),
        # Dicts that look like tags (one key) or almost (two keys, or a near miss like "dec").
        st.dictionaries(st.sampled_from(TAG_KEYS), inner, min_size=1, max_size=2),
    ),
    max_leaves=16,
)


def wire_depth(value: Any) -> int:
    """JSON nesting the encoder writes for ``value``: containers 1, tagged scalars 1, tag-like dicts 3."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in codec._TAGS:
            return 3 + wire_depth(next(iter(value.values())))
        return 1 + max(map(wire_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(wire_depth, value), default=0)
    return 1 if isinstance(value, (Decimal, date, bytes)) else 0


def text_depth(payload: bytes) -> int:
    """Deepest nesting of ``[``/``{`` in JSON text, outside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in payload.decode("utf-8"):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


@given(typed_values)
def test_typed_values_round_trip_exactly(value):
    if value is None:  # "no such row" is a negative entry (kind N): a value entry holding null is corrupt
        with pytest.raises(CorruptEntry):
            decode_entry(encode_entry(KIND_VALUE, DEADLINE, value))
        return
    if wire_depth(value) > MAX_DEPTH:  # rare with 16 leaves, but then it must be refused
        with pytest.raises(SerializationError):
            encode_entry(KIND_VALUE, DEADLINE, value)
        return
    raw = encode_entry(KIND_VALUE, DEADLINE, value)
    assert text_depth(raw.split(b"|", 2)[2]) == wire_depth(value)
    kind, soft, decoded = decode_entry(raw)
    assert (kind, soft) == (KIND_VALUE, DEADLINE)
    assert_same(decoded, value)
    assert encode_entry(kind, soft, decoded) == raw


def _nest_tuples(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = (value,)
    return value


def _nest(levels: int, leaf: Any, shape: str) -> Any:
    value = leaf
    for i in range(levels):
        if shape == "list":
            value = [value]
        elif shape == "dict":
            value = {"k": value}
        else:  # alternate, with a sibling at every level
            value = [1, value] if i % 2 else {"a": value, "b": "[{"}
    return value


@pytest.mark.parametrize("shape", ["list", "dict", "mixed"])
@pytest.mark.parametrize(("leaf", "leaf_levels"), [(1, 0), ("s", 0), (Decimal("1.5"), 1), (b"\x00", 1)])
def test_the_depth_limit_is_the_same_on_both_sides(shape, leaf, leaf_levels):
    deepest = _nest(MAX_DEPTH - leaf_levels, leaf, shape)
    raw = encode_entry(KIND_VALUE, DEADLINE, deepest)
    assert decode_entry(raw)[2] == deepest
    with pytest.raises(SerializationError, match="deeper than 64"):
        encode_entry(KIND_VALUE, DEADLINE, _nest(MAX_DEPTH - leaf_levels + 1, leaf, shape))
    with pytest.raises(SerializationError):
        codec.dumps(_nest(MAX_DEPTH - leaf_levels + 1, leaf, shape))
    # The same one level too deep, written by hand: corrupt, not a value nobody could write back.
    too_deep = b"[" + raw.split(b"|", 2)[2] + b"]"
    with pytest.raises(CorruptEntry, match="deeper than 64"):
        decode_entry(entry(too_deep))


def test_an_escaped_tag_like_dict_counts_three_levels():
    # {"$dec": v} is written {"$obj": [["$dec", v]]}: three JSON levels around v.
    fits = _nest(MAX_DEPTH - 3, 1, "list")
    assert decode_entry(encode_entry(KIND_VALUE, 1, {"$dec": fits}))[2] == {"$dec": fits}
    with pytest.raises(SerializationError):
        encode_entry(KIND_VALUE, 1, {"$dec": [fits]})


def test_unencodable_values_are_a_serialization_error_not_a_crash():
    loop: list[Any] = []
    loop.append(loop)
    for value in (
        loop,
        _nest(100_000, 1, "list"),
        _nest_tuples(MAX_DEPTH + 1),
        frozenset([_nest_tuples(MAX_DEPTH)]),
        "\ud800",  # a lone surrogate cannot be stored as UTF-8
        {"k": "\udc00"},
        math.nan,
        {"x": object()},
        {(1, 2): 1},
    ):
        with pytest.raises(SerializationError):
            encode_entry(KIND_VALUE, 1, value)


# --- corrupt entries ------------------------------------------------------------------------------------

CORRUPT = [
    # framing
    b"",
    b"V",
    b"V|1",
    b"Z|1|1",
    b"v|1|1",
    b"|1|1",
    b"V|x|1",
    b"V||1",
    b"V|1.5|1",
    b"V| 1|1",
    b"V|1 |1",
    b"V|+1|1",
    b"V|1_000|1",
    b"V|--1|1",
    b"V|-|1",
    b"V|" + b"9" * 5000 + b"|1",
    b"V|\xd9\xa3|1",  # an Arabic-Indic digit: int() would take it
    b"V|1|",  # kind V needs a value
    b"N|1|null",  # kind N has no payload
    b"N|1|x",
    # JSON
    b"V|1|{",
    b"V|1|1 2",
    b"V|1|1x",
    b"V|1|[1]]",
    b"V|1| 1",
    b"V|1|1 ",
    b"V|1|\xff",
    b"V|1|\xed\xa0\x80",  # a UTF-8-encoded surrogate
    b'V|1|"\xc3"',
    b"V|1|NaN",
    b"V|1|Infinity",
    b"V|1|-Infinity",
    b"V|1|[1e999]",
    b"V|1|-1e400",
    b"V|1|" + b"1" * 5000,
    b'V|1|"\\ud800"',
    b'V|1|{"a":"x\\udfff"}',
    b'V|1|"\\x"',
    b"V|9999999999999|" + b"[" * 100_000 + b"]" * 100_000,
    b"V|1|" + b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    b"V|1|" + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
    b"V|1|" + b'{"$obj":[["$dec",' * 30 + b"1" + b"]]}" * 30,
    # tags
    b'V|1|{"$dt":5}',
    b'V|1|{"$dt":"yesterday"}',
    b'V|1|{"$dt":null}',
    b'V|1|{"$date":[]}',
    b'V|1|{"$date":"2026-02-30"}',
    b'V|1|{"$dec":"x"}',
    b'V|1|{"$dec":1.5}',
    b'V|1|{"$dec":"1e"}',
    b'V|1|{"$b64":"!!"}',
    b'V|1|{"$b64":"QQ"}',
    b'V|1|{"$b64":"\xc3\xa9"}',
    b'V|1|{"$b64":{}}',
    b'V|1|{"$obj":5}',
    b'V|1|{"$obj":[[1]]}',
    b'V|1|{"$obj":[[1,2]]}',
    b'V|1|{"$obj":[["a",2]]}',
    b'V|1|{"$obj":[]}',
    b'V|1|{"$obj":[["$dec",1],["$dt",2]]}',
    b'V|1|{"$obj":[["$dec",1,2]]}',
    b'V|1|{"$obj":{"$dec":1}}',
    b'V|1|[{"$dec":"1"},{"$dt":[]}]',
]


@pytest.mark.parametrize("raw", CORRUPT, ids=lambda raw: repr(raw[:40]))
def test_corrupt_entries_raise_corrupt_entry_and_nothing_else(raw):
    with pytest.raises(CorruptEntry):
        decode_entry(raw)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"N|1|", None),
        (b"V|-5|1", 1),
        (b'V|1|{"$obj":[["$dec",{"$dec":"1.5"}]]}', {"$dec": Decimal("1.5")}),
        (b'V|1|{"$other":5}', {"$other": 5}),
        (b'V|1|"\\ud83d\\ude00"', "\U0001f600"),  # a valid surrogate pair
        (b'V|1|"\\\\ud800"', "\\ud800"),  # an escaped backslash, not a surrogate
        (b'V|1|{"a":1,"a":[2]}', {"a": [2]}),
    ],
)
def test_unusual_but_valid_entries_decode(raw, value):
    assert decode_entry(raw)[2] == value
    decodes_or_is_corrupt(raw)


def test_loads_reports_a_corrupt_payload_as_a_value_error():
    for text in ("[" * 100_000, '{"$dt": 5}', "NaN", "[" * 65 + "]" * 65, "1 2"):
        with pytest.raises(ValueError):
            codec.loads(text)
    assert codec.loads('{"$dec":"1.5"}') == Decimal("1.5")


# --- properties over arbitrary bytes ------------------------------------------------------------------

JSON_TOKENS = [
    "[", "]", "{", "}", ",", ":", " ", '"x"', '"$dec"', '"$dt"', '"$date"', '"$b64"', '"$obj"', '"1.5"',
    '"2026-01-02T03:04:05+00:00"', '"2026-01-02"', '"QQ=="', '"!!"', '"\\ud800"', '"\\\\"', "1", "-0",
    "1e999", "1.5", "NaN", "Infinity", "true", "null", '"é"', "\\",
]  # fmt: skip
json_ish = st.lists(st.sampled_from(JSON_TOKENS), max_size=40).map("".join)
framed = st.tuples(
    st.sampled_from([b"V", b"N", b"X", b""]),
    st.sampled_from([b"1", b"-1", b"", b"x", b"1767225600000"]) | st.binary(max_size=4),
    json_ish.map(lambda t: t.encode("utf-8")) | st.binary(max_size=40),
).map(lambda t: b"|".join(t))


@given(st.binary(max_size=200) | framed)
@example(b'V|1|{"$obj":[["$dec",[[[[]]]]]]}')
@example(b'V|1|[{"$dec":"NaN"},{"$dec":"-Infinity"},{"$dec":"sNaN"}]')
def test_arbitrary_bytes_decode_or_are_corrupt(raw):
    decodes_or_is_corrupt(raw)


@given(typed_values, st.data())
def test_mutated_entries_decode_or_are_corrupt(value, data):
    raw = encode_entry(KIND_VALUE, DEADLINE, value)
    for cut in range(len(raw)):
        decodes_or_is_corrupt(raw[:cut])
    position = data.draw(st.integers(0, len(raw) - 1), label="position")
    flipped = bytearray(raw)
    flipped[position] ^= data.draw(st.integers(1, 255), label="xor")
    decodes_or_is_corrupt(bytes(flipped))
    inserted = data.draw(st.sampled_from([b"[", b"{", b"]", b'"', b"\\", b"|", b"\x80"]), label="insert")
    decodes_or_is_corrupt(raw[:position] + inserted + raw[position:])


def test_negative_entries_round_trip():
    assert decode_entry(encode_entry(KIND_NEGATIVE, DEADLINE, None)) == (KIND_NEGATIVE, DEADLINE, None)
    with pytest.raises(ValueError, match="kind"):
        encode_entry(b"X", DEADLINE, 1)
    with pytest.raises(ValueError, match="deadline"):
        encode_entry(KIND_VALUE, 10**25, 1)  # decode_entry reads at most 20 characters
    assert decode_entry(encode_entry(KIND_VALUE, -(10**18), 1)) == (KIND_VALUE, -(10**18), 1)


def test_the_hit_path_does_not_walk_a_product(monkeypatch):
    # A product row has three "{": the depth check must stay a byte count, not a walk of the value.
    product = {
        "id": 4242,
        "name": "Durable Walnut Bookshelf 4242",
        "category": "furniture",
        "price": Decimal("129.99"),
        "stock": 17,
        "description": "Sample furniture product number 4242. " * 4,
        "updated_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    }
    raw = encode_entry(KIND_VALUE, DEADLINE, product)

    def walked(value):
        raise AssertionError("decoding a product walked the value")

    monkeypatch.setattr(codec, "_check_depth", walked)
    assert decode_entry(raw)[2] == product
