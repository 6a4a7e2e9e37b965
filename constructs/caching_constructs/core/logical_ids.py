"""Moving deployed resources into a new construct without CloudFormation replacing them.

A resource's logical id is derived from its construct path, so giving an existing resource a new parent
construct makes CloudFormation create a new resource and delete the old one. For some resources that is
harmless, for others it is not: a queue drops the messages it holds, a queue policy's deletion strips the
policy the new one just set, and a custom resource refuses a new ``ServiceToken``. ``keep_logical_ids`` gives
a moved subtree the logical ids it had at its old path.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import cast

import aws_cdk as cdk

from constructs import IConstruct

# The CDK's own rules (aws-cdk-lib core/lib/private/uniqueid.ts); every deployed stack's logical ids depend
# on them, so they do not change. tests/infra/test_logical_ids.py checks them against the CDK.
_HIDDEN_ID = "Default"
_HIDDEN_FROM_HUMAN_ID = "Resource"
_HASH_LEN = 8
_MAX_HUMAN_LEN = 240
_MAX_ID_LEN = 255


def logical_id_for_path(components: Sequence[str]) -> str:
    """The logical id the CDK allocates to a resource at ``components`` (construct ids below its stack)."""
    components = [component for component in components if component != _HIDDEN_ID]
    if not components:
        raise ValueError("a logical id needs at least one construct id besides 'Default'")
    if len(components) == 1 and len(_alphanumeric(components[0])) <= _MAX_ID_LEN:
        return _alphanumeric(components[0])
    digest = hashlib.md5("/".join(components).encode(), usedforsecurity=False).hexdigest()
    shown = [component for component in _without_dupes(components) if component != _HIDDEN_FROM_HUMAN_ID]
    human = "".join(_alphanumeric(component) for component in shown)
    return human[:_MAX_HUMAN_LEN] + digest[:_HASH_LEN].upper()


def keep_logical_ids(construct: IConstruct, *, old_path: Sequence[str]) -> None:
    """Give every CloudFormation element under ``construct`` the logical id it had when ``construct`` sat at
    ``old_path`` (construct ids from its stack down). Call it before anything resolves those ids."""
    stack = cdk.Stack.of(construct)
    depth = len(construct.node.scopes)
    for node in construct.node.find_all():
        if cdk.CfnElement.is_cfn_element(node) and cdk.Stack.of(node) is stack:
            below = [scope.node.id for scope in node.node.scopes[depth:]]
            cast(cdk.CfnElement, node).override_logical_id(logical_id_for_path([*old_path, *below]))


def _alphanumeric(component: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", component)


def _without_dupes(components: Sequence[str]) -> list[str]:
    """The CDK drops a component that the one before it already ends with (``FunctionFunction``)."""
    kept: list[str] = []
    for component in components:
        if not kept or not kept[-1].endswith(component):
            kept.append(component)
    return kept
