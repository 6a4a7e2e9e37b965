"""Compressed entries: stored compressed above the threshold, read back exactly, coexisting with plain
entries across a change of the setting, and corrupt compressed data is a miss that is deleted."""

from __future__ import annotations

import zlib

import pytest

from cachelib import CacheStatus, codec
from cachelib.errors import CorruptEntry

PAGE = {
    "items": [
        {"id": i, "name": f"Product {i}", "description": f"Sample product number {i}."} for i in range(20)
    ]
}


def test_a_value_above_the_threshold_is_stored_compressed_and_read_back_exactly(make_cache, redis_client):
    cache = make_cache(cache_compress_min_bytes=512)
    key = cache.keys.key("products", page=1)
    cache.get_or_load(key, lambda _ep: PAGE, ttl=60)
    stored = redis_client.get(key)
    assert stored.startswith(b"Z|") and len(stored) < len(codec.encode_entry(codec.KIND_VALUE, 0, PAGE)) // 2
    result = cache.get_or_load(key, lambda _ep: None, ttl=60)
    assert (result.status, result.value) == (CacheStatus.HIT, PAGE)


def test_a_value_below_the_threshold_stays_plain(make_cache, redis_client):
    cache = make_cache(cache_compress_min_bytes=512)
    key = cache.keys.key("product", 1)
    cache.get_or_load(key, lambda _ep: {"id": 1}, ttl=60)
    assert redis_client.get(key).startswith(b"V|")


def test_entries_written_with_and_without_compression_coexist_across_a_setting_change(make_cache):
    plain, packed = make_cache(cache_compress_min_bytes=0), make_cache(cache_compress_min_bytes=1)
    a, b = plain.keys.key("products", page=1), plain.keys.key("products", page=2)
    plain.get_or_load(a, lambda _ep: PAGE, ttl=60)
    packed.get_or_load(b, lambda _ep: PAGE, ttl=60)
    for reader in (plain, packed):  # old and new containers during a deploy
        assert reader.get_or_load(a, lambda _ep: None, ttl=60).status is CacheStatus.HIT
        assert reader.get_or_load(b, lambda _ep: None, ttl=60).value == PAGE


@pytest.mark.parametrize(
    "payload",
    [
        b"not zlib",
        zlib.compress(b'{"a":1}')[:-3],  # truncated
        zlib.compress(b'{"a":1}') + b"trailing",
        zlib.compress(b"[" * 100_000),  # deep nesting once inflated
        zlib.compress(b" " * (codec.MAX_INFLATED_BYTES + 1)),  # a bomb
        zlib.compress(b"null"),
        zlib.compress(b"\xff\xfe"),
    ],
)
def test_corrupt_compressed_data_is_a_miss_and_is_deleted(make_cache, redis_client, payload):
    with pytest.raises(CorruptEntry):
        codec.decode_entry(b"Z|9999999999999|" + payload)
    cache = make_cache()
    key = cache.keys.key("product", 9)
    redis_client.set(key, b"Z|9999999999999|" + payload)
    result = cache.get_or_load(key, lambda _ep: {"id": 9}, ttl=60)
    assert (result.status, result.value) == (CacheStatus.MISS, {"id": 9})
    assert redis_client.get(key).startswith(b"V|")
