"""The caching library's own metrics (EMF, namespace ``CachingArchitecture``, dimensions ``service`` and
``environment``) on the operations dashboard, and the alarm on its cache errors, one set per service.

Every metric selects this environment's series: environments that share an account and region publish into
the same namespace, and an alarm matching ``service`` alone would fire on another environment's errors."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aws_cdk import aws_cloudwatch as cloudwatch

from caching_constructs.monitoring.facade import ABOVE, OperationsMonitoring

# The caching library's EMF contract, restated here because lambda/ is an asset folder the CDK app does not
# import; tests/infra/test_monitoring_dashboard.py holds these equal to lambda/cachelib/metrics.py.
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
APPLICATION_LATENCY = "CacheLatency"
APPLICATION_ERRORS = "CacheError"
ENVIRONMENT_DIMENSION = "environment"
"""The library's ``cachelib.metrics.ENVIRONMENT_DIMENSION``."""
ENVIRONMENT_VARIABLE = "APP_ENVIRONMENT"
"""The library's ``cachelib.metrics.ENVIRONMENT_VARIABLE``: the Api stack sets it on every function."""


def application_metric(
    service: str, metric_name: str, *, environment: str, statistic: str = "Sum"
) -> cloudwatch.Metric:
    """A metric the caching library publishes as EMF (``CachingArchitecture``, dimensions ``service`` and
    ``environment``)."""
    return cloudwatch.Metric(
        namespace=APPLICATION_NAMESPACE,
        metric_name=metric_name,
        dimensions_map={"service": service, ENVIRONMENT_DIMENSION: environment},
        statistic=statistic,
        # A label would turn an alarm's metric into a metric-math query; only the latency graph needs one.
        label=f"{metric_name} {statistic}" if statistic != "Sum" else None,
    )


def monitor_application(
    monitoring: OperationsMonitoring,
    services: Sequence[str],
    *,
    environment: str,
    cache_errors_threshold: float,
    alarm: Callable[..., None],
) -> None:
    """Outcome and latency panels per service, and a critical alarm on its cache errors.

    :param environment: the ``environment`` dimension value (the stage's environment name).
    :param alarm: adds an alarm with the stack's evaluation periods (``MonitoringStack._alarm``).
    """
    graph = monitoring.graph
    widgets = []
    for service in services:
        counts = [application_metric(service, name, environment=environment) for name in APPLICATION_COUNTS]
        latency = [
            application_metric(service, APPLICATION_LATENCY, environment=environment, statistic=stat)
            for stat in ("p50", "p99")
        ]
        widgets.append(graph(f"{service}: cache outcomes", counts, width=12))
        widgets.append(graph(f"{service}: cache latency (ms)", latency, width=12))
        alarm(
            f"{pascal_case(service)}CacheErrors",
            application_metric(service, APPLICATION_ERRORS, environment=environment),
            threshold=cache_errors_threshold,
            comparison=ABOVE,
            description=f"{service}: cache calls failing (reads fall back to the database)",
        )
    monitoring.add_section("Application (caching library, EMF)", widgets)


def pascal_case(name: str) -> str:
    """``product-api`` -> ``ProductApi``: a service name as part of an alarm id."""
    return "".join(part.title() for part in name.replace("_", "-").split("-"))
