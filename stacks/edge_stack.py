"""The edge tier: CloudFront in front of the API stage and of a private S3 bucket of static files."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudfront as cloudfront

from caching_constructs.nag import suppress_findings
from caching_constructs.static_site import StaticSiteDistribution
from config.schema import EdgeConfig
from constructs import Construct
from stacks.cdk_values import log_retention

SITE_DIR = Path(__file__).resolve().parents[1] / "site"
# Paths CloudFront sends to the API stage; everything else is a static file.
API_PATH_PATTERNS = ("/products", "/products/*", "/dax/*")
# The same parameters the stage cache keys on for GET /products: one cache key definition at both layers.
API_QUERY_STRINGS = ("category", "page", "limit")
PRICE_CLASSES = {
    "PriceClass_100": cloudfront.PriceClass.PRICE_CLASS_100,
    "PriceClass_200": cloudfront.PriceClass.PRICE_CLASS_200,
    "PriceClass_All": cloudfront.PriceClass.PRICE_CLASS_ALL,
}

# Handlers that aws-cdk-lib adds once per stack (not per construct), found by their fixed ids.
_BUCKET_DEPLOYMENT_HANDLER = "Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C"
_AUTO_DELETE_PROVIDER = "Custom::S3AutoDeleteObjectsCustomResourceProvider"
_BUCKET_DEPLOYMENT_WILDCARDS = [
    *(f"Action::s3:{action}*" for action in ("GetBucket", "GetObject", "List", "Abort", "DeleteObject")),
    # The bootstrap assets bucket's objects, rendered with tokens (env-agnostic) or with a pinned account,
    # region and partition: one pattern for both, still only that bucket.
    {"regex": "/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):s3:::cdk-[a-z0-9]+-assets-[^/]+\\/\\*$/g"},
    {"regex": "/^Resource::<SiteStaticBucket[0-9A-F]+\\.Arn>\\/\\*$/g"},
    "Resource::*",
]


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
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.site = StaticSiteDistribution(
            self,
            "Site",
            rest_api=rest_api,
            api_path_patterns=API_PATH_PATTERNS,
            api_query_strings=API_QUERY_STRINGS,
            api_default_ttl=cdk.Duration.seconds(edge.api_default_ttl_seconds),
            site_dir=SITE_DIR,
            price_class=PRICE_CLASSES[edge.price_class],
            web_acl_arn=edge.waf_web_acl_arn,
            domain_name=edge.domain_name,
            certificate_arn=edge.certificate_arn,
            log_retention=cdk.Duration.days(edge.access_log_retention_days),
            removal_policy=removal_policy,
            deployment_log_retention=log_retention(deployment_log_retention_days),
        )
        self._suppress_cdk_handler_findings()

        distribution = self.site.distribution
        cdk.CfnOutput(self, "DistributionDomainName", value=distribution.distribution_domain_name)
        cdk.CfnOutput(self, "DistributionId", value=distribution.distribution_id)
        cdk.CfnOutput(self, "StaticBucketName", value=self.site.bucket.bucket_name)

    def _suppress_cdk_handler_findings(self) -> None:
        handler = self.node.try_find_child(_BUCKET_DEPLOYMENT_HANDLER)
        if handler is not None:
            suppress_findings(
                handler,
                [
                    {
                        "id": "AwsSolutions-IAM4",
                        "reason": "BucketDeployment's copy function logs via AWSLambdaBasicExecutionRole.",
                        "applies_to": [
                            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
                        ],
                    },
                    {
                        "id": "AwsSolutions-IAM5",
                        "reason": "BucketDeployment reads its asset zips from the CDK asset bucket and "
                        "copies every object into the static bucket (grants scoped to the two buckets); "
                        "the CDK grants CloudFront invalidation on '*'.",
                        "applies_to": _BUCKET_DEPLOYMENT_WILDCARDS,
                    },
                    {
                        "id": "AwsSolutions-L1",
                        "reason": "BucketDeployment's runtime is chosen and updated by aws-cdk-lib.",
                    },
                ],
                apply_to_children=True,
            )
        provider = self.node.try_find_child(_AUTO_DELETE_PROVIDER)
        if provider is not None:
            suppress_findings(
                provider,
                [
                    {
                        "id": "AwsSolutions-IAM4",
                        "reason": "The CDK's auto-delete-objects handler (dev only) logs through "
                        "AWSLambdaBasicExecutionRole.",
                        "applies_to": [
                            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
                        ],
                    },
                ],
                apply_to_children=True,
            )
