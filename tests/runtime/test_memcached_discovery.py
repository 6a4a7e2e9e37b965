"""ElastiCache Auto Discovery: the node list read from a configuration endpoint, followed as it changes.

A stock memcached cannot answer ``config get cluster`` (ElastiCache's extension), so a tiny fake endpoint
serves that one command; every cache call still goes to the real memcached nodes the suite starts.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator

import pytest

from cachelib import Cache, CacheStatus, ConfigurationError, Settings
from cachelib.discovery import (
    ClusterConfig,
    DiscoveringRingClient,
    DiscoveryError,
    fetch_cluster_config,
    parse_cluster_config,
)
from cachelib.memcached_backend import wire_key

pytest_plugins = ["memcached_fixtures"]

# The shape of the example reply in AWS's "Adding Auto Discovery to your Memcached client library".
AWS_EXAMPLE = (
    b"CONFIG cluster 0 136\r\n12\n"
    b"myCluster.pc4ldq.0001.use1.cache.amazonaws.com|10.82.235.120|11211 "
    b"myCluster.pc4ldq.0002.use1.cache.amazonaws.com|10.80.249.27|11211\n\r\nEND\r\n"
)


def reply_for(version: int, nodes: list[tuple[str, int]]) -> bytes:
    payload = f"{version}\n" + " ".join(f"{host}|{host}|{port}" for host, port in nodes) + "\n"
    return f"CONFIG cluster 0 {len(payload)}\r\n{payload}\r\nEND\r\n".encode()


class FakeConfigEndpoint:
    """Answers ``config get cluster`` with ``self.reply`` (change it to change the cluster); counts asks."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.asked = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = ("127.0.0.1", self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            with conn:
                request = b""
                while not request.endswith(b"\r\n"):
                    chunk = conn.recv(1024)
                    if not chunk:
                        break
                    request += chunk
                if request == b"config get cluster\r\n":
                    self.asked += 1
                    conn.sendall(self.reply)
                else:
                    conn.sendall(b"ERROR\r\n")

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def endpoint(memcached_server) -> Iterator[FakeConfigEndpoint]:
    fake = FakeConfigEndpoint(reply_for(1, [(memcached_server.host, memcached_server.port)]))
    yield fake
    fake.close()


def discovering(endpoint: tuple[str, int]) -> dict:
    """The ``Settings`` overrides of a function that discovers its nodes instead of listing them."""
    return {"cache_nodes": (), "cache_discovery_endpoint": endpoint}


# --- the reply format ------------------------------------------------------------------------------


def test_the_reply_in_aws_documentation_parses_to_host_names_and_ports():
    config = parse_cluster_config(AWS_EXAMPLE)
    assert config == ClusterConfig(
        version=12,
        nodes=(
            ("myCluster.pc4ldq.0001.use1.cache.amazonaws.com", 11211),
            ("myCluster.pc4ldq.0002.use1.cache.amazonaws.com", 11211),
        ),
    )


def test_a_node_without_a_host_name_is_addressed_by_its_ip():
    assert parse_cluster_config(reply_for(3, [("", 1)]).replace(b"||1", b"|10.0.0.9|11212")).nodes == (
        ("10.0.0.9", 11212),
    )


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (b"ERROR\r\n", r"answered 'config get cluster' with 'ERROR': not an ElastiCache"),
        (b"CONFIG cluster 0 x\r\n1\nh|i|1\n\r\nEND\r\n", r"no 'CONFIG cluster <flags> <length>' header"),
        (b"CONFIG cluster 0 8\r\n1\nh|i|1\n\r\n", r"no END line"),  # cut short
        (b"CONFIG cluster 0 8\r\nh|i|1\n\r\nEND\r\n", r"a version line and a node line"),
        (reply_for(1, [("h", 1)]).replace(b"h|h|1", b"h|h"), r"is not host\|ip\|port"),
        (reply_for(1, [("h", 1)]).replace(b"h|h|1", b"h|h|99999"), r"is not host\|ip\|port"),
        (reply_for(1, [("h", 1)]).replace(b"h|h|1", b"||11211"), r"neither a host name nor an IP"),
        (reply_for(1, []), r"no nodes"),
    ],
)
def test_a_malformed_reply_raises_an_error_naming_what_is_wrong(reply, reason):
    with pytest.raises(DiscoveryError, match=reason):
        parse_cluster_config(reply)


def test_a_stock_memcached_is_named_as_not_a_configuration_endpoint(memcached_server):
    with pytest.raises(DiscoveryError, match=rf"{memcached_server.port} answered .*'ERROR'"):
        fetch_cluster_config(
            (memcached_server.host, memcached_server.port), tls_context=None, connect_timeout=1, timeout=1
        )


# --- settings ----------------------------------------------------------------------------------------


def test_nodes_and_a_discovery_endpoint_together_are_refused(memcached_env):
    env = {**memcached_env, "CACHE_DISCOVERY_ENDPOINT": "cfg.example:11212"}
    with pytest.raises(ConfigurationError, match=r"^CACHE_NODES/CACHE_DISCOVERY_ENDPOINT: both set"):
        Settings.from_env(env)


