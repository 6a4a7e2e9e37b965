"""Usage-priced items, at the environment's traffic profile (``config.cost``).

The templates say what exists and how it is sized (function memory and architecture, which function serves
the API, which one drains the queue, which one runs on a schedule, log retentions, tracing); the profile
says how much traffic flows through it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from caching_contract import metrics, variables
from cost.model import Charge, Context, H, Resource, Where, prices, references

SECONDS_PER_MONTH = H * 3600
GB_PER_KB = 1 / (1024 * 1024)

SQS_REQUESTS_PER_WRITE = 3
"""SendMessage, then the consumer's ReceiveMessage and DeleteMessage (batching only lowers it)."""
SQS_IDLE_REQUESTS_PER_MAPPING = 5 * 3 * 60 * H
"""Lambda polls a queue with 5 long polls (20 s each) at all times, messages or not."""
XRAY_RESERVOIR_PER_SECOND, XRAY_FIXED_RATE = 1.0, 0.05
"""X-Ray's default sampling rule: the first request each second, then 5% of the rest."""
SERVERLESS_MINIMUM_GB = {"redis": 1.0, "memcached": 1.0, "valkey": 0.1}
"""ElastiCache Serverless meters at least this much data per cache."""
CACHE_LIBRARY = variables.REDIS_HOST
"""The environment variable of every function that runs the caching library (and emits its metrics)."""
DAX_CLIENT = variables.DAX_ENDPOINT
"""The environment variable of the function that reads through DAX (the DAX demo)."""


def _short(logical_id: str) -> str:
    return re.sub(r"[0-9A-F]{8}$", "", logical_id)


def _is_queue_mapping(resource: Resource) -> bool:
    """An event source mapping that polls SQS (stream sources are polled for free)."""
    source = resource.get("Properties", {}).get("EventSourceArn")
    return "Stream" not in str(source)


def _api_targets(ctx: Context, stack: str) -> set[str]:
    targets: set[str] = set()
    for _, method in ctx.resources("AWS::ApiGateway::Method", stack=stack):
        targets |= references(method.get("Properties", {}).get("Integration"))
    return targets


def _queue_consumers(ctx: Context, stack: str) -> set[str]:
    consumers: set[str] = set()
    for _, mapping in ctx.resources("AWS::Lambda::EventSourceMapping", stack=stack):
        if _is_queue_mapping(mapping):
            consumers |= references(mapping.get("Properties", {}).get("FunctionName"))
    return consumers


_CRON_NAMES = {
    name: str(number)
    for names in ("SUN MON TUE WED THU FRI SAT", "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC")
    for number, name in enumerate(names.split(), start=1)
}


def _field_values(field: str, size: int) -> float:
    """How many values a cron field takes: ``*``, ``a,b``, ``a-b``, ``*/n``, with day and month names."""
    if field in ("*", "?"):
        return size
    field = re.sub(r"[A-Z]{3}", lambda name: _CRON_NAMES.get(name.group(0), name.group(0)), field.upper())
    total = 0.0
    for part in field.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            span = size
        elif "-" in base:
            low, high = base.split("-")
            span = int(high) - int(low) + 1 if low.isdigit() else 1
        else:
            span = size - int(base) if step and base.isdigit() else 1
        total += math.ceil(span / int(step)) if step else span
    return total


def runs_per_month(expression: str) -> float:
    """Invocations a month of an EventBridge schedule, ``rate(...)`` or ``cron(...)``."""
    rate = re.fullmatch(r"rate\((\d+) (minute|hour|day)s?\)", expression)
    if rate:
        minutes = {"minute": 1, "hour": 60, "day": 1440}[rate.group(2)] * int(rate.group(1))
        return H * 60 / minutes
    minute, hour, day_of_month, month, day_of_week, *_ = expression[len("cron(") : -1].split()
    per_day = _field_values(minute, 60) * _field_values(hour, 24)
    days = H / 24
    if day_of_week not in ("*", "?"):
        days *= _field_values(day_of_week, 7) / 7
    elif day_of_month not in ("*", "?"):
        days *= _field_values(day_of_month, 31) / 31
    return per_day * days * _field_values(month, 12) / 12


def _scheduled_runs(ctx: Context, stack: str, logical_id: str) -> float:
    runs = 0.0
    for _, rule in ctx.resources("AWS::Events::Rule", stack=stack):
        properties = rule.get("Properties", {})
        if "ScheduleExpression" in properties and logical_id in references(properties.get("Targets")):
            runs += runs_per_month(properties["ScheduleExpression"])
    return runs


