"""Throwaway redis-server, memcached and mariadbd processes for tests, benchmarks and local runs.

Each server runs on a free port in its own temp dir, as the current user, and never touches the
machine's own services on 6379/3306. Redis gets the ``maxmemory-policy`` of the dev environment's
config (the parameter group's value), so tests run against the eviction behaviour production has.

Production topologies for fault tests: ``start_replicated_mariadb`` (a primary and a real GTID replica
that can lag, as RDS with a read replica) and ``start_redis_pair`` (a primary and a replica behind a
``TcpProxy`` that moves on failover, as ElastiCache's primary endpoint).

Used by ``tests/runtime/conftest.py`` (session-scoped fixtures), ``fault_fixtures.py`` and importable by
benchmarks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import port_for
from tcp_proxy import ProxyError, TcpProxy
from tls_certs import TlsFiles, make_tls_files

SETUP_HINT = "run `make setup-servers` (apt-installs redis-server, mariadb-server and memcached)"
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/usr/bin")


class ServerSetupError(RuntimeError):
    """A server binary is missing or a server did not start."""


def find_binary(name: str) -> str:
    found = shutil.which(name) or next(
        (
            str(Path(d) / name)
            for d in _SBIN
            if (Path(d) / name).is_file() and os.access(Path(d) / name, os.X_OK)
        ),
        None,
    )
    if found is None:
        raise ServerSetupError(f"`{name}` not found on PATH or in /usr/sbin: {SETUP_HINT}")
    return found


def dev_maxmemory_policy() -> str:
    """The dev environment's ``cache.maxmemory_policy`` -- the one source of truth for eviction."""
    try:
        from config import load_environment
    except ImportError as exc:  # config/ belongs to the foundation issue
        raise ServerSetupError(f"cannot import config.load_environment: {exc}") from exc
    return load_environment("dev").cache.maxmemory_policy


def free_port() -> int:
    return port_for.select_random()


