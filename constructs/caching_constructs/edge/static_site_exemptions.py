"""Why ``StaticSiteDistribution``'s distribution and buckets may fail the AWS Solutions and Control Tower
rules they fail, each exemption on the one resource it concerns."""

from __future__ import annotations

from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_s3 as s3

from caching_constructs.core.nag import exempt_control, suppress_findings


def exempt_distribution_findings(
    distribution: cloudfront.Distribution,
    *,
    web_acl_arn: str | None,
    certificate: acm.ICertificate | None,
    failover: bool,
) -> None:
    """``failover``: the API paths have an origin group."""
    distribution_findings = [
        {
            "id": "AwsSolutions-CFR1",
            "reason": "A public product catalogue: no country is excluded; add geo rules per market.",
        }
    ]
    if web_acl_arn is None:
        distribution_findings.append(
            {
                "id": "AwsSolutions-CFR2",
                "reason": "The web ACL is optional (edge.waf_web_acl_arn): it must live in us-east-1 "
                "and this environment sets none; throttling on the API stage still applies.",
            }
        )
    default_certificate = (
        "No custom domain is configured, so the distribution uses the *.cloudfront.net certificate, "
        "whose policy CloudFront fixes; set edge.domain_name and certificate_arn to enforce "
        "TLSv1.2_2021."
    )
    if certificate is None:
        distribution_findings.append({"id": "AwsSolutions-CFR4", "reason": default_certificate})
        # A custom certificate, SNI and a TLS policy all come with a custom domain.
        for control in ("CT.CLOUDFRONT.PR.6", "CT.CLOUDFRONT.PR.7", "CT.CLOUDFRONT.PR.9"):
            exempt_control(distribution, control, default_certificate)
    suppress_findings(distribution, distribution_findings)
    if not failover:
        exempt_control(
            distribution,
            "CT.CLOUDFRONT.PR.4",
            "Each path has one origin: the API stage of this environment's one region, and the static "
            "bucket. An origin group would need a second region's deployment of the API and the data "
            "tier.",
        )


def exempt_bucket_findings(bucket: s3.IBucket, log_bucket: s3.IBucket) -> None:
    """``bucket`` holds the static files, ``log_bucket`` the CloudFront and S3 access logs."""
    # cdk-nag 3 itself recognises a bucket that receives access logs (no S1); Control Tower does not.
    exempt_control(
        log_bucket, "CT.S3.PR.2", "This is the access-log bucket; logging it to itself would loop."
    )
    exempt_control(
        log_bucket,
        "CT.S3.PR.10",
        "CloudFront standard logging cannot deliver to a bucket encrypted with SSE-KMS; SSE-S3 encrypts it.",
    )
    exempt_control(
        bucket,
        "CT.S3.PR.10",
        "Public website files (served to anyone through CloudFront): a customer-managed key would "
        "protect nothing and would have to be opened to CloudFront's OAC and the deployment; SSE-S3 "
        "encrypts it.",
    )
    for each, content in ((bucket, "static site"), (log_bucket, "log")):
        exempt_control(
            each,
            "CT.S3.PR.4",
            f"Nothing consumes object events of the {content} bucket: its objects are written by "
            "deployments or by CloudFront and read back by people, not processed.",
        )
    exempt_control(
        bucket,
        "CT.S3.PR.9",
        "Object Lock would forbid replacing the site's files on each deploy; versioning keeps the "
        "earlier versions instead (noncurrent ones expire).",
    )
    exempt_control(
        log_bucket,
        "CT.S3.PR.9",
        "Object Lock would forbid expiring the logs by lifecycle after log_retention; they are access "
        "logs, not records that must be immutable.",
    )
