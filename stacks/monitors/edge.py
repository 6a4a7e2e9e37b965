"""CloudFront on the operations dashboard, dashboard only.

CloudFront publishes its metrics in us-east-1 only (``cloudfront_metric``). Dashboards draw across regions,
so the CloudFront panels sit on the primary region's dashboard; alarms cannot (an alarm must live in its
metric's region), so CloudFront has none here. Its failures still page: a 5xx at the edge is almost always
the API's 5XXError (alarmed by ``monitor_api_stage``) or an S3 origin error, which the access logs show.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudwatch as cloudwatch

from caching_constructs.monitoring.facade import (
    CLOUDFRONT_METRICS_REGION,
    OperationsMonitoring,
    cloudfront_metric,
)
from config.schema import MonitoringConfig


def monitor_distribution(
    monitoring: OperationsMonitoring, distribution: cloudfront.Distribution, config: MonitoringConfig
) -> None:
    """The CloudFront section (5xx error rate, and the cache hit rate with ``cloudfront_additional_metrics``),
    turning the distribution's additional metrics on unless it already publishes them."""
    if config.cloudfront_additional_metrics and not _publishes_additional_metrics(distribution):
        # In the facade's stack, not under the facade: its construct path (so its logical id) stays the one
        # it had when the stack created it itself.
        cloudfront.CfnMonitoringSubscription(
            cdk.Stack.of(monitoring),
            "CloudFrontAdditionalMetrics",
            distribution_id=distribution.distribution_id,
            monitoring_subscription=cloudfront.CfnMonitoringSubscription.MonitoringSubscriptionProperty(
                realtime_metrics_subscription_config=cloudfront.CfnMonitoringSubscription.RealtimeMetricsSubscriptionConfigProperty(
                    realtime_metrics_subscription_status="Enabled"
                )
            ),
        )
    graph = monitoring.graph
    widgets = [
        graph(
            "CloudFront 5xx error rate (%)",
            [cloudfront_metric(distribution, "5xxErrorRate")],
            region=CLOUDFRONT_METRICS_REGION,
        )
    ]
    if config.cloudfront_additional_metrics:
        widgets.insert(
            0,
            graph(
                "CloudFront cache hit rate (%)",
                [cloudfront_metric(distribution, "CacheHitRate")],
                region=CLOUDFRONT_METRICS_REGION,
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
            ),
        )
    monitoring.add_section(
        "CloudFront (us-east-1)",
        widgets,
        note="Dashboard only: alarms must live in us-east-1 with the metrics.",
    )


def _publishes_additional_metrics(distribution: cloudfront.Distribution) -> bool:
    """True when the distribution turned its additional metrics on itself (``publish_additional_metrics``)."""
    return distribution.node.try_find_child("MonitoringSubscription") is not None
