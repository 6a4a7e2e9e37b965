"""`make demo` end to end at a small scale: real servers, the real handler and warmer, a real PNG."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import demo  # noqa: E402 - scripts/ is not a package


def test_demo_reports_and_writes_its_chart(tmp_path, capsys):
    chart = tmp_path / "demo.png"
    assert (
        demo.main(["--products", "300", "--requests", "800", "--warm-top", "50", "--chart", str(chart)]) == 0
    )
    out = capsys.readouterr().out
    assert "cold: 800 requests, hit ratio" in out and "warm: 800 requests" in out
    assert "warmer: 50 hottest products" in out
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_zipf_workload_is_skewed_and_reproducible():
    ids = demo.zipf_ids(1000, 20_000, 1.0, seed=3)
    assert ids == demo.zipf_ids(1000, 20_000, 1.0, seed=3)
    assert all(1 <= i <= 1000 for i in ids)
    top = max(set(ids), key=ids.count)
    assert ids.count(top) / len(ids) > 0.1  # rank 1 of Zipf(1) over 1000 items draws ~13%
