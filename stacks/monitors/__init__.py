"""What the Monitoring stacks watch, one function per subject, all of one shape:

    def monitor_<subject>(
        monitoring: OperationsMonitoring, <subject>, config: MonitoringConfig, *, <extras>
    ) -> None

Each adds its subject's dashboard section and its alarms to ``monitoring`` (the facade,
``caching_constructs.monitoring.facade``), with thresholds from ``config``. ``<extras>`` are keyword-only and
only what the subject itself cannot tell (e.g. the ``environment`` dimension of the library's metrics).
Alarms go straight to ``monitoring.add_alarm``: the facade holds the period and the evaluation periods, so
no monitor takes an alarm callback and none wraps ``add_alarm``. A stack composes them: it creates the
facade (``stacks.alarm_notifications.operations_monitoring``), calls the monitors in the order its dashboard
shows them, then adds the alarm status widget. ``tests/infra/test_monitors.py`` holds every monitor to this.
"""
