"""A Python Lambda function that runs inside the VPC, traced, with its own log group and retention."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs

from caching_constructs.nag import exempt_control, suppress_findings
from constructs import Construct

PYTHON_RUNTIME = lambda_.Runtime.PYTHON_3_12
"""The runtime every function uses. Assets are bundled for exactly this version (``pip --python-version``),
so the runtime moves only together with the bundle and the test interpreter, never by a library default."""

# Functions talk to Redis and MySQL in private subnets; a NAT or VPC endpoint reaches AWS APIs.
DEFAULT_SUBNETS = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)

_ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}


def architecture_named(name: str) -> lambda_.Architecture:
    """``arm64`` (Graviton) or ``x86_64``, the names the config and pip platform tags use."""
    try:
        return _ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"architecture must be one of {sorted(_ARCHITECTURES)}, got {name!r}") from None


class VpcPythonFunction(Construct):
    """``lambda.Function`` with the project's defaults, which differ from the CDK's in these ways:

    * runs in the given VPC subnets (default: private with egress) with explicit security groups;
    * active X-Ray tracing, and a log group owned by this construct with a retention, removal policy and
      optional KMS key (``log_encryption_key``; its policy must let CloudWatch Logs use it);
    * ``failure_queue``: asynchronous invocations retry twice and then land in an encrypted SQS queue
      (the on-failure destination) instead of vanishing; default None (synchronous callers see errors).

    Access is granted by callers through ``function`` (an ``IConnectable`` and ``IGrantable``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        handler: str,
        description: str,
        vpc: ec2.IVpc,
        security_groups: Sequence[ec2.ISecurityGroup],
        architecture: lambda_.Architecture,
        timeout: cdk.Duration,
        memory_size: int = 512,
        reserved_concurrent_executions: int | None = None,
        environment: Mapping[str, str] | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        log_removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
        log_encryption_key: kms.IKey | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        failure_queue: sqs.IQueue | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if not security_groups:
            raise ValueError(f"{construct_id}: pass at least one security group; access is wired through it")
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            retention=log_retention,
            removal_policy=log_removal_policy,
            encryption_key=log_encryption_key,
        )
        async_options = {}
        if failure_queue is not None:
            async_options = {"on_failure": destinations.SqsDestination(failure_queue), "retry_attempts": 2}
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=PYTHON_RUNTIME,
            architecture=architecture,
            code=code,
            handler=handler,
            description=description,
            timeout=timeout,
            memory_size=memory_size,
            reserved_concurrent_executions=reserved_concurrent_executions,
            environment=dict(environment or {}),
            vpc=vpc,
            vpc_subnets=vpc_subnets or DEFAULT_SUBNETS,
            security_groups=list(security_groups),
            allow_public_subnet=False,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            **async_options,
        )
        suppress_python_function_findings(self.function, in_vpc=True)
        if cdk.Stack.of(vpc) is not cdk.Stack.of(self):
            exempt_control(
                self.function,
                "CT.LAMBDA.PR.3",
                "The function runs in the VPC (subnets and security groups above), but they come from the "
                "network stack as Fn::GetStackOutput references, which the Guard rule does not follow: it "
                "accepts only literal ids or resources of the same template.",
            )

    @property
    def role(self):
        return self.function.role


_BASIC_EXECUTION = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
_VPC_ACCESS = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"


def suppress_python_function_findings(function: lambda_.Function, *, in_vpc: bool) -> None:
    """The findings every project function has, on its own role, policy and function: the AWS-managed
    execution policies the CDK attaches, X-Ray's '*' (active tracing) and the pinned runtime."""
    role = function.role
    assert role is not None  # the Function created it
    managed = (
        "The CDK attaches AWSLambdaBasicExecutionRole (write to this function's logs) "
        "and AWSLambdaVPCAccessExecutionRole (create/delete the ENIs a VPC function needs); AWS "
        "maintains both for exactly this purpose."
        if in_vpc
        else "The CDK attaches AWSLambdaBasicExecutionRole (write to this function's logs); AWS maintains it "
        "for exactly this purpose."
    )
    suppress_findings(
        role,
        [
            {
                "id": "AwsSolutions-IAM4",
                "reason": managed,
                "applies_to": [_BASIC_EXECUTION, _VPC_ACCESS] if in_vpc else [_BASIC_EXECUTION],
            },
        ],
    )
    suppress_findings(
        role.node.find_child("DefaultPolicy"),
        [
            {
                "id": "AwsSolutions-IAM5",
                "reason": "Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no "
                "resource-level permissions, so the CDK grants them on '*'.",
                "applies_to": ["Resource::*"],
            },
        ],
    )
    suppress_findings(
        function,
        [
            {
                "id": "AwsSolutions-L1",
                "reason": f"Pinned to {PYTHON_RUNTIME.name}: the asset's wheels are installed for this "
                "exact version; moving to a newer runtime is a deliberate change of bundle and tests.",
            }
        ],
    )
