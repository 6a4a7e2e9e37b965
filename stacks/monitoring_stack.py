"""Operations view of one environment: a CloudWatch dashboard and alarms to an encrypted SNS topic.

Every metric comes from the resources' own ``metric_*()`` methods (CloudFront's are rebuilt, see
``cloudfront_metric``), every threshold and the period from ``MonitoringConfig``. What each resource shows
and alarms on is its monitor's (``stacks/monitors``); this stack only composes them, in the dashboard's order.

CloudFront publishes its metrics in us-east-1 only, so it is on the dashboard without alarms
(``stacks/monitors/edge.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sqs as sqs

from caching_constructs.data.dax_cluster import DaxCluster
from caching_constructs.data.mysql_database import MySqlDatabase
from caching_constructs.elasticache.caches import CacheStore
from caching_constructs.elasticache.serverless_cache import ServerlessCache
from caching_contract.services import Service
from config.schema import MonitoringConfig
from constructs import Construct
from stacks.alarm_notifications import operations_monitoring
from stacks.monitors.api import MonitoredFunction, monitor_api_stage, monitor_functions
from stacks.monitors.application import monitor_application
from stacks.monitors.cache import monitor_cache
from stacks.monitors.data import monitor_database, monitor_dax
from stacks.monitors.edge import monitor_distribution
from stacks.monitors.queues import monitor_dead_letter_queues
from stacks.monitors.serverless_cache import monitor_serverless_cache


class MonitoringStack(cdk.Stack):
    """Dashboard ``dashboard`` and alarms ``monitoring.alarms`` (by id), all notifying ``alarm_topic``.

    :param functions: Lambda functions by display name; each gets Errors, Throttles and Duration p99.
    :param dead_letter_queues: by what fails into them; each alarms on waiting messages.
    :param application_services: the ``service`` dimension values (``POWERTOOLS_SERVICE_NAME``) whose cache
        metrics the library publishes.
    :param environment: the ``environment`` dimension value of those metrics (the functions'
    ``APP_ENVIRONMENT``).

    Subscribers (``monitoring``): each address in ``alarm_emails`` subscribes to the alarm topic, each
    topic in
    ``alarm_topic_arns`` is a further action of every alarm, and each Slack channel in
    ``alarm_slack_channels`` gets an AWS Chatbot configuration on the alarm topic.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        monitoring: MonitoringConfig,
        cache: CacheStore,
        database: MySqlDatabase,
        dax: DaxCluster,
        api_stage: apigw.Stage,
        distribution: cloudfront.Distribution,
        functions: Mapping[str, MonitoredFunction],
        dead_letter_queues: Mapping[str, sqs.IQueue],
        application_services: Sequence[Service],
        environment: str,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = monitoring
        self.alarm_topic, self.chat_channels, self.monitoring = operations_monitoring(self, monitoring)
        if isinstance(cache, ServerlessCache):
            monitor_serverless_cache(self.monitoring, cache, monitoring)
        else:
            monitor_cache(self.monitoring, cache, monitoring)
        monitor_database(self.monitoring, database, monitoring)
        monitor_api_stage(self.monitoring, api_stage, monitoring)
        monitor_distribution(self.monitoring, distribution, monitoring)
        monitor_functions(self.monitoring, functions, monitoring)
        monitor_dead_letter_queues(self.monitoring, dead_letter_queues, monitoring)
        monitor_dax(self.monitoring, dax, monitoring)
        monitor_application(self.monitoring, application_services, monitoring, environment=environment)
        self.monitoring.add_alarm_status()

    @property
    def dashboard(self) -> cloudwatch.Dashboard:
        return self.monitoring.dashboard
