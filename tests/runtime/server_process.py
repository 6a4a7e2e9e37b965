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
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerSetupError(f"server exited with {proc.returncode}; log:\n{log_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise ServerSetupError(f"server did not listen on {host}:{port} within {timeout}s; log:\n{log_tail(log)}")


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
