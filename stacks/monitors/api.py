"""The API tier on the operations dashboard: the API Gateway stage (its cache, 5XX errors, p99 latency) and
every Lambda function (errors, throttles, p99 duration against its own timeout)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch

from caching_constructs.monitoring.facade import ABOVE, AT_OR_ABOVE, OperationsMonitoring, Severity
from config.schema import MonitoringConfig

_DEFAULT_TIMEOUT_MS = 3000
"""Lambda's timeout when a function sets none."""


class MonitoredFunction(Protocol):
    """What a function's monitor reads: a ``PythonFunction`` or any ``lambda.Function``."""

    @property
    def timeout(self) -> cdk.Duration | None: ...

    def metric_errors(self, **props: Any) -> cloudwatch.Metric: ...

    def metric_throttles(self, **props: Any) -> cloudwatch.Metric: ...

    def metric_duration(self, **props: Any) -> cloudwatch.Metric: ...


def monitor_api_stage(monitoring: OperationsMonitoring, stage: apigw.Stage, config: MonitoringConfig) -> None:
    """The API Gateway section (stage cache hits and misses, 5XX errors, p99 latency) and its alarms."""
    graph = monitoring.graph
    p99 = stage.metric_latency(statistic="p99")
    monitoring.add_section(
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
    monitoring.add_alarm(
        "Api5xxErrors",
        stage.metric_server_error(),
        threshold=config.api_5xx_errors,
        comparison=ABOVE,
        description="API returning 5XX errors",
    )
    monitoring.add_alarm(
        "ApiLatencyP99High",
        p99,
        threshold=config.api_p99_latency_ms,
        comparison=ABOVE,
        description=f"API p99 latency above {config.api_p99_latency_ms:g} ms",
    )


def monitor_functions(
    monitoring: OperationsMonitoring, functions: Mapping[str, MonitoredFunction], config: MonitoringConfig
) -> None:
    """The Lambda section, two graphs per function, and each function's errors, throttles and p99 duration
    alarms; ``functions`` by display name, which names their graphs and alarms."""
    graph = monitoring.graph
    widgets = []
    for name, function in functions.items():
        duration = function.metric_duration(statistic="p99")
        widgets.append(
            graph(f"{name}: errors / throttles", [function.metric_errors(), function.metric_throttles()])
        )
        widgets.append(graph(f"{name}: duration p99 (ms)", [duration]))
        monitoring.add_alarm(
            f"{name}Errors",
            function.metric_errors(),
            threshold=config.function_errors,
            comparison=AT_OR_ABOVE,
            description=f"{name} invocations failing",
        )
        monitoring.add_alarm(
            f"{name}Throttles",
            function.metric_throttles(),
            threshold=config.function_throttles,
            comparison=AT_OR_ABOVE,
            description=f"{name} throttled: reserved or account concurrency exhausted",
        )
        timeout_ms = function.timeout.to_milliseconds() if function.timeout else _DEFAULT_TIMEOUT_MS
        monitoring.add_alarm(
            f"{name}DurationP99High",
            duration,
            threshold=timeout_ms * config.function_duration_percent_of_timeout / 100,
            comparison=ABOVE,
            severity=Severity.WARNING,
            description=f"{name} p99 duration near its timeout",
        )
    monitoring.add_section("Lambda", widgets)
