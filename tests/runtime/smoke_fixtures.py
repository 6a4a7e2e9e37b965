"""The ``deployment`` fixture of the smoke-test tests: a local fake stage on a free port, one per test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest
from smoke_support import Behaviour, FakeDeployment


@pytest.fixture
def deployment() -> Iterator[tuple[str, Behaviour]]:
    behaviour = Behaviour()
    handler = type(
        "Handler",
        (FakeDeployment,),
        {"behaviour": behaviour, "cached": None, "stored_response": None, "replays_left": 0, "list_reads": 0},
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", behaviour
    finally:
        server.shutdown()
        server.server_close()
