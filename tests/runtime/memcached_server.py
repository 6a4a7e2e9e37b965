"""A throwaway memcached process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from server_process import (
    find_binary,
    free_port,
    stop_process,
    wait_for_port,
)
from tls_certs import TlsFiles


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
        wait_for_port(self.host, self.port, self.proc, timeout, self.log)
        return self

    def stop(self) -> None:
        stop_process(self.proc)

    def kill(self) -> None:
        """SIGKILL: an abrupt crash; everything it held is gone."""
        stop_process(self.proc, signal.SIGKILL)

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
