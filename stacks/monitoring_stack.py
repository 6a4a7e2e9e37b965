"""Operations view of one environment: a CloudWatch dashboard and alarms to an encrypted SNS topic.

Every metric comes from the resources' own ``metric_*()`` methods (CloudFront's are rebuilt, see
``cloudfront_metric``), every threshold and the period from ``MonitoringConfig``.

CloudFront publishes its metrics in us-east-1 only. Dashboards draw across regions, so the CloudFront panels
sit on this dashboard; alarms cannot (an alarm must live in its metric's region), so CloudFront is
dashboard-only here. Its failures still page: a 5xx at the edge is almost always the API's 5XXError (alarmed
below) or an S3 origin error, which the access logs show.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions

from caching_constructs.dax_cluster import DaxCluster
from caching_constructs.memcached_cluster import MemcachedCluster
from caching_constructs.monitoring import (
    ABOVE,
    AT_OR_ABOVE,
    BELOW,
    CLOUDFRONT_METRICS_REGION,
    OperationsMonitoring,
    Severity,
    cloudfront_metric,
)
from caching_constructs.mysql_database import MySqlDatabase
from caching_constructs.redis_replication_group import RedisReplicationGroup
from config.schema import MonitoringConfig
from constructs import Construct

APPLICATION_NAMESPACE = "CachingArchitecture"
"""EMF namespace of the caching library's metrics (``POWERTOOLS_METRICS_NAMESPACE``)."""
APPLICATION_COUNTS = (
    "CacheHit",
    "CacheMiss",
    "CacheStaleServed",
    "CacheLoaderWait",
    "CacheNegativeHit",
    "CacheError",
)
MIB = 1024 * 1024


