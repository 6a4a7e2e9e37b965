"""One log shape (issue 15) and the hit path's summarized request lines (issue 14), on real Redis and MariaDB.

The request line is the contract with CloudWatch: it is the invocation's EMF document (the dashboards'
metrics) and a flat JSON object (Logs Insights fields). Summarizing fast hits must never defer a line
that signals trouble, and never lose a count while the container lives.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from handler_support import event
from hypothesis import given
from hypothesis import strategies as st

from cachelib import logs
from caching_contract import variables
from caching_contract.metrics import ALL_METRICS, CACHE_HIT, CACHE_MISS, COUNT_METRICS, ENVIRONMENT_DIMENSION
from functions import apigw, product_api
from functions.catalog_schema import PRODUCT_COLUMNS

pytest_plugins = ["handler_fixtures"]  # fixtures shared by the handler tests


@pytest.fixture
def metrics_env(handler_env, monkeypatch):
    """The deployed shape: metrics on, a service and an environment dimension."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv(variables.REQUEST_LOG_ALL, raising=False)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "product-api")
    monkeypatch.setenv("APP_ENVIRONMENT", "test")
    logs.reset()
    return handler_env


def lines(capsys) -> list[dict]:
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def get(path: str = "/products/7", **kwargs) -> int:
    return product_api.lambda_handler(event("GET", path, **kwargs), None)["statusCode"]


def assert_emf(document: dict) -> None:
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [["service", ENVIRONMENT_DIMENSION]]
    for definition in directive["Metrics"]:
        assert definition["Name"] in ALL_METRICS and definition["Name"] in document
    assert document["service"] == "product-api" and document[ENVIRONMENT_DIMENSION] == "test"


def test_a_request_line_is_one_flat_json_object_and_the_invocations_emf_document(
    metrics_env, capsys, monkeypatch
):
    monkeypatch.setenv(variables.REQUEST_LOG_ALL, "true")
    assert get() == 200 and get() == 200  # a miss, then a hit
    miss, hit = lines(capsys)
    for line, cache, cold in ((miss, "MISS", True), (hit, "HIT", False)):
        assert_emf(line)
        keys = [key for key in line if key != "_aws" and key not in (*ALL_METRICS,)]
        assert keys[: len(logs.REQUEST_KEYS)] == list(logs.REQUEST_KEYS)
        assert line["level"] == "INFO" and line["message"] == logs.REQUEST_MESSAGE
        assert line["correlation_id"] == "test-request-id" and line["status"] == 200
        assert line["cache"] == cache and line["cold_start"] is cold
    assert miss[CACHE_MISS] == 1 and hit[CACHE_HIT] == 1 and hit[CACHE_MISS] == 0


def test_without_metrics_the_line_is_the_same_object_without_emf(handler_env, capsys):
    logs.reset()
    assert get("/products/999999") == 404
    (line,) = lines(capsys)
    assert "_aws" not in line and list(line)[: len(logs.REQUEST_KEYS) - 1] == [
        key for key in logs.REQUEST_KEYS if key != "environment"
    ]
    assert line["status"] == 404


def routine_run(capsys, monkeypatch, trouble: list[tuple[str, str, dict]]) -> list[dict]:
    """A miss, then hits inside one summary interval with each kind of trouble request among them; returns
    the lines written by the trouble requests' own invocations."""
    assert get() == 200  # the cold miss: written
    capsys.readouterr()
    written = []
    for method, path, kwargs in trouble:
        assert get() == 200  # a routine hit: summarized
        assert lines(capsys) == []
        product_api.lambda_handler(event(method, path, **kwargs), None)
        own = lines(capsys)
        assert own, f"{method} {path} deferred its line"
        written.append(own[-1])
    return written


TROUBLE = [
    ("GET", "/products/999999", {}),  # 404 (a negative read)
    ("GET", "/products/abc", {}),  # 400
    ("GET", "/products/8", {}),  # a miss
    ("GET", "/products", {"query": {"category": "books"}}),  # a list miss
    ("PUT", "/products/9", {"body": {"name": "n", "category": "home", "price": "1.50", "stock": 1}}),
    ("DELETE", "/products/7", {}),  # 405
]


def test_trouble_is_never_deferred_behind_summarized_hits(metrics_env, capsys, monkeypatch):
    written = routine_run(capsys, monkeypatch, TROUBLE)
    assert [line["status"] for line in written] == [404, 400, 200, 200, 200, 405]
    assert [line.get("cache") for line in written[2:4]] == ["MISS", "MISS"]


def test_the_check_catches_a_deferred_miss_when_summarizing_ignores_the_cache_status(
    metrics_env, capsys, monkeypatch
):
    # Protection off: every 200 GET counts as routine, so a miss would hide behind the hits before it.
    monkeypatch.setattr(product_api, "_ROUTINE_READS", frozenset({"HIT", "L1_HIT", "MISS"}))
    with pytest.raises(AssertionError, match="deferred its line"):
        routine_run(capsys, monkeypatch, [("GET", "/products/8", {})])


