"""What ElastiCache Global Datastore accepts, as rules the config and the constructs share.

Standard library only (like ``caching_constructs.core.rules``). From
AWS's "Prerequisites and limitations" page
for global datastores (docs.aws.amazon.com/AmazonElastiCache/latest/dg/Redis-Global-Datastores-Getting-
Started.html, read 2026-12-01): the supported regions; a primary and at most two secondary regions; node
families M5, M6g, M7g, R5, R6g, R6gd, R7g and C7gn in size large and above (no T family); every member
with the same node type, engine version and shard count; Redis OSS 5.0.6 and later, Valkey 7.2 and later.
Encryption in transit and at rest are supported, not required: the project turns both on everywhere anyway.
"""

from __future__ import annotations

import re
from typing import Any

GLOBAL_DATASTORE_REGIONS = (
    "af-south-1",
    "ap-east-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
)
MAX_SECONDARY_REGIONS = 2
NODE_FAMILIES = ("m5", "m6g", "m7g", "r5", "r6g", "r6gd", "r7g", "c7gn")
_TOO_SMALL = ("nano", "micro", "small", "medium")
_MINIMUM_VERSION = {"redis": (5, 0, 6), "valkey": (7, 2, 0)}


def secondary_regions(value: Any) -> str | None:
    """At most two distinct regions that offer Global Datastore."""
    allowed = (
        f"up to {MAX_SECONDARY_REGIONS} distinct regions that offer ElastiCache Global Datastore, "
        "such as ['us-west-2']"
    )
    if not isinstance(value, tuple) or len(value) > MAX_SECONDARY_REGIONS or len(set(value)) != len(value):
        return allowed
    if any(region not in GLOBAL_DATASTORE_REGIONS for region in value):
        return allowed
    return None


def region(value: Any) -> str | None:
    return None if value in GLOBAL_DATASTORE_REGIONS else "a region that offers ElastiCache Global Datastore"


def node_type(value: Any) -> str | None:
    """A node of a supported family, size large or above."""
    match = re.fullmatch(r"cache\.([a-z0-9]+)\.([a-z0-9]+)", value) if isinstance(value, str) else None
    if match is None or match[1] not in NODE_FAMILIES or match[2] in _TOO_SMALL:
        return (
            "a Global Datastore node type: family " + ", ".join(NODE_FAMILIES) + ", size large or above "
            "(such as 'cache.r7g.large'; no T family)"
        )
    return None


def engine_version(engine: str, value: str) -> str | None:
    """Redis OSS 5.0.6+ or Valkey 7.2+ (Memcached has no Global Datastore)."""
    minimum = _MINIMUM_VERSION.get(engine)
    if minimum is None:
        return "engine 'redis' or 'valkey' (Memcached has no Global Datastore)"
    parts = tuple(int(p) for p in re.findall(r"\d+", value)[:3])
    if parts + (0,) * (3 - len(parts)) < minimum:
        shown = ".".join(str(p) for p in minimum)
        return f"{engine} {shown} or later for Global Datastore"
    return None
