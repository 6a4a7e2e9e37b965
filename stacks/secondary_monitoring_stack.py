"""Operations view of one Global Datastore secondary region: a dashboard and alarms in that region.

An alarm must live in its metric's region, so the primary's ``MonitoringStack`` cannot alarm on anything
here: this stack has its own encrypted alarm topic with the environment's subscribers
(``stacks/alarm_notifications.py``). What it watches is what bounds or breaks the secondary's reads: how far
its cache member and its database replica trail the primary (a read there may be that stale), the API's
5XX errors and the read function's errors.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch

from caching_constructs.monitoring.facade import ABOVE, AT_OR_ABOVE
from config.schema import MonitoringConfig
from constructs import Construct
from stacks.alarm_notifications import operations_monitoring
from stacks.secondary_api_stack import SecondaryApiStack
from stacks.secondary_data_stack import SecondaryDataStack


class SecondaryMonitoringStack(cdk.Stack):
    """Dashboard ``dashboard`` and alarms ``monitoring.alarms`` (by id), all notifying ``alarm_topic``.

    Subscribers (``monitoring``): as the primary's, except that only the ``alarm_topic_arns`` in this
    region are alarm actions (CloudWatch acts on its own region's topics only).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        monitoring: MonitoringConfig,
        data: SecondaryDataStack,
        api: SecondaryApiStack,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = monitoring
        self.alarm_topic, self.chat_channels, self.monitoring = operations_monitoring(
            self, monitoring, region=self.region
        )
        self._monitor_replication(data)
        self._monitor_read_path(api)
        self.monitoring.add_alarm_status()

    @property
    def dashboard(self) -> cloudwatch.Dashboard:
        return self.monitoring.dashboard

    def _alarm(self, alarm_id: str, metric: cloudwatch.IMetric, **props) -> None:
        self.monitoring.add_alarm(
            alarm_id, metric, evaluation_periods=self.config.evaluation_periods, **props
        )

    def _monitor_replication(self, data: SecondaryDataStack) -> None:
        cache_lag = data.cache.metric_global_replication_lag()
        database_lag = data.metric_database_replica_lag()
        graph = self.monitoring.graph
        self.monitoring.add_section(
            "Replication from the primary region",
            [
                graph("Global Datastore replication lag (s)", [cache_lag]),
                graph("Cross-region database replica lag (s)", [database_lag]),
            ],
            note="A read here after a write in the primary may be stale for at most the larger of the two.",
        )
        # One threshold for both: each lag is how old a read here can be, whichever copy answers it.
        threshold = self.config.replica_lag_seconds
        self._alarm(
            "GlobalReplicationLag",
            cache_lag,
            threshold=threshold,
            comparison=ABOVE,
            description=f"Cache member trails the primary's by over {threshold:g} s: reads here are stale",
        )
        self._alarm(
            "DatabaseReplicaLag",
            database_lag,
            threshold=threshold,
            comparison=ABOVE,
            description=f"Cross-region database replica over {threshold:g} s behind: misses load old rows",
        )

    def _monitor_read_path(self, api: SecondaryApiStack) -> None:
        config, graph = self.config, self.monitoring.graph
        stage = api.rest_api.stage
        function = api.product_api.function
        self.monitoring.add_section(
            "Read path (API Gateway and the product function)",
            [
                graph("API 5XX errors", [stage.metric_server_error()]),
                graph(
                    "Stage cache hits / misses",
                    [stage.metric_cache_hit_count(), stage.metric_cache_miss_count()],
                ),
                graph(
                    "ProductApi: errors / throttles", [function.metric_errors(), function.metric_throttles()]
                ),
            ],
        )
        self._alarm(
            "Api5xxErrors",
            stage.metric_server_error(),
            threshold=config.api_5xx_errors,
            comparison=ABOVE,
            description="Secondary API returning 5XX errors",
        )
        self._alarm(
            "ProductApiErrors",
            function.metric_errors(),
            threshold=config.function_errors,
            comparison=AT_OR_ABOVE,
            description="Secondary ProductApi invocations failing",
        )