def _wait_for_port(host: str, port: int, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerSetupError(f"server exited with {proc.returncode}; log:\n{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise ServerSetupError(f"server did not listen on {host}:{port} within {timeout}s; log:\n{_tail(log)}")


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


# --- Redis -------------------------------------------------------------------------------------------


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
        _wait_for_port(self.host, self.port, self.proc, timeout, self.log)
        return self

    def stop(self) -> None:
        _stop(self.proc)

    def kill(self) -> None:
        """SIGKILL: an abrupt crash, no clean shutdown."""
        _stop(self.proc, signal.SIGKILL)

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
            f"redis replica did not sync with its primary within {timeout}s; log:\n{_tail(replica.log)}"
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


# --- memcached -------------------------------------------------------------------------------------


@dataclass
class MemcachedServer:
    """One memcached (``-l 127.0.0.1``, no UDP). ``stop()``/``kill()`` then ``start()`` keep the port and
    come back empty, as a restarted or replaced ElastiCache node does. ``tls`` serves TLS only."""

    workdir: Path
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    memory_mb: int = 64
    tls: TlsFiles | None = None
    extra_args: tuple[str, ...] = ()
    proc: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        args = [find_binary("memcached"), "-l", self.host, "-p", str(self.port), "-U", "0"]
        args += ["-m", str(self.memory_mb), "-c", "1024"]
        if os.geteuid() == 0:  # memcached refuses to run as root unless told which user to be
            args += ["-u", "root"]
        if self.tls is not None:
            args += ["-Z", "-o", f"ssl_chain_cert={self.tls.cert},ssl_key={self.tls.key}"]
        return args + list(self.extra_args)

    @property
    def log(self) -> Path:
        return self.workdir / "memcached.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def node(self) -> str:
        """``host:port``, as ``CACHE_NODES`` lists it."""
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> MemcachedServer:
        if self.running:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT)
        _wait_for_port(self.host, self.port, self.proc, timeout, self.log)
        return self

    def stop(self) -> None:
        _stop(self.proc)

    def kill(self) -> None:
        """SIGKILL: an abrupt crash; everything it held is gone."""
        _stop(self.proc, signal.SIGKILL)

    def command(self, line: str) -> str:
        """One text-protocol command (plaintext servers only), e.g. ``flush_all``, ``delete <key>`` or
        ``stats``; returns the reply."""
        last = (b"END\r\n", b"ERROR\r\n") if line.split()[0] in ("stats", "get", "gets") else (b"\r\n",)
        with socket.create_connection((self.host, self.port), timeout=5) as conn:
            conn.sendall(line.encode() + b"\r\n")
            reply = b""
            while not reply.endswith(last):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                reply += chunk
        return reply.decode()

    def stats(self) -> dict[str, str]:
        return {
            parts[1]: parts[2]
            for parts in (line.split() for line in self.command("stats").splitlines())
            if len(parts) == 3 and parts[0] == "STAT"
        }


def start_memcached(workdir: Path | None = None, **kwargs: object) -> MemcachedServer:
    find_binary("memcached")
    server = MemcachedServer(workdir=workdir or Path(tempfile.mkdtemp(prefix="memcached-")), **kwargs)  # type: ignore[arg-type]
    return server.start()


# --- MariaDB -----------------------------------------------------------------------------------------


@dataclass
class MariaDBServer:
    """One mariadbd with a fresh datadir, an application user and an empty database."""

    workdir: Path
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    database: str = "app"
    user: str = "app"
    password: str = "app-test-password"
    server_id: int | None = None  # replication needs a distinct one per server
    binlog: bool = False  # a replication primary: ROW binary log instead of --skip-log-bin
    extra_args: tuple[str, ...] = ()  # appended to the mariadbd argv
    proc: subprocess.Popen | None = None

    @property
    def datadir(self) -> Path:
        return self.workdir / "data"

    @property
    def socket(self) -> Path:
        return self.workdir / "mysqld.sock"

    @property
    def log(self) -> Path:
        return self.workdir / "mariadb.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def initialize(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            find_binary("mariadb-install-db"),
            "--no-defaults",
            f"--datadir={self.datadir}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ]
        if os.geteuid() == 0:
            args.append("--user=root")
        result = subprocess.run(args, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise ServerSetupError(f"mariadb-install-db failed: {result.stderr[-2000:]}")

    def argv(self) -> list[str]:
        args = [
            find_binary("mariadbd"),
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--socket={self.socket}",
            f"--port={self.port}",
            f"--bind-address={self.host}",
            f"--pid-file={self.workdir / 'mariadb.pid'}",
            f"--log-error={self.log}",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=64M",
            "--innodb-log-file-size=16M",
            "--innodb-flush-log-at-trx-commit=2",
            "--max-connections=300",
        ]
        if self.binlog:
            # In the datadir, named so no hostname leaks into it; ROW as RDS MySQL/MariaDB default to.
            args += ["--log-bin=mariadb-bin", "--binlog-format=ROW"]
        else:
            args.append("--skip-log-bin")
        if self.server_id is not None:
            args.append(f"--server-id={self.server_id}")
        if os.geteuid() == 0:
            args.append("--user=root")
        return args + list(self.extra_args)

    def start(self, timeout: float = 30.0) -> MariaDBServer:
        if self.running:
            return self
        self.proc = subprocess.Popen(self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        _wait_for_port(self.host, self.port, self.proc, timeout, self.log)
        return self

    def provision(self) -> None:
        """Create the database and a password user reachable over TCP (as the Lambdas connect)."""
        self.admin_sql(
            f"CREATE DATABASE IF NOT EXISTS `{self.database}`;"
            f"CREATE USER IF NOT EXISTS '{self.user}'@'127.0.0.1' IDENTIFIED BY '{self.password}';"
            f"GRANT ALL ON `{self.database}`.* TO '{self.user}'@'127.0.0.1';"
        )

    def admin_sql(self, sql: str, column_names: bool = False) -> str:
        """Run SQL as root over the unix socket (socket authentication)."""
        names = [] if column_names else ["-N"]
        result = subprocess.run(
            [find_binary("mariadb"), "--no-defaults", f"--socket={self.socket}", "-uroot", *names, "-e", sql],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise ServerSetupError(f"SQL failed: {result.stderr.strip()}")
        return result.stdout

    def stop(self) -> None:
        _stop(self.proc, timeout=30)

    def kill(self) -> None:
        """SIGKILL: the server dies without a clean shutdown (a crashed or lost instance)."""
        _stop(self.proc, signal.SIGKILL)

    def connect_kwargs(self) -> dict[str, object]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "database": self.database,
        }


def start_mariadb(workdir: Path | None = None, **kwargs: object) -> MariaDBServer:
    find_binary("mariadbd")
    find_binary("mariadb-install-db")
    server = MariaDBServer(workdir=workdir or Path(tempfile.mkdtemp(prefix="mariadb-")), **kwargs)  # type: ignore[arg-type]
    server.initialize()
    server.start()
    server.provision()
    return server


@dataclass
class ReplicatedMariaDB:
    """A binlogging primary and a read-only replica that applies it over GTID, like RDS with a read replica.

    The app user and database exist on both (the replica replayed the primary's binlog from its start),
    with the same password, over TCP. ``set_delay`` makes the lag real (``MASTER_DELAY``);
    ``stop_sql_thread`` freezes the replica at its current position while it keeps receiving events.

    ``MASTER_GTID_WAIT`` compares with ``gtid_slave_pos``: on the replica it returns 0 once applied, -1
    on timeout; on the primary itself it always times out (its own writes are not slave positions).
    """

    primary: MariaDBServer
    replica: MariaDBServer
    repl_user: str = "repl"
    repl_password: str = "repl-test-password"
    delay_seconds: int = 0

    def change_master(self, delay_seconds: int) -> None:
        """(Re)point the replica at the primary and (re)start both replication threads.

        ``MASTER_USE_GTID=slave_pos``: resume from what the replica applied, fetching again anything its
        relay log lost. ``MASTER_CONNECT_RETRY=1``: reconnect within a second after a primary restart
        (the default is 60 s). ``CHANGE MASTER`` needs both threads stopped, hence ``STOP SLAVE`` first.
        """
        self.replica.admin_sql(
            "STOP SLAVE;"
            f"CHANGE MASTER TO MASTER_HOST='{self.primary.host}', MASTER_PORT={self.primary.port},"
            f" MASTER_USER='{self.repl_user}', MASTER_PASSWORD='{self.repl_password}',"
            f" MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_DELAY={int(delay_seconds)};"
            "START SLAVE;"
        )
        self.delay_seconds = int(delay_seconds)

    def set_delay(self, seconds: int) -> None:
        """``MASTER_DELAY``: the replica applies each transaction ``seconds`` after it was written.

        In whole seconds: the SQL thread sleeps (event second + the IO thread's integer clock-diff
        estimate + ``seconds``) - (current second), the event second being when the statement started,
        not its commit. So usually exactly ``seconds``; a second less when a second boundary passes before
        the SQL thread sees the event, a second more when the clock-diff estimate came out as 1.
        """
        self.replica.admin_sql(f"STOP SLAVE; CHANGE MASTER TO MASTER_DELAY={int(seconds)}; START SLAVE;")
        self.delay_seconds = int(seconds)

    def stop_sql_thread(self) -> None:
        """Freeze what the replica shows; its IO thread keeps receiving the primary's binlog."""
        self.replica.admin_sql("STOP SLAVE SQL_THREAD")

    def start_sql_thread(self) -> None:
        self.replica.admin_sql("START SLAVE SQL_THREAD")

    def primary_gtid_pos(self) -> str:
        return self.primary.admin_sql("SELECT @@GLOBAL.gtid_binlog_pos").strip()

    def wait_caught_up(self, timeout: float = 10) -> None:
        """Block until the replica applied everything in the primary's binlog (``MASTER_GTID_WAIT`` on the
        primary's ``gtid_binlog_pos``); ``ServerSetupError`` with the replica's status if it does not."""
        position = self.primary_gtid_pos()
        result = self.replica.admin_sql(f"SELECT MASTER_GTID_WAIT('{position}', {float(timeout)})").strip()
        if result != "0":
            raise ServerSetupError(
                f"MariaDB replica did not reach {position!r} within {timeout}s"
                f" (gtid_slave_pos {self.replica.admin_sql('SELECT @@GLOBAL.gtid_slave_pos').strip()!r});"
                f" status:\n{self.replica_status()}"
            )

    def replica_status(self) -> str:
        return self.replica.admin_sql("SHOW SLAVE STATUS\\G", column_names=True)

    def wait_replicating(self, timeout: float = 5.0) -> None:
        """Block until both replication threads run (the IO thread connected to the primary).

        ``wait_caught_up`` alone cannot tell: a replica whose IO thread failed (e.g. error 1236, asking the
        primary for GTIDs its binlog lacks) still passes ``MASTER_GTID_WAIT`` for anything it already has.
        """
        deadline = time.monotonic() + timeout
        while True:
            status = self.replica_status()
            if "Slave_IO_Running: Yes" in status and "Slave_SQL_Running: Yes" in status:
                return
            if time.monotonic() > deadline:
                raise ServerSetupError(f"MariaDB replication threads not running after {timeout}s:\n{status}")
            time.sleep(0.02)

    def truncate_all(self) -> None:
        """Empty the app database's tables on the primary; the TRUNCATEs replicate (the replica is
        read-only), so this does not wait for them: call ``wait_caught_up``."""
        tables = self.primary.admin_sql(
            "SELECT table_name FROM information_schema.tables"
            f" WHERE table_schema = '{self.primary.database}' AND table_type = 'BASE TABLE'"
        ).split()
        if tables:
            # FOREIGN_KEY_CHECKS=0 lets parents be truncated; it is in the binlogged events' flags too.
            self.primary.admin_sql(
                f"USE `{self.primary.database}`; SET SESSION FOREIGN_KEY_CHECKS=0;"
                + "".join(f"TRUNCATE TABLE `{table}`;" for table in tables)
            )

    def reset(self, timeout: float = 10) -> None:
        """Both servers running, no delay, both threads running, caught up, app tables empty on both."""
        self.primary.start()
        self.replica.start()
        self.change_master(0)
        self.wait_replicating(timeout)
        self.wait_caught_up(timeout)
        self.truncate_all()
        self.wait_caught_up(timeout)

    def stop(self) -> None:
        self.replica.stop()
        self.primary.stop()


def start_replicated_mariadb(workdir: Path | None = None, delay_seconds: int = 0) -> ReplicatedMariaDB:
    """Start a primary (server-id 1, ROW binlog) and a read-only replica (server-id 2) replicating it.

    One ``mariadb-install-db`` for both: the replica's datadir is a copy of the primary's fresh one, made
    before either starts (~0.2 s against ~0.7 s for a second install). The primary is provisioned after
    binary logging is on, so the replica, starting from an empty ``gtid_slave_pos``, replays the app
    user, its grants and the database from the primary's first binlog.

    The app user needs no extra privilege for the freshness check: ``SELECT @@GLOBAL.gtid_binlog_pos``
    (any user may read system variables) and ``MASTER_GTID_WAIT`` (no privilege required) both work with
    just ``ALL ON app.*``; the test suite checks this as the app user over TCP.
    """
    find_binary("mariadbd")
    find_binary("mariadb-install-db")
    base = workdir or Path(tempfile.mkdtemp(prefix="mariadb-replicated-"))
    primary = MariaDBServer(workdir=base / "primary", server_id=1, binlog=True)
    # --relay-log: a fixed name instead of one from the hostname.
    replica = MariaDBServer(
        workdir=base / "replica", server_id=2, extra_args=("--read-only", "--relay-log=relay-bin")
    )
    primary.initialize()
    replica.workdir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(primary.datadir, replica.datadir)
    topology = ReplicatedMariaDB(primary=primary, replica=replica)
    try:
        primary.start()
        replica.start()
        primary.admin_sql(
            f"CREATE USER IF NOT EXISTS '{topology.repl_user}'@'{primary.host}'"
            f" IDENTIFIED BY '{topology.repl_password}';"
            f"GRANT REPLICATION SLAVE ON *.* TO '{topology.repl_user}'@'{primary.host}';"
        )
        primary.provision()
        topology.change_master(0)
        topology.wait_replicating()
        topology.wait_caught_up()
        if delay_seconds:
            topology.set_delay(delay_seconds)
    except BaseException:
        topology.stop()
        raise
    return topology


def start_extra_mariadb_replica(
    topology: ReplicatedMariaDB, workdir: Path, server_id: int = 3
) -> MariaDBServer:
    """One more read-only replica of ``topology.primary`` (RDS prod runs two): a fresh datadir that replays
    the primary's binlog from its start over GTID, as the first replica did. Not managed by ``topology``:
    the caller stops it."""
    replica = MariaDBServer(
        workdir=workdir, server_id=server_id, extra_args=("--read-only", "--relay-log=relay-bin")
    )
    replica.initialize()
    replica.start()
    try:
        replica.admin_sql(
            f"CHANGE MASTER TO MASTER_HOST='{topology.primary.host}', MASTER_PORT={topology.primary.port},"
            f" MASTER_USER='{topology.repl_user}', MASTER_PASSWORD='{topology.repl_password}',"
            " MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE;"
        )
        position = topology.primary_gtid_pos()
        if replica.admin_sql(f"SELECT MASTER_GTID_WAIT('{position}', 20)").strip() != "0":
            raise ServerSetupError(f"extra MariaDB replica did not reach {position!r} within 20 s")
    except BaseException:
        replica.stop()
        raise
    return replica


def function_env(redis: RedisServer, mariadb: MariaDBServer, **overrides: str) -> dict[str, str]:
    """The variables the CDK app sets on a function, pointed at these servers with direct credentials
    (``DB_USER``/``DB_PASSWORD`` instead of secret ARNs, no TLS); ``overrides`` add or replace some."""
    return {
        "REDIS_HOST": redis.host,
        "REDIS_PORT": str(redis.port),
        "REDIS_TLS": "false",
        "REDIS_CLUSTER_MODE": "false",
        "DB_WRITER_HOST": mariadb.host,
        "DB_READER_HOST": mariadb.host,
        "DB_PORT": str(mariadb.port),
        "DB_NAME": mariadb.database,
        "DB_USER": mariadb.user,
        "DB_PASSWORD": mariadb.password,
        "DB_TLS": "false",
        **overrides,
    }


__all__ = [
    "SETUP_HINT",
    "MariaDBServer",
    "MemcachedServer",
    "ProxyError",
    "RedisCluster",
    "RedisPair",
    "RedisServer",
    "ReplicatedMariaDB",
    "ServerSetupError",
    "TcpProxy",
    "TlsFiles",
    "dev_maxmemory_policy",
    "find_binary",
    "function_env",
    "make_tls_files",
    "promote",
    "redis_replication_info",
    "start_extra_mariadb_replica",
    "start_mariadb",
    "start_memcached",
    "start_redis",
    "start_redis_cluster",
    "start_redis_pair",
    "start_redis_replica",
    "start_replicated_mariadb",
]
