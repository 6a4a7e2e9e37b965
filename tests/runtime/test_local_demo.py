"""`make demo` end to end at a small scale: real servers, the real handler and warmer, a real PNG; and its
``--url`` mode against the local HTTP adapter, which serves the same handler and sets ``X-Cache``."""

from __future__ import annotations

import contextlib
import re
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import demo  # noqa: E402 - scripts/ is not a package
from demo_http import classify  # noqa: E402
from demo_stats import Phase  # noqa: E402
from local_server import make_http_server, serve_in_thread  # noqa: E402

pytest_plugins = ["handler_fixtures"]  # handler_env: the session's servers, seeded; fresh handler modules

HEADLINE = re.compile(
    r"^  (?P<phase>cold|warm|pass 1|pass 2)\s+(?P<queries>\d+)\s+(?P<avoided>\d+) avoided", re.M
)


def headline(out: str) -> dict[str, tuple[int, int]]:
    return {m["phase"]: (int(m["queries"]), int(m["avoided"])) for m in HEADLINE.finditer(out)}


def queries_per_window(out: str, phase: str) -> list[float]:
    section = out.split(f"{phase}: ", 1)[1]
    line = next(line for line in section.splitlines() if "queries/request:" in line)
    return [float(value) for value in line.split(":", 1)[1].split()]


def test_the_headline_is_the_queries_a_cold_and_a_warmed_cache_avoid(tmp_path, capsys):
    chart = tmp_path / "demo.png"
    argv = ["--products", "300", "--requests", "800", "--warm-top", "50", "--chart", str(chart)]
    assert demo.main(argv) == 0
    out = capsys.readouterr().out
    distinct = len(set(demo.zipf_ids(300, 800, 1.0, seed=7)))
    # Cold: each product is read from the database once, on its first request. Warmed: the warmer already
    # loaded the 50 hottest, so only the others are.
    assert headline(out) == {"cold": (distinct, 800 - distinct), "warm": (distinct - 50, 800 - distinct + 50)}
    assert "no cache           800" in out
    cold_curve = queries_per_window(out, "cold")
    assert len(cold_curve) == 10 and cold_curve[0] > 2 * cold_curve[-1]  # the first requests are kept
    assert "warmer: cache emptied (as after a failover), then 50 hottest products" in out
    assert "On loopback a primary-key query" in out
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_url_mode_reads_x_cache_from_a_server_over_http(handler_env, tmp_path, capsys):
    server = make_http_server("127.0.0.1", 0)
    thread = serve_in_thread(server)
    chart = tmp_path / "url.png"
    try:
        url = f"http://127.0.0.1:{server.server_port}/"
        argv = [
            "--url",
            url,
            "--products",
            "40",
            "--requests",
            "200",
            "--concurrency",
            "2",
            "--chart",
            str(chart),
        ]
        assert demo.main(argv) == 0
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    out = capsys.readouterr().out
    distinct = len(set(demo.zipf_ids(40, 200, 1.0, seed=7)))
    assert headline(out) == {"pass 1": (distinct, 200 - distinct), "pass 2": (0, 200)}
    assert f"answers: HIT {200 - distinct}, MISS {distinct}" in out and "answers: HIT 200" in out
    assert "latency at the client, p50 / p99 ms: MISS" in out
    assert chart.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (200, {"x-cache": "HIT", "x-correlation-id": "mine"}, ("HIT", 0)),
        (200, {"x-cache": "MISS", "x-correlation-id": "mine"}, ("MISS", 1)),
        (404, {"x-cache": "MISS"}, ("MISS", 1)),
        (200, {"x-cache": "MISS", "x-correlation-id": "someone-else"}, ("REPLAY", 0)),
        (200, {"x-cache": "Hit from cloudfront"}, ("EDGE_HIT", 0)),
        (200, {"x-cache": "Miss from cloudfront"}, ("EDGE_MISS", 1)),
        (429, {}, ("HTTP 429", 0)),
    ],
)
def test_url_mode_classifies_who_answered(status, headers, expected):
    assert classify(status, headers, "mine") == expected


def test_url_mode_refuses_an_answer_without_x_cache():
    with pytest.raises(SystemExit, match="without the product API's X-Cache"):
        classify(200, {}, "mine")


def test_windows_start_at_the_first_request():
    phase = Phase("cold")
    for queries in (1, 1, 1, 0, 0, 0, 0):
        phase.add("MISS" if queries else "HIT", 0.1, queries)
    phase.add("HTTP 429", 0.1, 0)  # throttled: not served from the cache, no query either
    windows = phase.windows(3)
    assert [(w.end, w.size, round(w.queries_per_request, 3)) for w in windows] == [
        (3, 3, 1.0),
        (6, 3, 0.0),
        (8, 2, 0.0),
    ]
    assert [w.hit_ratio for w in windows] == [0.0, 1.0, 0.5]
    assert (phase.hits, phase.errors, phase.db_queries) == (4, 1, 3)


def test_simulated_db_latency_delays_every_query():
    class FakeDatabase:
        @contextlib.contextmanager
        def cursor(self, endpoint="reader"):
            yield endpoint

    database = FakeDatabase()
    demo.add_query_latency(database, 30)
    started = time.perf_counter()
    with database.cursor("writer") as cursor:
        assert cursor == "writer"
    assert time.perf_counter() - started >= 0.03


def test_zipf_workload_is_skewed_and_reproducible():
    ids = demo.zipf_ids(1000, 20_000, 1.0, seed=3)
    assert ids == demo.zipf_ids(1000, 20_000, 1.0, seed=3)
    assert all(1 <= i <= 1000 for i in ids)
    top = max(set(ids), key=ids.count)
    assert ids.count(top) / len(ids) > 0.1  # rank 1 of Zipf(1) over 1000 items draws ~13%