def test_a_discovery_endpoint_alone_is_enough(memcached_env):
    env = {**memcached_env, "CACHE_NODES": "", "CACHE_DISCOVERY_ENDPOINT": "cfg.example:11212"}
    settings = Settings.from_env(env)
    assert settings.cache_discovery_endpoint == ("cfg.example", 11212)
    Cache.from_settings(settings)  # no connection yet: discovery runs on first use


# --- against the real memcached ----------------------------------------------------------------------


def test_reads_run_on_the_discovered_nodes(make_mc_cache, mc_settings, endpoint, memcached_server):
    cache = make_mc_cache(**discovering(endpoint.endpoint))
    key = cache.keys.key("product", 1)
    assert cache.get_or_load(key, lambda _: {"id": 1}).status is CacheStatus.MISS
    assert cache.get_or_load(key, lambda _: {"id": 1}).status is CacheStatus.HIT
    assert memcached_server.command(f"get {wire_key(key)}").startswith("VALUE")
    assert endpoint.asked == 1  # once per container, not per call


def test_a_node_added_to_the_cluster_joins_the_ring(make_mc_cache, mc_settings, memcached_pair):
    first, second = memcached_pair
    fake = FakeConfigEndpoint(reply_for(1, [(first.host, first.port)]))
    try:
        cache = make_mc_cache(**discovering(fake.endpoint))
        keys = [cache.keys.key("product", n) for n in range(40)]
        for key in keys:
            cache.get_or_load(key, lambda _: {"id": 1})
        client = cache.client()
        assert isinstance(client, DiscoveringRingClient)
        assert set(client.hasher.nodes) == {first.node}

        fake.reply = reply_for(2, [(first.host, first.port), (second.host, second.port)])
        assert client.refresh() is True
        assert client.config.version == 2 and set(client.hasher.nodes) == {first.node, second.node}
        moved = [key for key in keys if client.hasher.get_node(wire_key(key)) == second.node]
        assert moved and len(moved) < len(keys)  # rendezvous hashing moves only the new node's share
        for key in moved:  # the moved keys miss on their new node, then hit there
            assert cache.get_or_load(key, lambda _: {"id": 1}).status is CacheStatus.MISS
            assert cache.get_or_load(key, lambda _: {"id": 1}).status is CacheStatus.HIT
            assert second.command(f"get {wire_key(key)}").startswith("VALUE")

        fake.reply = reply_for(3, [(second.host, second.port)])  # the first node removed
        assert client.refresh() is True
        assert set(client.hasher.nodes) == {second.node}
        assert cache.get_or_load(keys[0], lambda _: {"id": 1}).status in (CacheStatus.MISS, CacheStatus.HIT)
    finally:
        fake.close()


def test_the_list_is_read_again_once_the_interval_has_passed(mc_settings, endpoint):
    now = [0.0]
    options = {"use_pooling": True, "default_noreply": False, "timeout": 1, "connect_timeout": 1}
    discover = lambda: fetch_cluster_config(  # noqa: E731
        endpoint.endpoint, tls_context=None, connect_timeout=1, timeout=1
    )
    client = DiscoveringRingClient(discover, interval_seconds=60, clock=lambda: now[0], **options)
    try:
        client.get("k")
        assert endpoint.asked == 1
        now[0] = 59.0
        client.get("k")
        assert endpoint.asked == 1
        now[0] = 60.0
        client.get("k")
        assert endpoint.asked == 2
    finally:
        client.close()


def test_a_malformed_reply_at_cold_start_is_a_cache_error_and_reads_come_from_the_database(
    make_mc_cache, mc_settings, endpoint, caplog
):
    endpoint.reply = b"CONFIG cluster 0 5\r\ngarbage\r\nEND\r\n"
    cache = make_mc_cache(**discovering(endpoint.endpoint))
    key = cache.keys.key("product", 1)
    with caplog.at_level(logging.WARNING):
        result = cache.get_or_load(key, lambda _: {"id": 1, "from": "database"})
    assert result.status is CacheStatus.BYPASS and result.value == {"id": 1, "from": "database"}
    assert "malformed 'config get cluster' reply" in caplog.text
    assert cache.breaker._failures == 1  # counted like any cache failure; a later call tries again

    endpoint.reply = reply_for(2, [mc_settings.cache_nodes[0]])  # the endpoint recovers
    assert cache.get_or_load(key, lambda _: {"id": 1}).status is CacheStatus.MISS
    assert cache.get_or_load(key, lambda _: {"id": 1}).status is CacheStatus.HIT


def test_a_malformed_reply_later_keeps_the_known_nodes(make_mc_cache, mc_settings, endpoint, caplog):
    cache = make_mc_cache(**discovering(endpoint.endpoint))
    key = cache.keys.key("product", 1)
    cache.get_or_load(key, lambda _: {"id": 1})
    client = cache.client()
    known = client.config
    endpoint.reply = b"CONFIG cluster 0 3\r\n1\n\r\nEND\r\n"
    with caplog.at_level(logging.WARNING):
        assert client.refresh() is False
    assert "keeping the 1 known nodes" in caplog.text and client.config == known
    assert cache.get_or_load(key, lambda _: {"id": 1}).status is CacheStatus.HIT
