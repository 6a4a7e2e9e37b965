"""Members and metrics of a ``RedisReplicationGroup``: every node's ``CacheClusterId`` and the group-wide
``metric_*()`` methods, metric math over those nodes (``group_metrics``) so failovers and shards are covered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch

from caching_constructs.elasticache import group_metrics


class ReplicationGroupMetrics:
    """Mixed into ``RedisReplicationGroup``; reads its ``replication_group_id``, ``cluster_mode_enabled``,
    ``num_shards`` and ``replicas_per_shard`` and builds metrics with ``ElastiCacheBase._metric``."""

    replication_group_id: str
    cluster_mode_enabled: bool
    num_shards: int
    replicas_per_shard: int
    _metric: Callable[[str, str, dict[str, Any]], cloudwatch.Metric]

    @property
    def member_cluster_ids(self) -> list[str]:
        """The ``CacheClusterId`` of every node, the dimension ElastiCache publishes its metrics under:
        ``<group>-NNN`` with one shard, ``<group>-SSSS-NNN`` in cluster mode."""
        nodes = range(1, 2 + self.replicas_per_shard)
        if self.cluster_mode_enabled:
            return [
                cdk.Fn.join("", [self.replication_group_id, f"-{shard:04d}-{node:03d}"])
                for shard in range(1, self.num_shards + 1)
                for node in nodes
            ]
        return [cdk.Fn.join("", [self.replication_group_id, f"-{node:03d}"]) for node in nodes]

    def metric(
        self, metric_name: str, *, cache_cluster_id: str | None = None, **props: Any
    ) -> cloudwatch.Metric:
        """Metric ``metric_name`` of one node (default: the first node, the initial primary).

        ``props`` are ``cloudwatch.MetricOptions`` (period, statistic, label, ...). Default: Average over
        5 minutes. Roles move on failover, so alarm on the group-wide ``metric_*()`` methods instead.
        """
        return self._metric(metric_name, cache_cluster_id or self.member_cluster_ids[0], props)

    def member_batches(self, metrics_per_member: int = 1) -> list[list[str]]:
        """``member_cluster_ids`` split so that a group metric over each batch fits one alarm (CloudWatch
        allows 10 metrics per metric math alarm; ``metric_cache_hit_rate`` reads 2 per node, the rest 1)."""
        return group_metrics.member_batches(self.member_cluster_ids, metrics_per_member)

    def metric_cache_hit_rate(
        self, *, member: str | None = None, members: Sequence[str] | None = None, **props: Any
    ) -> cloudwatch.IMetric:
        """Hit rate in percent (0-100, the unit of ``CacheHitRate``; the source design warns below 80).

        Default: every node of ``members`` (default all) together, 100 * CacheHits / (CacheHits +
        CacheMisses), so it follows failovers and covers every shard. ``member``: that node's CacheHitRate.
        """
        if member is not None:
            return self.metric("CacheHitRate", cache_cluster_id=member, **props)
        sums = {**props, "statistic": "Sum"}
        nodes = self._members(members)
        return group_metrics.hit_rate_over(
            [self.metric("CacheHits", cache_cluster_id=node, **sums) for node in nodes],
            [self.metric("CacheMisses", cache_cluster_id=node, **sums) for node in nodes],
            **self._expression_options("CacheHitRate (group)", props),
        )

    def metric_evictions(
        self, *, member: str | None = None, members: Sequence[str] | None = None, **props: Any
    ) -> cloudwatch.IMetric:
        """Evictions (Sum, all nodes unless ``member``): keys dropped by maxmemory-policy. Steady evictions
        mean the cache is too small."""
        return self._group("Evictions", "SUM", member, members, {"statistic": "Sum", **props})

    def metric_engine_cpu_utilization(
        self, *, member: str | None = None, members: Sequence[str] | None = None, **props: Any
    ) -> cloudwatch.IMetric:
        """EngineCPUUtilization (the single Redis thread, the one that saturates first): the busiest node."""
        return self._group("EngineCPUUtilization", "MAX", member, members, props)

    def metric_database_memory_usage_percentage(
        self, *, member: str | None = None, members: Sequence[str] | None = None, **props: Any
    ) -> cloudwatch.IMetric:
        """DatabaseMemoryUsagePercentage (used memory against maxmemory): the fullest node."""
        return self._group("DatabaseMemoryUsagePercentage", "MAX", member, members, props)

    def metric_curr_connections(
        self, *, member: str | None = None, members: Sequence[str] | None = None, **props: Any
    ) -> cloudwatch.IMetric:
        """CurrConnections of the node with the most (a climb often means connection leaks in callers)."""
        return self._group("CurrConnections", "MAX", member, members, props)

    def metric_replication_lag(
        self, *, member: str | None = None, members: Sequence[str] | None = None, **props: Any
    ) -> cloudwatch.IMetric:
        """ReplicationLag (seconds, Maximum) of the most lagging replica. Every node can be a replica after
        a failover (only replicas publish it), so the default covers them all.

        Raises ``ValueError`` when the group has no replicas.
        """
        if self.replicas_per_shard == 0:
            raise ValueError(
                "metric_replication_lag: this replication group has no replicas (replicas_per_shard=0)"
            )
        return self._group("ReplicationLag", "MAX", member, members, {"statistic": "Maximum", **props})

    def _group(
        self,
        metric_name: str,
        function: str,
        member: str | None,
        members: Sequence[str] | None,
        props: dict[str, Any],
    ) -> cloudwatch.IMetric:
        if member is not None:
            return self.metric(metric_name, cache_cluster_id=member, **props)
        aggregate = group_metrics.max_over if function == "MAX" else group_metrics.sum_over
        return aggregate(
            [self.metric(metric_name, cache_cluster_id=node, **props) for node in self._members(members)],
            **self._expression_options(f"{metric_name} ({function.lower()} over nodes)", props),
        )

    def _members(self, members: Sequence[str] | None) -> list[str]:
        return list(self.member_cluster_ids if members is None else members)

    @staticmethod
    def _expression_options(label: str, props: dict[str, Any]) -> dict[str, Any]:
        return {"label": props.get("label", label), "period": props.get("period", cdk.Duration.minutes(5))}
