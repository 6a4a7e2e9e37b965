"""Dead-letter queues: work that failed every retry waits there, and nothing else tells anyone.

An edge refresh that keeps failing leaves the stage cache and CloudFront to their TTLs; a failed warmer run
leaves the hot set cold; a refill that keeps failing leaves a secondary region missing. Each is harmless once
and a fault when it repeats, so each queue alarms on its first waiting message by default.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import aws_sqs as sqs

from caching_constructs.monitoring.facade import AT_OR_ABOVE, OperationsMonitoring, Severity
from config.schema import MonitoringConfig


def monitor_dead_letter_queues(
    monitoring: OperationsMonitoring, queues: Mapping[str, sqs.IQueue], config: MonitoringConfig
) -> None:
    """One graph and one alarm per dead-letter queue, keyed by what fails into it (``EdgeRefresh``)."""
    waiting = {
        name: queue.metric_approximate_number_of_messages_visible(statistic="Maximum")
        for name, queue in queues.items()
    }
    monitoring.add_section(
        "Dead-letter queues",
        [monitoring.graph("Messages that failed every retry", list(waiting.values()), width=24)],
    )
    for name, metric in waiting.items():
        monitoring.add_alarm(
            f"{name}DeadLetters",
            metric,
            threshold=config.dead_letter_messages,
            comparison=AT_OR_ABOVE,
            severity=Severity.WARNING,
            # SQS stops publishing for a queue left empty and untouched for six hours, and keeps publishing
            # while one holds messages: missing data is an empty queue (the facade's default).
            description=f"{name}: messages failed every retry and wait in its dead-letter queue",
        )
