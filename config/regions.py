"""Regions this architecture can be pinned to.

DynamoDB Accelerator (DAX) is not offered in every region, and the Data stack always builds a DAX cluster, so
an environment pinned to a region without it would fail at deploy time (CloudFormation: unrecognized resource
type AWS::DAX::Cluster). The loader refuses such a region at synth instead.
"""

from __future__ import annotations

DAX_REGIONS: tuple[str, ...] = (
    # As listed on 2026-11-30 by AWS's documentation of the DAX managed rule, "AWS Region: Only available in
    # ...", the regions in which DAX clusters exist to be evaluated:
    # https://docs.aws.amazon.com/config/latest/developerguide/dax-encryption-enabled.html
    # Re-check it before pinning an environment to a region that is not listed here; add the region once AWS
    # lists it.
    "us-east-1",  # US East (N. Virginia)
    "us-east-2",  # US East (Ohio)
    "us-west-1",  # US West (N. California)
    "us-west-2",  # US West (Oregon)
    "sa-east-1",  # South America (Sao Paulo)
    "eu-west-1",  # Europe (Ireland)
    "eu-west-2",  # Europe (London)
    "eu-west-3",  # Europe (Paris)
    "eu-central-1",  # Europe (Frankfurt)
    "eu-north-1",  # Europe (Stockholm)
    "eu-south-2",  # Europe (Spain)
    "ap-south-1",  # Asia Pacific (Mumbai)
    "ap-northeast-1",  # Asia Pacific (Tokyo)
    "ap-southeast-1",  # Asia Pacific (Singapore)
    "ap-southeast-2",  # Asia Pacific (Sydney)
    "cn-north-1",  # China (Beijing)
    "cn-northwest-1",  # China (Ningxia)
)
"""Regions that offer DAX (AWS documentation, 2026-11-30)."""
