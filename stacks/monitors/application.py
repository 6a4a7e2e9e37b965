"""The caching library's own metrics (EMF, namespace ``CachingArchitecture``, dimensions ``service`` and
``environment``) on the operations dashboard, and the alarm on its cache errors, one set per service.

Every metric selects this environment's series: environments that share an account and region publish into
the same namespace, and an alarm matching ``service`` alone would fire on another environment's errors."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_cloudwatch as cloudwatch

from caching_constructs.monitoring.facade import ABOVE, OperationsMonitoring
from caching_contract import metrics
from caching_contract.services import Service
from config.schema import MonitoringConfig


def application_metric(
    service: Service, metric_name: str, *, environment: str, statistic: str = "Sum"
) -> cloudwatch.Metric:
    """A metric the caching library publishes as EMF (``CachingArchitecture``, dimensions ``service`` and
    ``environment``)."""
    return cloudwatch.Metric(
        namespace=metrics.NAMESPACE,
        metric_name=metric_name,
        dimensions_map={metrics.SERVICE_DIMENSION: service.name, metrics.ENVIRONMENT_DIMENSION: environment},
        statistic=statistic,
        # A label would turn an alarm's metric into a metric-math query; only the latency graph needs one.
        label=f"{metric_name} {statistic}" if statistic != "Sum" else None,
    )


def monitor_application(
    monitoring: OperationsMonitoring,
    services: Sequence[Service],
    config: MonitoringConfig,
    *,
    environment: str,
) -> None:
    """Outcome and latency panels per service, and a critical alarm on its cache errors.

    :param environment: the ``environment`` dimension value (the stage's environment name).
    """
    graph = monitoring.graph
    widgets = []
    for service in services:
        counts = [
            application_metric(service, name, environment=environment) for name in metrics.COUNT_METRICS
        ]
        latency = [
            application_metric(service, metrics.CACHE_LATENCY, environment=environment, statistic=stat)
            for stat in ("p50", "p99")
        ]
        widgets.append(graph(f"{service.name}: cache outcomes", counts, width=12))
        widgets.append(graph(f"{service.name}: cache latency (ms)", latency, width=12))
        monitoring.add_alarm(
            f"{service.id}CacheErrors",
            application_metric(service, metrics.CACHE_ERROR, environment=environment),
            threshold=config.application_cache_errors,
            comparison=ABOVE,
            description=f"{service.name}: cache calls failing (reads fall back to the database)",
        )
    monitoring.add_section("Application (caching library, EMF)", widgets)
