"""The catalogue's REST API of one region, as both the primary's ``Api`` stack and a Global Datastore
secondary's build it from the same ``api`` and ``security`` settings."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_kms as kms

from caching_constructs.api.api_routes import ApiRoute
from caching_constructs.api.cached_rest_api import CachedRestApi
from caching_constructs.api.web_acl import ManagedRulesWebAcl
from config.schema import ApiConfig, SecurityConfig
from stacks.cdk_values import log_retention


def regional_rest_api(
    stack: cdk.Stack,
    *,
    api: ApiConfig,
    security: SecurityConfig,
    routes: Sequence[ApiRoute],
    description: str,
    log_retention_days: int,
    removal_policy: cdk.RemovalPolicy,
    log_encryption_key: kms.IKey | None,
    web_acl_arn: str | None = None,
) -> tuple[CachedRestApi, ManagedRulesWebAcl | None]:
    """The REST API (``Api``) and, unless ``web_acl_arn`` names one, its own regional web ACL (``WebAcl``):
    the regional endpoint is reachable directly, bypassing CloudFront and its web ACL."""
    web_acl = None
    if web_acl_arn is None and security.web_acls:
        web_acl = ManagedRulesWebAcl(
            stack,
            "WebAcl",
            scope_name="REGIONAL",
            rate_limit=security.waf_rate_limit,
            metric_prefix=f"{stack.stack_name}-api",
        )
        web_acl_arn = web_acl.web_acl_arn
    rest_api = CachedRestApi(
        stack,
        "Api",
        # The ApiName metric dimension: one per stack, so the environments' and regions' alarms never mix.
        rest_api_name=f"{stack.stack_name}-products",
        description=description,
        cache_cluster_size=api.cache_cluster_size,
        throttle_rate_limit=api.throttle_rate_limit,
        throttle_burst_limit=api.throttle_burst_limit,
        web_acl_arn=web_acl_arn,
        access_log_retention=log_retention(log_retention_days),
        log_removal_policy=removal_policy,
        log_encryption_key=log_encryption_key,
        routes=list(routes),
    )
    return rest_api, web_acl
