"""Customer-managed KMS keys with the policy every key of this project needs.

* Yearly rotation (cdk-nag KMS5).
* Grants only for AWS services (Control Tower CT.KMS.PR.3): services that use the key for a resource (RDS,
  ElastiCache, Secrets Manager, DynamoDB, CloudWatch Logs) create grants themselves, with
  ``kms:GrantIsForAWSResource`` true; nobody else needs ``kms:CreateGrant``, and a grant is a way around the
  key policy that no IAM policy review sees.
* ``for_log_groups``: CloudWatch Logs of this account and region may use the key for log groups, the only way
  a log group can be encrypted with it (Logs calls KMS as itself, not as the caller).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager

from caching_constructs.core.removal import is_disposable
from constructs import Construct


def customer_managed_key(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    removal_policy: cdk.RemovalPolicy,
    for_log_groups: bool = False,
) -> kms.Key:
    """A rotated key whose grants are limited to AWS services; ``for_log_groups`` lets CloudWatch Logs use it.

    :param removal_policy: DESTROY schedules deletion (KMS waits 7 days); keep keys whose data outlives the
        stack (snapshots, retained tables, retained log groups) with RETAIN.
    """
    key = kms.Key(
        scope,
        construct_id,
        description=description,
        enable_key_rotation=True,
        removal_policy=removal_policy,
        pending_window=cdk.Duration.days(7) if is_disposable(removal_policy) else None,
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="GrantsOnlyForAwsServices",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["kms:CreateGrant"],
            resources=["*"],  # in a key policy, "*" is this key
            conditions={
                "BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}
            },
        )
    )
    if for_log_groups:
        stack = cdk.Stack.of(scope)
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
    return key


def log_group_key(
    scope: Construct, *, description: str, removal_policy: cdk.RemovalPolicy, enabled: bool
) -> kms.Key | None:
    """``LogKey``, a key for ``scope``'s log groups, when the environment asks for customer-managed keys
    (``enabled``); None leaves them to CloudWatch Logs' own encryption. Retained log groups stay readable
    only as long as their key exists, so it follows their ``removal_policy``."""
    if not enabled:
        return None
    return customer_managed_key(
        scope, "LogKey", description=description, removal_policy=removal_policy, for_log_groups=True
    )


def grant_secret_read(
    grantee: iam.IGrantable, secret: secretsmanager.ISecret, encryption_key: kms.IKey | None
) -> iam.Grant:
    """Read ``secret`` (GetSecretValue, DescribeSecret), and decrypt it through Secrets Manager when it has
    its own key, with statements on the grantee's policy only.

    ``ISecret.grant_read`` puts the decrypt grant for a customer-managed key on the *key's* policy (through a
    ``ViaServicePrincipal``), naming the grantee's role: when the grantee lives in a stack that itself reads
    the secret's stack, that is a dependency cycle. The key policy already delegates to IAM (the account
    root statement), so the grantee's own policy is enough.
    """
    grant = iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
        resource_arns=[secret.secret_arn],
    )
    if encryption_key is not None:
        region = cdk.Stack.of(secret).region
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["kms:Decrypt"],
            resource_arns=[encryption_key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
        )
    return grant
