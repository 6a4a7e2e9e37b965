"""What a Global Datastore secondary region's Monitoring stack watches: what bounds or breaks its reads.

How far its cache member and its database replica trail the primary (a read there may be that stale), and
the read path: the API's 5XX errors and the read function's errors.
"""

from __future__ import annotations

from caching_constructs.monitoring.facade import ABOVE, AT_OR_ABOVE, OperationsMonitoring
from config.schema import MonitoringConfig
from stacks.secondary_api_stack import SecondaryApiStack
from stacks.secondary_data_stack import SecondaryDataStack


def monitor_global_replication(
    monitoring: OperationsMonitoring, data: SecondaryDataStack, config: MonitoringConfig
) -> None:
    """The replication section (the cache member's and the database replica's lag) and one alarm on each."""
    cache_lag = data.cache.metric_global_replication_lag()
    database_lag = data.metric_database_replica_lag()
    graph = monitoring.graph
    monitoring.add_section(
        "Replication from the primary region",
        [
            graph("Global Datastore replication lag (s)", [cache_lag]),
            graph("Cross-region database replica lag (s)", [database_lag]),
        ],
        note="A read here after a write in the primary may be stale for at most the larger of the two.",
    )
    # One threshold for both: each lag is how old a read here can be, whichever copy answers it.
    threshold = config.replica_lag_seconds
    monitoring.add_alarm(
        "GlobalReplicationLag",
        cache_lag,
        threshold=threshold,
        comparison=ABOVE,
        description=f"Cache member trails the primary's by over {threshold:g} s: reads here are stale",
    )
    monitoring.add_alarm(
        "DatabaseReplicaLag",
        database_lag,
        threshold=threshold,
        comparison=ABOVE,
        description=f"Cross-region database replica over {threshold:g} s behind: misses load old rows",
    )


def monitor_secondary_read_path(
    monitoring: OperationsMonitoring, api: SecondaryApiStack, config: MonitoringConfig
) -> None:
    """The read path section (the stage's 5XX errors and cache, the product function) and its alarms."""
    graph = monitoring.graph
    stage = api.rest_api.stage
    function = api.product_api
    monitoring.add_section(
        "Read path (API Gateway and the product function)",
        [
            graph("API 5XX errors", [stage.metric_server_error()]),
            graph(
                "Stage cache hits / misses",
                [stage.metric_cache_hit_count(), stage.metric_cache_miss_count()],
            ),
            graph("ProductApi: errors / throttles", [function.metric_errors(), function.metric_throttles()]),
        ],
    )
    monitoring.add_alarm(
        "Api5xxErrors",
        stage.metric_server_error(),
        threshold=config.api_5xx_errors,
        comparison=ABOVE,
        description="Secondary API returning 5XX errors",
    )
    monitoring.add_alarm(
        "ProductApiErrors",
        function.metric_errors(),
        threshold=config.function_errors,
        comparison=AT_OR_ABOVE,
        description="Secondary ProductApi invocations failing",
    )
