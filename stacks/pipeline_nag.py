"""cdk-nag IAM5 suppressions for the roles CDK Pipelines generates, one role policy at a time.

CDK Pipelines writes these policies itself; none of their wildcards can be scoped from outside without
rewriting its CloudFormation. So each role's policy gets exactly the findings that role has, spelt as cdk-nag
spells them (built from the same constructs and ARNs CDK Pipelines uses, so an account or region pinned in
config changes both sides alike), each with a reason that is true of that role.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import pipelines

from caching_constructs.core.nag import nag_form, suppress_findings
from constructs import IConstruct

READ_ARTIFACT_ACTIONS = ("Action::s3:GetBucket*", "Action::s3:GetObject*", "Action::s3:List*")
WRITE_ARTIFACT_ACTIONS = ("Action::s3:Abort*", "Action::s3:DeleteObject*")
ARTIFACT_KEY_ACTIONS = ("Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*")


def _resource(scope: IConstruct, arn: str) -> str:
    return f"Resource::{nag_form(scope, arn)}"


def _codebuild_logs(scope: IConstruct, project_name: str) -> list[str]:
    """The log-group and report-group grants a CodeBuild ``Project`` gives its own role."""
    stack = cdk.Stack.of(scope)
    log_group = stack.format_arn(
        service="logs",
        resource="log-group",
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        resource_name=f"/aws/codebuild/{project_name}",
    )
    report_groups = stack.format_arn(
        service="codebuild", resource="report-group", resource_name=f"{project_name}-*"
    )
    return [_resource(scope, f"{log_group}:*"), _resource(scope, report_groups)]


def _every_codebuild_log(scope: IConstruct) -> list[str]:
    """The same grants as CDK Pipelines writes them for the role shared by all asset-publishing projects."""
    stack = cdk.Stack.of(scope)
    log_groups = stack.format_arn(
        service="logs",
        resource="log-group",
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        resource_name="/aws/codebuild/*",
    )
    report_groups = stack.format_arn(service="codebuild", resource="report-group", resource_name="*")
    return [_resource(scope, log_groups), _resource(scope, report_groups)]


def _iam5(reason: str, applies_to: Iterable[str]) -> dict[str, Any]:
    return {"id": "AwsSolutions-IAM5", "reason": reason, "applies_to": list(applies_to)}


def _suppress_on_policy(role: IConstruct | None, suppressions: Sequence[dict[str, Any]]) -> None:
    """On the role's ``DefaultPolicy`` resource alone: the role itself has no wildcard findings."""
    policy = role.node.find_child("DefaultPolicy").node.default_child if role is not None else None
    if policy is None:
        raise ValueError(f"{role}: no DefaultPolicy to suppress findings on")
    suppress_findings(policy, suppressions)


def _artifacts(bucket: s3.IBucket, *, write: bool, reason: str) -> list[dict[str, Any]]:
    objects = _resource(bucket, bucket.arn_for_objects("*"))
    actions = (*READ_ARTIFACT_ACTIONS, *(WRITE_ARTIFACT_ACTIONS if write else ()))
    grant = "grantReadWrite" if write else "grantRead"
    return [
        _iam5(
            f"{reason}: {grant} on the pipeline's own artifact bucket, whose object keys CodePipeline "
            "generates per execution",
            [*actions, objects],
        ),
        _iam5(
            f"{reason}: KMS names the data-key actions only with wildcards; the statement is limited to the "
            "pipeline's artifact key",
            ARTIFACT_KEY_ACTIONS,
        ),
    ]


def _own_logs(project: codebuild.IProject, reason: str) -> dict[str, Any]:
    return _iam5(
        f"{reason}: CodeBuild writes this project's own log streams and test reports, named per build "
        "under the project's name",
        _codebuild_logs(project, project.project_name),
    )


def suppress_pipeline_findings(
    pipeline: pipelines.CodePipeline,
    artifact_bucket: s3.IBucket,
    *,
    smoke_tests: dict[str, pipelines.CodeBuildStep],
    smoke_test_writes: dict[str, iam.PolicyStatement],
    diffs: dict[str, pipelines.CodeBuildStep],
) -> None:
    """Suppress each generated role's findings on that role's policy. Call after ``build_pipeline()``."""
    _suppress_pipeline_roles(pipeline, artifact_bucket)
    _suppress_asset_publishing(pipeline, artifact_bucket)
    _suppress_steps(artifact_bucket, smoke_tests, smoke_test_writes, diffs)


