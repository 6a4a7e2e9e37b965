"""Metrics of a whole ElastiCache replication group, built as CloudWatch metric math over its nodes.

ElastiCache publishes a replication group's metrics per node (dimension ``CacheClusterId``). Roles move on
failover (node -001 becomes a replica) and in cluster mode every shard has its own nodes, so a metric or an
alarm on one node goes quiet exactly when it matters. These expressions cover every node they are given:

- hit rate: ``100 * SUM(CacheHits) / (SUM(CacheHits) + SUM(CacheMisses))`` (percent, like ``CacheHitRate``),
  and no datapoint at all in a period without lookups, so an idle cache is not a "low hit rate";
- CPU, memory, connections, replication lag: ``MAX`` over the nodes (the worst node is the one that fails);
- evictions: ``SUM`` over the nodes.

CloudWatch limits an alarm on metric math to ``MAX_METRICS_PER_ALARM`` metrics (a hard limit, "Limits that
apply to alarms based on metric math expressions") and a dashboard widget to ``MAX_METRICS_PER_GRAPH``
(service quotas, "Dashboards"). Both count the node metrics an expression reads, not only what it draws:
alarm on a large group per ``member_batches`` and graph it per ``graph_member_batches``.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch

MAX_METRICS_PER_ALARM = 10
"""Metrics (``MetricStat`` queries) one metric math alarm may reference: a hard CloudWatch limit."""
MAX_METRICS_PER_GRAPH = 500
"""Queries one dashboard graph widget may run: every metric it draws or its expressions read, and (counted
too, to stay on the safe side of the quota) each expression itself."""


def member_batches(members: Sequence[str], metrics_per_member: int) -> list[list[str]]:
    """``members`` in order, split into the fewest batches whose expressions each fit one alarm."""
    if not 1 <= metrics_per_member <= MAX_METRICS_PER_ALARM:
        raise ValueError(f"member_batches: metrics_per_member must be 1-{MAX_METRICS_PER_ALARM}")
    return _batches(members, MAX_METRICS_PER_ALARM // metrics_per_member)


def graph_member_batches(members: Sequence[str], metrics_per_member: int) -> list[list[str]]:
    """``members`` in order, split into the fewest batches whose expression (one row plus the node metrics
    it reads) each fits one dashboard graph."""
    if metrics_per_member < 1:
        raise ValueError("graph_member_batches: metrics_per_member must be at least 1")
    return _batches(members, (MAX_METRICS_PER_GRAPH - 1) // metrics_per_member)


def _batches(members: Sequence[str], size: int) -> list[list[str]]:
    return [list(members[start : start + size]) for start in range(0, len(members), size)]


def max_over(metrics: Sequence[cloudwatch.Metric], *, label: str, period: cdk.Duration) -> cloudwatch.IMetric:
    """The highest value of ``metrics`` in each period."""
    return _aggregate("MAX", metrics, label=label, period=period)


def sum_over(metrics: Sequence[cloudwatch.Metric], *, label: str, period: cdk.Duration) -> cloudwatch.IMetric:
    """The total of ``metrics`` in each period."""
    return _aggregate("SUM", metrics, label=label, period=period)


def hit_rate_over(
    hits: Sequence[cloudwatch.Metric],
    misses: Sequence[cloudwatch.Metric],
    *,
    label: str,
    period: cdk.Duration,
) -> cloudwatch.MathExpression:
    """Percent of lookups that hit, over every node together: ``100 * hits / (hits + misses)``.

    ``IF`` without a false branch leaves periods without lookups empty (not 0 %, which would breach a
    low-hit-rate alarm on an idle cache; the facade's alarms treat missing data as not breaching).
    """
    if not hits or len(hits) != len(misses):
        raise ValueError("hit_rate_over: needs one CacheHits and one CacheMisses metric per node")
    _check_graph_size(2 * len(hits) + 1)
    using = {f"hits{i}": metric for i, metric in enumerate(hits, start=1)}
    using |= {f"misses{i}": metric for i, metric in enumerate(misses, start=1)}
    total_hits = _function("SUM", [f"hits{i}" for i in range(1, len(hits) + 1)])
    total_misses = _function("SUM", [f"misses{i}" for i in range(1, len(misses) + 1)])
    lookups = f"({total_hits} + {total_misses})"
    return cloudwatch.MathExpression(
        expression=f"IF({lookups} > 0, 100 * {total_hits} / {lookups})",
        using_metrics=using,
        label=label,
        period=period,
    )


def metric_stat_count(metric: cloudwatch.IMetric) -> int:
    """How many plain metrics ``metric`` reads: 1 for a metric, every leaf metric of an expression."""
    if isinstance(metric, cloudwatch.MathExpression):
        return sum(metric_stat_count(used) for used in metric.using_metrics.values())
    return 1


def metric_query_count(metric: cloudwatch.IMetric) -> int:
    """How many queries a graph runs for ``metric``: 1 for a metric; for an expression, itself plus every
    query of the metrics and expressions it uses (drawn or not)."""
    if isinstance(metric, cloudwatch.MathExpression):
        return 1 + sum(metric_query_count(used) for used in metric.using_metrics.values())
    return 1


def _aggregate(
    function: str, metrics: Sequence[cloudwatch.Metric], *, label: str, period: cdk.Duration
) -> cloudwatch.MathExpression:
    if not metrics:
        raise ValueError(f"{function} over no metrics: pass at least one node")
    _check_graph_size(len(metrics) + 1)
    ids = [f"node{i}" for i in range(1, len(metrics) + 1)]
    return cloudwatch.MathExpression(
        expression=_function(function, ids),
        using_metrics=dict(zip(ids, metrics, strict=True)),
        label=label,
        period=period,
    )


def _function(function: str, ids: Sequence[str]) -> str:
    return f"{function}([{', '.join(ids)}])"


def _check_graph_size(queries: int) -> None:
    """An expression that could not be drawn even alone on a graph (it cannot be alarmed on either)."""
    if queries > MAX_METRICS_PER_GRAPH:
        raise ValueError(
            f"a group metric of {queries} queries (the expression and {queries - 1} node metrics) exceeds "
            f"CloudWatch's {MAX_METRICS_PER_GRAPH} per graph; pass fewer members (graph_member_batches)"
        )
