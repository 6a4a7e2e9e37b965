"""``CacheUserGroup``: the RBAC user group of a Redis OSS / Valkey cache, with IAM-authenticated users.

ElastiCache requires a user named ``default`` in every group; here it is disabled (``off -@all``), so only
the IAM users added with :meth:`CacheUserGroup.add_iam_user` get in, each with its own access string
(``caching_constructs.elasticache.cache_access``). A user's credential is its caller's IAM role:
``grant_connect`` gives that role ``elasticache:Connect`` on the user and the cache, and nothing broader.
"""

from __future__ import annotations

import re

import aws_cdk as cdk
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_iam as iam

from caching_constructs.elasticache.cache_access import DISABLED_DEFAULT_USER
from constructs import Construct

# RBAC users and groups are engine "redis" for Redis OSS and Valkey caches alike (ElastiCache user guide).
USER_ENGINE = "redis"
_USER_ID = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


class CacheUser(Construct):
    """One IAM-authenticated RBAC user. ``user_id`` is also its name: IAM authentication requires both to be
    equal, and it is what the client sends with its token (``REDIS_USERNAME``)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, user_id: str, access_string: str, cache_arn: str
    ) -> None:
        super().__init__(scope, construct_id)
        if not _USER_ID.match(user_id):
            raise ValueError(f"user_id: {user_id!r}; expected 1-40 lowercase letters, digits or '-'")
        self.user_id = user_id
        self.access_string = access_string
        self._cache_arn = cache_arn
        self.resource = elasticache.CfnUser(
            self,
            "Resource",
            engine=USER_ENGINE,
            user_id=user_id,
            user_name=user_id,
            access_string=access_string,
            authentication_mode={"Type": "iam"},
        )
        self.node.default_child = self.resource
        self.user_arn: str = self.resource.attr_arn

    def grant_connect(self, grantee: iam.IGrantable) -> iam.Grant:
        """``elasticache:Connect`` on this user and its cache: the grantee's role signs in as this user."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["elasticache:Connect"], resource_arns=[self._cache_arn, self.user_arn]
        )


class CacheUserGroup(Construct):
    """The group a replication group (or serverless cache) names in ``UserGroupIds``.

    :param group_id: the group's id (unique in the account and region; lowercase).
    """

    def __init__(self, scope: Construct, construct_id: str, *, group_id: str) -> None:
        super().__init__(scope, construct_id)
        self.group_id = group_id
        self.users: list[CacheUser] = []
        self.default_user = elasticache.CfnUser(
            self,
            "DefaultUser",
            engine=USER_ENGINE,
            user_id=f"{group_id}-default",
            user_name="default",
            access_string=DISABLED_DEFAULT_USER,
            authentication_mode={"Type": "no-password-required"},
        )
        self.resource = elasticache.CfnUserGroup(
            self,
            "Resource",
            engine=USER_ENGINE,
            user_group_id=group_id,
            user_ids=[self.default_user.ref],
        )
        self.node.default_child = self.resource

    def add_iam_user(self, name: str, *, access_string: str, cache_arn: str) -> CacheUser:
        """A user for one caller, its id ``<group id>-<name in lowercase>``. ``cache_arn`` is the cache its
        grant names (it comes after the group: the cache itself names the group)."""
        user = CacheUser(
            self,
            name,
            user_id=f"{self.group_id}-{name.lower()}",
            access_string=access_string,
            cache_arn=cache_arn,
        )
        self.users.append(user)
        self.resource.user_ids = [self.default_user.ref, *(each.resource.ref for each in self.users)]
        return user


def group_id_for(scope: Construct) -> str:
    """A group id unique per stack and construct (``dev-data-cache``), valid as an ElastiCache id."""
    stack = cdk.Stack.of(scope)
    path = scope.node.path.removeprefix(stack.node.path).strip("/").replace("/", "-")
    return re.sub(r"[^a-z0-9-]", "-", f"{stack.stack_name}-{path}".lower())[:28].rstrip("-")
