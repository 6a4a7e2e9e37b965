"""Rules of the settings only the config takes: AWS identifiers, addresses and names no construct checks.

Rules that a construct checks as well live in ``caching_constructs.core.rules`` (and the cache engine's in
``caching_constructs.elasticache.engine_families``); ``config.schema`` attaches one rule to each field,
from either place. Each rule returns None for a good value, otherwise what is allowed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from caching_constructs.core.rules import Matches


def cidr(value: str) -> str | None:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        return "an IPv4 CIDR block such as '10.0.0.0/16'"
    # /16 leaves room for every tier's subnets in 3 AZs; CDK's Vpc cannot split anything smaller than /22.
    if network.version != 4 or not 16 <= network.prefixlen <= 22:
        return "an IPv4 CIDR block with a prefix from /16 to /22"
    return None


def emails(value: tuple[str, ...]) -> str | None:
    valid = all(re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address) for address in value)
    return None if valid else "a list of email addresses"


def topic_arns(value: tuple[str, ...]) -> str | None:
    valid = all(
        re.fullmatch(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}", arn) for arn in value
    )
    return None if valid else "a list of SNS topic ARNs (arn:aws:sns:<region>:<account>:<name>)"


def slack_channels(value: tuple[str, ...]) -> str | None:
    valid = all(re.fullmatch(r"T[A-Z0-9]{8,11}/[CG][A-Z0-9]{8,11}", channel) for channel in value)
    return (
        None
        if valid
        else "a list of Slack channels as 'WORKSPACE_ID/CHANNEL_ID' (e.g. 'T0123ABCD/C0456EFGH')"
    )


def tags(value: Mapping[str, str]) -> str | None:
    # CloudFormation refuses these at deploy time; synth would pass them on silently.
    valid = all(
        1 <= len(key) <= 128 and len(tag) <= 256 and not key.lower().startswith("aws:")
        for key, tag in value.items()
    )
    return (
        None if valid else "tags with keys of 1 to 128 characters, not starting 'aws:', and values up to 256"
    )


ACCOUNT = Matches(r"\d{12}", "a 12-digit AWS account id or null")
REGION = Matches(r"[a-z]{2}(-gov)?-[a-z]+-\d", "an AWS region such as 'eu-west-1' or null")
DB_INSTANCE_CLASS = Matches(r"[a-z0-9]+\.[a-z0-9]+", "an instance class like 't4g.micro'")
SCHEDULE = Matches(r"(cron|rate)\(.+\)", "an EventBridge expression such as 'cron(0 4 * * ? *)'")
REGIONAL_WEB_ACL_ARN = Matches(
    r"arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional/webacl/.+",
    "a regional WAFv2 web ACL ARN (…:wafv2:<region>:…:regional/webacl/…) or null",
)
CLOUDFRONT_WEB_ACL_ARN = Matches(
    r"arn:aws[a-z-]*:wafv2:us-east-1:\d{12}:global/webacl/.+",
    "a WAFv2 web ACL ARN in us-east-1 (…:wafv2:us-east-1:…:global/webacl/…) or null",
)
DOMAIN_NAME = Matches(r"([a-z0-9-]+\.)+[a-z]{2,}", "a lower-case DNS name such as 'shop.example.com' or null")
CERTIFICATE_ARN = Matches(
    r"arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/.+", "an ACM certificate ARN in us-east-1 or null"
)
CONNECTION_ARN = Matches(
    r"arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[A-Za-z0-9-]+",
    "a CodeConnections ARN (arn:aws:codeconnections:<region>:<account>:connection/<id>) or null",
)
# CDK Pipelines refuses anything else with a traceback at synth (2 to 23 non-empty parts: GitLab subgroups).
REPOSITORY = Matches(
    r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){1,22}", "'owner/name' of a repository (or 'group/sub/name'), or null"
)
BRANCH = Matches(
    r"(?!-)(?!.*\.\.)[A-Za-z0-9._/-]+(?<![/.])", "a git branch name such as 'main' (no spaces, no '..')"
)
