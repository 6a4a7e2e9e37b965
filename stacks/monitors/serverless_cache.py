"""The cache tier on the operations dashboard when it runs on ElastiCache Serverless.

A serverless cache has no nodes, no engine CPU and no maxmemory: what runs out is its two usage limits. So
the panels and alarms watch ECPUs per second and the data stored, each against its limit (at the ECPU
limit commands are throttled, at the storage limit the service evicts), the throttled commands themselves,
and, as for a replication group, the hit rate, evictions and connections. Thresholds come from the same
``monitoring`` settings: the CPU one applies to ECPUs, the memory one to storage.
"""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch

from caching_constructs.elasticache.serverless_cache import ServerlessCache
from caching_constructs.monitoring.facade import ABOVE, BELOW, OperationsMonitoring, Severity
from config.schema import MonitoringConfig


def monitor_serverless_cache(
    monitoring: OperationsMonitoring, cache: ServerlessCache, config: MonitoringConfig
) -> None:
    """Adds the ElastiCache Serverless section and its alarms."""
    hit_rate_floor = config.cache_hit_rate_warning_percent
    percent = cloudwatch.YAxisProps(min=0, max=100)
    graph = monitoring.graph
    monitoring.add_section(
        "ElastiCache Serverless",
        [
            graph(
                "Cache hit rate (%)",
                [cache.metric_cache_hit_rate()],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=hit_rate_floor, label="warning")],
                left_y_axis=percent,
            ),
            graph(
                "ECPUs per second (% of the limit)",
                [cache.metric_ecpu_percent_of_limit()],
                left_y_axis=percent,
            ),
            graph(
                "Data stored (% of the limit)", [cache.metric_storage_percent_of_limit()], left_y_axis=percent
            ),
            graph("Throttled commands", [cache.metric_throttled_cmds()]),
            graph("Cache evictions", [cache.metric_evictions()]),
            graph("Cache connections", [cache.metric_curr_connections()]),
        ],
        note=f"Limits: {cache.max_ecpu_per_second} ECPUs per second, {cache.max_data_storage_gb} GB.",
    )
    _add_alarms(monitoring, cache, config, hit_rate_floor)


def _add_alarms(
    monitoring: OperationsMonitoring, cache: ServerlessCache, config: MonitoringConfig, hit_rate_floor: float
) -> None:
    add_alarm = monitoring.add_alarm
    add_alarm(
        "CacheHitRateLow",
        cache.metric_cache_hit_rate(),
        threshold=hit_rate_floor,
        comparison=BELOW,
        severity=Severity.WARNING,
        description=f"Cache hit rate below {hit_rate_floor:g}%: more reads reach the database",
    )
    add_alarm(
        "CacheEcpuNearLimit",
        cache.metric_ecpu_percent_of_limit(),
        threshold=config.cache_cpu_percent,
        comparison=ABOVE,
        description=f"Cache ECPUs per second above {config.cache_cpu_percent:g}% of the limit: commands are "
        "throttled at 100% (raise cache.serverless_max_ecpu_per_second)",
    )
    add_alarm(
        "CacheStorageNearLimit",
        cache.metric_storage_percent_of_limit(),
        threshold=config.cache_memory_percent,
        comparison=ABOVE,
        description=f"Cache data above {config.cache_memory_percent:g}% of the storage limit: the service "
        "evicts at 100% (raise cache.serverless_max_data_storage_gb)",
    )
    add_alarm(
        "CacheThrottledCommands",
        cache.metric_throttled_cmds(),
        threshold=config.cache_throttled_commands,
        comparison=ABOVE,
        description="Cache commands throttled: the workload reached the ECPU limit or grew faster than the "
        "cache scales; callers see timeouts and read the database",
    )
    add_alarm(
        "CacheEvictions",
        cache.metric_evictions(),
        threshold=config.cache_evictions,
        comparison=ABOVE,
        severity=Severity.WARNING,
        description="Keys evicted at the storage limit: the working set no longer fits",
    )
    add_alarm(
        "CacheConnectionsHigh",
        cache.metric_curr_connections(),
        threshold=config.cache_connections,
        comparison=ABOVE,
        severity=Severity.WARNING,
        description="Cache client connections climbing: check callers for connection leaks",
    )
