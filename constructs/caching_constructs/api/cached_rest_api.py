"""A regional REST API whose stage cache keys exactly on the parameters each response depends on.

Routes are declared up front (``ApiRoute``) because the stage's per-method settings (cache on/off, TTL)
and each method's cache key are two halves of one decision and must never drift apart:

* a cached GET route declares its path parameters and query strings; they become required/optional
  method request parameters, the integration's ``CacheKeyParameters`` and, on the stage, a method setting
  with ``CachingEnabled`` and the route's TTL;
* every other method gets a stage setting with caching off, so a write is never served from the cache;
* writes (PUT/POST) must use IAM authorization and carry a JSON-schema body model; request validation is on.

IAM (SigV4) rather than an API key guards writes: an API key identifies a caller but is a shared bearer
secret and not authorization, whereas IAM gives each writer its own role, a CloudTrail identity and no
secret to rotate, and the same IAM permission (``execute-api:InvalidateCache``) decides who may send
``Cache-Control: max-age=0`` to refresh a cached entry.

CloudFormation's ``MethodSetting`` has no field for per-key cache invalidation: API Gateway defaults to
"require authorization" with ``SUCCEED_WITH_RESPONSE_HEADER``, which answers an unauthorized invalidation
from the cache with only a warning header. An SDK call (``UpdateStage``) after each stage change sets
``FAIL_WITH_403`` on every cached method, so unauthorized callers get a 403 and learn the rule.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from aws_cdk import custom_resources as cr

from caching_constructs.api.api_routes import (  # noqa: F401  (re-exported: part of this module's API)
    READ_METHODS,
    WRITE_METHODS,
    ApiRoute,
    method_deployment_options,
    model_id,
)
from caching_constructs.api.json_schema import json_schema
from caching_constructs.core.nag import exempt_control, nag_form, suppress_findings
from constructs import Construct

UNAUTHORIZED_CACHE_CONTROL = "FAIL_WITH_403"

# One JSON line per request; integrationLatency vs responseLatency shows a stage-cache hit (no integration).
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "caller": "$context.identity.caller",
    "userArn": "$context.identity.userArn",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "errorMessage": "$context.error.message",
    "xrayTraceId": "$context.xrayTraceId",
}


class CachedRestApi(Construct):
    """A regional REST API with an encrypted stage cache, request validation, throttling, JSON access logs
    and X-Ray tracing. CloudFront (a separate stack) sits in front of it, but the regional endpoint stays
    reachable directly: only ``web_acl_arn`` puts a web ACL on that path.

    :param routes: every route of the API (see ``ApiRoute``).
    :param cache_cluster_size: stage cache size in GB, e.g. ``"0.5"``.
    :param throttle_rate_limit: steady-state requests per second for the stage.
    :param throttle_burst_limit: burst bucket size for the stage.
    :param stage_name: default ``api``.
    :param rest_api_name: the API's name, which is also the ``ApiName`` dimension of every AWS/ApiGateway
        metric. Default: a name unique to this construct's path (stage, stack and id), so two deployments
        in one account and region never publish into, and alarm on, each other's metrics.
    :param access_log_retention: default one month.
    :param log_removal_policy: default DESTROY.
    :param log_encryption_key: KMS key of the API's log groups (CloudWatch Logs must be allowed to use it).
        Default: none.
    :param web_acl_arn: a regional WAFv2 web ACL to attach to the stage. Default: none (the regional
        endpoint then has no ACL; an ACL on a CloudFront distribution in front does not cover it).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        routes: Sequence[ApiRoute],
        cache_cluster_size: str,
        throttle_rate_limit: int,
        throttle_burst_limit: int,
        description: str,
        stage_name: str = "api",
        rest_api_name: str | None = None,
        access_log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        log_removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
        log_encryption_key: kms.IKey | None = None,
        web_acl_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.web_acl_arn = web_acl_arn
        self._log_encryption_key = log_encryption_key
        rest_api_name = rest_api_name or cdk.Names.unique_resource_name(self, max_length=128, separator="-")
        seen = set()
        for route in routes:
            route.validate()
            if route.settings_path in seen:
                raise ValueError(f"{route.method} {route.path}: declared twice")
            seen.add(route.settings_path)
        self.routes = tuple(routes)
        self.access_log_group = logs.LogGroup(
            self,
            "AccessLogs",
            retention=access_log_retention,
            removal_policy=log_removal_policy,
            encryption_key=log_encryption_key,
        )
        self.api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=rest_api_name,
            description=description,
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Execution logs (cdk-nag APIG6) need the account-level CloudWatch role; the CDK manages it.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=cdk.RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=stage_name,
                cache_cluster_enabled=True,
                cache_cluster_size=cache_cluster_size,
                # Stage-wide defaults ("*/*"): no caching unless a method turns it on, encrypted when it does.
                caching_enabled=False,
                cache_data_encrypted=True,
                throttling_rate_limit=throttle_rate_limit,
                throttling_burst_limit=throttle_burst_limit,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # full request/response bodies in logs would leak data
                metrics_enabled=True,
                tracing_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(self.access_log_group),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
                method_options={route.settings_path: method_deployment_options(route) for route in routes},
            ),
        )
        # The stack publishes its own, stably named URL output; drop the RestApi's generated duplicate.
        self.api.node.try_remove_child("Endpoint")
        self.parameters_validator = self.api.add_request_validator(
            "ParametersValidator", validate_request_parameters=True
        )
        self.body_validator = self.api.add_request_validator(
            "BodyAndParametersValidator", validate_request_body=True, validate_request_parameters=True
        )
        self.methods = {route.settings_path: self._add_method(route) for route in routes}
        self._require_authorized_invalidation(
            log_retention=access_log_retention, log_removal_policy=log_removal_policy
        )
        self._suppress_findings()

    @property
    def url(self) -> str:
        return self.api.url

    @property
    def stage(self) -> apigw.Stage:
        return self.api.deployment_stage

    def add_cache_refresh_policy(self, construct_id: str, *, paths: Sequence[str]) -> iam.ManagedPolicy:
        """A managed policy that allows ``execute-api:InvalidateCache`` on ``GET <path>`` of this stage for
        each of ``paths`` (cached GET routes, e.g. ``/products/{id}``): whoever holds it may make the stage
        re-fetch an entry with ``Cache-Control: max-age=0``; everyone else gets 403.

        A policy of this construct's stack rather than a grant: attached to a role in a stack that depends
        on this one (``role.add_managed_policy``), the API's id stays in this stack's template."""
        cached = {route.path: route for route in self.routes if route.method == "GET" and route.cache_ttl}
        if not paths:
            raise ValueError(f"{construct_id}: name at least one cached GET route")
        for path in paths:
            if path not in cached:
                raise ValueError(
                    f"{construct_id}: {path!r} is not a cached GET route; expected one of {sorted(cached)}"
                )
        arns = [
            self.api.arn_for_execute_api("GET", cached[path].arn_path, self.stage.stage_name)
            for path in paths
        ]
        policy = iam.ManagedPolicy(
            self,
            construct_id,
            description="Refresh stage-cache entries (Cache-Control: max-age=0) of "
            + ", ".join(f"GET {path}" for path in paths),
            statements=[iam.PolicyStatement(actions=["execute-api:InvalidateCache"], resources=arns)],
        )
        suppress_findings(
            policy,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "execute-api:InvalidateCache on GET of cached routes of this one API stage; "
                    "each '*' stands for a path parameter (any item id), the only way an execute-api ARN "
                    "names every entry of a route.",
                    "applies_to": [f"Resource::{nag_form(self, arn)}" for arn in arns],
                }
            ],
        )
        return policy

    def _add_method(self, route: ApiRoute) -> apigw.Method:
        resource = self.api.root.resource_for_path(route.path)
        request_parameters = {f"method.request.path.{name}": True for name in route.path_parameters}
        request_parameters |= {f"method.request.querystring.{name}": False for name in route.query_parameters}
        integration = apigw.LambdaIntegration(
            route.handler,
            proxy=True,
            cache_key_parameters=route.cache_key_parameters if route.cache_ttl is not None else None,
        )
        options: dict[str, Any] = {
            "request_parameters": request_parameters or None,
            "authorization_type": apigw.AuthorizationType.IAM
            if route.requires_iam
            else apigw.AuthorizationType.NONE,
            "request_validator": self.body_validator
            if route.body_schema is not None
            else self.parameters_validator,
        }
        if route.body_schema is not None:
            model = self.api.add_model(
                model_id(route),
                content_type="application/json",
                schema=json_schema(route.body_schema),
                description=f"Body of {route.method} {route.path}",
            )
            options["request_models"] = {"application/json": model}
        method = resource.add_method(route.method, integration, **options)
        for permission in method.node.children:
            if isinstance(permission, lambda_.CfnPermission):
                exempt_control(
                    permission,
                    "CT.LAMBDA.PR.2",
                    "API Gateway may invoke the function only for this method: the permission's SourceArn "
                    "names this API, stage wildcard, method and path. The Guard rule accepts only a literal "
                    "or same-template SourceArn, and this one is a Fn::Join of the API's id.",
                )
        if not route.requires_iam:
            suppress_findings(
                method,
                [
                    {"id": "AwsSolutions-APIG4", "reason": _PUBLIC_READ_REASON},
                    {"id": "AwsSolutions-COG4", "reason": _PUBLIC_READ_REASON},
                ],
            )
        else:
            suppress_findings(
                method,
                [{"id": "AwsSolutions-COG4", "reason": "Writes use IAM (SigV4) authorization, not Cognito."}],
            )
        return method

    def _require_authorized_invalidation(
        self, *, log_retention: logs.RetentionDays, log_removal_policy: cdk.RemovalPolicy
    ) -> None:
        cached = [route for route in self.routes if route.cache_ttl is not None]
        if not cached:
            return
        stage = self.api.deployment_stage
        call = self._update_stage_call(cached)
        stage_arn = cdk.Stack.of(self).format_arn(
            service="apigateway",
            account="",
            resource="/restapis",
            resource_name=f"{self.api.rest_api_id}/stages/{stage.stage_name}",
            arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
        )
        self.invalidation_authorization = cr.AwsCustomResource(
            self,
            "CacheInvalidationAuthorization",
            on_create=call,
            on_update=call,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["apigateway:PATCH"], resources=[stage_arn])]
            ),
            install_latest_aws_sdk=False,
            # Its own group, so the function's logs expire and go with the stack like the API's access logs.
            log_group=logs.LogGroup(
                self,
                "CacheInvalidationAuthorizationLogs",
                retention=log_retention,
                removal_policy=log_removal_policy,
                encryption_key=self._log_encryption_key,
            ),
        )
        self.invalidation_authorization.node.add_dependency(stage)

    def _update_stage_call(self, cached: Sequence[ApiRoute]) -> cr.AwsSdkCall:
        """``UpdateStage`` setting ``FAIL_WITH_403`` on each cached route, which CloudFormation cannot."""
        operations = []
        for route in cached:
            for setting, value in (
                ("requireAuthorizationForCacheControl", "true"),
                ("unauthorizedCacheControlHeaderStrategy", UNAUTHORIZED_CACHE_CONTROL),
            ):
                operations.append(
                    {"op": "replace", "path": f"{route.patch_path}/caching/{setting}", "value": value}
                )
        # CloudFormation may recreate a method setting when its TTL or the route set changes; a new
        # fingerprint re-runs the call after every such change.
        fingerprint = hashlib.sha256(
            json.dumps(
                [(r.settings_path, r.cache_ttl.to_seconds() if r.cache_ttl else None) for r in self.routes]
            ).encode()
        ).hexdigest()[:16]
        return cr.AwsSdkCall(
            service="APIGateway",
            action="updateStage",
            parameters={
                "restApiId": self.api.rest_api_id,
                "stageName": self.api.deployment_stage.stage_name,
                "patchOperations": operations,
            },
            physical_resource_id=cr.PhysicalResourceId.of(f"cache-invalidation-authorization-{fingerprint}"),
        )

    def _protect_stage(self) -> None:
        """Attach the regional web ACL when given; otherwise say plainly what protects the open stage."""
        if self.web_acl_arn is not None:
            self.web_acl_association = wafv2.CfnWebACLAssociation(
                self,
                "WebAclAssociation",
                resource_arn=self.api.deployment_stage.stage_arn,
                web_acl_arn=self.web_acl_arn,
            )
            return
        suppress_findings(
            self.api.deployment_stage,
            [
                {
                    "id": "AwsSolutions-APIG3",
                    "reason": "No regional web ACL is configured (security.web_acls off, api.waf_web_acl_arn "
                    "unset), and the regional endpoint is reachable directly, bypassing any CloudFront web "
                    "ACL. Exposure without one: writes require IAM (SigV4), reads are public catalogue data, "
                    "request bodies are validated, and the stage throttles every client.",
                }
            ],
        )

    def _suppress_findings(self) -> None:
        self._protect_stage()
        cloud_watch_role = self.api.node.try_find_child("CloudWatchRole")
        if cloud_watch_role is not None:
            suppress_findings(
                cloud_watch_role,
                [
                    {
                        "id": "AwsSolutions-IAM4",
                        "reason": "API Gateway's account-level logging role uses the AWS-managed "
                        "AmazonAPIGatewayPushToCloudWatchLogs policy, made for exactly this role.",
                        "applies_to": [
                            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                            "AmazonAPIGatewayPushToCloudWatchLogs"
                        ],
                    }
                ],
            )


_PUBLIC_READ_REASON = (
    "Public catalogue read: anonymous by design so that CloudFront and the stage cache can serve it; it "
    "returns no private data and writes on the same resources require IAM."
)
