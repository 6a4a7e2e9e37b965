"""The hit path's memos (issue 14): a hot key's decoded entry and response body are reused only while the
cache returns the very same bytes. The guarantee at stake: a memo never serves anything the cache does
not hold now. Against a real redis-server.
"""

from __future__ import annotations

import json

import pytest
from handler_support import event

from cachelib import Cache, CacheStatus, codec
from cachelib.entries import MEMO_KEYS, EntryDecoder
from functions import product_api

pytest_plugins = ["handler_fixtures"]  # fixtures shared by the handler tests


class Loader:
    def __init__(self, value):
        self.value = value
        self.calls = 0

    def __call__(self, endpoint):
        self.calls += 1
        return self.value


def serves_the_current_bytes(cache: Cache, redis_client) -> bool:
    """Fill a key, read it twice (memoized), replace the entry's bytes behind the cache's back (as another
    container's write-through would), and read again: the read must show the new value."""
    key = cache.keys.key("product", 1)
    cache.get_or_load(key, Loader({"v": 1}), ttl=60)
    cache.get_or_load(key, Loader({"v": 1}), ttl=60)
    soft_ms = codec.decode_entry(redis_client.get(key))[1]
    redis_client.set(key, codec.encode_entry(codec.KIND_VALUE, soft_ms, {"v": 2}))
    result = cache.get_or_load(key, Loader({"v": 1}), ttl=60)
    return result.status is CacheStatus.HIT and result.value == {"v": 2}


def test_a_changed_entry_is_decoded_again(make_cache, redis_client):
    assert serves_the_current_bytes(make_cache(), redis_client)


def test_the_check_catches_a_memo_keyed_on_the_key_alone(make_cache, redis_client, monkeypatch):
    decode = EntryDecoder.decode

    def by_key_only(self, key, raw, accept):  # protection off: ignores the bytes
        memo = self._memo.get(key)
        return memo[2] if memo is not None else decode(self, key, raw, accept)

    monkeypatch.setattr(EntryDecoder, "decode", by_key_only)
    cache = make_cache()  # binds the patched decode
    assert not serves_the_current_bytes(cache, redis_client)


def test_same_bytes_are_decoded_once_and_share_one_value(make_cache, monkeypatch):
    cache = make_cache()
    key = cache.keys.key("product", 2)
    cache.get_or_load(key, Loader({"v": 1}), ttl=60)
    decodes = []
    real = codec.decode_entry
    monkeypatch.setattr(codec, "decode_entry", lambda raw: decodes.append(raw) or real(raw))
    first = cache.get_or_load(key, Loader(None), ttl=60)
    second = cache.get_or_load(key, Loader(None), ttl=60)
    assert first.status is second.status is CacheStatus.HIT
    assert first.value is second.value and len(decodes) == 1


def test_a_different_shape_check_is_not_answered_from_the_memo(make_cache, redis_client):
    cache = make_cache()
    key = cache.keys.key("product", 3)
    cache.get_or_load(key, Loader({"v": 1}), ttl=60)
    assert cache.get_or_load(key, Loader(None), ttl=60, accept=lambda v: True).status is CacheStatus.HIT
    reloaded = Loader({"v": 1, "ok": True})
    result = cache.get_or_load(key, reloaded, ttl=60, accept=lambda v: "ok" in v)
    assert result.status is CacheStatus.MISS and reloaded.calls == 1  # the wrong shape is corrupt


def test_the_memo_stays_bounded(make_cache):
    cache = make_cache()
    for product_id in range(MEMO_KEYS + 10):
        cache.get_or_load(cache.keys.key("product", product_id), Loader({"id": product_id}), ttl=60)
    assert len(cache.entries) <= MEMO_KEYS


@pytest.mark.parametrize("mode", ["invalidate", "write-through"])
def test_the_response_body_follows_a_write(handler_env, monkeypatch, mode):
    monkeypatch.setenv("PRODUCT_WRITE_MODE", mode)
    product_api.reset_state()

    def get() -> dict:
        response = product_api.lambda_handler(event("GET", "/products/5"), None)
        return json.loads(response["body"])

    before = get()
    assert get() == before  # a memoized hit
    changed = {**before, "name": "renamed", "price": "3.25"}
    for field in ("id", "updated_at"):
        changed.pop(field)
    put = product_api.lambda_handler(event("PUT", "/products/5", body=changed), None)
    assert put["statusCode"] == 200
    after = get()
    assert after["name"] == "renamed" and after["price"] == "3.25"
