"""The delivery pipeline: CDK Pipelines deploying the same ``CachingStage`` to dev, staging and prod.

The pipeline belongs to the prod environment: it lives in prod's account and region and reads its source
from prod's ``pipeline`` section. The account a pipeline runs in holds the credentials that can change prod,
so it gets prod's access rules; dev and staging are deployed into from there (cross-account when their
accounts differ, which is why the artifact bucket is always KMS-encrypted).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import pipelines

from caching_constructs.core.nag import suppress_findings
from config.schema import EnvironmentConfig
from constructs import Construct
from stacks.compliance import apply_compliance_checks
from stacks.pipeline_nag import suppress_pipeline_findings
from stacks.stage import CachingStage

PIPELINE_OWNER = "prod"
"""The environment whose ``pipeline`` section (source) and account/region the pipeline stack uses."""

# The stage outputs the smoke test reads, by CfnOutput id (the Api and Edge stacks define them), mapped to
# the environment variables scripts/smoke_test.py reads.
SMOKE_TEST_OUTPUTS = {"SMOKE_API_URL": "ApiUrl", "SMOKE_DISTRIBUTION_DOMAIN": "DistributionDomainName"}

# Runs on the CodeBuild standard image's Python: the script is standard library only, nothing to install.
SMOKE_TEST_COMMAND = "python3 scripts/smoke_test.py"

CDK_CLI_VERSION = json.loads((Path(__file__).resolve().parents[1] / "package.json").read_text())[
    "devDependencies"
]["aws-cdk"]
"""The CDK CLI that package.json pins; the diff before prod's approval runs the same one."""


def stage_output(stage: cdk.Stage, output_id: str) -> cdk.CfnOutput:
    """The one ``CfnOutput`` with id ``output_id`` among the primary region's stacks of the stage (a
    secondary region's, one scope deeper, repeat ``ApiUrl``)."""
    found = [
        node
        for node in stage.node.find_all()
        if isinstance(node, cdk.CfnOutput)
        and node.node.id == output_id
        and cdk.Stack.of(node).node.scope is stage
    ]
    if len(found) != 1:
        raise ValueError(
            f"stage {stage.node.id!r} has {len(found)} CfnOutputs named {output_id!r}; the smoke test needs "
            "exactly one"
        )
    return found[0]


