"""What every throwaway test server shares: finding its binary, a free port, waiting for it to listen,
its log's tail and stopping it. The servers themselves: ``redis_servers.py``, ``memcached_server.py``,
``mariadb_servers.py`` (``servers.py`` gathers them)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import port_for

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


def wait_for_port(host: str, port: int, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    """Until ``proc`` itself listens on ``port``. A connection alone proves nothing: a server restarted on its
    old port (after a kill) finds it taken when another test worker's new server picked it in the gap, fails
    to bind and exits, while the connection reaches that other server, and the two workers then share it
    (each one's flush wiping the other's entries mid-test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerSetupError(f"server exited with {proc.returncode}; log:\n{log_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            if listens_on(proc.pid, port) is not False:
                return
        time.sleep(0.02)
    raise ServerSetupError(f"server did not listen on {host}:{port} within {timeout}s; log:\n{log_tail(log)}")


def listens_on(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds a listening TCP socket on ``port``; None where /proc cannot tell."""
    listening: set[str] = set()
    try:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(FileNotFoundError), open(table) as lines:
                next(lines)
                for line in lines:
                    fields = line.split()
                    # local_address is HEX_IP:HEX_PORT; state 0A is LISTEN; field 9 is the socket's inode.
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        listening.add(f"socket:[{fields[9]}]")
        descriptors = Path(f"/proc/{pid}/fd")
        if not descriptors.is_dir():
            return None
        return any(_link(fd) in listening for fd in descriptors.iterdir())
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def log_tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _link(path: Path) -> str:
    """Where a descriptor points; empty when it closed meanwhile."""
    try:
        return os.readlink(path)
    except OSError:
        return ""
