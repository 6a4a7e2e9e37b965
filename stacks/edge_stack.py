"""The edge tier: CloudFront in front of the API stage and of a private S3 bucket of static files."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam

from caching_constructs.core.encryption_keys import log_group_key
from caching_constructs.core.nag import BASIC_EXECUTION_ROLE, exempt_control, nag_form, suppress_findings
from caching_constructs.core.python_function import architecture_named
from caching_constructs.edge.edge_refresh import EdgeRefresher, EdgeRefreshQueue
from caching_constructs.edge.static_site import StaticSiteDistribution
from caching_contract import http, services
from config.schema import EdgeConfig, SecurityConfig
from constructs import Construct
from stacks.cdk_values import log_retention
from stacks.lambda_assets import core_code

SITE_DIR = Path(__file__).resolve().parents[1] / "site"
# Paths CloudFront sends to the API stage; everything else is a static file.
API_PATH_PATTERNS = (http.COLLECTION_PATH, f"{http.COLLECTION_PATH}/*", "/dax/*")
# The same parameters the stage cache keys on for GET /products: one cache key definition at both layers.
API_QUERY_STRINGS = http.LIST_PARAMETERS
# The viewer headers the API reads: SigV4 (writes may come through CloudFront), the body's type, the
# idempotency key and the correlation id, spelt as the handlers spell them. Nothing else reaches the stage:
# not Cache-Control (a browser reload's max-age=0 asks the stage cache to refresh, and it answers 403).
API_HEADERS = (
    "Authorization",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Content-Sha256",
    "Content-Type",
    http.IDEMPOTENCY_KEY_HEADER,
    http.CORRELATION_HEADER,
)
PRICE_CLASSES = {
    "PriceClass_100": cloudfront.PriceClass.PRICE_CLASS_100,
    "PriceClass_200": cloudfront.PriceClass.PRICE_CLASS_200,
    "PriceClass_All": cloudfront.PriceClass.PRICE_CLASS_ALL,
}

# Handlers that aws-cdk-lib adds once per stack (not per construct), found by their fixed ids.
_BUCKET_DEPLOYMENT_HANDLER = "Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C"
_BUCKET_DEPLOYMENT_ACTIONS = [
    f"Action::s3:{action}*" for action in ("GetBucket", "GetObject", "List", "Abort", "DeleteObject")
]


_GENERATED_HANDLER = (
    "The handler aws-cdk-lib generates to copy the site's files: it only calls S3 and CloudFront APIs, reads "
    "nothing in the VPC, and inside it would need a NAT route for them."
)


def api_origin_from_url(url: str) -> cloudfront.IOrigin:
    """An API stage as a CloudFront origin, as ``RestApiOrigin`` makes it, from its invoke URL alone
    (``https://<id>.execute-api.<region>.amazonaws.com/<stage>/``, a token read from another region)."""
    # Joined with a trailing "/" first: cfn-lint's schema takes no Fn::GetStackOutput directly inside
    # Fn::Split (stacks/secondary_api_stack.py, secret_full_name).
    parts = cdk.Fn.split("/", cdk.Fn.join("/", [url, ""]))
    return origins.HttpOrigin(
        cdk.Fn.select(2, parts),
        origin_path="/" + cdk.Fn.select(3, parts),
        protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
        origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
    )


class EdgeStack(cdk.Stack):
    """First cache layer of every request: CloudFront serves static files from S3 and API responses from
    its edge cache, and only misses travel on to the API stage cache."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        edge: EdgeConfig,
        rest_api: apigw.RestApi,
        removal_policy: cdk.RemovalPolicy,
        deployment_log_retention_days: int,
        security: SecurityConfig,
        web_acl_arn: str | None,
        edge_refresh_queue: EdgeRefreshQueue,
        edge_refresh_policy: iam.IManagedPolicy,
        function_architecture: str,
        failover_api_url: str | None = None,
        **kwargs,
    ) -> None:
        """
        :param deployment_log_retention_days: retention of this stack's function logs (the file deployment
            and the edge refresher).
        :param web_acl_arn: the CloudFront web ACL (scope CLOUDFRONT, us-east-1): ``edge.waf_web_acl_arn`` or
            the one the stage creates in its us-east-1 stack. None: no web ACL.
        :param edge_refresh_queue: the Api stack's queue of written items' paths, drained here, where the
            distribution is known.
        :param edge_refresh_policy: the Api stack's policy that lets the refresher refresh item entries of the
            stage cache (``execute-api:InvalidateCache`` on ``GET /products/*`` of that stage).
        :param function_architecture: ``functions.architecture`` (the refresher uses the core asset).
        :param failover_api_url: a secondary region's API invoke URL (read across regions at deploy time):
            the API paths' reads fail over to it, and their writes must then call the primary's ``ApiUrl``.
            Default none.
        """
        super().__init__(scope, construct_id, **kwargs)
        self.log_key = log_group_key(
            self,
            description="Encrypts the static-site deployment's and the edge refresher's log groups",
            removal_policy=removal_policy,
            enabled=security.customer_managed_keys,
        )
        self.site = StaticSiteDistribution(
            self,
            "Site",
            rest_api=rest_api,
            api_path_patterns=API_PATH_PATTERNS,
            api_query_strings=API_QUERY_STRINGS,
            api_default_ttl=cdk.Duration.seconds(edge.api_default_ttl_seconds),
            api_headers=API_HEADERS,
            site_dir=SITE_DIR,
            price_class=PRICE_CLASSES[edge.price_class],
            web_acl_arn=web_acl_arn,
            domain_name=edge.domain_name,
            certificate_arn=edge.certificate_arn,
            log_retention=cdk.Duration.days(edge.access_log_retention_days),
            removal_policy=removal_policy,
            deployment_log_retention=log_retention(deployment_log_retention_days),
            deployment_log_encryption_key=self.log_key,
            versioned=security.bucket_versioning,
            noncurrent_version_expiration=cdk.Duration.days(security.noncurrent_version_days),
            api_failover_origin=api_origin_from_url(failover_api_url) if failover_api_url else None,
        )
        self._suppress_cdk_handler_findings()
        if not security.bucket_versioning:
            self._exempt_unversioned_buckets()

        distribution = self.site.distribution
        self._add_edge_refresher(
            edge, rest_api, edge_refresh_queue, edge_refresh_policy, function_architecture,
            removal_policy, deployment_log_retention_days,
        )  # fmt: skip
        cdk.CfnOutput(self, "DistributionDomainName", value=distribution.distribution_domain_name)
        cdk.CfnOutput(self, "DistributionId", value=distribution.distribution_id)
        cdk.CfnOutput(self, "StaticBucketName", value=self.site.bucket.bucket_name)

    def _exempt_unversioned_buckets(self) -> None:
        unversioned = (
            "Versioning is off in this environment by config (security.bucket_versioning=false): a "
            "throwaway environment's files are rebuilt from the repository."
        )
        for bucket in (self.site.bucket, self.site.log_bucket):
            exempt_control(bucket, "CT.S3.PR.11", unversioned)
        exempt_control(self.site.bucket, "CT.S3.PR.6", unversioned + " Nothing accumulates to expire.")

    def _add_edge_refresher(
        self,
        edge: EdgeConfig,
        rest_api: apigw.RestApi,
        edge_refresh_queue: EdgeRefreshQueue,
        edge_refresh_policy: iam.IManagedPolicy,
        function_architecture: str,
        removal_policy: cdk.RemovalPolicy,
        log_retention_days: int,
    ) -> None:
        self.edge_refresher = EdgeRefresher(
            self,
            services.EDGE_REFRESHER.id,
            queue=edge_refresh_queue,
            # A code asset belongs to one stack: the same core bundle (same hash, built once) as the Api's.
            code=core_code(function_architecture),
            architecture=architecture_named(function_architecture),
            api_url=rest_api.deployment_stage.url_for_path("/"),
            refresh_policy=edge_refresh_policy,
            # Invalidations are billed per path beyond the monthly allowance: only when the config asks.
            distribution=self.site.distribution if edge.invalidate_on_write else None,
            log_retention=log_retention(log_retention_days),
            log_removal_policy=removal_policy,
            log_encryption_key=self.log_key,
        )

    def _suppress_cdk_handler_findings(self) -> None:
        handler = self.node.try_find_child(_BUCKET_DEPLOYMENT_HANDLER)
        if handler is not None:
            suppress_findings(
                handler,
                [
                    {
                        "id": "AwsSolutions-IAM4",
                        "reason": "BucketDeployment's copy function logs via AWSLambdaBasicExecutionRole.",
                        "applies_to": [BASIC_EXECUTION_ROLE],
                    },
                    {
                        "id": "AwsSolutions-IAM5",
                        "reason": "BucketDeployment reads its asset zips from the CDK asset bucket and "
                        "copies every object into the static bucket (grants scoped to the two buckets); the "
                        "CDK grants CloudFront invalidation on '*'.",
                        "applies_to": [
                            *_BUCKET_DEPLOYMENT_ACTIONS,
                            *self._deployment_buckets(),
                            "Resource::*",
                        ],
                    },
                    {
                        "id": "AwsSolutions-L1",
                        "reason": "BucketDeployment's runtime is chosen and updated by aws-cdk-lib.",
                    },
                ],
                apply_to_children=True,
            )
            exempt_control(handler.node.find_child("Resource"), "CT.LAMBDA.PR.3", _GENERATED_HANDLER)

    def _deployment_buckets(self) -> list[str]:
        """The two buckets BucketDeployment's grants name, spelt as cdk-nag prints them: the bootstrap assets
        bucket (tokens when environment-agnostic, literals when pinned) and the static bucket."""
        qualifier = (
            getattr(self.synthesizer, "bootstrap_qualifier", None)
            or cdk.DefaultStackSynthesizer.DEFAULT_QUALIFIER
        )
        assets = f"arn:{self.partition}:s3:::cdk-{qualifier}-assets-{self.account}-{self.region}/*"
        return [
            f"Resource::{nag_form(self, assets)}",
            f"Resource::{nag_form(self, self.site.bucket.bucket_arn)}/*",
        ]
