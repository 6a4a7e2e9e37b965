"""Property tests: no path, query string, header or body makes the HTTP handlers answer 500 or leak a
trace."""

from __future__ import annotations

import json

import boto3
import pytest
from handler_support import SEEDED
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from functions import dax_demo, product_api
from functions.catalog_schema import CATEGORIES

PROPERTY_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
EXPECTED = {200, 201, 400, 404, 405, 413}

text = st.text(max_size=40)
ids = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["1", str(SEEDED), "0", "007", "1e3", " 1", "１", "", "%00"]),
    text,
)
paths = st.one_of(
    st.just("/products"),
    ids.map(lambda i: f"/products/{i}"),
    st.lists(text, max_size=4).map(lambda parts: "/" + "/".join(parts)),
    text,
)
methods = st.one_of(st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "get"]), text)
query_values = st.one_of(st.sampled_from(CATEGORIES), st.integers(-5, 2000).map(str), text)
queries = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(["category", "page", "limit"]), query_values, max_size=3),
    st.dictionaries(text, text, max_size=3),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
product_like = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(text, json_values),
        "category": st.one_of(st.sampled_from(CATEGORIES), json_values),
        "price": st.one_of(st.decimals(allow_nan=True).map(str), st.integers(), st.floats(), json_values),
        "stock": st.one_of(st.integers(), json_values),
        "description": st.one_of(text, json_values),
    },
)
bodies = st.one_of(
    st.none(),
    text,
    json_values.map(json.dumps),
    product_like.map(json.dumps),
    st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
)
headers = st.one_of(
    st.none(), st.dictionaries(st.sampled_from(["X-Correlation-Id", "Content-Type"]) | text, text)
)

pytest_plugins = ["handler_fixtures"]  # fixtures shared by the handler tests


def _check(result):
    assert result["statusCode"] in EXPECTED, result
    assert result["headers"]["Content-Type"] == "application/json"
    body = json.loads(result["body"])
    if result["statusCode"] >= 400:
        assert set(body) == {"error", "message", "correlationId"}
        assert result["headers"]["Cache-Control"] == "no-store"
    assert "Traceback" not in result["body"] and 'File "' not in result["body"]


@PROPERTY_SETTINGS
@given(method=methods, path=paths, query=queries, body=bodies, request_headers=headers, b64=st.booleans())
def test_product_api_never_answers_500(handler_env, method, path, query, body, request_headers, b64):
    event = {
        "httpMethod": method,
        "path": path,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": None if query is None else {k: [v] for k, v in query.items()},
        "headers": request_headers,
        "body": body,
        "isBase64Encoded": b64 and body is not None,
        "requestContext": {"requestId": "prop"},
    }
    _check(product_api.lambda_handler(event, None))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=st.one_of(st.none(), json_values, st.dictionaries(text, json_values, max_size=6)))
def test_product_api_survives_malformed_events(handler_env, event):
    _check(product_api.lambda_handler(event, None))


@pytest.fixture
def dax_table(aws_credentials, monkeypatch):
    """The demo's table in moto's DynamoDB (no DAX endpoint: the handler's logged fallback path)."""
    monkeypatch.setenv("DAX_TABLE_NAME", "dax-demo-items")
    monkeypatch.delenv("DAX_ENDPOINT", raising=False)
    with mock_aws():
        boto3.resource("dynamodb", region_name="us-east-1").create_table(
            TableName="dax-demo-items",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=methods, item_id=text, body=bodies)
def test_dax_demo_never_answers_500(dax_table, method, item_id, body):
    event = {
        "httpMethod": method,
        "path": f"/dax/items/{item_id}",
        "pathParameters": {"id": item_id},
        "body": body,
    }
    result = dax_demo.lambda_handler(event, None)
    # A working store behind it: valid requests succeed or miss, everything else is the caller's 4xx.
    assert result["statusCode"] in {200, 400, 404, 405, 413}, result
    assert "Traceback" not in result["body"]
