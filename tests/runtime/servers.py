"""Throwaway redis-server and mariadbd processes for tests, benchmarks and local runs.

Each server runs on a free port in its own temp dir, as the current user, and never touches the
machine's own services on 6379/3306. Redis gets the ``maxmemory-policy`` of the dev environment's
config (the parameter group's value), so tests run against the eviction behaviour production has.

Used by ``tests/runtime/conftest.py`` (session-scoped fixtures) and importable by benchmarks.
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
from tls_certs import TlsFiles, make_tls_files

SETUP_HINT = "run `make setup-servers` (apt-installs redis-server and mariadb-server)"
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

    def start(self, timeout: float = 30.0) -> MariaDBServer:
        if self.running:
            return self
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
            "--skip-log-bin",
            "--max-connections=300",
        ]
        if os.geteuid() == 0:
            args.append("--user=root")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        _wait_for_port(self.host, self.port, self.proc, timeout, self.log)
        return self

    def provision(self) -> None:
        """Create the database and a password user reachable over TCP (as the Lambdas connect)."""
        self.admin_sql(
            f"CREATE DATABASE IF NOT EXISTS `{self.database}`;"
            f"CREATE USER IF NOT EXISTS '{self.user}'@'127.0.0.1' IDENTIFIED BY '{self.password}';"
            f"GRANT ALL ON `{self.database}`.* TO '{self.user}'@'127.0.0.1';"
        )

    def admin_sql(self, sql: str) -> str:
        """Run SQL as root over the unix socket (socket authentication)."""
        result = subprocess.run(
            [find_binary("mariadb"), "--no-defaults", f"--socket={self.socket}", "-uroot", "-N", "-e", sql],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise ServerSetupError(f"SQL failed: {result.stderr.strip()}")
        return result.stdout

    def stop(self) -> None:
        _stop(self.proc, timeout=30)

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
    "RedisCluster",
    "RedisServer",
    "ServerSetupError",
    "TlsFiles",
    "dev_maxmemory_policy",
    "find_binary",
    "function_env",
    "make_tls_files",
    "start_mariadb",
    "start_redis",
    "start_redis_cluster",
]
