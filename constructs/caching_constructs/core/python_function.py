"""``PythonFunction``: a Python Lambda function with the project's defaults, in a VPC or (for a stated reason)
outside one, shaped like an aws-cdk-lib resource: ``connections``, ``grant_principal``, ``metric_*()``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs

from caching_constructs.core.nag import BASIC_EXECUTION_ROLE, exempt_control, suppress_findings
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


@dataclasses.dataclass(frozen=True, kw_only=True)
class FunctionDefaults:
    """The ``PythonFunction`` props that every function of one application shares; ``props()`` spreads them.

    :param code: the asset holding the handlers.
    :param architecture: the functions' architecture.
    :param memory_size: default 512 MB.
    :param environment: variables every function gets; a function's own variables win. Default none.
    :param log_retention: default one month.
    :param log_removal_policy: default DESTROY.
    :param log_encryption_key: KMS key of the log groups. Default none.
    :param vpc: default None (outside any VPC; each function then states why).
    :param vpc_subnets: default private with egress.
    """

    code: lambda_.Code
    architecture: lambda_.Architecture
    memory_size: int = 512
    environment: Mapping[str, str] = dataclasses.field(default_factory=dict)
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH
    log_removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY
    log_encryption_key: kms.IKey | None = None
    vpc: ec2.IVpc | None = None
    vpc_subnets: ec2.SubnetSelection | None = None

    def props(self, *, environment: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Keyword arguments of ``PythonFunction`` with ``environment`` merged over the shared variables."""
        shared = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        return {**shared, "environment": {**self.environment, **(environment or {})}}


