"""Operations view of one environment: a CloudWatch dashboard and alarms to an encrypted SNS topic.

Every metric comes from the resources' own ``metric_*()`` methods (CloudFront's are rebuilt, see
``cloudfront_metric``), every threshold and the period from ``MonitoringConfig``.

CloudFront publishes its metrics in us-east-1 only. Dashboards draw across regions, so the CloudFront panels
sit on this dashboard; alarms cannot (an alarm must live in its metric's region), so CloudFront is
dashboard-only here. Its failures still page: a 5xx at the edge is almost always the API's 5XXError (alarmed
below) or an S3 origin error, which the access logs show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_

from caching_constructs.data.dax_cluster import DaxCluster
from caching_constructs.data.mysql_database import MySqlDatabase
from caching_constructs.elasticache.caches import CacheStore
from caching_constructs.elasticache.serverless_cache import ServerlessCache
from caching_constructs.monitoring.facade import (
    ABOVE,
    AT_OR_ABOVE,
    BELOW,
    CLOUDFRONT_METRICS_REGION,
    Severity,
    cloudfront_metric,
)
from caching_contract.services import Service
from config.schema import MonitoringConfig
from constructs import Construct
from stacks.alarm_notifications import operations_monitoring
from stacks.monitoring_application import monitor_application
from stacks.monitoring_cache import CacheMonitoring
from stacks.monitoring_serverless import monitor_serverless_cache

MIB = 1024 * 1024


class MonitoringStack(cdk.Stack):
    """Dashboard ``dashboard`` and alarms ``monitoring.alarms`` (by id), all notifying ``alarm_topic``.

    :param functions: Lambda functions by display name; each gets Errors, Throttles and Duration p99.
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
        functions: Mapping[str, lambda_.Function],
        application_services: Sequence[Service],
        environment: str,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = monitoring
        self.alarm_topic, self.chat_channels, self.monitoring = operations_monitoring(self, monitoring)
        self._evaluation = monitoring.evaluation_periods
        if isinstance(cache, ServerlessCache):
            monitor_serverless_cache(self.monitoring, monitoring, cache, alarm=self._alarm)
        else:
            CacheMonitoring(self.monitoring, monitoring, cache, alarm=self._alarm).add()
        self._monitor_database(database)
        self._monitor_api(api_stage)
        self._monitor_distribution(distribution)
        self._monitor_functions(functions)
        self._monitor_dax(dax)
        monitor_application(
            self.monitoring,
            application_services,
            environment=environment,
            cache_errors_threshold=monitoring.application_cache_errors,
            alarm=self._alarm,
        )
        self.monitoring.add_alarm_status()

    @property
    def dashboard(self) -> cloudwatch.Dashboard:
        return self.monitoring.dashboard

    def _alarm(self, alarm_id: str, metric: cloudwatch.IMetric, **props) -> None:
        self.monitoring.add_alarm(alarm_id, metric, evaluation_periods=self._evaluation, **props)

    def _monitor_database(self, database: MySqlDatabase) -> None:
        config, graph = self.config, self.monitoring.graph
        lags = database.metric_replica_lags()
        widgets = [
            graph("Database CPU (%)", [database.metric_cpu_utilization()]),
            graph("Database freeable memory (bytes)", [database.metric_freeable_memory()]),
            graph("Database connections", [database.metric_database_connections()]),
        ]
        if lags:
            widgets.append(graph("Database replica lag (s)", lags))
        self.monitoring.add_section("RDS MySQL", widgets)
        self._alarm(
            "DatabaseCpuHigh",
            database.metric_cpu_utilization(),
            threshold=config.database_cpu_percent,
            comparison=ABOVE,
            description="Database writer CPU high",
        )
        self._alarm(
            "DatabaseFreeableMemoryLow",
            database.metric_freeable_memory(),
            threshold=config.database_freeable_memory_mib * MIB,
            comparison=BELOW,
            description=f"Database freeable memory below {config.database_freeable_memory_mib:g} MiB",
        )
        self._alarm(
            "DatabaseConnectionsHigh",
            database.metric_database_connections(),
            threshold=config.database_connections,
            comparison=ABOVE,
            description="Database connections near the instance's max_connections",
        )
        for index, lag in enumerate(lags):
            self._alarm(
                f"DatabaseReplica{index + 1}Lag",
                lag,
                threshold=config.replica_lag_seconds,
                comparison=ABOVE,
                description=f"Read replica {index + 1} lagging: cache misses load old rows",
            )

    def _monitor_api(self, stage: apigw.Stage) -> None:
        config, graph = self.config, self.monitoring.graph
        p99 = stage.metric_latency(statistic="p99")
        self.monitoring.add_section(
            "API Gateway (stage cache)",
            [
                graph(
                    "Stage cache hits / misses",
                    [stage.metric_cache_hit_count(), stage.metric_cache_miss_count()],
                ),
                graph("API 5XX errors", [stage.metric_server_error()]),
                graph("API latency p99 (ms)", [p99]),
            ],
        )
        self._alarm(
            "Api5xxErrors",
            stage.metric_server_error(),
            threshold=config.api_5xx_errors,
            comparison=ABOVE,
            description="API returning 5XX errors",
        )
        self._alarm(
            "ApiLatencyP99High",
            p99,
            threshold=config.api_p99_latency_ms,
            comparison=ABOVE,
            description=f"API p99 latency above {config.api_p99_latency_ms:g} ms",
        )

    def _monitor_distribution(self, distribution: cloudfront.Distribution) -> None:
        if self.config.cloudfront_additional_metrics and not _publishes_additional_metrics(distribution):
            cloudfront.CfnMonitoringSubscription(
                self,
                "CloudFrontAdditionalMetrics",
                distribution_id=distribution.distribution_id,
                monitoring_subscription=cloudfront.CfnMonitoringSubscription.MonitoringSubscriptionProperty(
                    realtime_metrics_subscription_config=cloudfront.CfnMonitoringSubscription.RealtimeMetricsSubscriptionConfigProperty(
                        realtime_metrics_subscription_status="Enabled"
                    )
                ),
            )
        graph = self.monitoring.graph
        widgets = [
            graph(
                "CloudFront 5xx error rate (%)",
                [cloudfront_metric(distribution, "5xxErrorRate")],
                region=CLOUDFRONT_METRICS_REGION,
            )
        ]
        if self.config.cloudfront_additional_metrics:
            widgets.insert(
                0,
                graph(
                    "CloudFront cache hit rate (%)",
                    [cloudfront_metric(distribution, "CacheHitRate")],
                    region=CLOUDFRONT_METRICS_REGION,
                    left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
                ),
            )
        self.monitoring.add_section(
            "CloudFront (us-east-1)",
            widgets,
            note="Dashboard only: alarms must live in us-east-1 with the metrics.",
        )

    def _monitor_functions(self, functions: Mapping[str, lambda_.Function]) -> None:
        config, graph = self.config, self.monitoring.graph
        widgets = []
        for name, function in functions.items():
            duration = function.metric_duration(statistic="p99")
            widgets.append(
                graph(f"{name}: errors / throttles", [function.metric_errors(), function.metric_throttles()])
            )
            widgets.append(graph(f"{name}: duration p99 (ms)", [duration]))
            self._alarm(
                f"{name}Errors",
                function.metric_errors(),
                threshold=config.function_errors,
                comparison=AT_OR_ABOVE,
                description=f"{name} invocations failing",
            )
            self._alarm(
                f"{name}Throttles",
                function.metric_throttles(),
                threshold=config.function_throttles,
                comparison=AT_OR_ABOVE,
                description=f"{name} throttled: reserved or account concurrency exhausted",
            )
            timeout_ms = function.timeout.to_milliseconds() if function.timeout else 3000
            self._alarm(
                f"{name}DurationP99High",
                duration,
                threshold=timeout_ms * config.function_duration_percent_of_timeout / 100,
                comparison=ABOVE,
                severity=Severity.WARNING,
                description=f"{name} p99 duration near its timeout",
            )
        self.monitoring.add_section("Lambda", widgets)

    def _monitor_dax(self, dax: DaxCluster) -> None:
        graph = self.monitoring.graph
        self.monitoring.add_section(
            "DAX",
            [
                graph(
                    "DAX item cache hits / misses",
                    [dax.metric_item_cache_hits(), dax.metric_item_cache_misses()],
                ),
                graph("DAX error requests", [dax.metric_error_request_count()]),
            ],
        )
        self._alarm(
            "DaxErrorRequests",
            dax.metric_error_request_count(),
            threshold=self.config.dax_error_requests,
            comparison=ABOVE,
            description="DAX requests failing",
        )


def _publishes_additional_metrics(distribution: cloudfront.Distribution) -> bool:
    """True when the distribution turned its additional metrics on itself (``publish_additional_metrics``)."""
    return distribution.node.try_find_child("MonitoringSubscription") is not None
