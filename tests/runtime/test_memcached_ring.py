"""A ring of memcached nodes under faults: one node frozen across a write, one restarted empty.

The client hashes every key to one node (rendezvous hashing), so an entry, its lease, its write-through
claim and its list's version counter may each live on a different node. Each guarantee also runs with its
protection switched off and must then fail.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time

import pytest
from fault_support import Oracle, create_items, item_key, load_version, read_version, record, write_version
from memcached_support import memcached_function_env
from pymemcache.client.hash import HashClient

import cachelib.memcached_backend as mc
from cachelib import Cache, Database, InvalidationFailed, Settings

pytest_plugins = ["memcached_fixtures"]
pytestmark = pytest.mark.fault


def ring_settings(memcached_pair, mysql_server) -> Settings:
    env = memcached_function_env(memcached_pair, mysql_server)
    return dataclasses.replace(Settings.from_env(env), breaker_failures=2, breaker_reset_seconds=1)


def owner(cache: Cache, memcached_pair, key: str):
    name = cache.client().hasher.get_node(mc.wire_key(key))
    return next(server for server in memcached_pair if server.node == name)


def node_outage_write(memcached_pair, mysql_server, db: Database, *, protected: bool) -> Oracle:
    """Two nodes. The node holding item 1 freezes (a partition: it keeps its data); a write to item 1; the
    node comes back. Violation: a read after a *returned* write sees the old version."""
    settings = ring_settings(memcached_pair, mysql_server)
    if protected:
        cache = Cache.from_settings(settings)
    else:  # sabotage: pymemcache's HashClient, which takes a failing node out of the ring
        nodes = list(settings.cache_nodes)
        options = {"timeout": 0.25, "use_pooling": True, "default_noreply": False}
        cache = Cache(lambda: HashClient(nodes, retry_attempts=0, dead_timeout=1, **options), settings)
    oracle = Oracle()
    try:
        assert read_version(cache, db, 1) == 1
        node = owner(cache, memcached_pair, item_key(cache, 1))
        os.kill(node.proc.pid, signal.SIGSTOP)
        try:
            write_version(cache, db, 1, 2)
            oracle.wrote(1, 2)  # the write returned: every later read must see 2
        except InvalidationFailed:
            pass  # saved, not confirmed: the client is told and repeats it
        finally:
            os.kill(node.proc.pid, signal.SIGCONT)
        time.sleep(1.5)  # the breaker's reset, and the sabotaged client's dead_timeout
        for _ in range(10):
            oracle.saw(1, oracle.floor(1), read_version(cache, db, 1))
            time.sleep(0.05)
    finally:
        cache.close()
    record("memcached ring: the owning node frozen across a write", protected, oracle)
    return oracle


def test_a_frozen_node_fails_the_write_loudly_and_never_serves_the_old_value_afterwards(
    memcached_pair, mysql_server, mc_db
):
    create_items(mysql_server, 1)
    oracle = node_outage_write(memcached_pair, mysql_server, mc_db, protected=True)
    assert oracle.reads == 10 and oracle.violations == []


def test_sabotage_a_ring_that_drops_a_failing_node_resurrects_the_old_value(
    memcached_pair, mysql_server, mc_db
):
    # The sabotaged client's harm is a race (whether the write's retried invalidation lands while the frozen
    # node is out of its ring): it showed in about three runs of four. Up to five fresh runs, each from an
    # empty ring and version 1, must show it at least once.
    for _ in range(5):
        for node in memcached_pair:
            node.command("flush_all")
        create_items(mysql_server, 1)
        violations = node_outage_write(memcached_pair, mysql_server, mc_db, protected=False).violations
        if violations:
            break
    assert violations


def page(cache: Cache, db: Database, scope: str) -> int | None:
    """A "list page" of item 1 under the version counter of ``scope``."""
    version = cache.versions.current(cache.keys.version_key("items", scope))
    key = cache.keys.key("items", scope=scope, v=version.number)
    return cache.get_or_load(key, lambda ep: load_version(db, ep, 1), ttl=300).value


def counter_node_restarted(memcached_pair, mysql_server, db: Database) -> Oracle:
    """A page is cached; a write bumps its counter and returns; the counter's node is SIGKILLed and restarts
    empty, while the node holding the first page survives. Violation: a read afterwards sees version 1."""
    cache = Cache.from_settings(ring_settings(memcached_pair, mysql_server))
    oracle = Oracle()
    try:
        scope = next(  # a counter on one node, its first page (as a fixed start would number it) on the other
            f"s{n}"
            for n in range(200)
            if owner(cache, memcached_pair, cache.keys.version_key("items", f"s{n}"))
            is not owner(cache, memcached_pair, cache.keys.key("items", scope=f"s{n}", v=1_000))
        )
        assert page(cache, db, scope) == 1
        cache.write(
            db,
            lambda cur: cur.execute("UPDATE fault_items SET version = 2 WHERE id = 1"),
            version_keys=[cache.keys.version_key("items", scope)],
        )
        oracle.wrote(1, 2)
        counter_node = owner(cache, memcached_pair, cache.keys.version_key("items", scope))
        counter_node.kill()
        counter_node.start()  # empty: the counter is gone, the old page on the other node is not
        time.sleep(1.1)
        for _ in range(5):
            oracle.saw(1, oracle.floor(1), page(cache, db, scope))
    finally:
        cache.close()
    return oracle


def test_a_counter_lost_in_a_node_restart_comes_back_larger_and_old_pages_stay_unreachable(
    memcached_pair, mysql_server, mc_db
):
    create_items(mysql_server, 1)
    oracle = counter_node_restarted(memcached_pair, mysql_server, mc_db)
    record("memcached ring: the counter's node restarted empty", True, oracle)
    assert oracle.reads == 5 and oracle.violations == []


def test_sabotage_a_counter_restarted_from_a_fixed_number_serves_the_old_page(
    memcached_pair, mysql_server, mc_db, monkeypatch
):
    monkeypatch.setattr(mc, "counter_start", lambda: 1_000)
    create_items(mysql_server, 1)
    oracle = counter_node_restarted(memcached_pair, mysql_server, mc_db)
    record("memcached ring: the counter's node restarted empty", False, oracle)
    assert oracle.violations
