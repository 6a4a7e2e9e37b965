"""Early prop checks shared by the constructs: each error names the prop, shows the bad value and the rule.

The rules themselves live in ``caching_constructs.core.rules`` (standard library only), where the project's
config checks its settings with the same objects; this module adds what only a construct needs: tokens.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk

from caching_constructs.core.rules import InvalidValue, Problem, Rule, check


def fail(prop: str, value: Any, expected: str) -> InvalidValue:
    return InvalidValue(prop, value, expected)


def require(prop: str, value: Any, rule: Rule, *, optional: bool = False) -> Any:
    """``value`` when ``rule`` allows it (or when it is a token, known only at deploy time); otherwise raise
    ``InvalidValue``. ``optional`` also lets None through, for props whose None means "AWS chooses"."""
    if (optional and value is None) or (isinstance(value, str) and cdk.Token.is_unresolved(value)):
        return value
    return check(prop, value, rule)


def require_none(problem: Problem | None) -> None:
    """Raise the problem a rule over several props found, if any."""
    if problem is not None:
        raise InvalidValue(problem.key, problem.value, problem.expected)
