"""Cache-aside reads against a real Redis: hit/miss/TTL, typed values, negative caching, corrupt entries."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from cachelib import CacheStatus, ReadEndpoint
from caching_contract.metrics import CACHE_HIT, CACHE_MISS, CACHE_NEGATIVE_HIT, CACHE_STALE_SERVED


class CountingLoader:
    def __init__(self, value: object) -> None:
        self.value = value
        self.calls: list[ReadEndpoint] = []

    def __call__(self, endpoint: ReadEndpoint) -> object:
        self.calls.append(endpoint)
        return self.value


PRODUCT = {
    "id": 42,
    "name": "Kettle",
    "price": Decimal("19.99"),
    "updated_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    "released": date(2025, 12, 24),
    "tags": ["kitchen", "steel"],
    "looks_like_a_tag": {"$dec": "not a decimal"},
}


def test_a_miss_loads_from_the_reader_and_the_next_read_is_a_hit(make_cache, redis_client):
    cache = make_cache()
    key = cache.keys.key("product", 42)
    loader = CountingLoader(PRODUCT)

    first = cache.get_or_load(key, loader, ttl=60)
    second = cache.get_or_load(key, loader, ttl=60)

    assert (first.status, second.status) == (CacheStatus.MISS, CacheStatus.HIT)
    assert loader.calls == [ReadEndpoint.READER]
    assert second.value == PRODUCT and second.x_cache == "HIT" and first.x_cache == "MISS"
    assert isinstance(second.value["price"], Decimal) and second.value["updated_at"].tzinfo is not None
    assert cache.metrics.snapshot()[CACHE_MISS] == 1 and cache.metrics.snapshot()[CACHE_HIT] == 1
    assert key == "test:1:{product:42}" and redis_client.exists(key)


def test_ttl_is_jittered_below_the_requested_ttl_plus_the_stale_grace(make_cache, redis_client):
    cache = make_cache(cache_stale_seconds=60)
    ttls = []
    for i in range(20):
        key = cache.keys.key("product", i)
        cache.get_or_load(key, CountingLoader({"id": i}), ttl=100)
        ttls.append(redis_client.pttl(key))
    assert all(150_000 <= t <= 160_000 for t in ttls), ttls  # soft 90-100 s + 60 s stale grace
    assert len(set(ttls)) > 10  # jitter spreads them


def test_after_the_soft_ttl_one_caller_refreshes_and_the_value_changes(make_cache):
    cache = make_cache(cache_stale_seconds=30)
    key = cache.keys.key("product", 7)
    cache.get_or_load(key, CountingLoader({"v": 1}), ttl=0.05)
    time.sleep(0.08)
    refreshed = cache.get_or_load(key, CountingLoader({"v": 2}), ttl=60)
    assert refreshed.status is CacheStatus.MISS and refreshed.value == {"v": 2}
    assert cache.get_or_load(key, CountingLoader({"v": 3}), ttl=60).value == {"v": 2}


def test_past_the_soft_ttl_others_are_served_stale_while_a_refresh_is_running(make_cache, redis_client):
    cache = make_cache(cache_stale_seconds=30)
    key = cache.keys.key("product", 8)
    cache.get_or_load(key, CountingLoader({"v": 1}), ttl=0.05)
    time.sleep(0.08)
    redis_client.set(key + ":lease", "someone-else", px=5000)  # another caller is refreshing
    loader = CountingLoader({"v": 2})
    stale = cache.get_or_load(key, loader, ttl=60)
    assert stale.status is CacheStatus.STALE and stale.value == {"v": 1} and stale.x_cache == "STALE"
    assert loader.calls == [] and cache.metrics.snapshot()[CACHE_STALE_SERVED] == 1


def test_past_the_hard_ttl_the_entry_is_gone(make_cache, redis_client):
    cache = make_cache(cache_stale_seconds=0)
    key = cache.keys.key("product", 9)
    cache.get_or_load(key, CountingLoader({"v": 1}), ttl=0.05)
    time.sleep(0.1)
    assert not redis_client.exists(key)
    assert cache.get_or_load(key, CountingLoader({"v": 2}), ttl=60).status is CacheStatus.MISS


def test_a_missing_row_is_cached_with_the_short_negative_ttl(make_cache, redis_client):
    cache = make_cache(cache_negative_ttl_seconds=5)
    key = cache.keys.key("product", 404)
    loader = CountingLoader(None)

    first = cache.get_or_load(key, loader, ttl=300)
    second = cache.get_or_load(key, loader, ttl=300)

    assert first.value is None and not first.found and first.status is CacheStatus.MISS
    assert second.value is None and second.status is CacheStatus.NEGATIVE_HIT and second.x_cache == "HIT"
    assert len(loader.calls) == 1
    assert 4_000 <= redis_client.pttl(key) <= 5_000  # negative TTL, no stale grace
    assert cache.metrics.snapshot()[CACHE_NEGATIVE_HIT] == 1


@pytest.mark.parametrize(
    "garbage",
    [
        b"not an entry",
        b"V|notanumber|{}",
        b"V|99999999999999|{broken json",
        b"X|99999999999999|{}",
        b"\xff\xfe",
    ],
)
def test_a_corrupt_entry_counts_as_a_miss_and_is_replaced(make_cache, redis_client, garbage):
    cache = make_cache()
    key = cache.keys.key("product", 5)
    redis_client.set(key, garbage)
    loader = CountingLoader({"ok": True})

    result = cache.get_or_load(key, loader, ttl=60)

    assert result.status is CacheStatus.MISS and result.value == {"ok": True} and len(loader.calls) == 1
    assert cache.get_or_load(key, loader, ttl=60).status is CacheStatus.HIT
    assert redis_client.get(key) != garbage


def test_a_loader_error_propagates_and_releases_the_lease(make_cache, redis_client):
    cache = make_cache()
    key = cache.keys.key("product", 6)

    def failing(_endpoint):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cache.get_or_load(key, failing, ttl=60)
    assert not redis_client.exists(key + ":lease")
    assert cache.get_or_load(key, CountingLoader(1), ttl=60).status is CacheStatus.MISS
