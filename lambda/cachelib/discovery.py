"""ElastiCache Auto Discovery: the memcached ring built from the cluster's configuration endpoint.

CloudFormation exposes only a Memcached cluster's configuration endpoint (``*.cfg.*``), never its nodes, and
the nodes change when the cluster is scaled. Every ElastiCache node answers ``config get cluster`` (an
ElastiCache extension of the ASCII protocol; a stock memcached answers ``ERROR``) with::

    CONFIG cluster 0 <length>\\r\\n<version>\\n<host>|<ip>|<port> <host>|<ip>|<port> ...\\n\\r\\nEND\\r\\n

where ``<version>`` grows whenever a node is added or removed.

When the list is read (``CACHE_DISCOVERY_INTERVAL_SECONDS``, default 60, as AWS's own cluster client):

* **Once per container, on the client's first use.** The gateway builds the client inside its error handling,
  so an endpoint that is down or answers garbage is a cache error like any other: the breaker counts it, the
  read is answered from the database (``BYPASS``) and a later call tries again.
* **Again every interval**, by the call that finds it due, not by a thread: Lambda freezes a container
  between invocations, so a timer would fire at thaw anyway, and a thread would race the ring swap.
* **Sooner after a connection error** to a node (``ERROR_RECHECK_SECONDS``): a removed node shows first as
  refused connections, and waiting out the interval would send its keys to a dead address all that time.
* **A failed re-read keeps the last good ring** and retries after ``ERROR_RECHECK_SECONDS``: the endpoint is
  only a directory, the nodes answer on their own.

Nodes are addressed by host name (the IP only when the reply has no name): TLS verifies the name, and a
node's name survives its replacement while its IP does not. See ``README.md`` ("Memcached") for what a
change of the node list costs in consistency.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from pymemcache.client.base import PooledClient  # type: ignore[import-untyped]
from pymemcache.client.rendezvous import RendezvousHash  # type: ignore[import-untyped]
from pymemcache.exceptions import MemcacheError  # type: ignore[import-untyped]

from cachelib.memcached_backend import CONNECTION_ERRORS, MEMCACHED_ERRORS, RingClient

logger = logging.getLogger(__name__)

COMMAND = b"config get cluster\r\n"
MAX_REPLY_BYTES = 64 * 1024
"""40 nodes (ElastiCache's limit) of ~80-byte entries fit ten times over; anything longer is not a reply."""
ERROR_RECHECK_SECONDS = 2.0
_END = b"\r\nEND\r\n"
_ERRORS = (b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR")


class DiscoveryError(MemcacheError):
    """The configuration endpoint could not be read, or its reply is not a node list. A ``MemcacheError``,
    so the gateway treats it as the cache failing (breaker, ``BYPASS`` reads), never as a failed request."""


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    version: int
    nodes: tuple[tuple[str, int], ...]
    """``(host, port)`` of every node, in the reply's order."""


def parse_cluster_config(reply: bytes, source: str = "the configuration endpoint") -> ClusterConfig:
    """The node list in a ``config get cluster`` reply; ``DiscoveryError`` naming what is wrong otherwise."""

    def malformed(reason: str) -> DiscoveryError:
        return DiscoveryError(f"{source}: malformed 'config get cluster' reply ({reason}): {reply[:120]!r}")

    header, found, rest = reply.partition(b"\r\n")
    if header.split(b" ", 1)[0] in _ERRORS:
        answer = header.decode("ascii", "replace")
        raise DiscoveryError(
            f"{source} answered 'config get cluster' with {answer!r}: not an ElastiCache Memcached "
            "configuration endpoint (CACHE_DISCOVERY_ENDPOINT is the cluster's .cfg. address)"
        )
    fields = header.split()
    if not found or len(fields) != 4 or fields[:2] != [b"CONFIG", b"cluster"] or not fields[3].isdigit():
        raise malformed("no 'CONFIG cluster <flags> <length>' header")
    # END delimits the payload, not the announced length: a line-based reader (as AWS's cluster clients
    # are) accepts a reply whose length is off by the line ends, and so does this one.
    if not rest.endswith(_END):
        raise malformed("no END line")
    payload = rest[: -len(_END)]
    body = payload.removesuffix(b"\n")
    lines = [line.rstrip(b"\r") for line in body.split(b"\n")]
    if len(lines) != 2 or not lines[0].isdigit():
        raise malformed("expected a version line and a node line")
    nodes = []
    for entry in lines[1].split():
        parts = entry.split(b"|")
        if len(parts) != 3 or not parts[2].isdigit() or not 1 <= int(parts[2]) <= 65535:
            raise malformed(f"node {entry[:60]!r} is not host|ip|port")
        host = (parts[0] or parts[1]).decode("ascii", "replace")
        if not host or not host.isprintable() or "\ufffd" in host:
            raise malformed(f"node {entry[:60]!r} has neither a host name nor an IP address")
        nodes.append((host, int(parts[2])))
    if not nodes:
        raise malformed("no nodes")
    return ClusterConfig(version=int(lines[0]), nodes=tuple(nodes))


def fetch_cluster_config(
    endpoint: tuple[str, int],
    *,
    tls_context: ssl.SSLContext | None,
    connect_timeout: float,
    timeout: float,
) -> ClusterConfig:
    """Ask ``endpoint`` (over TLS when ``tls_context`` is given) for the node list."""
    host, port = endpoint
    source = f"configuration endpoint {host}:{port}"
    try:
        raw = socket.create_connection((host, port), timeout=connect_timeout)
        with closing(raw):
            raw.settimeout(timeout)
            sock = tls_context.wrap_socket(raw, server_hostname=host) if tls_context else raw
            with closing(sock):
                sock.sendall(COMMAND)
                reply = _read_reply(sock)
    except OSError as exc:  # refused, timed out, TLS handshake failed: the message says which endpoint
        raise DiscoveryError(f"{source}: {type(exc).__name__}: {exc}") from exc
    return parse_cluster_config(reply, source)


def _read_reply(sock: socket.socket) -> bytes:
    reply = b""
    while not reply.endswith(_END):
        if reply.endswith(b"\r\n") and reply.split(b" ", 1)[0].rstrip(b"\r\n") in _ERRORS:
            break  # an error line is the whole reply
        if len(reply) > MAX_REPLY_BYTES:
            break  # the parser names it
        chunk = sock.recv(4096)
        if not chunk:
            break  # closed early: the parser names what is missing
        reply += chunk
    return reply


class DiscoveringRingClient(RingClient):
    """A :class:`RingClient` whose nodes come from Auto Discovery and follow the cluster's changes.

    :param discover: returns the current :class:`ClusterConfig` (``fetch_cluster_config`` bound to the
        endpoint); called here once, so a failure fails the client's creation.
    :param interval_seconds: how often the list is read again.
    :param clock: monotonic seconds (tests pass their own).
    """

    clients: dict[str, Any]
    hasher: Any

    def __init__(
        self,
        discover: Callable[[], ClusterConfig],
        *,
        interval_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        **client_options: Any,
    ) -> None:
        config = discover()
        super().__init__(list(config.nodes), **client_options)
        self._discover = discover
        self._interval = interval_seconds
        self._clock = clock
        self._config = config
        self._next_check = clock() + interval_seconds
        self._refresh_lock = threading.Lock()
        self._retired: set[str] = set()

    @property
    def config(self) -> ClusterConfig:
        """The node list the ring is built from."""
        return self._config

    def _get_client(self, key: Any) -> Any:
        if self._clock() >= self._next_check:
            self.refresh()
        return super()._get_client(key)

    def _safely_run_func(
        self, client: Any, func: Callable[..., Any], default_val: Any, *args: Any, **kwargs: Any
    ) -> Any:
        try:
            return super()._safely_run_func(client, func, default_val, *args, **kwargs)
        except CONNECTION_ERRORS:
            self._next_check = min(self._next_check, self._clock() + ERROR_RECHECK_SECONDS)
            raise

    def refresh(self) -> bool:
        """Read the node list now and rebuild the ring if it changed; True when it did. Never raises: a
        failure keeps the current ring and is retried after ``ERROR_RECHECK_SECONDS``."""
        if not self._refresh_lock.acquire(blocking=False):
            return False  # another thread is reading it: carry on with the current ring meanwhile
        try:
            try:
                config = self._discover()
            except MEMCACHED_ERRORS as exc:
                self._next_check = self._clock() + min(self._interval, ERROR_RECHECK_SECONDS)
                logger.warning(
                    "memcached node discovery failed, keeping the %d known nodes: %s",
                    len(self._config.nodes),
                    exc,
                )
                return False
            self._next_check = self._clock() + self._interval
            changed = set(config.nodes) != set(self._config.nodes)
            if changed:
                self._swap(config)
                logger.info(
                    "memcached nodes changed (config version %d -> %d): %s",
                    self._config.version,
                    config.version,
                    ", ".join(f"{host}:{port}" for host, port in config.nodes),
                )
            self._config = config
            return changed
        finally:
            self._refresh_lock.release()

    def _swap(self, config: ClusterConfig) -> None:
        """Replace the ring in two assignments. Other threads read ``hasher`` then ``clients``: a node
        dropped now stays in ``clients`` until the next change, so a call that picked it from the old ring
        a moment ago still finds its client (and fails on its own, as a dead node does)."""
        wanted = {self._make_client_key(node): node for node in config.nodes}
        clients = {key: client for key, client in self.clients.items() if key not in self._retired}
        retired = {key: client for key, client in clients.items() if key not in wanted}
        for key, node in wanted.items():
            if key not in clients:
                clients[key] = self._new_client(node)
        hasher = RendezvousHash()
        for key in wanted:
            hasher.add_node(key)
        self.clients = clients
        self.hasher = hasher
        self._retired = set(retired)
        for client in retired.values():
            client.close()  # idle pooled connections only; an in-flight call finishes or fails by itself

    def _new_client(self, node: tuple[str, int]) -> Any:
        # As HashClient.add_server builds one, without touching the live ring.
        client_class = PooledClient if self.use_pooling else self.client_class
        client = client_class(node, **self.default_kwargs)
        if self.use_pooling:
            client.client_class = self.client_class
        return client