@jsii.implements(ec2.IConnectable, iam.IGrantable)
class PythonFunction(Construct):
    """``lambda.Function`` with the project's defaults, which differ from the CDK's in these ways:

    * with ``vpc``: in its subnets (default: private with egress) and, unless ``security_groups`` are given,
      in a security group of its own with **no egress at all** (the CDK's own would allow every
      destination). Open each path from the function's side,
      ``fn.connections.allow_to_default_port(db.connections)``: the CDK then puts both rules in the
      function's stack, so a data store in an earlier stack never references it (no dependency cycle) and
      each rule is stated once, beside its caller. (``db.connections`` rather than ``db``: the data-store
      constructs hold ``connections`` as an instance attribute, which jsii does not show to JavaScript.);
    * without ``vpc``: ``outside_vpc_reason`` says why (Control Tower CT.LAMBDA.PR.3 expects a VPC);
    * active X-Ray tracing, and JSON logs to a log group owned by this construct with a retention, removal
      policy and optional KMS key (``log_encryption_key``; its policy must let CloudWatch Logs use it);
    * ``send_failures_to(queue)``: asynchronous invocations retry twice and then land in that queue instead
      of vanishing (by default none: synchronous callers see errors).

    Network access goes through ``connections`` (``IConnectable``), permissions through ``grant_principal``
    (``IGrantable``). ``function`` is the ``lambda.Function`` itself, for what needs an ``IFunction``: event
    targets, API integrations, custom-resource providers.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        handler: str,
        description: str,
        architecture: lambda_.Architecture,
        timeout: cdk.Duration,
        memory_size: int = 512,
        reserved_concurrent_executions: int | None = None,
        environment: Mapping[str, str] | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        log_removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
        log_encryption_key: kms.IKey | None = None,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        outside_vpc_reason: str | None = None,
    ) -> None:
        _check_placement(construct_id, vpc, vpc_subnets, security_groups, outside_vpc_reason)
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            retention=log_retention,
            removal_policy=log_removal_policy,
            encryption_key=log_encryption_key,
        )
        options: dict[str, Any] = {}
        if vpc is not None:
            self.security_groups = list(security_groups or [self._own_security_group(construct_id, vpc)])
            options = {
                "vpc": vpc,
                "vpc_subnets": vpc_subnets or DEFAULT_SUBNETS,
                "security_groups": self.security_groups,
                "allow_public_subnet": False,
            }
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
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            **options,
        )
        _suppress_findings(self.function, in_vpc=vpc is not None)
        if outside_vpc_reason is not None:
            exempt_control(self.function, "CT.LAMBDA.PR.3", outside_vpc_reason)
        elif vpc is not None and cdk.Stack.of(vpc) is not cdk.Stack.of(self):
            exempt_control(
                self.function,
                "CT.LAMBDA.PR.3",
                "The function runs in the VPC (subnets and security group above), but its subnets come from "
                "the network stack as Fn::GetStackOutput references, which the Guard rule does not follow: "
                "it accepts only literal ids or resources of the same template.",
            )

    def _own_security_group(self, construct_id: str, vpc: ec2.IVpc) -> ec2.SecurityGroup:
        return ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description=f"{construct_id} function; egress only to what it is wired to",
            # Every destination is opened through `connections`. Logs, EMF metrics and X-Ray traces leave
            # through the Lambda service, not the function's ENI, so they need no rule.
            allow_all_outbound=False,
        )

    def send_failures_to(self, queue: sqs.IQueue) -> None:
        """Asynchronous invocations retry twice, then land in ``queue`` (the on-failure destination)."""
        self.function.configure_async_invoke(on_failure=destinations.SqsDestination(queue), retry_attempts=2)

    # --- IConnectable, IGrantable ---------------------------------------------------------------------------

    @property
    def connections(self) -> ec2.Connections:
        """Network access of the function's security groups; like ``lambda.Function``'s, it raises for a
        function outside a VPC, which has none."""
        return self.function.connections

    @property
    def grant_principal(self) -> iam.IPrincipal:
        return self.function.grant_principal

    @property
    def role(self) -> iam.IRole | None:
        return self.function.role

    # --- attributes -----------------------------------------------------------------------------------------

    @property
    def function_name(self) -> str:
        return self.function.function_name

    @property
    def function_arn(self) -> str:
        return self.function.function_arn

    @property
    def timeout(self) -> cdk.Duration | None:
        return self.function.timeout

    # --- metrics (AWS/Lambda, FunctionName) -----------------------------------------------------------------

    def metric(self, metric_name: str, **props: Any) -> cloudwatch.Metric:
        return self.function.metric(metric_name, **props)

    def metric_errors(self, **props: Any) -> cloudwatch.Metric:
        return self.function.metric_errors(**props)

    def metric_throttles(self, **props: Any) -> cloudwatch.Metric:
        return self.function.metric_throttles(**props)

    def metric_duration(self, **props: Any) -> cloudwatch.Metric:
        return self.function.metric_duration(**props)

    def metric_invocations(self, **props: Any) -> cloudwatch.Metric:
        return self.function.metric_invocations(**props)


def _check_placement(
    construct_id: str,
    vpc: ec2.IVpc | None,
    vpc_subnets: ec2.SubnetSelection | None,
    security_groups: Sequence[ec2.ISecurityGroup] | None,
    outside_vpc_reason: str | None,
) -> None:
    if vpc is None:
        if vpc_subnets is not None or security_groups is not None:
            raise ValueError(f"{construct_id}: vpc_subnets and security_groups need a vpc")
        if not outside_vpc_reason:
            raise ValueError(
                f"{construct_id}: a function outside a VPC needs outside_vpc_reason (why it touches no data "
                "store), or pass vpc"
            )
    elif outside_vpc_reason is not None:
        raise ValueError(f"{construct_id}: outside_vpc_reason is for a function without a vpc")
    elif security_groups is not None and not security_groups:
        raise ValueError(f"{construct_id}: security_groups is empty; omit it to get a group of its own")


_VPC_ACCESS = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"


def _suppress_findings(function: lambda_.Function, *, in_vpc: bool) -> None:
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
                "applies_to": [BASIC_EXECUTION_ROLE, _VPC_ACCESS] if in_vpc else [BASIC_EXECUTION_ROLE],
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
