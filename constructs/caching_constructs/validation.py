"""Early prop checks shared by the constructs: each error names the prop, shows the bad value and the rule."""

from __future__ import annotations

import re
from typing import Any

import aws_cdk as cdk

_WEEKLY_WINDOW = re.compile(
    r"(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d"
)
_DAILY_WINDOW = re.compile(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d")


def fail(prop: str, value: Any, expected: str) -> ValueError:
    return ValueError(f"{prop}: {value!r} is not allowed; expected {expected}")


def require_range(prop: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise fail(prop, value, f"an integer from {low} to {high}")
    return value


def require_match(prop: str, value: str, pattern: str, description: str) -> str:
    if cdk.Token.is_unresolved(value):
        return value
    if not isinstance(value, str) or re.fullmatch(pattern, value) is None:
        raise fail(prop, value, description)
    return value


def require_weekly_window(prop: str, value: str | None) -> str | None:
    if value is not None and not _WEEKLY_WINDOW.fullmatch(value):
        raise fail(prop, value, "a UTC window 'ddd:hh:mm-ddd:hh:mm' such as 'sun:05:00-sun:06:00'")
    return value


def require_daily_window(prop: str, value: str | None) -> str | None:
    if value is not None and not _DAILY_WINDOW.fullmatch(value):
        raise fail(prop, value, "a UTC window 'hh:mm-hh:mm' such as '03:00-04:00'")
    return value


def require_port(prop: str, value: int, *, well_known: int, service: str) -> int:
    """A port in the range every data service accepts, and not the service's well-known one (cdk-nag)."""
    require_range(prop, value, 1150, 65535)
    if value == well_known:
        raise fail(
            prop, value, f"a port other than {service}'s well-known {well_known} (scanners probe it first)"
        )
    return value


def without_snapshot(removal_policy: cdk.RemovalPolicy) -> cdk.RemovalPolicy:
    """For resources CloudFormation cannot snapshot: keep them instead (never silently delete data)."""
    return cdk.RemovalPolicy.RETAIN if removal_policy == cdk.RemovalPolicy.SNAPSHOT else removal_policy
