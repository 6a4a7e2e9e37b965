"""The near cache notices a dropped subscription, even one redis-py silently re-established.

The fault: container B's pub/sub connection is killed by the server (``CLIENT KILL TYPE pubsub``, what a
failover, a node replacement or an idle-connection reaper does); container A then writes, and its
invalidation is published while B is not listening. redis-py reconnects and resubscribes on B's next
drain without raising, so B would keep serving its old L1 copy. B must clear L1 on that reconnect.

The sabotage run switches off B's reconnect hook and must then serve the old value.
"""

from __future__ import annotations

import dataclasses
import time

import pytest
import redis
from fault_support import Oracle, record

from cachelib import Cache, NearCache

pytestmark = pytest.mark.fault

TRIALS = 5


def listening(cache: Cache) -> None:
    deadline = time.monotonic() + 2
    while not cache.near_cache.listening:
        assert time.monotonic() < deadline, "near cache never confirmed its subscription"
        cache.near_cache.drain()
        time.sleep(0.002)


def dropped_subscription_scenario(settings, redis_server, monkeypatch, *, protected: bool) -> Oracle:
    if not protected:
        monkeypatch.setattr(NearCache, "_on_reconnect", lambda self, connection: None)
    l1 = dataclasses.replace(
        settings, cache_l1_enabled=True, cache_l1_ttl_seconds=30, cache_l1_heartbeat_ms=2000
    )
    admin = redis.Redis(host=redis_server.host, port=redis_server.port)
    oracle = Oracle()
    for trial in range(TRIALS):
        a, b = Cache.from_settings(l1), Cache.from_settings(l1)
        key = a.keys.key("item", trial)
        version = {"v": 1}
        try:
            listening(a)
            listening(b)
            b.get_or_load(key, lambda _ep, version=version: dict(version), ttl=60)
            assert b.get_or_load(key, lambda _ep, version=version: dict(version), ttl=60).value == {"v": 1}
            admin.client_kill_filter(_type="pubsub")  # both subscriptions dropped by the server
            version["v"] = 2
            a.invalidate(key)  # published while B is not subscribed: lost for B
            oracle.wrote(trial, 2)
            for _ in range(20):
                floor = oracle.floor(trial)
                oracle.saw(
                    trial,
                    floor,
                    b.get_or_load(key, lambda _ep, version=version: dict(version), ttl=60).value["v"],
                )
        finally:
            a.close()
            b.close()
    admin.close()
    record("near cache: subscription killed, redis-py resubscribed silently", protected, oracle)
    return oracle


def test_a_silently_re_established_subscription_clears_the_near_cache(settings, redis_server, monkeypatch):
    oracle = dropped_subscription_scenario(settings, redis_server, monkeypatch, protected=True)
    assert oracle.reads == TRIALS * 20 and oracle.violations == []


def test_sabotage_without_the_reconnect_hook_the_old_value_is_served(settings, redis_server, monkeypatch):
    oracle = dropped_subscription_scenario(settings, redis_server, monkeypatch, protected=False)
    trials_with_stale_reads = {item for item, _floor, _got in oracle.violations}
    assert len(trials_with_stale_reads) == TRIALS  # every trial served the old value