def _suppress_pipeline_roles(pipeline: pipelines.CodePipeline, artifact_bucket: s3.IBucket) -> None:
    """The roles that run the pipeline itself: service role, source action, synth and self-mutation."""
    codepipeline = pipeline.pipeline
    _suppress_on_policy(
        codepipeline.role,
        [
            *_artifacts(artifact_bucket, write=True, reason="The CodePipeline service role"),
            *_cross_region_replicas(codepipeline),
        ],
    )
    source_roles = [
        node for node in codepipeline.node.find_child("Source").node.find_all() if isinstance(node, iam.Role)
    ]
    for role in source_roles:
        _suppress_on_policy(
            role,
            _artifacts(artifact_bucket, write=True, reason="The source action stores the checked-out commit"),
        )
    synth = pipeline.synth_project
    _suppress_on_policy(
        synth.role,
        [
            *_artifacts(artifact_bucket, write=True, reason="Synth reads the source and writes cdk.out"),
            _own_logs(synth, "Synth"),
        ],
    )
    self_mutation = pipeline.self_mutation_project
    stack = cdk.Stack.of(pipeline)
    _suppress_on_policy(
        self_mutation.role,
        [
            *_artifacts(artifact_bucket, write=False, reason="Self-mutation reads cdk.out"),
            _own_logs(self_mutation, "Self-mutation"),
            _iam5(
                "Self-mutation assumes only the CDK bootstrap roles of this account, selected by the "
                "aws-cdk:bootstrap-role tag condition on the same statement; their names depend on the "
                "bootstrap qualifier",
                [_resource(self_mutation, f"arn:*:iam::{stack.account}:role/*")],
            ),
            _iam5(
                "Self-mutation calls cloudformation:DescribeStacks and s3:ListBucket, which `cdk deploy` "
                "uses to find the stacks and bootstrap bucket by name at run time",
                ["Resource::*"],
            ),
        ],
    )


def _suppress_asset_publishing(pipeline: pipelines.CodePipeline, artifact_bucket: s3.IBucket) -> None:
    file_role = pipeline.node.find_child("Assets").node.find_child("FileRole")
    _suppress_on_policy(
        file_role,
        [
            _iam5(
                "Asset publishing reads the cloud assembly from the pipeline's artifact bucket, whose keys "
                "CodePipeline generates per execution",
                [*READ_ARTIFACT_ACTIONS, _resource(artifact_bucket, artifact_bucket.arn_for_objects("*"))],
            ),
            _iam5(
                "One role serves every asset-publishing CodeBuild project, which CDK Pipelines creates "
                "after this role: their log groups, report groups and builds (codebuild:StartBuild/"
                "BatchGetBuilds/StopBuild) cannot be named on it",
                [*_every_codebuild_log(file_role), "Resource::*"],
            ),
        ],
    )


def _suppress_steps(
    artifact_bucket: s3.IBucket,
    smoke_tests: dict[str, pipelines.CodeBuildStep],
    smoke_test_writes: dict[str, iam.PolicyStatement],
    diffs: dict[str, pipelines.CodeBuildStep],
) -> None:
    """The per-environment CodeBuild steps: smoke tests and diffs."""
    for name, smoke_test in smoke_tests.items():
        suppressions = [
            *_artifacts(artifact_bucket, write=False, reason=f"The {name} smoke test reads the source"),
            _own_logs(smoke_test.project, f"The {name} smoke test"),
        ]
        write = smoke_test_writes.get(name)
        if write is not None:
            suppressions.append(
                _iam5(
                    f"The {name} smoke test signs PUT /products/* on {name}'s API; the API id and stage "
                    "live in another stage, which the pipeline stack cannot reference",
                    [_resource(smoke_test.project, arn) for arn in write.resources],
                )
            )
        _suppress_on_policy(smoke_test.project.role, suppressions)
    for name, diff in diffs.items():
        _suppress_on_policy(
            diff.project.role,
            [
                *_artifacts(artifact_bucket, write=False, reason=f"The {name} diff reads the cloud assembly"),
                _own_logs(diff.project, f"The {name} diff"),
            ],
        )


def _cross_region_replicas(codepipeline: Any) -> list[dict[str, Any]]:
    """Findings of the artifact replicas CodePipeline keeps in other regions (every stage has a us-east-1
    stack): the service role's grants on them, and each replica bucket in its support stack."""
    suppressions = []
    home = cdk.Stack.of(codepipeline)
    for support in codepipeline.cross_region_support.values():
        if support.stack.node.path == home.node.path:
            continue  # the pipeline's own region: that is the artifact bucket itself
        bucket = support.replication_bucket
        suppress_findings(
            bucket,
            [
                {
                    "id": "AwsSolutions-S1",
                    "reason": "CodePipeline's replica of the artifact bucket in another region, created by "
                    "CDK in its support stack: it holds transient copies of artifacts whose bucket is "
                    "access-logged.",
                }
            ],
        )
        suppressions.append(
            _iam5(
                "The CodePipeline service role reads and writes the artifact replica in "
                f"{support.stack.region}, whose object keys it generates per execution",
                [_resource(codepipeline, f"{bucket.bucket_arn}/*")],
            )
        )
    if suppressions:
        suppressions.append(
            _iam5(
                "The replicas' KMS keys live in support stacks in other regions, which the service role's "
                "policy can only name as '*' (CodePipeline grants them so); the keys' own policies admit the "
                "role alone",
                ["Resource::*"],
            )
        )
    return suppressions
