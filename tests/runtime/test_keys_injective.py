"""Cache keys are injective: two different calls never build the same key, and a key decodes back to its call.

A call is ``(kind, namespace, parts, labels)``: ``kind`` is ``"value"`` for :meth:`KeyBuilder.key` and
``"version"`` for :meth:`KeyBuilder.version_key`, ``parts`` a tuple of ``str``/``int`` and ``labels`` a
dict. :func:`parse_key` below is the decoder; a left inverse of the encoder proves it injective, and the pair
test checks the "equal iff" directly, including sidecars and the channel.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cachelib import KeyBuilder
from cachelib.keys import lease_key

PREFIX, VERSION = "shop", "3"
KEYS = KeyBuilder(PREFIX, VERSION)
NAMESPACE = re.compile(r"[A-Za-z0-9_-]+")
LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
INT = re.compile(r"-?[0-9]+")
ENCODED_STR = re.compile(r"(?:[A-Za-z0-9_.~-]|%[0-9A-F]{2})*")

Call = tuple[str, str, tuple[Any, ...], dict[str, Any]]


def parse_key(key: str, builder: KeyBuilder = KEYS) -> Call | None:
    """The call that built ``key``, or ``None`` if no call builds it (a sidecar, the channel, garbage)."""
    head = f"{builder.prefix}:{builder.version}:{{"
    if not key.startswith(head) or not key.endswith("}"):
        return None
    namespace, *segments = key[len(head) : -1].split(":")
    kind = "value"
    if namespace.startswith("ver-"):
        kind, namespace = "version", namespace[len("ver-") :]
    if not NAMESPACE.fullmatch(namespace):
        return None
    parts: list[Any] = []
    labels: dict[str, Any] = {}
    for segment in segments:
        name, eq, raw = segment.partition("=")
        if eq:
            if not LABEL.fullmatch(name) or name in labels or (labels and name < max(labels)):
                return None  # labels are unique and sorted
            labels[name] = _parse_value(raw)
        elif labels:
            return None  # positional parts come first
        else:
            parts.append(_parse_value(segment))
    if kind == "version" and labels:
        return None
    if any(value is None for value in (*parts, *labels.values())):
        return None
    return kind, namespace, tuple(parts), labels


def _parse_value(raw: str) -> Any:
    if INT.fullmatch(raw):
        return int(raw)
    if not ENCODED_STR.fullmatch(raw):
        return None
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        return None


def build(call: Call) -> str:
    kind, namespace, parts, labels = call
    if kind == "version":
        return KEYS.version_key(namespace, *parts)
    return KEYS.key(namespace, *parts, **labels)


# --- strategies -----------------------------------------------------------------------------------------

# Strings that stress the encoding: separators, escapes, int look-alikes, the version prefix, non-ASCII.
TRICKY = ["", ":", "=", "{", "}", "%", "%3D", "%35", " ", "-", "5", "-5", "05", "+5", "1.5", "ver-", "é", "~"]
texts = st.one_of(
    st.sampled_from(TRICKY),
    st.text(alphabet=st.sampled_from("ab5-_.:=%{} é~"), max_size=6),
    st.text(max_size=8),
)
values = st.one_of(st.integers(), st.integers(-20, 20).map(str), texts)
namespaces = st.one_of(
    st.sampled_from(["p", "products", "product", "ver", "ver_x", "version", "hot", "-x", "_5", "5"]),
    st.from_regex(NAMESPACE, fullmatch=True).filter(lambda n: len(n) <= 12),
).filter(lambda n: not n.startswith("ver-") and any(c.isalnum() for c in n))
label_names = st.one_of(
    st.sampled_from(["v", "page", "limit", "category", "_", "a1"]), st.from_regex(LABEL, fullmatch=True)
)
value_calls = st.tuples(
    st.just("value"),
    namespaces,
    st.lists(values, max_size=4).map(tuple),
    st.dictionaries(label_names.filter(lambda n: len(n) <= 10), values, max_size=3),
)
version_calls = st.tuples(
    st.just("version"), namespaces, st.lists(values, max_size=3).map(tuple), st.just({})
)
calls = st.one_of(value_calls, version_calls)


def _mutations(call: Call) -> st.SearchStrategy[Call]:
    """Calls close to ``call``: the likeliest to collide if the encoding were not injective."""
    kind, namespace, parts, labels = call
    other_kind = "version" if kind == "value" else "value"
    swapped = tuple(str(p) if isinstance(p, int) else p for p in parts)
    options = [
        st.just(call),
        st.just((other_kind, namespace, parts, {})),
        st.just((kind, namespace, swapped, labels)),
        st.just(("value", namespace, (*parts, *(f"{k}={v}" for k, v in sorted(labels.items()))), {})),
        st.just(("value", namespace, (":".join(map(str, parts)),), labels)),
        st.just(("value", "ver-" + namespace, parts, labels)) if kind == "version" else st.nothing(),
        calls,
    ]
    return st.one_of(options)


def _built(call: Call) -> str | None:
    try:
        return build(call)
    except ValueError:  # longer than 512 characters, or a namespace reserved for version keys
        return None


# --- properties -----------------------------------------------------------------------------------------


@given(calls)
def test_every_key_decodes_back_to_its_call(call):
    key = _built(call)
    assume(key is not None)
    assert parse_key(key) == call
    assert key.count("{") == 1 and key.count("}") == 1 and key.endswith("}")
    assert len(key) <= 512 and key.isascii() and " " not in key


@given(st.data())
def test_keys_are_equal_iff_the_calls_are_equal(data):
    first = data.draw(calls, label="first")
    second = data.draw(_mutations(first), label="second")
    k1, k2 = _built(first), _built(second)
    assume(k1 is not None and k2 is not None)
    assert (k1 == k2) == (first == second)
    for a, b in ((k1, k2), (k2, k1)):
        assert a not in (lease_key(b), KEYS.channel())


@given(calls)
def test_sidecars_share_the_hash_slot_and_are_never_keys(call):
    key = _built(call)
    assume(key is not None)

    def hash_tag(k: str) -> str:  # Redis Cluster: the text between the first "{" and the next "}"
        start = k.index("{")
        return k[start + 1 : k.index("}", start + 1)]

    for sidecar in (lease_key(key),):
        assert hash_tag(sidecar) == hash_tag(key)
        assert parse_key(sidecar) is None
    assert parse_key(KEYS.channel()) is None


@given(st.integers())
def test_int_parts_are_plain_decimal_so_the_warmer_can_build_product_keys(product_id):
    # functions.cache_warmer.key_parts splits a product key around the id and builds keys in SQL.
    head, _, tail = KEYS.key("product", 987654321).partition("987654321")
    assert KEYS.key("product", product_id) == f"{head}{product_id}{tail}"


# --- the collisions that used to happen, and the format ----------------------------------------------------


def test_a_label_cannot_be_forged_by_a_positional_part():
    assert KEYS.key("products", "category=books") != KEYS.key("products", category="books")
    assert KEYS.key("products", "category=books") == "shop:3:{products:category%3Dbooks}"
    assert KEYS.key("products", category="books") == "shop:3:{products:category=books}"


def test_an_int_and_its_digits_are_different_parts():
    assert KEYS.key("p", 5) != KEYS.key("p", "5")
    assert (KEYS.key("p", 5), KEYS.key("p", "5"), KEYS.key("p", -5), KEYS.key("p", "-5")) == (
        "shop:3:{p:5}",
        "shop:3:{p:%35}",
        "shop:3:{p:-5}",
        "shop:3:{p:%2D5}",
    )
    assert KEYS.key("p", v=5) != KEYS.key("p", v="5")


def test_a_value_key_cannot_name_a_version_counter():
    assert KEYS.version_key("products", "books") == "shop:3:{ver-products:books}"
    with pytest.raises(ValueError, match="reserved"):
        KEYS.key("ver-products", "books")
    assert KEYS.key("ver", "products", "books") != KEYS.version_key("products", "books")


def test_the_keys_the_application_uses_keep_their_names():
    # Unchanged by the injective encoding, so deployed entries and version counters stay reachable.
    assert KEYS.key("product", 42) == "shop:3:{product:42}"
    assert KEYS.key("hot", "products") == "shop:3:{hot:products}"
    page = KEYS.key("products", category="books", page=2, limit=20, v=1767225600000000)
    assert page == "shop:3:{products:category=books:limit=20:page=2:v=1767225600000000}"
    assert KEYS.version_key("products", "ALL") == "shop:3:{ver-products:ALL}"
    assert KEYS.channel() == "shop:3:l1-invalidate"


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: KEYS.key("bad:ns", 1), ValueError),
        (lambda: KEYS.key("", 1), ValueError),
        (lambda: KEYS.key("-", 1), ValueError),
        (lambda: KEYS.key("é", 1), ValueError),
        (lambda: KEYS.key("p", **{"a=b": 1}), ValueError),
        (lambda: KEYS.key("p", **{"é": 1}), ValueError),
        (lambda: KEYS.key("p", **{"1a": 1}), ValueError),
        (lambda: KEYS.version_key("a.b"), ValueError),
        (lambda: KEYS.key("p", "x" * 600), ValueError),
        (lambda: KEYS.key("p", "\ud800"), ValueError),
        (lambda: KEYS.key("p", 1.5), TypeError),
        (lambda: KEYS.key("p", True), TypeError),
        (lambda: KEYS.key("p", None), TypeError),
    ],
)
def test_bad_calls_are_refused_not_mangled(call, error):
    with pytest.raises(error):
        call()


def test_a_long_key_is_refused_never_truncated():
    fits = KEYS.key("p", "x" * (512 - len("shop:3:{p:}")))
    assert len(fits) == 512
    with pytest.raises(ValueError, match="512"):
        KEYS.key("p", "x" * (513 - len("shop:3:{p:}")))
    with pytest.raises(ValueError, match="512"):
        KEYS.key("p", ":" * 200)  # 200 characters, 600 once escaped
