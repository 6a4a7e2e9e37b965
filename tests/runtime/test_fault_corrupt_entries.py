"""Whatever bytes sit under a product or list-page key, the handler answers from the database: never a 500,
and the bad entry is replaced.

The fault: a cache entry of any shape (random bytes, a truncated frame, bad UTF-8, JSON nested a hundred
thousand levels deep, a well-formed entry holding the wrong type). The sabotage run decodes the way the
library did before (any ``RecursionError`` or shape mismatch escapes) and must produce a 500.
"""

from __future__ import annotations

import time

import pytest
from handler_support import call
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachelib import codec
from functions import product_api
from functions.product_store import is_product, product_key

pytest_plugins = ["handler_fixtures"]

pytestmark = pytest.mark.fault

FUTURE_MS = b"%d" % (int(time.time() * 1000) + 3_600_000)
DEEP = b"V|" + FUTURE_MS + b"|" + b"[" * 100_000 + b"]" * 100_000

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
entries = st.one_of(
    st.binary(max_size=64),
    st.binary(max_size=64).map(lambda b: b"V|" + FUTURE_MS + b"|" + b),
    json_values.map(
        lambda v: codec.encode_entry(codec.KIND_VALUE, int(FUTURE_MS), v)
    ),  # well-formed, wrong shape
    st.sampled_from(
        [
            DEEP,
            b"V|" + FUTURE_MS + b'|{"id":1,"name":"x"',  # truncated
            b"V|" + FUTURE_MS + b"|\xff\xfe",  # bad UTF-8
            b"V|" + FUTURE_MS + b'|{"$dt":5}',  # a tag with the wrong type
            b"V|" + FUTURE_MS + b"|NaN",
            b"N|" + FUTURE_MS + b"|unexpected",
            b"V|not-a-deadline|{}",
        ]
    ),
)

PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY
@given(raw=entries)
def test_any_entry_under_a_product_key_is_answered_from_the_database_and_replaced(
    handler_env, redis_client, raw
):
    store = product_api.store()
    key = product_key(store.cache, 1)
    redis_client.set(key, raw)
    status, _headers, body = call(product_api.lambda_handler, "GET", "/products/1")
    assert status == 200 and body["id"] == 1
    stored = redis_client.get(key)
    if stored != raw:  # replaced: what is there now is a real product
        assert is_product(codec.decode_entry(stored)[2])
    else:  # left alone only if it already decoded to a real product
        assert is_product(codec.decode_entry(raw)[2])


def test_sabotage_decoding_without_the_corruption_guards_turns_a_deep_entry_into_a_500(
    handler_env, redis_client, monkeypatch
):
    def legacy_decode(raw: bytes):
        kind, deadline, payload = raw.split(b"|", 2)
        import json

        return kind, int(deadline), json.loads(payload)  # RecursionError escapes, as it did

    monkeypatch.setattr(codec, "decode_entry", legacy_decode)
    store = product_api.store()
    redis_client.set(product_key(store.cache, 1), DEEP)
    status, _headers, body = call(product_api.lambda_handler, "GET", "/products/1")
    assert status == 500 and body["error"] == "internal_error"
