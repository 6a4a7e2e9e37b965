"""Throwaway redis-server processes: one server, a replica (``REPLICAOF``), a primary/replica pair behind a
proxy that moves on failover (ElastiCache's primary endpoint), and a cluster."""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from server_process import (
    ServerSetupError,
    dev_maxmemory_policy,
    find_binary,
    free_port,
    log_tail,
    stop_process,
    wait_for_port,
)
from tcp_proxy import ProxyError, TcpProxy
from tls_certs import TlsFiles


@dataclass
class RedisServer:
    """One redis-server. ``stop()``/``start()`` keep the port, so clients can reconnect after an outage."""

    workdir: Path
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    maxmemory: str | None = None
    maxmemory_policy: str = "allkeys-lru"
    password: str | None = None
    acl_user: tuple[str, str] | None = None  # (username, password)
    tls: TlsFiles | None = None
    cluster: bool = False
    extra_args: tuple[str, ...] = ()
    proc: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        args = [
            find_binary("redis-server"),
            "--bind",
            self.host,
            "--dir",
            str(self.workdir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
            "--maxmemory-policy",
            self.maxmemory_policy,
            "--logfile",
            str(self.log),
        ]
        if self.maxmemory:
            args += ["--maxmemory", self.maxmemory]
        if self.tls is not None:
            args += [
                "--port",
                "0",
                "--tls-port",
                str(self.port),
                "--tls-cert-file",
                str(self.tls.cert),
                "--tls-key-file",
                str(self.tls.key),
                "--tls-ca-cert-file",
                str(self.tls.ca),
                "--tls-auth-clients",
                "no",
            ]
        else:
            args += ["--port", str(self.port)]
        if self.password:
            args += ["--requirepass", self.password]
        if self.acl_user:
            user, secret = self.acl_user
            args += ["--user", user, "on", f">{secret}", "~*", "&*", "+@all"]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", str(self.workdir / "nodes.conf")]
            args += ["--cluster-node-timeout", "2000"]
        return args + list(self.extra_args)

    @property
    def log(self) -> Path:
        return self.workdir / "redis.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 10.0) -> RedisServer:
        if self.running:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for_port(self.host, self.port, self.proc, timeout, self.log)
        return self

    def stop(self) -> None:
        stop_process(self.proc)

    def kill(self) -> None:
        """SIGKILL: an abrupt crash, no clean shutdown."""
        stop_process(self.proc, signal.SIGKILL)

    def cli(self, *command: str) -> str:
        """Run ``redis-cli`` against this server (non-TLS servers only)."""
        args = [find_binary("redis-cli"), "-h", self.host, "-p", str(self.port)]
        if self.password:
            args += ["-a", self.password, "--no-auth-warning"]
        return subprocess.run(
            [*args, *command], check=True, capture_output=True, text=True, timeout=30
        ).stdout.strip()


def start_redis(workdir: Path | None = None, **kwargs: object) -> RedisServer:
    """Start a redis-server with the dev environment's eviction policy (unless one is given)."""
    find_binary("redis-server")
    kwargs.setdefault("maxmemory_policy", dev_maxmemory_policy())
    server = RedisServer(workdir=workdir or Path(tempfile.mkdtemp(prefix="redis-")), **kwargs)  # type: ignore[arg-type]
    return server.start()


def start_redis_replica(
    primary: RedisServer, workdir: Path | None = None, timeout: float = 10.0
) -> RedisServer:
    """A second redis-server replicating ``primary`` (same eviction policy and maxmemory, as an ElastiCache
    replica has its group's parameters); returns once ``master_link_status:up`` (initial sync done).

    Sets ``repl-diskless-sync no`` on the primary: a diskless sync first waits
    ``repl-diskless-sync-delay`` (5 s) for more replicas, and afterwards the primary holds the command
    stream until the replica's first ``REPLCONF ACK`` (sent once a second), so writes made just after the
    link came up reach the replica up to 1 s late. A small RDB on disk avoids both. Plaintext,
    non-cluster primaries only.
    """
    if primary.tls is not None or primary.cluster:
        raise ServerSetupError("start_redis_replica supports plaintext, non-cluster primaries only")
    primary.cli("CONFIG", "SET", "repl-diskless-sync", "no")
    extra: tuple[str, ...] = ("--replicaof", primary.host, str(primary.port))
    if primary.password:
        extra += ("--masterauth", primary.password)
    replica = RedisServer(
        workdir=workdir or Path(tempfile.mkdtemp(prefix="redis-replica-")),
        maxmemory=primary.maxmemory,
        maxmemory_policy=primary.maxmemory_policy,
        password=primary.password,
        extra_args=extra,
    ).start(timeout)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "master_link_status:up" in replica.cli("INFO", "replication"):
                return replica
            time.sleep(0.02)
        raise ServerSetupError(
            f"redis replica did not sync with its primary within {timeout}s; log:\n{log_tail(replica.log)}"
        )
    except BaseException:
        replica.kill()
        raise


def promote(replica: RedisServer) -> None:
    """``REPLICAOF NO ONE``: the replica becomes a writable primary and keeps its data. Its ``--replicaof``
    argument goes too, so a later ``stop()``/``start()`` brings it back as a primary."""
    replica.cli("REPLICAOF", "NO", "ONE")
    args = list(replica.extra_args)
    while "--replicaof" in args:
        i = args.index("--replicaof")
        del args[i : i + 3]
    replica.extra_args = tuple(args)


def redis_replication_info(server: RedisServer) -> dict[str, str]:
    """``INFO replication`` as a dict (``role``, ``master_link_status``, ``master_repl_offset``...)."""
    return dict(line.split(":", 1) for line in server.cli("INFO", "replication").splitlines() if ":" in line)


@dataclass
class RedisPair:
    """A primary, its replica and a ``TcpProxy`` in front playing ElastiCache's primary endpoint.

    Clients connect to ``proxy.port``. ``failover()`` is what ElastiCache does when the primary dies: the
    replica is promoted, the endpoint moves to it and the clients' connections are dropped. Afterwards
    ``primary`` is the promoted server and ``replica`` the killed old primary (not running): the names
    follow the roles, like the endpoint does.
    """

    primary: RedisServer
    replica: RedisServer
    proxy: TcpProxy
    workdir: Path
    generation: int = 0
    failed_over: bool = False

    def failover(self) -> RedisServer:
        """SIGKILL the primary, promote the replica, move the proxy to it (dropping every connection)."""
        self.primary.kill()
        promote(self.replica)
        self.proxy.retarget(self.replica.host, self.replica.port)
        self.primary, self.replica = self.replica, self.primary
        self.failed_over = True
        return self.primary

    def wait_replicated(self, timeout: float = 5.0) -> None:
        """Block until the replica has processed every write the primary had when called.

        Compares replication offsets: ``WAIT 1`` from a new connection would not do, it only waits for the
        writes made on that same connection (none), so it returns at once.
        """
        target = int(redis_replication_info(self.primary)["master_repl_offset"])
        deadline = time.monotonic() + timeout
        while int(redis_replication_info(self.replica).get("slave_repl_offset", -1)) < target:
            if time.monotonic() > deadline:
                raise ServerSetupError(
                    f"redis replica did not reach the primary's offset {target} within {timeout}s"
                )
            time.sleep(0.01)

    def reset(self) -> None:
        """Empty data, the proxy resumed and pointing at the primary, no client connections: by
        ``FLUSHALL`` (replicated) when the pair is intact, else by rebuilding it behind the same proxy
        port."""
        if self._intact():
            try:
                self.primary.cli("FLUSHALL")
                self.wait_replicated()
                self.proxy.resume()
                self.proxy.drop_connections()
                return
            except (ServerSetupError, subprocess.SubprocessError, ProxyError):
                pass
        self.rebuild()

    def rebuild(self) -> None:
        """A fresh primary-replica pair (new ports, empty data) behind the same proxy port."""
        self.primary.kill()
        self.replica.kill()
        self.generation += 1
        self.primary, self.replica = _start_redis_servers(self.workdir / f"gen{self.generation}")
        if not self.proxy.running:
            self.proxy.start()
        self.proxy.resume()
        self.proxy.retarget(self.primary.host, self.primary.port)
        self.failed_over = False

    def stop(self) -> None:
        self.proxy.stop()
        self.replica.kill()
        self.primary.kill()

    def _intact(self) -> bool:
        if self.failed_over or not (self.primary.running and self.replica.running and self.proxy.running):
            return False
        if self.proxy.target != (self.primary.host, self.primary.port):
            return False
        try:
            info = redis_replication_info(self.replica)
        except subprocess.SubprocessError:
            return False
        return (
            info.get("role") == "slave"
            and info.get("master_port") == str(self.primary.port)
            and info.get("master_link_status") == "up"
        )


def _start_redis_servers(workdir: Path) -> tuple[RedisServer, RedisServer]:
    primary = start_redis(workdir / "primary")
    try:
        return primary, start_redis_replica(primary, workdir / "replica")
    except BaseException:
        primary.kill()
        raise


def start_redis_pair(workdir: Path | None = None) -> RedisPair:
    """A primary (dev eviction policy), a synced replica and a started ``TcpProxy`` to the primary."""
    base = workdir or Path(tempfile.mkdtemp(prefix="redis-pair-"))
    primary, replica = _start_redis_servers(base / "gen0")
    try:
        proxy = TcpProxy((primary.host, primary.port)).start()
    except BaseException:
        replica.kill()
        primary.kill()
        raise
    return RedisPair(primary=primary, replica=replica, proxy=proxy, workdir=base)


@dataclass
class RedisCluster:
    """Three masters, no replicas: the smallest cluster that spreads the 16384 slots."""

    nodes: list[RedisServer]

    @property
    def startup(self) -> tuple[str, int]:
        return self.nodes[0].host, self.nodes[0].port

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_redis_cluster(workdir: Path | None = None, masters: int = 3) -> RedisCluster:
    base = workdir or Path(tempfile.mkdtemp(prefix="redis-cluster-"))
    policy = dev_maxmemory_policy()
    nodes = [
        RedisServer(workdir=base / f"node{i}", cluster=True, maxmemory_policy=policy).start()
        for i in range(masters)
    ]
    try:
        subprocess.run(
            [
                find_binary("redis-cli"),
                "--cluster",
                "create",
                *(f"{n.host}:{n.port}" for n in nodes),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if all("cluster_state:ok" in n.cli("CLUSTER", "INFO") for n in nodes):
                return RedisCluster(nodes)
            time.sleep(0.1)
        raise ServerSetupError("redis cluster did not reach cluster_state:ok within 20s")
    except BaseException:
        for node in nodes:
            node.stop()
        raise
