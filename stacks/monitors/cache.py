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


class CacheMonitoring:
    """Adds the ElastiCache section and the cache alarms to ``monitoring``.

    :param alarm: adds an alarm with the stack's evaluation periods (``MonitoringStack._alarm``).
    """

    def __init__(
        self,
        monitoring: OperationsMonitoring,
        config: MonitoringConfig,
        cache: RedisReplicationGroup | MemcachedCluster,
        *,
        alarm: Callable[..., None],
    ) -> None:
        self.monitoring = monitoring
        self.config = config
        self.cache = cache
        self._add_alarm = alarm
        # Only a replication group has replicas and per-node metrics; Memcached is one CloudWatch cluster.
        self.redis = cache if isinstance(cache, RedisReplicationGroup) else None

    @property
    def hit_rate_floor(self) -> float:
        # ElastiCache reports CacheHitRate in percent; the config holds the source document's fraction (0.8).
        return self.config.cache_hit_rate_warning * 100

    def add(self) -> None:
        """The ElastiCache section of the dashboard, then the cache alarms."""
        self._add_section()
        self._add_alarms()

    def _add_section(self) -> None:
        cache, hit_rate_floor = self.cache, self.hit_rate_floor
        widgets = [
            *self._graphs(
                "Cache hit rate (%)",
                lambda members: cache.metric_cache_hit_rate(**members),
                metrics_per_node=2,
                left_annotations=[cloudwatch.HorizontalAnnotation(value=hit_rate_floor, label="warning")],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
            ),
            *self._graphs("Cache evictions", lambda members: cache.metric_evictions(**members)),
            *self._graphs(
                "Cache engine CPU (%)", lambda members: cache.metric_engine_cpu_utilization(**members)
            ),
            *self._graphs("Cache connections", lambda members: cache.metric_curr_connections(**members)),
        ]
        redis = self.redis
        if redis is not None:
            widgets.extend(
                self._graphs(
                    "Cache memory used of maxmemory (%)",
                    lambda members: redis.metric_database_memory_usage_percentage(**members),
                )
            )
            if redis.replicas_per_shard:
                widgets.extend(
                    self._graphs(
                        "Cache replication lag (s)", lambda members: redis.metric_replication_lag(**members)
                    )
                )
        self.monitoring.add_section("ElastiCache", widgets)

    def _add_alarms(self) -> None:
        cache, config, redis, hit_rate_floor = self.cache, self.config, self.redis, self.hit_rate_floor
        self._alarm(
            "CacheHitRateLow",
            lambda members: cache.metric_cache_hit_rate(**members),
            metrics_per_node=2,
            threshold=hit_rate_floor,
            comparison=BELOW,
            severity=Severity.WARNING,
            description=f"Cache hit rate below {hit_rate_floor:g}%: more reads reach the database",
        )
        self._alarm(
            "CacheEvictions",
            lambda members: cache.metric_evictions(**members),
            threshold=config.cache_evictions,
            comparison=ABOVE,
            severity=Severity.WARNING,
            description="Keys evicted by maxmemory-policy: the working set no longer fits the cache",
        )
        self._alarm(
            "CacheEngineCpuHigh",
            lambda members: cache.metric_engine_cpu_utilization(**members),
            threshold=config.cache_cpu_percent,
            comparison=ABOVE,
            description="Cache engine CPU high: commands queue and latency rises",
        )
        self._alarm(
            "CacheConnectionsHigh",
            lambda members: cache.metric_curr_connections(**members),
            threshold=config.cache_connections,
            comparison=ABOVE,
            severity=Severity.WARNING,
            description="Cache client connections climbing: check callers for connection leaks",
        )
        if redis is not None:
            self._alarm(
                "CacheMemoryHigh",
                lambda members: redis.metric_database_memory_usage_percentage(**members),
                threshold=config.cache_memory_percent,
                comparison=ABOVE,
                description="Cache memory near maxmemory: evictions and write failures follow",
            )
            if redis.replicas_per_shard:
                self._alarm(
                    "CacheReplicationLag",
                    lambda members: redis.metric_replication_lag(**members),
                    threshold=config.cache_replication_lag_seconds,
                    comparison=ABOVE,
                    description="Cache replica lagging: reads from replicas return old values",
                )

    def _graphs(
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

    def _alarm(
        self, alarm_id: str, metric_of: MetricOf, *, metrics_per_node: int = 1, description: str, **props
    ) -> None:
        """One alarm over every node of a Redis group, or one per batch of nodes when the expression would
        read more than CloudWatch's 10 metrics per alarm (large cluster-mode groups)."""
        if self.redis is None:
            self._add_alarm(alarm_id, metric_of({}), description=description, **props)
            return
        batches = self.redis.member_batches(metrics_per_node)
        for number, (members, suffix) in enumerate(_labelled(batches), start=1):
            self._add_alarm(
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
