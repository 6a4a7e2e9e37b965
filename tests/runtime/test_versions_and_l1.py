"""List-page version counters and the L1 near-cache with pub/sub invalidation."""

from __future__ import annotations

import time

from cachelib import CacheStatus


def listening(*caches) -> None:
    """Drain until each near cache has proven its subscription live (a pong to its first heartbeat)."""
    deadline = time.monotonic() + 2
    for cache in caches:
        while not cache.near_cache.listening:
            assert time.monotonic() < deadline, "near cache never confirmed its subscription"
            cache.near_cache.drain()
            time.sleep(0.002)


def page_key(cache, category: str, page: int):
    version = cache.versions.current(cache.keys.version_key("products", category))
    return cache.keys.key("products", category=category, page=page, v=version.number), version


def test_a_bump_makes_every_page_of_the_category_unreachable(make_cache, redis_client):
    cache = make_cache()
    pages_before = []
    for page in (1, 2, 3):
        key, _version = page_key(cache, "books", page)
        cache.get_or_load(key, lambda _ep, p=page: [f"old-{p}"], ttl=60)
        pages_before.append(key)
    other_key, _ = page_key(cache, "toys", 1)
    cache.get_or_load(other_key, lambda _ep: ["toy"], ttl=60)

    cache.bump_versions(cache.keys.version_key("products", "books"))

    for page in (1, 2, 3):
        key, _version = page_key(cache, "books", page)
        assert key not in pages_before
        result = cache.get_or_load(key, lambda _ep, p=page: [f"new-{p}"], ttl=60)
        assert result.status is CacheStatus.MISS and result.value == [f"new-{page}"]
    same_other, _ = page_key(cache, "toys", 1)
    assert same_other == other_key  # other categories keep their pages
    assert cache.get_or_load(same_other, lambda _ep: ["x"], ttl=60).status is CacheStatus.HIT


def test_an_evicted_counter_comes_back_larger_than_any_number_it_had(make_cache, redis_client):
    cache = make_cache()
    counter = cache.keys.version_key("products", "garden")
    first = cache.versions.current(counter).number
    bumped = cache.bump_versions(counter, counter)[counter]
    assert bumped >= first + 1
    redis_client.delete(counter)  # what allkeys-lru may do under memory pressure
    time.sleep(0.002)
    assert cache.versions.current(counter).number > bumped


def test_l1_serves_repeated_reads_in_process_and_drops_a_key_another_instance_invalidates(make_cache):
    a = make_cache(cache_l1_enabled=True, cache_l1_ttl_seconds=30)
    b = make_cache(cache_l1_enabled=True, cache_l1_ttl_seconds=30)
    key = a.keys.key("product", 1)
    value = {"v": "old"}
    listening(a, b)
    for cache in (a, b):
        cache.get_or_load(key, lambda _ep: dict(value), ttl=60)
    assert b.get_or_load(key, lambda _ep: {"v": "unused"}, ttl=60).status is CacheStatus.L1_HIT

    value["v"] = "new"
    a.invalidate(key)  # after a's (imagined) commit: local L1, Redis, and a publish to b

    deadline = time.monotonic() + 2
    result = b.get_or_load(key, lambda _ep: dict(value), ttl=60)
    while result.value["v"] != "new" and time.monotonic() < deadline:  # pub/sub delivery is asynchronous
        time.sleep(0.005)
        result = b.get_or_load(key, lambda _ep: dict(value), ttl=60)
    assert result.value == {"v": "new"}
    assert a.get_or_load(key, lambda _ep: dict(value), ttl=60).value == {"v": "new"}


def test_l1_never_outlives_its_own_ttl(make_cache):
    cache = make_cache(cache_l1_enabled=True, cache_l1_ttl_seconds=1, cache_l1_heartbeat_ms=100)
    key = cache.keys.key("product", 2)
    listening(cache)
    cache.get_or_load(key, lambda _ep: 1, ttl=60)
    assert cache.get_or_load(key, lambda _ep: 1, ttl=60).status is CacheStatus.L1_HIT
    time.sleep(1.05)
    assert cache.get_or_load(key, lambda _ep: 1, ttl=60).status is CacheStatus.HIT


def test_an_l1_put_from_before_an_invalidation_is_refused():
    from cachelib import NearCache

    near = NearCache(30)
    generation = near.generation  # a reader fetched the old value from Redis here...
    near.invalidate(["k"])  # ...a write invalidated the key meanwhile...
    near.put("k", b"V", "old", 30, generation)  # ...so its late put is dropped
    assert near.get("k") is None
    near.put("k", b"V", "new", 30, near.generation)
    assert near.get("k") == (b"V", "new")


def test_l1_stops_serving_when_its_invalidation_channel_is_lost(make_cache, redis_outage):
    cache = make_cache(cache_l1_enabled=True, cache_l1_ttl_seconds=30)
    key = cache.keys.key("product", 3)
    listening(cache)
    cache.get_or_load(key, lambda _ep: "cached", ttl=60)
    assert cache.get_or_load(key, lambda _ep: "cached", ttl=60).status is CacheStatus.L1_HIT
    redis_outage.kill()
    result = cache.get_or_load(key, lambda _ep: "from-db", ttl=60)
    assert result.status is CacheStatus.BYPASS and result.value == "from-db"
