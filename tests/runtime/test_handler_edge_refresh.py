"""After a write the edge hears about it: the item's path is queued, and the refresher sends API Gateway
an IAM-signed GET with ``Cache-Control: max-age=0`` (the stage-cache refresh) and, when configured, one
CloudFront invalidation per batch. SQS and CloudFront are moto; the stage is a local HTTP server that checks
the signature the way API Gateway does."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from handler_support import call
from moto import mock_aws

from functions import edge_refresh, product_api

pytest_plugins = ["handler_fixtures"]


class FakeStage(BaseHTTPRequestHandler):
    """API Gateway's stage with ``FAIL_WITH_403``: a max-age=0 request must be signed (execute-api)."""

    calls: ClassVar[list[tuple[str, str | None, bool]]] = []
    status = 200

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        amz_date = self.headers.get("X-Amz-Date", "")
        token = self.headers.get("X-Amz-Security-Token")
        headers = {"X-Amz-Date": amz_date, "Cache-Control": self.headers.get("Cache-Control", "")}
        if token:
            headers["X-Amz-Security-Token"] = token
        request = AWSRequest(method="GET", url=f"http://{self.headers['Host']}{self.path}", headers=headers)
        request.context["timestamp"] = amz_date
        keys = (
            os.environ["AWS_ACCESS_KEY_ID"],
            os.environ["AWS_SECRET_ACCESS_KEY"],
        )  # the caller's, as IAM knows
        auth = SigV4Auth(Credentials(*keys, token), "execute-api", "us-east-1")
        canonical = auth.canonical_request(request)
        signature = auth.signature(auth.string_to_sign(request, canonical), request)
        signed = signature in self.headers.get("Authorization", "")
        FakeStage.calls.append((self.path, self.headers.get("Cache-Control"), signed))
        status = FakeStage.status if signed else 403
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture
def stage(aws_credentials, monkeypatch):
    FakeStage.calls = []
    FakeStage.status = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeStage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("API_URL", f"http://127.0.0.1:{server.server_port}/prod")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    yield server
    server.shutdown()


def sqs_event(*bodies: dict) -> dict:
    return {"Records": [{"messageId": f"m{i}", "body": json.dumps(body)} for i, body in enumerate(bodies)]}


def test_each_distinct_path_is_refreshed_once_signed_with_max_age_zero(stage, monkeypatch):
    monkeypatch.delenv("DISTRIBUTION_ID", raising=False)
    event = sqs_event({"paths": ["/products/7"]}, {"paths": ["/products/7", "/products/9"]})
    assert edge_refresh.lambda_handler(event) == {"batchItemFailures": []}
    assert sorted(FakeStage.calls) == [
        ("/prod/products/7", "max-age=0", True),
        ("/prod/products/9", "max-age=0", True),
    ]


def test_paths_outside_the_item_route_are_never_touched(stage):
    event = sqs_event({"paths": ["/products", "/admin", "/products/1/../../x", "/products/0"]}, {"nope": 1})
    assert edge_refresh.lambda_handler(event) == {"batchItemFailures": []}
    assert FakeStage.calls == []


def test_a_failed_refresh_is_reported_for_retry_and_a_deleted_product_is_not(stage):
    FakeStage.status = 500
    assert edge_refresh.lambda_handler(sqs_event({"paths": ["/products/3"]})) == {
        "batchItemFailures": [{"itemIdentifier": "m0"}]
    }
    FakeStage.status = 404
    assert edge_refresh.lambda_handler(sqs_event({"paths": ["/products/3"]})) == {"batchItemFailures": []}


def test_with_a_distribution_one_cloudfront_invalidation_covers_the_batch(stage, monkeypatch):
    with mock_aws():
        cloudfront = boto3.client("cloudfront")
        distribution = cloudfront.create_distribution(
            DistributionConfig={
                "CallerReference": "test",
                "Origins": {
                    "Quantity": 1,
                    "Items": [
                        {
                            "Id": "api",
                            "DomainName": "example.com",
                            "CustomOriginConfig": {
                                "HTTPPort": 80,
                                "HTTPSPort": 443,
                                "OriginProtocolPolicy": "https-only",
                            },
                        }
                    ],
                },
                "DefaultCacheBehavior": {
                    "TargetOriginId": "api",
                    "ViewerProtocolPolicy": "https-only",
                    "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
                },
                "Comment": "",
                "Enabled": True,
            }
        )["Distribution"]["Id"]
        monkeypatch.setenv("DISTRIBUTION_ID", distribution)
        event = sqs_event({"paths": ["/products/1"]}, {"paths": ["/products/2", "/products/1"]})
        assert edge_refresh.lambda_handler(event) == {"batchItemFailures": []}
        invalidations = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"][
            "Items"
        ]
        assert len(invalidations) == 1
        batch = cloudfront.get_invalidation(DistributionId=distribution, Id=invalidations[0]["Id"])
        assert sorted(batch["Invalidation"]["InvalidationBatch"]["Paths"]["Items"]) == [
            "/products/1",
            "/products/2",
        ]


def test_a_write_queues_its_item_path_and_a_read_queues_nothing(handler_env, aws_credentials, monkeypatch):
    with mock_aws():
        queue_url = boto3.client("sqs").create_queue(QueueName="edge-refresh")["QueueUrl"]
        monkeypatch.setenv("EDGE_REFRESH_QUEUE_URL", queue_url)
        call(product_api.lambda_handler, "GET", "/products/2")
        status, _, _ = call(
            product_api.lambda_handler,
            "PUT",
            "/products/2",
            body={"name": "N", "category": "toys", "price": 1},
        )
        assert status == 200
        messages = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
        assert [json.loads(m["Body"]) for m in messages] == [{"paths": ["/products/2"]}]


def test_a_queue_that_cannot_be_reached_never_fails_the_write(handler_env, aws_credentials, monkeypatch):
    monkeypatch.setenv("EDGE_REFRESH_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/missing")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9")  # nothing listens there
    status, _, body = call(
        product_api.lambda_handler, "PUT", "/products/2", body={"name": "N", "category": "toys", "price": 1}
    )
    assert status == 200 and body["name"] == "N"
    assert product_api.edge().failures == 1
