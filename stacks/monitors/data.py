"""The data tier on the operations dashboard: the RDS MySQL writer and its read replicas, and DAX.

The database alarms watch what makes cache misses slow or wrong: a busy or memory-starved writer, connections
near ``max_connections``, and read replicas that lag (a miss served there loads an old row into the cache).
"""

from __future__ import annotations

from caching_constructs.data.dax_cluster import DaxCluster
from caching_constructs.data.mysql_database import MySqlDatabase
from caching_constructs.monitoring.facade import ABOVE, BELOW, OperationsMonitoring
from config.schema import MonitoringConfig

MIB = 1024 * 1024


def monitor_database(
    monitoring: OperationsMonitoring, database: MySqlDatabase, config: MonitoringConfig
) -> None:
    """The RDS MySQL section (CPU, freeable memory, connections, each replica's lag) and its alarms."""
    graph = monitoring.graph
    lags = database.metric_replica_lags()
    widgets = [
        graph("Database CPU (%)", [database.metric_cpu_utilization()]),
        graph("Database freeable memory (bytes)", [database.metric_freeable_memory()]),
        graph("Database connections", [database.metric_database_connections()]),
    ]
    if lags:
        widgets.append(graph("Database replica lag (s)", lags))
    monitoring.add_section("RDS MySQL", widgets)
    monitoring.add_alarm(
        "DatabaseCpuHigh",
        database.metric_cpu_utilization(),
        threshold=config.database_cpu_percent,
        comparison=ABOVE,
        description="Database writer CPU high",
    )
    monitoring.add_alarm(
        "DatabaseFreeableMemoryLow",
        database.metric_freeable_memory(),
        threshold=config.database_freeable_memory_mib * MIB,
        comparison=BELOW,
        description=f"Database freeable memory below {config.database_freeable_memory_mib:g} MiB",
    )
    monitoring.add_alarm(
        "DatabaseConnectionsHigh",
        database.metric_database_connections(),
        threshold=config.database_connections,
        comparison=ABOVE,
        description="Database connections near the instance's max_connections",
    )
    for index, lag in enumerate(lags):
        monitoring.add_alarm(
            f"DatabaseReplica{index + 1}Lag",
            lag,
            threshold=config.replica_lag_seconds,
            comparison=ABOVE,
            description=f"Read replica {index + 1} lagging: cache misses load old rows",
        )


def monitor_dax(monitoring: OperationsMonitoring, dax: DaxCluster, config: MonitoringConfig) -> None:
    """The DAX section (item cache hits and misses, error requests) and the alarm on its errors."""
    graph = monitoring.graph
    monitoring.add_section(
        "DAX",
        [
            graph(
                "DAX item cache hits / misses",
                [dax.metric_item_cache_hits(), dax.metric_item_cache_misses()],
            ),
            graph("DAX error requests", [dax.metric_error_request_count()]),
        ],
    )
    monitoring.add_alarm(
        "DaxErrorRequests",
        dax.metric_error_request_count(),
        threshold=config.dax_error_requests,
        comparison=ABOVE,
        description="DAX requests failing",
    )
