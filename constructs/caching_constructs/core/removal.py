"""What deleting a stack does to each resource, from the one removal policy an environment chooses.

An environment's config says ``destroy``, ``snapshot`` or ``retain`` once; each resource follows from what it
is to the data. Every construct and stack maps the policy through ``removal_for`` rather than its own
conditional, so the rules cannot drift apart.
"""

from __future__ import annotations

import enum

import aws_cdk as cdk

DESTROY = cdk.RemovalPolicy.DESTROY
SNAPSHOT = cdk.RemovalPolicy.SNAPSHOT
RETAIN = cdk.RemovalPolicy.RETAIN


class Role(enum.Enum):
    """What a resource is to the data, which decides its fate on stack deletion."""

    STORE = "store"
    """Holds data and can leave a final snapshot (RDS, ElastiCache replication groups)."""
    WITHOUT_SNAPSHOT = "without snapshot"
    """Holds data CloudFormation cannot snapshot, or what snapshots and kept stores need to be read (keys,
    secrets, log groups): kept unless everything is destroyed, never silently deleted."""
    COPY = "copy"
    """Holds only copies of data kept elsewhere (read replicas, DAX): deleted unless everything is kept."""


_RULES: dict[Role, dict[cdk.RemovalPolicy, cdk.RemovalPolicy]] = {
    Role.STORE: {DESTROY: DESTROY, SNAPSHOT: SNAPSHOT, RETAIN: RETAIN},
    Role.WITHOUT_SNAPSHOT: {DESTROY: DESTROY, SNAPSHOT: RETAIN, RETAIN: RETAIN},
    Role.COPY: {DESTROY: DESTROY, SNAPSHOT: DESTROY, RETAIN: RETAIN},
}

_SETTINGS = {"destroy": DESTROY, "snapshot": SNAPSHOT, "retain": RETAIN}
"""The config's ``removal_policy`` values."""


def removal_for(policy: cdk.RemovalPolicy, role: Role) -> cdk.RemovalPolicy:
    """The policy of a resource playing ``role`` when its store's policy is ``policy``. Any other policy
    (RETAIN_ON_UPDATE_OR_DELETE) counts as RETAIN: an unknown case keeps the data."""
    return _RULES[role].get(policy, RETAIN)


def removal_from_setting(setting: str, role: Role) -> cdk.RemovalPolicy:
    """The policy for the config value ``setting`` (``destroy``, ``snapshot`` or ``retain``)."""
    return removal_for(_SETTINGS[setting], role)


def is_disposable(policy: cdk.RemovalPolicy) -> bool:
    """Everything goes with the stack: automated backups too, and keys wait KMS's shortest window."""
    return policy == DESTROY
