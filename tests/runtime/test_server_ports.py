"""A throwaway server owns its port, or fails to start: it never quietly shares another's.

Two test workers run side by side. A server killed and restarted on its old port can find that port taken
by the other worker's new server: it then fails to bind and exits, while a plain connection to the port
still succeeds (it reaches the other server). Both workers would talk to one server, and each one's
``flush_all`` would wipe the other's entries mid-test, as CI once showed (entries and leases vanishing).
"""

from __future__ import annotations

import socket

import pytest
from memcached_server import MemcachedServer
from server_process import ServerSetupError, free_port, listens_on


@pytest.fixture
def someone_elses_server():
    """A listener on a free port, as another worker's server would hold it."""
    port = free_port()
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        yield port


def test_a_server_whose_port_is_taken_fails_to_start_instead_of_sharing_it(tmp_path, someone_elses_server):
    server = MemcachedServer(workdir=tmp_path, port=someone_elses_server)
    with pytest.raises(ServerSetupError):
        server.start(timeout=5)
    server.stop()


def test_the_port_check_tells_the_owner_from_a_process_that_only_reaches_it(tmp_path):
    """The check the start relies on can tell them apart (a connection alone cannot)."""
    import os

    server = MemcachedServer(workdir=tmp_path).start()
    try:
        assert listens_on(server.proc.pid, server.port) is True
        assert listens_on(os.getpid(), server.port) is False
        with socket.create_connection((server.host, server.port), timeout=1):
            pass  # reachable from here, and still not this process's port
    finally:
        server.stop()
