"""One shape for "monitor X" (``stacks/monitors``): ``monitor_<subject>(monitoring, <subject>, config, *,
<extras>) -> None``, alarms straight on the facade (no ``alarm=`` callbacks, no ``_alarm`` wrappers), the
Monitoring stacks only composing monitors, and every alarm taking the facade's evaluation periods from config.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
from collections.abc import Callable

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

import stacks.monitors
from caching_constructs.monitoring.facade import ABOVE, OperationsMonitoring
from config import load_environment
from config.schema import MonitoringConfig
from stacks.monitoring_stack import MonitoringStack
from stacks.secondary_monitoring_stack import SecondaryMonitoringStack
from stacks.stage import CachingStage
from tests.infra.conftest import ROOT, new_app, stack_label
from tests.infra.templates import resources_of_type


def _monitors() -> list[Callable[..., None]]:
    """Every public ``monitor_*`` function defined in a module of ``stacks.monitors``."""
    found = []
    for info in pkgutil.iter_modules(stacks.monitors.__path__, f"{stacks.monitors.__name__}."):
        module = importlib.import_module(info.name)
        found.extend(
            function
            for name, function in inspect.getmembers(module, inspect.isfunction)
            if name.startswith("monitor_") and function.__module__ == module.__name__
        )
    return found


def _shape_violations(function: Callable[..., object]) -> list[str]:
    """How ``function`` departs from ``monitor_<subject>(monitoring, <subject>, config, *, ...) -> None``."""
    signature = inspect.signature(function, eval_str=True)
    params = list(signature.parameters.values())
    positional = [p for p in params if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    problems = []
    if [p.name for p in positional[:1]] != ["monitoring"] or positional[
        0
    ].annotation is not OperationsMonitoring:
        problems.append("the first parameter is not `monitoring: OperationsMonitoring`")
    if len(positional) != 3 or positional[1].name in ("monitoring", "config"):
        problems.append("not exactly (monitoring, <subject>, config) before the keyword-only extras")
    if not any(p.name == "config" and p.annotation is MonitoringConfig for p in positional[2:3]):
        problems.append("the third parameter is not `config: MonitoringConfig`")
    if any(p.name == "alarm" for p in params):
        problems.append("it takes an `alarm` callback")
    if signature.return_annotation is not None:
        problems.append("it returns something")
    return problems


def _callback_violations(source: str) -> list[str]:
    """Functions or methods named ``_alarm``, and parameters named ``alarm``, in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name == "_alarm":
                found.append(f"def _alarm (line {node.lineno})")
            arguments = node.args
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            found.extend(f"{node.name}(alarm=...)" for argument in every if argument.arg == "alarm")
    return found


def test_every_monitor_takes_the_facade_its_subject_and_the_config_and_returns_nothing():
    monitors = _monitors()
    assert len(monitors) >= 9, [function.__name__ for function in monitors]
    problems = {function.__qualname__: _shape_violations(function) for function in monitors}
    assert {name: found for name, found in problems.items() if found} == {}


def test_the_shape_check_catches_a_monitor_with_an_alarm_callback_and_its_arguments_out_of_order():
    def monitor_thing(
        config: MonitoringConfig, monitoring: OperationsMonitoring, thing: object, *, alarm: object
    ) -> None: ...

    assert len(_shape_violations(monitor_thing)) == 4


def test_no_module_under_stacks_wraps_the_facades_alarms_or_takes_an_alarm_callback():
    sources = sorted((ROOT / "stacks").rglob("*.py"))
    assert ROOT / "stacks" / "monitors" / "cache.py" in sources
    found = {
        str(path.relative_to(ROOT)): problems
        for path in sources
        if (problems := _callback_violations(path.read_text()))
    }
    assert found == {}
    assert _callback_violations("class S:\n    def _alarm(self, alarm): ...\n") == [
        "def _alarm (line 2)",
        "_alarm(alarm=...)",
    ]


@pytest.mark.parametrize("stack", [MonitoringStack, SecondaryMonitoringStack])
def test_the_monitoring_stacks_only_compose_monitors(stack):
    defined = {
        name for name, member in vars(stack).items() if callable(member) or isinstance(member, property)
    }
    assert defined == {"__init__", "dashboard"}


def test_an_alarm_takes_the_facades_evaluation_periods_unless_given_its_own():
    stack = cdk.Stack()
    monitoring = OperationsMonitoring(
        stack,
        "Monitoring",
        alarm_topic=sns.Topic(stack, "Topic"),
        period=cdk.Duration.minutes(5),
        evaluation_periods=4,
    )
    metric = cloudwatch.Metric(namespace="AWS/ElastiCache", metric_name="Evictions")
    monitoring.add_alarm("Default", metric, threshold=1, comparison=ABOVE, description="x")
    monitoring.add_alarm("Own", metric, threshold=1, comparison=ABOVE, description="x", evaluation_periods=2)
    alarms = resources_of_type(Template.from_stack(stack).to_json(), "AWS::CloudWatch::Alarm").values()
    periods = sorted(
        (a["Properties"]["EvaluationPeriods"], a["Properties"]["DatapointsToAlarm"]) for a in alarms
    )
    assert periods == [(2, 2), (4, 4)]


def test_every_alarm_of_every_stack_uses_the_configured_evaluation_periods(tmp_path):
    # prod: the primary's Monitoring stack and a secondary region's; 5 is neither the schema's nor the
    # facade's default, so an alarm that ignores the config shows.
    base = load_environment("prod")
    config = dataclasses.replace(base, monitoring=dataclasses.replace(base.monitoring, evaluation_periods=5))
    stage = CachingStage(new_app(tmp_path), "prod", config=config)
    periods: dict[str, set[tuple[int, int]]] = {}
    for stack in (node for node in stage.node.find_all() if isinstance(node, cdk.Stack)):
        for alarm in resources_of_type(
            Template.from_stack(stack).to_json(), "AWS::CloudWatch::Alarm"
        ).values():
            properties = alarm["Properties"]
            pair = (properties["EvaluationPeriods"], properties["DatapointsToAlarm"])
            periods.setdefault(stack_label(stack), set()).add(pair)
    assert periods == {"Monitoring": {(5, 5)}, "UsWest2-Monitoring": {(5, 5)}}
