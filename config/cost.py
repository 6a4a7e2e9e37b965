"""The cost section of an environment: its monthly budget and the traffic its estimate assumes.

Nothing here reaches a template: ``make cost`` (``cost/``) prices the synthesized templates with these
values, and ``tests/infra/test_cost.py`` fails when an estimate exceeds ``monthly_budget_usd``. Usage-priced
items (requests, transfer, function time, log volume) follow the traffic profile below; everything else is
read from the templates.

Each field carries its rule from ``caching_constructs.core.rules``, which the loader runs like every other
field's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from caching_constructs.core.rules import FloatRange, IntRange, Rule


def _cost_setting(default: Any, rule: Rule) -> Any:
    # config.schema.setting() does the same; this module cannot import it, because schema imports this one.
    return field(default=default, metadata={"check": rule})


_RATIO = FloatRange(0, 1)
_MONTHLY_COUNT = IntRange(0, 100_000_000_000)
_GB = FloatRange(0, 1_000_000)


@dataclass(frozen=True, kw_only=True)
class CostSettings:
    """Budget and traffic profile. Defaults describe a small demo environment."""

    monthly_budget_usd: float = _cost_setting(250.0, FloatRange(1, 1_000_000))
    """The most the environment's on-demand estimate (us-east-1 prices, no free tier) may reach per month;
    the cost test fails above it. Default 250."""
    viewer_requests_per_month: int = _cost_setting(100_000, _MONTHLY_COUNT)
    """HTTPS requests viewers send to CloudFront (site and API), also inspected by the edge web ACL.
    Default 100,000."""
    edge_hit_ratio: float = _cost_setting(0.5, _RATIO)
    """Share of viewer requests CloudFront answers itself; the rest reach API Gateway. Default 0.5."""
    stage_cache_hit_ratio: float = _cost_setting(0.5, _RATIO)
    """Share of API requests the stage cache answers; the rest invoke the product API. Default 0.5."""
    average_response_kb: float = _cost_setting(4.0, FloatRange(0.1, 10_240))
    """Mean response size leaving CloudFront, for its data transfer out. Default 4."""
    function_duration_ms: float = _cost_setting(50.0, FloatRange(1, 900_000))
    """Mean billed duration of a product API invocation. Default 50."""
    writes_per_month: int = _cost_setting(1_000, _MONTHLY_COUNT)
    """Product writes: each queues an edge refresh (SQS send, receive, delete) and invokes the refresher.
    Default 1,000."""
    dynamodb_reads_per_month: int = _cost_setting(10_000, _MONTHLY_COUNT)
    """Reads through the DAX demo, priced as if each also missed DAX (an upper bound). Default 10,000."""
    dynamodb_writes_per_month: int = _cost_setting(1_000, _MONTHLY_COUNT)
    """Writes through the DAX demo (one write request unit each). Default 1,000."""
    cache_ecpus_per_request: float = _cost_setting(2.0, FloatRange(0, 1_000))
    """ElastiCache Serverless only: ECPUs per product API invocation (1 per KB read or written). Default 2."""
    storage_gb: float = _cost_setting(1.0, _GB)
    """Data at rest in each store priced by size: every S3 bucket, the DynamoDB table (and its
    point-in-time recovery) and an ElastiCache Serverless cache. Default 1."""
    log_ingestion_gb_per_month: float = _cost_setting(1.0, _GB)
    """Everything written to CloudWatch Logs: function, API access, flow, database and cache logs and
    enhanced monitoring. Default 1."""
    nat_processed_gb_per_month: float = _cost_setting(1.0, _GB)
    """Bytes through the NAT gateways (AWS APIs without an endpoint, package-free at run time). Default 1."""
    endpoint_processed_gb_per_month: float = _cost_setting(0.5, _GB)
    """Bytes through the interface endpoints (Secrets Manager, SQS). Default 0.5."""
