"""DAX demo: the same handler over moto's DynamoDB, reached either as "DAX" (amazon-dax-client's
``AmazonDaxClient.resource`` returning moto's resource: the same Table interface) or as the fallback."""

from __future__ import annotations

import json
import logging

import amazondax
import boto3
import pytest
from handler_support import assert_client_error, call
from moto import mock_aws

from functions import dax_demo

TABLE = "dax-demo-items"
ENDPOINT = "daxs://demo.abc123.dax-clusters.us-east-1.amazonaws.com"

pytest_plugins = ["handler_fixtures"]  # fixtures shared by the handler tests


@pytest.fixture
def dynamodb(aws_credentials, monkeypatch):
    monkeypatch.setenv("DAX_TABLE_NAME", TABLE)
    monkeypatch.delenv("DAX_ENDPOINT", raising=False)
    with mock_aws():
        resource = boto3.resource("dynamodb", region_name="us-east-1")
        resource.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield resource


@pytest.fixture
def through_dax(dynamodb, monkeypatch):
    """DAX_ENDPOINT set; the DAX client's resource factory hands back moto's resource and records the call.
    boto3's own DynamoDB resource must not be used on this path."""
    calls = []

    def fake_resource(*args, **kwargs):
        calls.append(kwargs)
        return dynamodb

    monkeypatch.setenv("DAX_ENDPOINT", ENDPOINT)
    monkeypatch.setattr(amazondax.AmazonDaxClient, "resource", staticmethod(fake_resource))
    monkeypatch.setattr(
        boto3, "resource", lambda *a, **k: pytest.fail("plain boto3 used while DAX is configured")
    )
    return calls


def handler(*args, **kwargs):
    return call(dax_demo.lambda_handler, *args, **kwargs)


def test_put_then_get_through_dax(through_dax):
    status, headers, body = handler("PUT", "/dax/items/sku-1", body={"colour": "red", "qty": 3, "price": 9.5})
    assert status == 200 and headers["X-Data-Source"] == "dax"
    assert body["id"] == "sku-1" and body["qty"] == 3 and body["price"] == "9.5"
    status, headers, body = handler("GET", "/dax/items/sku-1")
    assert status == 200 and headers["X-Data-Source"] == "dax" and body["colour"] == "red"
    assert headers["Cache-Control"] == "no-store"
    assert through_dax == [{"endpoint_url": ENDPOINT}]  # created once per container


def test_falls_back_to_dynamodb_and_says_why(dynamodb, caplog):
    with caplog.at_level(logging.WARNING, logger="dax_demo"):
        status, headers, _ = handler("PUT", "/dax/items/a", body={"x": "y"})
    assert status == 200 and headers["X-Data-Source"] == "dynamodb"
    assert "DAX_ENDPOINT is not set" in caplog.text
    status, _, body = handler("GET", "/dax/items/a")
    assert status == 200 and body["x"] == "y"


def test_missing_item_is_404(dynamodb):
    assert_client_error(*handler("GET", "/dax/items/nope"), 404)


@pytest.mark.parametrize("item_id", ["has space", "x" * 65, "semi;colon", ""])
def test_bad_ids_are_400(dynamodb, item_id):
    assert_client_error(*handler("GET", f"/dax/items/{item_id}"), 400)


@pytest.mark.parametrize(
    "body",
    [
        [1],
        {"id": "override"},
        {"1bad": 1},
        {"nested": {"a": 1}},
        {"n": 1e40},
        {f"a{i}": i for i in range(21)},
    ],
)
def test_bad_bodies_are_400(dynamodb, body):
    assert_client_error(*handler("PUT", "/dax/items/a", body=body), 400)


@pytest.mark.parametrize(
    "raw_number", ["1e-131", "-1E-200", "1e38", "12345678901234567890123456789012345678.9"]
)
def test_numbers_outside_dynamodbs_range_are_400_not_a_store_error(dynamodb, raw_number):
    assert_client_error(*handler("PUT", "/dax/items/a", raw_body=f'{{"n": {raw_number}}}'), 400)


@pytest.mark.parametrize(
    "raw_number", ["0", "1e-130", "-9.9e37", "1.50", "12345678901234567890123456789012345678"]
)
def test_numbers_inside_dynamodbs_range_are_stored(dynamodb, raw_number):
    status, _, body = handler("PUT", "/dax/items/a", raw_body=f'{{"n": {raw_number}}}')
    assert status == 200, body


def test_other_methods_are_405(dynamodb):
    status, headers, body = handler("DELETE", "/dax/items/a")
    assert_client_error(status, headers, body, 405)
    assert headers["Allow"] == "GET, PUT"


def test_missing_table_is_503_not_500(aws_credentials, monkeypatch):
    monkeypatch.setenv("DAX_TABLE_NAME", "does-not-exist")
    monkeypatch.delenv("DAX_ENDPOINT", raising=False)
    with mock_aws():
        status, headers, body = handler("GET", "/dax/items/a")
    assert_client_error(status, headers, body, 503)
    assert headers["Retry-After"] == "1"


def test_an_item_the_handler_cannot_render_is_a_json_500_without_a_traceback(dynamodb, caplog):
    """Written by another tool, with a type the demo never writes: a server fault, logged, not a crash."""
    dynamodb.Table(TABLE).put_item(Item={"id": "raw", "blob": b"\x00\x01"})
    with caplog.at_level(logging.ERROR, logger="dax_demo"):
        status, headers, body = handler("GET", "/dax/items/raw")
    assert status == 500
    assert headers["Content-Type"] == "application/json" and headers["Cache-Control"] == "no-store"
    assert body["error"] == "internal_error" and "Traceback" not in json.dumps(body)
    assert any(record.exc_info for record in caplog.records), "the traceback belongs in the log"


@pytest.mark.parametrize("table_name", [None, "  "])
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_an_unnamed_table_is_a_non_retryable_500_misconfigured_with_the_reason_logged(
    aws_credentials, monkeypatch, caplog, table_name, method
):
    """A deployment that forgot DAX_TABLE_NAME stays broken however often the client retries."""
    if table_name is None:
        monkeypatch.delenv("DAX_TABLE_NAME", raising=False)
    else:
        monkeypatch.setenv("DAX_TABLE_NAME", table_name)
    monkeypatch.delenv("DAX_ENDPOINT", raising=False)
    with mock_aws(), caplog.at_level(logging.ERROR, logger="dax_demo"):
        status, headers, body = handler(method, "/dax/items/a", body={"x": "y"})
    assert status == 500 and headers["Content-Type"] == "application/json"
    assert body["error"] == "misconfigured" and "Retry-After" not in headers
    (record,) = [r for r in caplog.records if r.getMessage() == "function misconfigured"]
    assert record.reason == "DAX_TABLE_NAME is not set"  # a field of the record, not text inside a message


def test_a_dax_client_that_cannot_be_created_is_a_retryable_503(dynamodb, monkeypatch):
    def unreachable(**kwargs):
        raise ConnectionError("no route to the DAX cluster")

    monkeypatch.setenv("DAX_ENDPOINT", ENDPOINT)
    monkeypatch.setattr(amazondax.AmazonDaxClient, "resource", staticmethod(unreachable))
    status, headers, body = handler("GET", "/dax/items/a")
    assert_client_error(status, headers, body, 503)
    assert body["error"] == "store_unavailable" and headers["Retry-After"] == "1"
