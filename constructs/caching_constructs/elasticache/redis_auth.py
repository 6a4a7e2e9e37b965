"""How clients of a ``RedisReplicationGroup`` authenticate: RBAC users with IAM (the default) or one AUTH
token in Secrets Manager, and the exemption each choice needs from the rule that only sees the other."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager

from caching_constructs.core.nag import exempt_control, suppress_findings
from caching_constructs.core.removal import Role, removal_for
from caching_constructs.core.rules import IntRange
from caching_constructs.core.validation import fail, require
from caching_constructs.elasticache.cache_access import CACHE_AUTH, IAM
from caching_constructs.elasticache.cache_users import CacheUserGroup
from caching_constructs.elasticache.engine_families import CacheEngine, supports_iam_auth
from constructs import Construct

# Redis AUTH tokens are 16-128 printable ASCII characters without space, '"', '/' or '@'.
REDIS_AUTH_FORBIDDEN_CHARACTERS = " \"/@'\\`"
# Generated, never typed: longer than Redis's 16-character minimum; Redis's own maximum is 128.
AUTH_TOKEN_LENGTH = IntRange(32, 128)


def require_engine_and_auth(engine: CacheEngine, engine_version: str, auth: str) -> None:
    """The engine replicates, and IAM authentication is only asked of versions that have it."""
    if not engine.replicates:
        raise fail("engine", engine.value, "'redis' or 'valkey' (use MemcachedCluster for memcached)")
    require("auth", auth, CACHE_AUTH)
    if auth == IAM and not supports_iam_auth(engine, engine_version):
        raise fail("auth", auth, f"'token' with {engine.value} {engine_version} (IAM needs 7 or later)")


def auth_token_secret(
    scope: Construct,
    description: str,
    kms_key: kms.IKey | None,
    length: int,
    removal_policy: cdk.RemovalPolicy,
) -> secretsmanager.ISecret:
    """A generated AUTH token (``auth="token"``), kept unless everything is destroyed."""
    secret = secretsmanager.Secret(
        scope,
        "AuthToken",
        description=f"{description}: AUTH token",
        encryption_key=kms_key,
        generate_secret_string=secretsmanager.SecretStringGenerator(
            password_length=length,
            exclude_characters=REDIS_AUTH_FORBIDDEN_CHARACTERS,
            include_space=False,
        ),
        removal_policy=removal_for(removal_policy, Role.WITHOUT_SNAPSHOT),
    )
    suppress_findings(
        secret,
        [
            {
                "id": "AwsSolutions-SMG4",
                "reason": "ElastiCache has no managed rotation for AUTH tokens: rotating means a new "
                "secret version plus ModifyReplicationGroup with AuthTokenUpdateStrategy ROTATE/SET, "
                "which clients must follow (README: Rotating the Redis AUTH token).",
            }
        ],
    )
    return secret


def exempt_auth_choice(
    replication_group: elasticache.CfnReplicationGroup, engine: CacheEngine, user_group: CacheUserGroup | None
) -> None:
    """The rules see only one of the two ways to authenticate; exempt the one not chosen."""
    if user_group is not None:
        suppress_findings(
            replication_group,
            [
                {
                    "id": "AwsSolutions-AEC6",
                    "reason": "Clients authenticate as RBAC users with IAM authentication (UserGroupIds, "
                    "default user disabled), which replaces the AUTH token; the rule only looks for "
                    "AuthToken. CT.ELASTICACHE.PR.8 (RBAC) holds.",
                }
            ],
        )
    if engine == CacheEngine.REDIS and user_group is None:  # the control checks Redis OSS only
        exempt_control(
            replication_group,
            "CT.ELASTICACHE.PR.8",
            "Chosen by config (cache.auth: token): clients authenticate with the AUTH token "
            "(CT.ELASTICACHE.PR.7 holds: TLS plus a generated token in Secrets Manager) instead of RBAC "
            "users with IAM authentication, the default.",
        )
