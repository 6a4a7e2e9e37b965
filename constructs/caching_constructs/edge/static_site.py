"""CloudFront in front of the REST API and a private S3 bucket of static files, plus the file deployment.

* ``/`` and static files come from S3 through Origin Access Control (never a public bucket, never the
  legacy origin access identity); ``CACHING_OPTIMIZED`` keeps them as long as their ``Cache-Control`` says.
* API paths go to the API stage with a cache policy keyed on exactly the query strings the API keys on, and
  an origin request policy that forwards only the viewer headers the API reads (``api_headers``). Never the
  viewer's ``Cache-Control``: API Gateway reads ``max-age=0`` as a request to refresh its stage cache and
  answers anyone without ``execute-api:InvalidateCache`` with 403, which CloudFront would then cache for
  every viewer. Never ``Host``: API Gateway routes on its own host name.
* Errors are cached at the edge for ``error_caching_min_ttl`` (1 s) instead of CloudFront's 10 s, for every
  status code CloudFront caches; the origin's own error bodies pass through unchanged.
* Viewers are redirected to HTTPS and get security headers; standard logs go to an SSE-S3 bucket (CloudFront
  cannot deliver logs to a KMS-encrypted bucket).
* The web ACL and the certificate are global CloudFront resources and so must live in us-east-1, whatever
  region this stack deploys to: create them there (a small us-east-1 stack or the console) and pass ARNs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy

from caching_constructs.core.removal import is_disposable
from caching_constructs.core.rules import EDGE_API_DEFAULT_TTL_SECONDS, EDGE_API_MAX_TTL_SECONDS
from caching_constructs.core.validation import require
from caching_constructs.edge.static_site_exemptions import (
    exempt_bucket_findings,
    exempt_distribution_findings,
)
from constructs import Construct

_NINETY_DAYS = cdk.Duration.days(90)
_THIRTY_DAYS = cdk.Duration.days(30)
IMMUTABLE = "public, max-age=31536000, immutable"
"""Content-hashed files never change under their name, so browsers and CloudFront keep them for a year."""
SHORT_LIVED = "public, max-age=60, must-revalidate"
"""``index.html`` names the current hashed files, so it may be stale for a minute at most."""
API_MIN_TTL = cdk.Duration.seconds(0)
"""The API cache policy's minimum TTL: the API's own ``Cache-Control`` decides (down to not caching)."""
API_MAX_TTL = cdk.Duration.seconds(EDGE_API_MAX_TTL_SECONDS)
"""The API cache policy's maximum TTL: a longer ``max-age`` from the API is cut to this."""
CACHED_ERROR_CODES = (400, 403, 404, 405, 414, 500, 501, 502, 503, 504)
"""Every 4xx/5xx status CloudFront caches (CloudFormation's ``CustomErrorResponse.ErrorCode`` values, less
416, which CloudFront never caches). Others (413, 422, 429) are never cached at the edge at all."""
ERROR_CACHING_MIN_TTL = cdk.Duration.seconds(1)
"""How long CloudFront keeps an error by default here (CloudFront's own default is 10 s)."""
AUTHORIZATION = "Authorization"
FAILOVER_STATUS_CODES = (500, 502, 503, 504)
"""The primary API's answers that send a read on to ``api_failover_origin``: its own failures, never a 4xx
(a 404 is an answer, not an outage)."""

_SECURITY_HEADERS = cloudfront.ResponseSecurityHeadersBehavior(
    content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
        content_security_policy="default-src 'self'; img-src 'self' data:; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
        override=True,
    ),
    content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
    frame_options=cloudfront.ResponseHeadersFrameOptions(
        frame_option=cloudfront.HeadersFrameOption.DENY, override=True
    ),
    referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
        referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override=True
    ),
    strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
        access_control_max_age=cdk.Duration.days(730), include_subdomains=True, override=True
    ),
    xss_protection=cloudfront.ResponseHeadersXSSProtection(protection=True, mode_block=True, override=True),
)


