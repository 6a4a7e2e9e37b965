"""The cache tier on the operations dashboard: panels and alarms that cover every node of a Redis group.

ElastiCache publishes a replication group's metrics per node, so each panel and alarm is metric math over
the nodes. CloudWatch caps what one alarm (10 metrics) and one graph widget (500) may read, counting the
node metrics an expression reads: a large cluster-mode group is alarmed per batch of nodes and drawn as one
graph per batch of nodes. Memcached publishes cluster-level metrics and needs neither.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aws_cdk import aws_cloudwatch as cloudwatch

from caching_constructs.elasticache import group_metrics
from caching_constructs.elasticache.memcached_cluster import MemcachedCluster
from caching_constructs.elasticache.redis_replication_group import RedisReplicationGroup
from caching_constructs.monitoring.facade import ABOVE, BELOW, OperationsMonitoring, Severity
from config.schema import MonitoringConfig

MetricOf = Callable[[dict], cloudwatch.IMetric]
"""Builds a group metric from keyword arguments: ``{}`` (every node) or ``{"members": [...]}``."""


def monitor_cache(
    monitoring: OperationsMonitoring,
    cache: RedisReplicationGroup | MemcachedCluster,
    config: MonitoringConfig,
) -> None:
    """The ElastiCache section of the dashboard, then the cache alarms."""
    # Only a replication group has replicas and per-node metrics; Memcached is one CloudWatch cluster.
    nodes = _Nodes(monitoring, cache if isinstance(cache, RedisReplicationGroup) else None)
    _add_section(nodes, cache, config)
    _add_alarms(nodes, cache, config)


def _add_section(
    nodes: _Nodes, cache: RedisReplicationGroup | MemcachedCluster, config: MonitoringConfig
) -> None:
    hit_rate_floor = config.cache_hit_rate_warning_percent
    widgets = [
        *nodes.graphs(
            "Cache hit rate (%)",
            lambda members: cache.metric_cache_hit_rate(**members),
            metrics_per_node=2,
            left_annotations=[cloudwatch.HorizontalAnnotation(value=hit_rate_floor, label="warning")],
            left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
        ),
        *nodes.graphs("Cache evictions", lambda members: cache.metric_evictions(**members)),
        *nodes.graphs("Cache engine CPU (%)", lambda members: cache.metric_engine_cpu_utilization(**members)),
        *nodes.graphs("Cache connections", lambda members: cache.metric_curr_connections(**members)),
    ]
    redis = nodes.redis
    if redis is not None:
        widgets.extend(
            nodes.graphs(
                "Cache memory used of maxmemory (%)",
                lambda members: redis.metric_database_memory_usage_percentage(**members),
            )
        )
        if redis.replicas_per_shard:
            widgets.extend(
                nodes.graphs(
                    "Cache replication lag (s)", lambda members: redis.metric_replication_lag(**members)
                )
            )
    nodes.monitoring.add_section("ElastiCache", widgets)


def _add_alarms(
    nodes: _Nodes, cache: RedisReplicationGroup | MemcachedCluster, config: MonitoringConfig
) -> None:
    hit_rate_floor = config.cache_hit_rate_warning_percent
    nodes.add_alarms(
        "CacheHitRateLow",
        lambda members: cache.metric_cache_hit_rate(**members),
        metrics_per_node=2,
        threshold=hit_rate_floor,
        comparison=BELOW,
        severity=Severity.WARNING,
        description=f"Cache hit rate below {hit_rate_floor:g}%: more reads reach the database",
    )
    nodes.add_alarms(
        "CacheEvictions",
        lambda members: cache.metric_evictions(**members),
        threshold=config.cache_evictions,
        comparison=ABOVE,
        severity=Severity.WARNING,
        description="Keys evicted by maxmemory-policy: the working set no longer fits the cache",
    )
    nodes.add_alarms(
        "CacheEngineCpuHigh",
        lambda members: cache.metric_engine_cpu_utilization(**members),
        threshold=config.cache_cpu_percent,
        comparison=ABOVE,
        description="Cache engine CPU high: commands queue and latency rises",
    )
    nodes.add_alarms(
        "CacheConnectionsHigh",
        lambda members: cache.metric_curr_connections(**members),
        threshold=config.cache_connections,
        comparison=ABOVE,
        severity=Severity.WARNING,
        description="Cache client connections climbing: check callers for connection leaks",
    )
    redis = nodes.redis
    if redis is not None:
        nodes.add_alarms(
            "CacheMemoryHigh",
            lambda members: redis.metric_database_memory_usage_percentage(**members),
            threshold=config.cache_memory_percent,
            comparison=ABOVE,
            description="Cache memory near maxmemory: evictions and write failures follow",
        )
        if redis.replicas_per_shard:
            nodes.add_alarms(
                "CacheReplicationLag",
                lambda members: redis.metric_replication_lag(**members),
                threshold=config.cache_replication_lag_seconds,
                comparison=ABOVE,
                description="Cache replica lagging: reads from replicas return old values",
            )


class _Nodes:
    """Graphs and alarms on ``monitoring`` that cover every node of ``redis`` within CloudWatch's limits, in
    batches where needed; with no ``redis`` (Memcached), one graph or alarm on the cluster's metric."""

    def __init__(self, monitoring: OperationsMonitoring, redis: RedisReplicationGroup | None) -> None:
        self.monitoring = monitoring
        self.redis = redis

    def graphs(
        self, title: str, metric_of: MetricOf, *, metrics_per_node: int = 1, **props
    ) -> list[cloudwatch.GraphWidget]:
        """One graph over every node, or one per batch of nodes when a single graph would read more than
        CloudWatch's 500 metrics per widget (a large cluster-mode group)."""
        if self.redis is None:
            return [self.monitoring.graph(title, [metric_of({})], **props)]
        batches = group_metrics.graph_member_batches(self.redis.member_cluster_ids, metrics_per_node)
        return [
            self.monitoring.graph(f"{title}{suffix}", [metric_of({"members": members})], **props)
            for members, suffix in _labelled(batches)
        ]

    def add_alarms(
        self, alarm_id: str, metric_of: MetricOf, *, metrics_per_node: int = 1, description: str, **props
    ) -> None:
        """One alarm over every node of a Redis group, or one per batch of nodes when the expression would
        read more than CloudWatch's 10 metrics per alarm (large cluster-mode groups)."""
        if self.redis is None:
            self.monitoring.add_alarm(alarm_id, metric_of({}), description=description, **props)
            return
        batches = self.redis.member_batches(metrics_per_node)
        for number, (members, suffix) in enumerate(_labelled(batches), start=1):
            self.monitoring.add_alarm(
                alarm_id if len(batches) == 1 else f"{alarm_id}Batch{number}",
                metric_of({"members": members}),
                description=f"{description}{suffix}",
                **props,
            )


def _labelled(batches: Sequence[list[str]]) -> list[tuple[list[str], str]]:
    """Each batch with the suffix that tells it apart: none for a single batch, else its node range."""
    if len(batches) == 1:
        return [(batches[0], "")]
    total = sum(len(members) for members in batches)
    labelled, first = [], 1
    for members in batches:
        last = first + len(members) - 1
        labelled.append((members, f" (nodes {first}-{last} of {total})"))
        first = last + 1
    return labelled
