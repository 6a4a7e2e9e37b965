"""cdk-nag suppressions that keep their ``applies_to``.

``NagSuppressions.add_resource_suppressions`` takes jsii structs. A plain Python dict crosses to cdk-nag with
its keys unchanged, and cdk-nag reads ``appliesTo``: the ``applies_to`` of a dict is dropped without a word,
which turns "this one wildcard" into "every finding of the rule on this resource and its children".
Building ``NagPackSuppression`` / ``RegexAppliesTo`` structs converts the names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo

from constructs import IConstruct

Suppression = Mapping[str, Any] | NagPackSuppression


def nag_suppression(suppression: Suppression) -> NagPackSuppression:
    """A ``NagPackSuppression`` from ``{"id", "reason", "applies_to"}``, each ``{"regex": ...}`` a
    ``RegexAppliesTo``. Unknown keys are an error, so a misspelt one cannot widen a suppression."""
    if isinstance(suppression, NagPackSuppression):
        return suppression
    unknown = set(suppression) - {"id", "reason", "applies_to"}
    if unknown:
        raise ValueError(f"suppression {suppression.get('id')!r}: unknown keys {sorted(unknown)}")
    applies_to = suppression.get("applies_to")
    return NagPackSuppression(
        id=suppression["id"],
        reason=suppression["reason"],
        applies_to=None
        if applies_to is None
        else [
            RegexAppliesTo(regex=finding["regex"]) if isinstance(finding, Mapping) else finding
            for finding in applies_to
        ],
    )


def suppress_findings(
    construct: IConstruct, suppressions: Sequence[Suppression], *, apply_to_children: bool = False
) -> None:
    """``NagSuppressions.add_resource_suppressions`` on ``construct``, with every ``applies_to`` kept."""
    NagSuppressions.add_resource_suppressions(
        construct, [nag_suppression(item) for item in suppressions], apply_to_children=apply_to_children
    )
