"""Turns plain config values into the CDK types the constructs take (constructs never see the config)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs

from caching_constructs.core.removal import Role, removal_from_setting

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def log_retention(days: int) -> logs.RetentionDays:
    """The ``RetentionDays`` for a validated number of days (the config only admits these values)."""
    return _RETENTION[days]


def removal_policy(policy: str, *, supports_snapshot: bool) -> RemovalPolicy:
    """``snapshot`` applies to resources that can take one; everything else stateful is retained instead
    (the rules: ``caching_constructs.core.removal``)."""
    return removal_from_setting(policy, Role.STORE if supports_snapshot else Role.WITHOUT_SNAPSHOT)
