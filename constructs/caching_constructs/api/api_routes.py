"""Routes of a ``CachedRestApi``: what each method caches, keys its cache on and requires.

A route declares its path parameters and query strings once; they become the method's request parameters,
its integration's ``CacheKeyParameters`` and the stage's method setting (``method_deployment_options``), so
the cache key and the cache switch can never drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_

from caching_constructs.core.rules import STAGE_CACHE_TTL_SECONDS
from caching_constructs.core.validation import require

READ_METHODS = frozenset({"GET"})
WRITE_METHODS = frozenset({"PUT", "POST", "PATCH", "DELETE"})

_PATH_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, kw_only=True)
class ApiRoute:
    """One method on one path, integrated with a Lambda function through proxy integration.

    :param method: HTTP method, e.g. ``GET``.
    :param path: resource path with ``{name}`` path parameters, e.g. ``/products/{id}``.
    :param handler: the function behind the route.
    :param cache_ttl: stage-cache TTL; None (default) means this method is never cached. GET only.
    :param query_parameters: optional query strings the response depends on (cache key when cached).
    :param body_schema: JSON schema (draft 4) for the request body; required for writes.
    :param iam_auth: require SigV4-signed requests. Default: True for writes, False for reads.
    """

    method: str
    path: str
    handler: lambda_.IFunction
    cache_ttl: cdk.Duration | None = None
    query_parameters: tuple[str, ...] = ()
    body_schema: Mapping[str, Any] | None = None
    iam_auth: bool | None = None

    @property
    def path_parameters(self) -> tuple[str, ...]:
        return tuple(_PATH_PARAMETER.findall(self.path))

    @property
    def cache_key_parameters(self) -> list[str]:
        """Exactly the request parameters the response depends on."""
        return [f"method.request.path.{name}" for name in self.path_parameters] + [
            f"method.request.querystring.{name}" for name in self.query_parameters
        ]

    @property
    def requires_iam(self) -> bool:
        return self.method in WRITE_METHODS if self.iam_auth is None else self.iam_auth

    @property
    def settings_path(self) -> str:
        """The key ``StageOptions.method_options`` takes: ``/products/{id}/GET``."""
        return f"{self.path.rstrip('/')}/{self.method}"

    @property
    def arn_path(self) -> str:
        """The path as an execute-api ARN names every request of the route: ``/products/*``."""
        return _PATH_PARAMETER.sub("*", self.path)

    @property
    def patch_path(self) -> str:
        """The method's path in an UpdateStage patch operation: ``/~1products~1{id}/GET``."""
        return "/" + self.path.replace("/", "~1") + "/" + self.method

    def validate(self) -> None:
        where = f"{self.method} {self.path}"
        if self.method not in READ_METHODS | WRITE_METHODS:
            raise ValueError(f"{where}: method must be one of {sorted(READ_METHODS | WRITE_METHODS)}")
        if not self.path.startswith("/"):
            raise ValueError(f"{where}: path must start with '/'")
        if self.cache_ttl is not None and self.method not in READ_METHODS:
            raise ValueError(
                f"{where}: only GET methods may be cached; writes must always reach the function"
            )
        if self.cache_ttl is not None:
            ttl = int(self.cache_ttl.to_seconds())
            require(f"{where}: cache_ttl (seconds)", ttl, STAGE_CACHE_TTL_SECONDS)
        if self.method in WRITE_METHODS and not self.requires_iam:
            raise ValueError(f"{where}: writes must use IAM authorization")
        if self.method in {"PUT", "POST", "PATCH"} and self.body_schema is None:
            raise ValueError(f"{where}: writes need a body_schema so bad bodies are rejected before Lambda")


def method_deployment_options(route: ApiRoute) -> apigw.MethodDeploymentOptions:
    """The stage's method setting for ``route``: caching on with its TTL (encrypted), or off."""
    if route.cache_ttl is None:
        return apigw.MethodDeploymentOptions(caching_enabled=False)
    return apigw.MethodDeploymentOptions(
        caching_enabled=True, cache_ttl=route.cache_ttl, cache_data_encrypted=True
    )


def model_id(route: ApiRoute) -> str:
    """The construct id of the body model of ``route``: ``PutProductsByIdBody``."""
    words = re.findall(r"[A-Za-z0-9]+", f"{route.method} {route.path.replace('{', ' by ')}")
    return "".join(word[:1].upper() + word[1:].lower() for word in words) + "Body"
