"""A warm container goes back to the cache after every Redis outage, under concurrent requests.

The fault: Redis SIGKILLed, then restarted empty, while three request threads keep calling the product
handler (whose access-count flush after each request also talks to Redis). The guarantee: once Redis is
back, every container uses it again within the breaker's reset period, in every cycle.

The sabotage run restores what broke it: a flush that takes the breaker's half-open trial and never
reports a success, with the breaker's trial unbounded in time. The protected run keeps the unbounded
trial too, so what it proves is that the gateway resolves every trial it hands out.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from fault_support import Oracle, record
from handler_support import SEEDED, call

from cachelib import BreakerState
from functions import product_api
from functions.product_store import ProductStore, hot_products_key

pytest_plugins = ["handler_fixtures"]

pytestmark = pytest.mark.fault

CYCLES = 4


def legacy_flush_hot_counts(self: ProductStore, *, force: bool = False) -> int:
    """The access-count flush before the gateway: takes the half-open trial, reports only failures."""
    pending = sum(self._hot.values())
    if not pending or not self.cache.breaker.allow():
        return 0
    counts, self._hot = self._hot, Counter()
    try:
        pipe = self.cache.client().pipeline(transaction=False)
        for product_id, count in counts.items():
            pipe.zincrby(hot_products_key(self.cache), count, product_id)
        pipe.execute()
    except Exception:
        self.cache.breaker.record_failure()
    return len(counts)


def outage_cycles(redis_outage, monkeypatch, *, protected: bool) -> list[bool]:
    """Per kill/restart cycle: was the container back on the cache (breaker closed, Redis answering
    its reads) two reset periods after Redis came back?"""
    if not protected:
        monkeypatch.setattr(ProductStore, "flush_hot_counts", legacy_flush_hot_counts)
    store = product_api.store()
    store.cache.breaker.trial_seconds = float("inf")  # only the gateway may resolve a trial
    stop = threading.Event()

    def requests() -> None:
        product = 1
        while not stop.is_set():
            status, _, _ = call(product_api.lambda_handler, "GET", f"/products/{product}")
            assert status == 200
            product = product % SEEDED + 1

    def flushes() -> None:  # the after-request flush, as often as a busy container runs it
        while not stop.is_set():
            store._hot[1] += 1
            store._hot_pending += 1
            store.flush_hot_counts(force=True)
            time.sleep(0.001)

    threads = [threading.Thread(target=requests) for _ in range(3)] + [threading.Thread(target=flushes)]
    for thread in threads:
        thread.start()
    recovered = []
    try:
        for _ in range(CYCLES):
            time.sleep(0.3)
            redis_outage.kill()
            time.sleep(0.6)  # the breaker opens; reads go to the database
            redis_outage.start()  # empty
            time.sleep(2 * store.cache.breaker.reset_seconds + 0.3)
            hits_before = int(redis_outage.cli("INFO", "stats").split("keyspace_hits:")[1].split()[0])
            time.sleep(0.3)
            hits_after = int(redis_outage.cli("INFO", "stats").split("keyspace_hits:")[1].split()[0])
            recovered.append(store.cache.breaker.state is BreakerState.CLOSED and hits_after > hits_before)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    oracle = Oracle()
    for cycle, back in enumerate(recovered):
        oracle.saw(cycle, 1, 1 if back else 0)  # a cycle that ended off the cache is a violation
    record(
        "Redis SIGKILL + restart empty, 3 request threads and the access-count flush, 4 cycles",
        protected,
        oracle,
    )
    return recovered


@pytest.fixture
def fast_breaker(handler_env, monkeypatch):
    monkeypatch.setenv("CACHE_BREAKER_RESET_SECONDS", "1")
    monkeypatch.setenv("CACHE_BREAKER_FAILURES", "3")
    return handler_env


def test_every_outage_ends_with_the_container_back_on_the_cache(fast_breaker, redis_outage, monkeypatch):
    assert outage_cycles(redis_outage, monkeypatch, protected=True) == [True] * CYCLES


def test_sabotage_an_unresolved_trial_keeps_the_container_off_the_cache(
    fast_breaker, redis_outage, monkeypatch
):
    recovered = outage_cycles(redis_outage, monkeypatch, protected=False)
    assert False in recovered
    stuck = recovered.index(False)
    assert not any(recovered[stuck:])  # once stuck half-open, it never comes back


def hung_redis_latencies(redis_outage, monkeypatch, *, protected: bool) -> tuple[list[float], bool]:
    """Request latencies while Redis is frozen (SIGSTOP) for 3 s, and whether the container is back on the
    cache after SIGCONT."""
    import os
    import signal

    if not protected:  # sabotage: redis-py's own 5 s timeouts instead of the library's 250 ms
        monkeypatch.setenv("REDIS_SOCKET_TIMEOUT_MS", "5000")
        monkeypatch.setenv("REDIS_CONNECT_TIMEOUT_MS", "5000")
    store = product_api.store()
    for product in range(1, 11):
        call(product_api.lambda_handler, "GET", f"/products/{product}")  # cached
    latencies: list[float] = []
    assert redis_outage.proc is not None
    os.kill(redis_outage.proc.pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 3.0
        product = 1
        while time.monotonic() < deadline:
            started = time.monotonic()
            status, _, _ = call(product_api.lambda_handler, "GET", f"/products/{product}")
            latencies.append(time.monotonic() - started)
            assert status == 200  # the database answers every read the cache cannot
            product = product % 10 + 1
    finally:
        os.kill(redis_outage.proc.pid, signal.SIGCONT)
    time.sleep(2 * store.cache.breaker.reset_seconds + 0.2)
    for product in range(1, 11):
        call(product_api.lambda_handler, "GET", f"/products/{product}")
    back = store.cache.breaker.state is BreakerState.CLOSED
    oracle = Oracle()
    for latency in latencies:
        oracle.saw(0, 1, 0 if latency > 1.0 else 1)  # a request slower than 1 s is a violation
    record("Redis frozen (SIGSTOP) 3 s under requests", protected, oracle, back_on_cache=back)
    return latencies, back


def test_a_hung_redis_costs_each_request_at_most_a_timeout_and_the_container_comes_back(
    fast_breaker, redis_outage, monkeypatch
):
    latencies, back = hung_redis_latencies(redis_outage, monkeypatch, protected=True)
    assert len(latencies) >= 20 and max(latencies) < 1.0 and back  # once the breaker opens, requests are fast


def test_sabotage_with_long_redis_timeouts_a_hung_redis_stalls_requests(
    fast_breaker, redis_outage, monkeypatch
):
    latencies, _back = hung_redis_latencies(redis_outage, monkeypatch, protected=False)
    assert max(latencies) > 1.0