class StaticSiteDistribution(Construct):
    """The distribution, its two origins, the static and log buckets, and the static file deployments.

    :param rest_api: the API behind ``api_path_patterns``.
    :param api_path_patterns: CloudFront path patterns routed to the API, e.g. ``/products*``.
    :param api_query_strings: the query strings the API's responses depend on (CloudFront's cache key).
    :param api_default_ttl: CloudFront TTL for API responses that send no ``Cache-Control`` (0 to 1 hour,
        the policy's maximum).
    :param api_headers: the viewer headers the API reads, forwarded to it and nothing else. CloudFront lets
        only a cache policy forward ``Authorization``, so that one is also in the API's cache key: anonymous
        reads carry none and still share one entry per URL, and a signed request never gets another
        caller's answer. Default none.
    :param error_caching_min_ttl: how long CloudFront keeps an error response of any path (API or static
        file) before asking the origin again. Default 1 s.
    :param site_dir: folder with ``index.html`` and a ``hashed_dir`` of content-hashed files.
    :param hashed_dir: sub-folder of ``site_dir`` with content-hashed file names. Default ``assets``.
    :param price_class: edge locations to serve from.
    :param web_acl_arn: WAFv2 web ACL (scope CLOUDFRONT, us-east-1). Default None.
    :param domain_name: custom domain; needs ``certificate_arn``. Default None.
    :param certificate_arn: ACM certificate in us-east-1; enables the TLSv1.2_2021 policy. Default None.
    :param log_retention: days CloudFront and S3 access logs are kept. Default 90.
    :param removal_policy: for both buckets; DESTROY also empties them on delete. Default RETAIN.
    :param deployment_log_retention: retention of the file deployment function's log group. Default one month.
    :param deployment_log_encryption_key: KMS key of that log group. Default none.
    :param versioned: versioning on both buckets, so an overwritten or deleted file (a bad deployment, a
        mistaken delete) can be restored. Default True.
    :param noncurrent_version_expiration: how long earlier versions are kept when ``versioned``.
    Default 30 days.
    :param api_failover_origin: another region's API stage that serves the API paths' reads when this one
        answers ``FAILOVER_STATUS_CODES`` or cannot be reached. CloudFront fails over only GET, HEAD and
        OPTIONS and refuses writes on a behavior with an origin group, so the API paths then allow GET and
        HEAD only: writes call the primary's API (``ApiUrl``) directly. Default none (writes too come through
        CloudFront).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rest_api: apigw.RestApi,
        api_path_patterns: Sequence[str],
        api_query_strings: Sequence[str],
        api_default_ttl: cdk.Duration,
        site_dir: Path,
        api_headers: Sequence[str] = (),
        error_caching_min_ttl: cdk.Duration = ERROR_CACHING_MIN_TTL,
        price_class: cloudfront.PriceClass,
        hashed_dir: str = "assets",
        web_acl_arn: str | None = None,
        domain_name: str | None = None,
        certificate_arn: str | None = None,
        log_retention: cdk.Duration = _NINETY_DAYS,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        deployment_log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        deployment_log_encryption_key: kms.IKey | None = None,
        versioned: bool = True,
        noncurrent_version_expiration: cdk.Duration = _THIRTY_DAYS,
        api_failover_origin: cloudfront.IOrigin | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        _validate(
            domain_name=domain_name,
            certificate_arn=certificate_arn,
            api_default_ttl=api_default_ttl,
            site_dir=site_dir,
            hashed_dir=hashed_dir,
            api_headers=api_headers,
            error_caching_min_ttl=error_caching_min_ttl,
        )
        self._add_buckets(
            versioned=versioned,
            noncurrent_version_expiration=noncurrent_version_expiration,
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        self._add_policies(api_query_strings, api_headers, api_default_ttl)
        api_behavior = self._api_behavior(rest_api, api_failover_origin)
        certificate = (
            acm.Certificate.from_certificate_arn(self, "Certificate", certificate_arn)
            if certificate_arn
            else None
        )
        self._add_distribution(
            api_behavior,
            api_path_patterns=api_path_patterns,
            price_class=price_class,
            domain_name=domain_name,
            certificate=certificate,
            web_acl_arn=web_acl_arn,
            error_caching_min_ttl=error_caching_min_ttl,
        )
        self.deployment_log_group = logs.LogGroup(
            self,
            "DeploymentLogs",
            retention=deployment_log_retention,
            removal_policy=removal_policy,
            encryption_key=deployment_log_encryption_key,
        )
        self._deploy_site(site_dir, hashed_dir)
        exempt_distribution_findings(
            self.distribution,
            web_acl_arn=web_acl_arn,
            certificate=certificate,
            failover=api_failover_origin is not None,
        )
        exempt_bucket_findings(self.bucket, self.log_bucket)

    def _add_buckets(
        self,
        *,
        versioned: bool,
        noncurrent_version_expiration: cdk.Duration,
        log_retention: cdk.Duration,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        """The log bucket, then the private bucket of static files that logs to it."""
        disposable = is_disposable(removal_policy)
        # Earlier versions expire, or a versioned bucket keeps every overwritten file and log forever.
        old_versions = (
            [s3.LifecycleRule(noncurrent_version_expiration=noncurrent_version_expiration)]
            if versioned
            else []
        )
        self.log_bucket = s3.Bucket(
            self,
            "LogBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            # CloudFront standard logging writes with an ACL: the bucket must accept object-writer ACLs.
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=versioned,
            lifecycle_rules=[s3.LifecycleRule(expiration=log_retention), *old_versions],
            removal_policy=removal_policy,
            auto_delete_objects=disposable,
        )
        self.bucket = s3.Bucket(
            self,
            "StaticBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix="s3-static/",
            versioned=versioned,
            lifecycle_rules=old_versions or None,
            removal_policy=removal_policy,
            auto_delete_objects=disposable,
        )

    def _add_policies(
        self, api_query_strings: Sequence[str], api_headers: Sequence[str], api_default_ttl: cdk.Duration
    ) -> None:
        """What the API paths cache and forward, and the security headers every response gets."""
        key_headers = [h for h in api_headers if h.lower() == AUTHORIZATION.lower()]
        origin_headers = [h for h in api_headers if h.lower() != AUTHORIZATION.lower()]
        self.api_cache_policy = cloudfront.CachePolicy(
            self,
            "ApiCachePolicy",
            comment="API responses keyed on the query strings the API reads",
            query_string_behavior=cloudfront.CacheQueryStringBehavior.allow_list(*api_query_strings),
            header_behavior=cloudfront.CacheHeaderBehavior.allow_list(*key_headers)
            if key_headers
            else cloudfront.CacheHeaderBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            default_ttl=api_default_ttl,
            min_ttl=API_MIN_TTL,
            max_ttl=API_MAX_TTL,
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
        )
        # The cache key (query strings, Authorization) is forwarded anyway; these are the other headers the
        # API reads. Everything else the viewer sends, Cache-Control first, stops here.
        self.api_origin_request_policy = cloudfront.OriginRequestPolicy(
            self,
            "ApiOriginRequestPolicy",
            comment="Only the viewer headers the API reads; never Cache-Control or Host",
            header_behavior=cloudfront.OriginRequestHeaderBehavior.allow_list(*origin_headers)
            if origin_headers
            else cloudfront.OriginRequestHeaderBehavior.none(),
            query_string_behavior=cloudfront.OriginRequestQueryStringBehavior.none(),
            cookie_behavior=cloudfront.OriginRequestCookieBehavior.none(),
        )
        self.response_headers_policy = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="Security headers on every response",
            security_headers_behavior=_SECURITY_HEADERS,
        )

    def _api_behavior(
        self, rest_api: apigw.RestApi, failover_origin: cloudfront.IOrigin | None
    ) -> cloudfront.BehaviorOptions:
        """The behavior of every API path: the stage, or an origin group of it and ``failover_origin``."""
        api_origin: cloudfront.IOrigin = origins.RestApiOrigin(rest_api)
        if failover_origin is not None:
            api_origin = origins.OriginGroup(
                primary_origin=api_origin,
                fallback_origin=failover_origin,
                fallback_status_codes=list(FAILOVER_STATUS_CODES),
            )
        return cloudfront.BehaviorOptions(
            origin=api_origin,
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
            # CloudFront refuses POST, PUT, PATCH and DELETE on a behavior whose target is an origin group.
            allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL
            if failover_origin is None
            else cloudfront.AllowedMethods.ALLOW_GET_HEAD,
            cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
            cache_policy=self.api_cache_policy,
            origin_request_policy=self.api_origin_request_policy,
            response_headers_policy=self.response_headers_policy,
            compress=True,
        )

    def _add_distribution(
        self,
        api_behavior: cloudfront.BehaviorOptions,
        *,
        api_path_patterns: Sequence[str],
        price_class: cloudfront.PriceClass,
        domain_name: str | None,
        certificate: acm.ICertificate | None,
        web_acl_arn: str | None,
        error_caching_min_ttl: cdk.Duration,
    ) -> None:
        """The distribution: static files from the bucket through OAC by default, ``api_behavior`` on the
        API paths."""
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Caching architecture: static site and product API",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self.response_headers_policy,
                compress=True,
            ),
            additional_behaviors={pattern: api_behavior for pattern in api_path_patterns},
            price_class=price_class,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            domain_names=[domain_name] if domain_name else None,
            certificate=certificate,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if certificate else None,
            enable_logging=True,
            log_bucket=self.log_bucket,
            log_file_prefix="cloudfront/",
            web_acl_id=web_acl_arn,
            # Only a caching time per status: no ResponsePagePath, so the API's JSON errors and S3's errors
            # reach the viewer as the origin sent them, and a missing static file stays a 403/404.
            error_responses=[
                cloudfront.ErrorResponse(http_status=code, ttl=error_caching_min_ttl)
                for code in CACHED_ERROR_CODES
            ],
        )

    def _deploy_site(self, site_dir: Path, hashed_dir: str) -> None:
        # Hashed files first, never pruned: a browser holding the previous index.html still finds its files.
        self.assets_deployment = s3deploy.BucketDeployment(
            self,
            "HashedAssets",
            sources=[s3deploy.Source.asset(str(site_dir / hashed_dir))],
            destination_bucket=self.bucket,
            destination_key_prefix=f"{hashed_dir}/",
            cache_control=[s3deploy.CacheControl.from_string(IMMUTABLE)],
            prune=False,
            log_group=self.deployment_log_group,
        )
        # Then the entry page; only its paths are invalidated (the hashed files are new names, not changes).
        self.index_deployment = s3deploy.BucketDeployment(
            self,
            "EntryPages",
            sources=[s3deploy.Source.asset(str(site_dir), exclude=[f"{hashed_dir}/*", f"{hashed_dir}/**"])],
            destination_bucket=self.bucket,
            cache_control=[s3deploy.CacheControl.from_string(SHORT_LIVED)],
            prune=False,
            log_group=self.deployment_log_group,
            distribution=self.distribution,
            distribution_paths=["/", "/index.html"],
        )
        self.index_deployment.node.add_dependency(self.assets_deployment)


def _validate(
    *,
    domain_name: str | None,
    certificate_arn: str | None,
    api_default_ttl: cdk.Duration,
    site_dir: Path,
    hashed_dir: str,
    api_headers: Sequence[str],
    error_caching_min_ttl: cdk.Duration,
) -> None:
    """The props' rules, checked before anything is built."""
    if (domain_name is None) != (certificate_arn is None):
        raise ValueError("domain_name and certificate_arn go together")
    require("api_default_ttl (seconds)", int(api_default_ttl.to_seconds()), EDGE_API_DEFAULT_TTL_SECONDS)
    if not (site_dir / "index.html").is_file() or not (site_dir / hashed_dir).is_dir():
        raise ValueError(f"{site_dir} must hold index.html and a {hashed_dir}/ folder")
    forbidden = {"cache-control", "host", "pragma"} & {header.lower() for header in api_headers}
    if forbidden:
        raise ValueError(
            f"api_headers: {sorted(forbidden)} must not reach the API (Cache-Control and Pragma would "
            "refresh or bypass its stage cache, Host would break its routing)"
        )
    if not 0 <= error_caching_min_ttl.to_seconds() <= 10:
        raise ValueError(
            f"error_caching_min_ttl must be from 0 to 10 seconds, got {error_caching_min_ttl.to_seconds()}"
        )