def test_summarized_hits_lose_no_count_and_write_at_most_one_line_per_interval(metrics_env, capsys):
    assert get() == 200
    for _ in range(40):
        assert get() == 200
    written = lines(capsys)
    assert len(written) == 1 and written[0]["cache"] == "MISS"  # forty hits inside one interval: no line
    logs._INVOCATION.last_line_at -= logs.ROUTINE_LINE_INTERVAL_SECONDS  # the interval passes
    assert get() == 200
    (summary,) = lines(capsys)
    assert summary["cache"] == "HIT" and summary[CACHE_HIT] == 41 and summary[CACHE_MISS] == 0
    assert len(summary["CacheLatency"]) <= 99  # EMF's limit per metric, whatever the interval held


def test_an_aggregate_left_by_a_frozen_container_is_written_with_its_own_time(metrics_env, capsys):
    assert get() == 200 and get() == 200  # the hit is summarized
    lines(capsys)
    metrics = product_api.store().cache.metrics
    thawed_after = logs.STALE_AGGREGATE_SECONDS + 60
    metrics._since -= thawed_after  # the container sat frozen
    recorded_at = metrics._since
    assert get("/products/999999") == 404
    left_over, request = lines(capsys)
    assert "message" not in left_over and left_over[CACHE_HIT] == 1
    assert left_over["_aws"]["Timestamp"] == int(recorded_at * 1000)
    assert request["status"] == 404 and request[CACHE_HIT] == 0


def test_debug_sampling_writes_every_line_and_turns_debug_on(metrics_env, capsys, monkeypatch):
    monkeypatch.setenv(variables.LOG_SAMPLE_RATE, "1")
    logs.reset()
    root = logging.getLogger()
    level = root.level
    try:
        assert get() == 200 and get() == 200 and get() == 200
        assert len(lines(capsys)) == 3 and root.level == logging.DEBUG
    finally:
        root.setLevel(level)


def test_a_logging_record_has_the_request_lines_shape_with_its_fields_flat(metrics_env, capsys):
    assert get("/products/abc") == 400
    formatter = logs.JsonLogFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "cache_warmer", logging.ERROR, __file__, 1, "warm failed", (), sys.exc_info()
        )
    record.__dict__.update({"warmed": 3, "quote": 'a "quoted" value'})
    document = json.loads(formatter.format(record))
    assert document["level"] == "ERROR" and document["message"] == "warm failed"
    assert document["service"] == "product-api" and document["environment"] == "test"
    assert document["correlation_id"] == "test-request-id"  # the request the record was made in
    assert document["warmed"] == 3 and document["quote"] == 'a "quoted" value'
    assert document["exception_name"] == "ValueError" and "boom" in document["exception"]


def test_in_lambda_the_runtimes_handler_gets_the_formatter(monkeypatch):
    root = logging.getLogger()
    handler = logging.StreamHandler()
    monkeypatch.setattr(root, "handlers", [handler])
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "WARN")
    level = root.level
    try:
        logs.configure_logging()
        assert isinstance(handler.formatter, logs.JsonLogFormatter) and root.level == logging.WARNING
    finally:
        root.setLevel(level)


@given(
    st.fixed_dictionaries(
        {
            "id": st.integers(1, 2**63 - 1),
            "name": st.text(max_size=40),
            "category": st.text(max_size=20),
            "price": st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False)
            | st.decimals(min_value=0, max_value=10**6, places=0, allow_nan=False),
            "stock": st.integers(0, 2**31),
            "description": st.text(max_size=80),
            "updated_at": st.datetimes(timezones=st.just(UTC)),
        }
    )
)
def test_the_hit_paths_product_encoder_writes_what_the_generic_encoder_writes(generated):
    product = {name: generated[name] for name in PRODUCT_COLUMNS}  # rows and cached entries keep this order
    assert product_api.product_json(product) == apigw.to_json(product)


def test_the_product_encoder_agrees_on_the_awkward_cases():
    product = {
        "id": 1,
        "name": 'quote " backslash \\ newline \n \u2028 emoji \U0001f600',
        "category": "home",
        "price": Decimal("1E+2"),
        "stock": 0,
        "description": "",
        "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    assert product_api.product_json(product) == apigw.to_json(product)
    assert json.loads(product_api.product_json(product))["price"] == 100


def test_count_metrics_keep_their_order_in_the_document():
    from cachelib import CacheMetrics

    recorder = CacheMetrics(service="s")
    for index, name in enumerate(COUNT_METRICS):
        recorder.incr(name, index + 1)
    document = json.loads(recorder.document(0))
    assert [document[name] for name in COUNT_METRICS] == list(range(1, len(COUNT_METRICS) + 1))