class PipelineStack(cdk.Stack):
    """Source -> synth (tests, then ``cdk synth``) -> self-mutate -> dev -> staging -> approval -> prod.

    Every environment is the same ``CachingStage`` built from its own config, followed by a smoke test that
    reads the stage's outputs. Environments that hold real customer data (no sample seed) get a read-only
    smoke test: a pipeline never rewrites a production row.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        connection_arn: str,
        repository: str,
        branch: str,
        environments: Sequence[EnvironmentConfig],
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.source = pipelines.CodePipelineSource.connection(
            repository, branch, connection_arn=connection_arn
        )
        self.artifact_bucket = self._artifact_bucket()
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            synth=pipelines.ShellStep(
                "Synth",
                input=self.source,
                # The README's test command, then its synth command; both set up what they need themselves.
                commands=["make test", "make synth"],
                primary_output_directory="cdk.out",
            ),
            # Our own bucket: KMS-encrypted (what cross-account deploys need) and with server access logs,
            # which the bucket CDK Pipelines would create has no option for.
            artifact_bucket=self.artifact_bucket,
            # Environments may live in other accounts and regions (every one has a us-east-1 stack for its
            # CloudFront web ACL): the replication buckets CodePipeline creates in those regions get KMS keys
            # too, rotated, so that target accounts' deploy roles can read the artifacts.
            cross_account_keys=True,
            enable_key_rotation=True,
            code_build_defaults=pipelines.CodeBuildOptions(
                # Ubuntu 24.04: the redis-server 7 and MariaDB 10.11 packages the tests also run with locally
                # and on GitHub's ubuntu-24.04 runners.
                build_environment=codebuild.BuildEnvironment(
                    build_image=codebuild.LinuxBuildImage.STANDARD_8_0
                )
            ),
        )
        self.stages: dict[str, CachingStage] = {}
        self.smoke_tests: dict[str, pipelines.CodeBuildStep] = {}
        # The write permission of each smoke test that has one (environments with sample data only).
        self.smoke_test_writes: dict[str, iam.PolicyStatement] = {}
        # cdk diff of the synthesized assembly against the deployed stacks, before the approval it informs.
        self.diffs: dict[str, pipelines.CodeBuildStep] = {}
        for config in environments:
            stage = CachingStage(self, config.name, config=config)
            smoke_test = self._smoke_test(stage)
            pre: list[pipelines.Step] = []
            if config.name == PIPELINE_OWNER:
                self.diffs[config.name] = self._diff(stage)
                approval = pipelines.ManualApprovalStep(
                    f"Promote{config.name.title()}",
                    comment=f"Deploy to {config.name}? The Diff action before this one shows what changes "
                    "(its log: cdk diff of this cloud assembly against the deployed stacks).",
                )
                approval.add_step_dependency(self.diffs[config.name])
                pre = [self.diffs[config.name], approval]
            self.pipeline.add_stage(stage, pre=pre, post=[smoke_test])
            self.stages[config.name] = stage
            self.smoke_tests[config.name] = smoke_test

        # Suppressions need the CodeBuild projects and roles to exist, which they only do once built.
        self.pipeline.build_pipeline()
        # The App's plugins check this stack; each CachingStage inside checks its own stacks.
        apply_compliance_checks(self)
        suppress_pipeline_findings(
            self.pipeline,
            self.artifact_bucket,
            smoke_tests=self.smoke_tests,
            smoke_test_writes=self.smoke_test_writes,
            diffs=self.diffs,
        )

    def _artifact_bucket(self) -> s3.Bucket:
        access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(365))],
        )
        suppress_findings(
            access_logs,
            [
                {
                    "id": "AwsSolutions-S1",
                    "reason": "This bucket receives the artifact bucket's access logs; "
                    "logging it to itself would loop",
                }
            ],
        )
        key = kms.Key(
            self,
            "ArtifactKey",
            description="Encrypts the delivery pipeline's artifacts (source, cloud assembly)",
            enable_key_rotation=True,
        )
        return s3.Bucket(
            self,
            "Artifacts",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="artifacts/",
        )

    def _smoke_test(self, stage: CachingStage) -> pipelines.CodeBuildStep:
        config = stage.config
        # Environments without sample data hold real customer data: the pipeline never rewrites a row there.
        read_only = config.functions.seed_product_count == 0
        if not read_only:
            self.smoke_test_writes[config.name] = self._signed_write_permission(config)
        return pipelines.CodeBuildStep(
            "SmokeTest",
            input=self.source,
            env_from_cfn_outputs={
                name: stage_output(stage, output) for name, output in SMOKE_TEST_OUTPUTS.items()
            },
            env={
                "SMOKE_READ_ONLY": "1" if read_only else "0",
                # After a PUT, the stage cache may replay the old answer until its TTL runs out.
                "SMOKE_SETTLE_SECONDS": str(config.api.item_cache_ttl_seconds + 30),
            },
            commands=[SMOKE_TEST_COMMAND],
            role_policy_statements=[] if read_only else [self.smoke_test_writes[config.name]],
        )

    def _diff(self, stage: CachingStage) -> pipelines.CodeBuildStep:
        """``cdk diff`` of the stage's stacks in the synthesized cloud assembly, read with the target
        account's bootstrap lookup role (read-only; also in us-east-1, where the web ACL stack lives)."""
        account = stage.config.account or cdk.Aws.ACCOUNT_ID
        qualifier = cdk.DefaultStackSynthesizer.DEFAULT_QUALIFIER
        lookup_roles = [
            f"arn:{cdk.Aws.PARTITION}:iam::{account}:role/cdk-{qualifier}-lookup-role-{account}-{region}"
            for region in dict.fromkeys([stage.config.region or cdk.Aws.REGION, "us-east-1"])
        ]
        return pipelines.CodeBuildStep(
            "Diff",
            input=self.pipeline.synth,  # its primary output: the cloud assembly the stages deploy
            commands=[
                # No change set: that would need the deploy role; the diff only reads the deployed templates.
                f"npx --yes aws-cdk@{CDK_CLI_VERSION} diff --app . --no-change-set --no-notices "
                f"'{stage.node.path}/**'"
            ],
            env={"CDK_DISABLE_VERSION_CHECK": "true"},
            role_policy_statements=[iam.PolicyStatement(actions=["sts:AssumeRole"], resources=lookup_roles)],
        )

    def _signed_write_permission(self, config: EnvironmentConfig) -> iam.PolicyStatement:
        """``execute-api:Invoke`` on ``PUT /products/*`` of the environment's APIs (writes require IAM).

        The API's id lives in another stage, which a pipeline stack cannot reference, so the statement names
        the environment's account and region and the method and path, with the API id and stage wildcarded.
        """
        account = config.account or cdk.Aws.ACCOUNT_ID
        region = config.region or cdk.Aws.REGION
        return iam.PolicyStatement(
            actions=["execute-api:Invoke"],
            resources=[f"arn:{cdk.Aws.PARTITION}:execute-api:{region}:{account}:*/*/PUT/products/*"],
        )


def add_pipeline_if_configured(app: cdk.App, configs: Sequence[EnvironmentConfig]) -> PipelineStack | None:
    """The pipeline stack when the owner environment has a source configured; else one line on stderr."""
    owner = next((config for config in configs if config.name == PIPELINE_OWNER), None)
    source = owner.pipeline if owner else None
    if owner is None or source is None or source.connection_arn is None or source.repository is None:
        print(
            "Pipeline stack skipped: no source configured (set pipeline.connection_arn and "
            f"pipeline.repository of {PIPELINE_OWNER!r} in config/environments.py).",
            file=sys.stderr,
        )
        return None
    env = cdk.Environment(account=owner.account, region=owner.region) if owner.account else None
    return PipelineStack(
        app,
        "Pipeline",
        connection_arn=source.connection_arn,
        repository=source.repository,
        branch=source.branch,
        environments=configs,
        env=env,
        termination_protection=owner.termination_protection,
        tags=dict(owner.tags),
        description="Caching architecture: CDK Pipeline deploying dev, staging and prod from source",
    )
