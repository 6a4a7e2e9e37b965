"""Throwaway mariadbd processes: one server, and a primary with a real GTID replica that can lag
(``MASTER_DELAY``), as RDS with a read replica."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from server_process import (
    ServerSetupError,
    find_binary,
    free_port,
    stop_process,
    wait_for_port,
)


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

    @property
    def tmpdir(self) -> Path:
        """The server's own temporary directory: under /tmp, the bootstrap's temporary tables of servers
        started side by side (test workers) were seen to vanish mid-install (ENOENT, "Unknown table
        mysql.tmp_user_sys")."""
        return self.workdir / "tmp"

    def initialize(self) -> None:
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        args = [
            find_binary("mariadb-install-db"),
            "--no-defaults",
            f"--datadir={self.datadir}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
            f"--tmpdir={self.tmpdir}",  # passed through to the bootstrapping mariadbd
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
            f"--tmpdir={self.tmpdir}",
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
        self.tmpdir.mkdir(parents=True, exist_ok=True)  # a replica's datadir is copied, never initialized
        self.proc = subprocess.Popen(self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for_port(self.host, self.port, self.proc, timeout, self.log)
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
        stop_process(self.proc, timeout=30)

    def kill(self) -> None:
        """SIGKILL: the server dies without a clean shutdown (a crashed or lost instance)."""
        stop_process(self.proc, signal.SIGKILL)

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