class MonitoringStack(cdk.Stack):
    """Dashboard ``dashboard`` and alarms ``monitoring.alarms`` (by id), all notifying ``alarm_topic``.

    :param functions: Lambda functions by display name; each gets Errors, Throttles and Duration p99.
    :param application_services: the ``service`` dimension values (``POWERTOOLS_SERVICE_NAME``) whose cache
        metrics the library publishes.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        monitoring: MonitoringConfig,
        cache: RedisReplicationGroup | MemcachedCluster,
        database: MySqlDatabase,
        dax: DaxCluster,
        api_stage: apigw.Stage,
        distribution: cloudfront.Distribution,
        functions: Mapping[str, lambda_.Function],
        application_services: Sequence[str],
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = monitoring
        self.alarm_topic = self._alarm_topic(monitoring.alarm_emails)
        self.monitoring = OperationsMonitoring(
            self,
            "Operations",
            alarm_topic=self.alarm_topic,
            period=cdk.Duration.minutes(monitoring.period_minutes),
            alarm_name_prefix=self.stack_name,
        )
        self._evaluation = monitoring.evaluation_periods
        self._monitor_cache(cache)
        self._monitor_database(database)
        self._monitor_api(api_stage)
        self._monitor_distribution(distribution)
        self._monitor_functions(functions)
        self._monitor_dax(dax)
        self._monitor_application(application_services)
        self.monitoring.add_alarm_status()

    @property
    def dashboard(self) -> cloudwatch.Dashboard:
        return self.monitoring.dashboard

    def _alarm_topic(self, emails: Sequence[str]) -> sns.Topic:
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description="Encrypts the alarm topic",
            enable_key_rotation=True,
            # It encrypts only messages in flight: nothing outlives the topic, so it goes with the stack
            # (after KMS's waiting period, during which deletion can still be cancelled).
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # CloudWatch publishes to the topic as a service, so it needs the key; only for this account's alarms.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        topic = sns.Topic(self, "AlarmTopic", master_key=key, enforce_ssl=True, display_name="Caching alarms")
        for address in emails:
            topic.add_subscription(subscriptions.EmailSubscription(address))
        return topic

    def _alarm(self, alarm_id: str, metric: cloudwatch.IMetric, **props) -> None:
        self.monitoring.add_alarm(alarm_id, metric, evaluation_periods=self._evaluation, **props)

    def _monitor_cache(self, cache: RedisReplicationGroup | MemcachedCluster) -> None:
        config, redis = self.config, isinstance(cache, RedisReplicationGroup)
        # ElastiCache reports CacheHitRate in percent; the config holds the source document's fraction (0.8).
        hit_rate_floor = config.cache_hit_rate_warning * 100
        graph = self.monitoring.graph
        widgets = [
            graph(
                "Cache hit rate (%)",
                [cache.metric_cache_hit_rate()],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=hit_rate_floor, label="warning")],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
            ),
            graph("Cache evictions", [cache.metric_evictions()]),
            graph("Cache engine CPU (%)", [cache.metric_engine_cpu_utilization()]),
            graph("Cache connections", [cache.metric_curr_connections()]),
        ]
        if redis:
            widgets.append(
                graph("Cache memory used of maxmemory (%)", [cache.metric_database_memory_usage_percentage()])
            )
            if cache.replicas_per_shard:
                widgets.append(graph("Cache replication lag (s)", [cache.metric_replication_lag()]))
        self.monitoring.add_section("ElastiCache", widgets)

        self._cache_alarm(
            "CacheHitRateLow",
            cache,
            lambda members: cache.metric_cache_hit_rate(**members),
            metrics_per_node=2,
            threshold=hit_rate_floor,
            comparison=BELOW,
            severity=Severity.WARNING,
            description=f"Cache hit rate below {hit_rate_floor:g}%: more reads reach the database",
        )
        self._cache_alarm(
            "CacheEvictions",
            cache,
            lambda members: cache.metric_evictions(**members),
            threshold=config.cache_evictions,
            comparison=ABOVE,
            severity=Severity.WARNING,
            description="Keys evicted by maxmemory-policy: the working set no longer fits the cache",
        )
        self._cache_alarm(
            "CacheEngineCpuHigh",
            cache,
            lambda members: cache.metric_engine_cpu_utilization(**members),
            threshold=config.cache_cpu_percent,
            comparison=ABOVE,
            description="Cache engine CPU high: commands queue and latency rises",
        )
        self._cache_alarm(
            "CacheConnectionsHigh",
            cache,
            lambda members: cache.metric_curr_connections(**members),
            threshold=config.cache_connections,
            comparison=ABOVE,
            severity=Severity.WARNING,
            description="Cache client connections climbing: check callers for connection leaks",
        )
        if redis:
            self._cache_alarm(
                "CacheMemoryHigh",
                cache,
                lambda members: cache.metric_database_memory_usage_percentage(**members),
                threshold=config.cache_memory_percent,
                comparison=ABOVE,
                description="Cache memory near maxmemory: evictions and write failures follow",
            )
            if cache.replicas_per_shard:
                self._cache_alarm(
                    "CacheReplicationLag",
                    cache,
                    lambda members: cache.metric_replication_lag(**members),
                    threshold=config.cache_replication_lag_seconds,
                    comparison=ABOVE,
                    description="Cache replica lagging: reads from replicas return old values",
                )

    def _cache_alarm(
        self,
        alarm_id: str,
        cache: RedisReplicationGroup | MemcachedCluster,
        metric_of: Callable[[dict], cloudwatch.IMetric],
        *,
        metrics_per_node: int = 1,
        description: str,
        **props,
    ) -> None:
        """One alarm over every node of a Redis group, or one per batch of nodes when the expression would
        read more than CloudWatch's 10 metrics per alarm (large cluster-mode groups). Memcached publishes
        cluster-level metrics, so it needs no batches."""
        if not isinstance(cache, RedisReplicationGroup):
            self._alarm(alarm_id, metric_of({}), description=description, **props)
            return
        batches = cache.member_batches(metrics_per_node)
        first = 1
        for number, members in enumerate(batches, start=1):
            last = first + len(members) - 1
            if len(batches) == 1:
                self._alarm(alarm_id, metric_of({"members": members}), description=description, **props)
            else:
                self._alarm(
                    f"{alarm_id}Batch{number}",
                    metric_of({"members": members}),
                    description=f"{description} (nodes {first}-{last} of {len(cache.member_cluster_ids)})",
                    **props,
                )
            first = last + 1

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

    def _monitor_application(self, services: Sequence[str]) -> None:
        graph = self.monitoring.graph
        widgets = []
        for service in services:
            counts = [application_metric(service, name) for name in APPLICATION_COUNTS]
            latency = [application_metric(service, "CacheLatency", statistic=stat) for stat in ("p50", "p99")]
            widgets.append(graph(f"{service}: cache outcomes", counts, width=12))
            widgets.append(graph(f"{service}: cache latency (ms)", latency, width=12))
            self._alarm(
                f"{_pascal(service)}CacheErrors",
                application_metric(service, "CacheError"),
                threshold=self.config.application_cache_errors,
                comparison=ABOVE,
                description=f"{service}: cache calls failing (reads fall back to the database)",
            )
        self.monitoring.add_section("Application (caching library, EMF)", widgets)


def application_metric(service: str, metric_name: str, *, statistic: str = "Sum") -> cloudwatch.Metric:
    """A metric the caching library publishes as EMF (``CachingArchitecture``, dimension ``service``)."""
    return cloudwatch.Metric(
        namespace=APPLICATION_NAMESPACE,
        metric_name=metric_name,
        dimensions_map={"service": service},
        statistic=statistic,
        # A label would turn an alarm's metric into a metric-math query; only the latency graph needs one.
        label=f"{metric_name} {statistic}" if statistic != "Sum" else None,
    )


def _pascal(name: str) -> str:
    return "".join(part.title() for part in name.replace("_", "-").split("-"))


def _publishes_additional_metrics(distribution: cloudfront.Distribution) -> bool:
    """True when the distribution turned its additional metrics on itself (``publish_additional_metrics``)."""
    return distribution.node.try_find_child("MonitoringSubscription") is not None
