"""Cross-stack references that survive a replaced resource.

The stacks reference each other weakly (cdk.json ``@aws-cdk/core:defaultCrossStackReferences: weak``): a
consumer reads the producer's output with ``Fn::GetStackOutput`` when it deploys, with no Export/ImportValue.
So CloudFormation never blocks a producer from replacing or deleting a resource that another stack still uses
("Export ... cannot be updated as it is in use"). The price: the consumer is not told. Its template does not
change when the producer's resource is replaced, ``cdk deploy`` skips an unchanged stack, and the consumer
keeps the old id (a Lambda function in a deleted security group, a DB_WRITER_HOST of a deleted instance).

Two measures close that gap:

* **Producer revisions.** Every consumer stack carries, in its template Metadata, a digest of the properties
  whose change makes CloudFormation *replace* a resource (``createOnlyProperties`` in the resource schema) of
  every stack before it in the stage. A change that replaces a producer's resource changes the consumer's
  template too, so ``cdk deploy 'env/**'`` deploys the consumer right after the producer, and CloudFormation
  resolves its ``Fn::GetStackOutput`` references again: it moves to the new resource. A change that does not
  replace anything leaves the consumers untouched.
* **Security groups are retained on replacement** (``UpdateReplacePolicy: Retain``). The producer's update
  would otherwise try to delete the old group while the consumers' ENIs (Lambda, RDS, ElastiCache, DAX) still
  use it, before they have deployed; the deletion fails. Retained, the old group is left for a person to
  delete once the consumers have moved (docs/DEPLOY.md says how).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import cast

import aws_cdk as cdk
import jsii
from aws_cdk import aws_ec2 as ec2

REVISIONS_METADATA = "ProducerRevisions"
"""Template Metadata key: ``{producer stack name: digest of its replacement properties}``."""

REPLACEMENT_PROPERTIES: dict[str, tuple[str, ...]] = {
    # The createOnlyProperties (changing one replaces the resource) of every resource type another stack
    # of the stage reads. tests/infra/test_cross_stack.py holds this table equal to CloudFormation's resource
    # schemas as cfn-lint ships them, and checks that every type a cross-stack output reads is listed.
    "AWS::ApiGateway::RestApi": (),
    "AWS::ApiGateway::Stage": ("RestApiId", "StageName"),
    "AWS::CloudFront::Distribution": (),
    "AWS::DAX::Cluster": (
        "ClusterEndpointEncryptionType",
        "ClusterName",
        "IAMRoleARN",
        "NetworkType",
        "NodeType",
        "SSESpecification",
        "SubnetGroupName",
    ),
    "AWS::DynamoDB::Table": ("ImportSourceSpecification", "TableName"),
    "AWS::EC2::SecurityGroup": ("GroupDescription", "GroupName", "VpcId"),
    # The Api stack's function security groups are created in the VPC (VpcId).
    "AWS::EC2::VPC": ("CidrBlock", "Ipv4IpamPoolId", "Ipv4NetmaskLength", "VpcEncryptionControl"),
    "AWS::EC2::Subnet": (
        "AvailabilityZone",
        "AvailabilityZoneId",
        "CidrBlock",
        "Ipv4IpamPoolId",
        "Ipv4NetmaskLength",
        "Ipv6IpamPoolId",
        "Ipv6Native",
        "Ipv6NetmaskLength",
        "OutpostArn",
        "VpcId",
    ),
    # A secondary region's Api stack grants its function connect on the Data stack's IAM user.
    "AWS::ElastiCache::User": ("UserId", "UserName"),
    "AWS::ElastiCache::ReplicationGroup": (
        "AtRestEncryptionEnabled",
        "CacheSubnetGroupName",
        "DataTieringEnabled",
        "GlobalReplicationGroupId",
        "KmsKeyId",
        "NetworkType",
        "Port",
        "PreferredCacheClusterAZs",
        "ReplicationGroupId",
        "SnapshotArns",
        "SnapshotName",
    ),
    "AWS::IAM::ManagedPolicy": ("Description", "ManagedPolicyName", "Path"),
    "AWS::KMS::Key": (),
    "AWS::Lambda::Function": ("FunctionName", "PackageType", "TenancyConfig"),
    "AWS::RDS::DBInstance": (
        "BackupTarget",
        "CharacterSetName",
        "CustomIAMInstanceProfile",
        "DBClusterIdentifier",
        "DBInstanceIdentifier",
        "DBName",
        "DBSubnetGroupName",
        "DBSystemId",
        "KmsKeyId",
        "MasterUsername",
        "NcharCharacterSetName",
        "SourceRegion",
        "StorageEncrypted",
        "Timezone",
    ),
    "AWS::SecretsManager::Secret": ("Name",),
    "AWS::SecretsManager::SecretTargetAttachment": ("SecretId",),
    "AWS::SQS::Queue": ("FifoQueue", "QueueName"),
    "AWS::WAFv2::WebACL": ("Name", "Scope"),
}
"""Resource type -> the CloudFormation properties whose change replaces the resource."""


def _python_name(cfn_property: str) -> str:
    """``GroupDescription`` -> ``group_description``, ``DBInstanceIdentifier`` -> ``db_instance_identifier``:
    the attribute under which the L1 class holds a CloudFormation property."""
    words = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", cfn_property)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", words).lower()


def replacement_digest(stack: cdk.Stack) -> str:
    """A digest of the replacement properties of every resource of ``stack`` that other stacks may "
    "reference."""
    entries = []
    for node in stack.node.find_all():
        if not cdk.CfnResource.is_cfn_resource(node) or cdk.Stack.of(node).node.path != stack.node.path:
            continue
        resource = cast(cdk.CfnResource, node)
        properties = REPLACEMENT_PROPERTIES.get(resource.cfn_resource_type)
        # Untyped CfnResources are aws-cdk-lib's own provider handlers, only ever used inside their stack.
        if properties is None or type(resource) is cdk.CfnResource:
            continue
        values = {name: stack.resolve(getattr(resource, _python_name(name))) for name in properties}
        entries.append([stack.get_logical_id(resource), resource.cfn_resource_type, values])
    canonical = json.dumps(sorted(entries, key=lambda entry: entry[0]), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def protect_cross_stack_references(stage: cdk.Stage) -> None:
    """Stamp every stack of ``stage`` with the replacement digests of the stacks before it, and retain every
    security group on replacement. Call it once the stage's stacks exist."""
    # Every stack, in creation order: a secondary region's sit one scope deeper (under their
    # SecondaryRegion) and read each other's outputs as the primary's do.
    stacks = [node for node in stage.node.find_all() if isinstance(node, cdk.Stack)]
    digests = {stack.node.path: _DigestOf(stack) for stack in stacks}
    for index, consumer in enumerate(stacks):
        producers = stacks[:index]
        if producers:
            consumer.add_metadata(
                REVISIONS_METADATA,
                {producer.stack_name: cdk.Lazy.string(digests[producer.node.path]) for producer in producers},
            )
    for stack in stacks:
        for node in stack.node.find_all():
            if isinstance(node, ec2.CfnSecurityGroup):
                node.cfn_options.update_replace_policy = cdk.CfnDeletionPolicy.RETAIN
                # Stack deletion still deletes it (the consumers are gone by then); stated, so that the
                # template says both on purpose.
                node.cfn_options.deletion_policy = cdk.CfnDeletionPolicy.DELETE


@jsii.implements(cdk.IStableStringProducer)
class _DigestOf:
    """Computed at synthesis, after every construct (and escape hatch) has set its properties."""

    def __init__(self, stack: cdk.Stack) -> None:
        self._stack = stack
        self._digest: str | None = None

    def produce(self) -> str:
        # Once per synthesis, however many consumers read it: walking a stack through jsii is slow.
        if self._digest is None:
            self._digest = replacement_digest(self._stack)
        return self._digest