def _function_load(ctx: Context, where: Where, properties: Resource) -> tuple[float, float] | None:
    """(invocations, billed seconds each) of a function, from what invokes it; None if only deploys do."""
    stack, logical_id = where
    variables = (properties.get("Environment") or {}).get("Variables", {})
    seconds = ctx.profile.function_duration_ms / 1000
    if logical_id in _api_targets(ctx, stack):
        if DAX_CLIENT in variables:
            return ctx.profile.dynamodb_reads_per_month + ctx.profile.dynamodb_writes_per_month, seconds
        return ctx.function_invocations, seconds
    if logical_id in _queue_consumers(ctx, stack):
        return ctx.profile.writes_per_month, seconds
    runs = _scheduled_runs(ctx, stack, logical_id)
    if runs:
        # A scheduled batch job is priced at its timeout: an upper bound, and it runs rarely.
        return runs, float(properties.get("Timeout", 3))
    return None


@prices("AWS::Lambda::Function")
def _function(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    properties = resource.get("Properties", {})
    load = _function_load(ctx, where, properties)
    if load is None:
        return  # custom-resource handlers and the like run at deploy time only
    invocations, seconds = load
    architecture = (properties.get("Architectures") or ["x86_64"])[0]
    memory_gb = int(properties.get("MemorySize", 128)) / 1024
    name = _short(where[1])
    price = ctx.usd(f"lambda/million-requests/{architecture}")
    yield Charge("Functions", f"Lambda {name} requests", invocations, "req", price, usage=True)
    price = ctx.usd(f"lambda/gb-second/{architecture}")
    gb_seconds = invocations * seconds * memory_gb
    yield Charge(
        "Functions", f"Lambda {name} compute ({architecture})", gb_seconds, "GB-s", price, usage=True
    )


@prices("AWS::ApiGateway::RestApi")
def _rest_api(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    price = ctx.usd("apigateway/million-rest-requests")
    yield Charge("API Gateway", "REST API requests", ctx.api_requests, "req", price, usage=True)


@prices("AWS::CloudFront::Distribution")
def _distribution(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    requests = ctx.profile.viewer_requests_per_month
    transfer = requests * ctx.profile.average_response_kb * GB_PER_KB
    yield Charge("Edge", "CloudFront transfer out", transfer, "GB", ctx.usd("cloudfront/gb-out"), usage=True)
    price = ctx.usd("cloudfront/10k-https-requests")
    yield Charge("Edge", "CloudFront HTTPS requests", requests, "req", price, usage=True)


@prices("AWS::S3::Bucket")
def _bucket(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    price = ctx.usd("s3/standard-gb-month")
    yield Charge("Edge", "S3 storage", ctx.profile.storage_gb, "GB-mo", price, usage=True)


@prices("AWS::DynamoDB::Table")
def _table(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    properties = resource.get("Properties", {})
    profile = ctx.profile
    if properties.get("BillingMode") == "PAY_PER_REQUEST":
        price = ctx.usd("dynamodb/million-read-request-units")
        yield Charge("DAX", "DynamoDB reads", profile.dynamodb_reads_per_month, "RRU", price, usage=True)
        price = ctx.usd("dynamodb/million-write-request-units")
        yield Charge("DAX", "DynamoDB writes", profile.dynamodb_writes_per_month, "WRU", price, usage=True)
    else:
        throughput = properties.get("ProvisionedThroughput", {})
        reads, writes = (
            int(throughput.get("ReadCapacityUnits", 0)),
            int(throughput.get("WriteCapacityUnits", 0)),
        )
        yield Charge("DAX", "DynamoDB read capacity", reads * H, "RCU-h", ctx.usd("dynamodb/rcu-hour"))
        yield Charge("DAX", "DynamoDB write capacity", writes * H, "WCU-h", ctx.usd("dynamodb/wcu-hour"))
    price = ctx.usd("dynamodb/storage-gb-month")
    yield Charge("DAX", "DynamoDB storage", profile.storage_gb, "GB-mo", price, usage=True)
    if (properties.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled"):
        price = ctx.usd("dynamodb/pitr-gb-month")
        yield Charge("DAX", "DynamoDB point-in-time recovery", profile.storage_gb, "GB-mo", price, usage=True)


@prices("AWS::ElastiCache::ServerlessCache")
def _serverless_cache(ctx: Context, where: Where, resource: Resource) -> Iterable[Charge]:
    engine = str(resource.get("Properties", {}).get("Engine", "redis")).lower()
    stored = max(SERVERLESS_MINIMUM_GB[engine], ctx.profile.storage_gb)
    price = ctx.usd(f"elasticache/serverless-gb-hour/{engine}")
    yield Charge("ElastiCache", f"{engine} serverless data", stored * H, "GB-h", price, usage=True)
    ecpus = ctx.function_invocations * ctx.profile.cache_ecpus_per_request
    price = ctx.usd(f"elasticache/serverless-million-ecpu/{engine}")
    yield Charge("ElastiCache", f"{engine} serverless ECPUs", ecpus, "ECPU", price, usage=True)


ENVIRONMENT_LEVEL = frozenset(
    {
        "AWS::Logs::LogGroup",
        "Custom::LogRetention",
        "AWS::EC2::FlowLog",
        "AWS::SQS::Queue",
        "AWS::Lambda::EventSourceMapping",
    }
)
"""Priced once per environment by ``environment_charges`` (the profile gives totals, not per-resource)."""


def _log_retention_months(ctx: Context) -> float:
    """Mean retention of the environment's log groups, capped at a year (never-expiring groups too)."""
    days = [
        int(resource.get("Properties", {}).get("RetentionInDays", 365))
        for _, resource in ctx.resources("AWS::Logs::LogGroup", "Custom::LogRetention")
    ]
    return sum(min(day, 365) for day in days) / len(days) / (365 / 12) if days else 1.0


def _log_charges(ctx: Context) -> Iterable[Charge]:
    ingested = ctx.profile.log_ingestion_gb_per_month
    yield Charge("Monitoring", "log ingestion", ingested, "GB", ctx.usd("logs/ingested-gb"), usage=True)
    # At steady state each month's ingestion is kept for the mean retention (stored uncompressed: an upper
    # bound, CloudWatch bills the compressed size).
    stored = ingested * _log_retention_months(ctx)
    yield Charge("Monitoring", "log storage", stored, "GB-mo", ctx.usd("logs/stored-gb-month"), usage=True)


def _traced_requests(ctx: Context) -> float:
    rate = ctx.api_requests / SECONDS_PER_MONTH
    sampled = min(rate, XRAY_RESERVOIR_PER_SECOND) + XRAY_FIXED_RATE * max(
        rate - XRAY_RESERVOIR_PER_SECOND, 0
    )
    return sampled * SECONDS_PER_MONTH


def environment_charges(ctx: Context) -> Iterable[Charge]:
    """Items the profile gives as a total for the environment: data, logs, queues, traces, metrics."""
    profile = ctx.profile
    if any(ctx.resources("AWS::EC2::NatGateway")):
        gb = profile.nat_processed_gb_per_month
        yield Charge("Network", "NAT data processed", gb, "GB", ctx.usd("ec2/nat-gateway-gb"), usage=True)
    if any(
        r.get("Properties", {}).get("VpcEndpointType") == "Interface"
        for _, r in ctx.resources("AWS::EC2::VPCEndpoint")
    ):
        gb = profile.endpoint_processed_gb_per_month
        price = ctx.usd("vpc/interface-endpoint-gb")
        yield Charge("Network", "interface endpoint data", gb, "GB", price, usage=True)
    if any(ctx.resources("AWS::Logs::LogGroup", "AWS::Lambda::Function", "AWS::EC2::FlowLog")):
        yield from _log_charges(ctx)
    if any(ctx.resources("AWS::SQS::Queue")):
        mappings = sum(_is_queue_mapping(m) for _, m in ctx.resources("AWS::Lambda::EventSourceMapping"))
        requests = (
            profile.writes_per_month * SQS_REQUESTS_PER_WRITE + mappings * SQS_IDLE_REQUESTS_PER_MAPPING
        )
        yield Charge(
            "Functions", "SQS requests", requests, "req", ctx.usd("sqs/million-requests"), usage=True
        )
    traced = any(
        (r.get("Properties", {}).get("TracingConfig") or {}).get("Mode") == "Active"
        for _, r in ctx.resources("AWS::Lambda::Function")
    )
    if traced:
        price = ctx.usd("xray/million-traces-recorded")
        yield Charge("Functions", "X-Ray traces", _traced_requests(ctx), "trace", price, usage=True)
    services = {
        (r["Properties"].get("Environment") or {}).get("Variables", {}).get(variables.SERVICE_NAME)
        for _, r in ctx.resources("AWS::Lambda::Function")
        if CACHE_LIBRARY in (r["Properties"].get("Environment") or {}).get("Variables", {})
    }
    if services:
        series = len(services) * len(metrics.ALL_METRICS)
        price = ctx.usd("cloudwatch/custom-metric-month")
        yield Charge("Monitoring", "caching library metrics (EMF)", series, "metric-mo", price)
