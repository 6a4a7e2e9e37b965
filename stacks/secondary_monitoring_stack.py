"""Operations view of one Global Datastore secondary region: a dashboard and alarms in that region.

An alarm must live in its metric's region, so the primary's ``MonitoringStack`` cannot alarm on anything
here: this stack has its own encrypted alarm topic with the environment's subscribers
(``stacks/alarm_notifications.py``). What it watches is what bounds or breaks the secondary's reads: how far
its cache member and its database replica trail the primary (a read there may be that stale), the API's
5XX errors and the read function's errors (``stacks/monitors/secondary.py``).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch

from config.schema import MonitoringConfig
from constructs import Construct
from stacks.alarm_notifications import operations_monitoring
from stacks.monitors.secondary import monitor_global_replication, monitor_secondary_read_path
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
        monitor_global_replication(self.monitoring, data, monitoring)
        monitor_secondary_read_path(self.monitoring, api, monitoring)
        self.monitoring.add_alarm_status()

    @property
    def dashboard(self) -> cloudwatch.Dashboard:
        return self.monitoring.dashboard
