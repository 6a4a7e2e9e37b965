"""The delivery pipeline: the same stage for every environment, tests before synth, approval before prod,
a smoke test after every deploy, cdk-nag clean, and no pipeline at all when no source is configured."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

import stacks.pipeline_stack as pipeline_stack_module
from config import ENVIRONMENT_NAMES, load_environment
from stacks.pipeline_stack import PipelineStack, add_pipeline_if_configured
from stacks.stage import CachingStage
from tests.infra.conftest import ROOT, new_app
from tests.infra.templates import resources_of_type

CONNECTION = "arn:aws:codeconnections:eu-west-1:111111111111:connection/0a1b2c3d-aaaa-bbbb-cccc-000000000000"
REPOSITORY = "example-org/caching-architecture"


def configs_with_source(branch: str = "release"):
    configs = [load_environment(name) for name in ENVIRONMENT_NAMES]
    prod = configs[-1]
    source = dataclasses.replace(
        prod.pipeline, connection_arn=CONNECTION, repository=REPOSITORY, branch=branch
    )
    # A pipeline stack must be pinned: it deploys across regions (every stage's us-east-1 web ACL stack).
    # Pinned, the region is the Global Datastore's primary (the loader refuses naming another one).
    gds = dataclasses.replace(prod.global_datastore, primary_region=None)
    pinned = {"account": "111111111111", "region": "eu-west-1", "global_datastore": gds}
    configs[-1] = dataclasses.replace(prod, pipeline=source, **pinned)
    return configs


@pytest.fixture(scope="module")
def pipeline_assembly(tmp_path_factory) -> tuple[PipelineStack, Path]:
    outdir = tmp_path_factory.mktemp("pipeline.out")
    app = new_app(outdir)
    # As `cdk synth` writes it: cfn-lint recognises CDK output by this metadata and judges it accordingly.
    app.node.set_context("aws:cdk:enable-path-metadata", True)
    stack = add_pipeline_if_configured(app, configs_with_source())
    assert stack is not None
    app.synth()
    return stack, outdir


@pytest.fixture(scope="module")
def pipeline_stack(pipeline_assembly) -> PipelineStack:
    return pipeline_assembly[0]


@pytest.fixture(scope="module")
def template(pipeline_stack) -> Template:
    return Template.from_stack(pipeline_stack)


@pytest.fixture(scope="module")
def stages(template) -> dict[str, list[dict]]:
    (pipeline,) = resources_of_type(template.to_json(), "AWS::CodePipeline::Pipeline").values()
    return {stage["Name"]: stage["Actions"] for stage in pipeline["Properties"]["Stages"]}


def _actions_of(actions: list[dict], provider: str) -> list[dict]:
    return [action for action in actions if action["ActionTypeId"]["Provider"] == provider]


def _project(template: Template, project_name_ref: dict) -> dict:
    return template.to_json()["Resources"][project_name_ref["Ref"]]["Properties"]


def _buildspec(template: Template, project_name_ref: dict) -> dict:
    return json.loads(_project(template, project_name_ref)["Source"]["BuildSpec"])


def test_every_environment_is_the_same_caching_stage_in_order(pipeline_stack, stages):
    assert list(stages) == ["Source", "Build", "UpdatePipeline", "Assets", *ENVIRONMENT_NAMES]
    assert all(isinstance(pipeline_stack.stages[name], CachingStage) for name in ENVIRONMENT_NAMES)
    for name in ENVIRONMENT_NAMES:
        deployed = {action["Name"].split(".")[0] for action in _actions_of(stages[name], "CloudFormation")}
        # Named after the stack, less the stage: prod-us-west-2-Api deploys as us-west-2-Api.
        stack_ids = {
            stack.stack_name.removeprefix(f"{name}-")
            for stack in pipeline_stack.stages[name].node.find_all()
            if isinstance(stack, cdk.Stack)
        }
        assert deployed == stack_ids


def test_the_source_comes_from_the_configured_connection_repository_and_branch(stages):
    (source,) = stages["Source"]
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    configuration = source["Configuration"]
    assert (
        configuration["ConnectionArn"],
        configuration["FullRepositoryId"],
        configuration["BranchName"],
    ) == (
        CONNECTION,
        REPOSITORY,
        "release",
    )


def test_synth_runs_the_readme_test_command_before_synthesizing(template, stages):
    (synth,) = stages["Build"]
    commands = _buildspec(template, synth["Configuration"]["ProjectName"])["phases"]["build"]["commands"]
    assert commands == ["make test", "make synth"]
    image = _project(template, synth["Configuration"]["ProjectName"])["Environment"]["Image"]
    assert image == "aws/codebuild/standard:8.0"


def test_prod_waits_for_a_manual_approval_before_any_deployment(stages):
    (approval,) = _actions_of(stages["prod"], "Manual")
    first_deploy = min(action["RunOrder"] for action in _actions_of(stages["prod"], "CloudFormation"))
    assert approval["RunOrder"] < first_deploy


def test_the_prod_approver_first_sees_a_cdk_diff_of_the_assembly_being_approved(template, stages):
    (diff,) = [action for action in _actions_of(stages["prod"], "CodeBuild") if action["Name"] == "Diff"]
    (approval,) = _actions_of(stages["prod"], "Manual")
    assert diff["RunOrder"] < approval["RunOrder"]
    assert "The Diff action before this one shows what changes" in approval["Configuration"]["CustomData"]
    (synth,) = stages["Build"]
    assert diff["InputArtifacts"] == synth["OutputArtifacts"]  # the cloud assembly the deploy actions use
    commands = _buildspec(template, diff["Configuration"]["ProjectName"])["phases"]["build"]["commands"]
    cli = f"aws-cdk@{json.loads((ROOT / 'package.json').read_text())['devDependencies']['aws-cdk']}"
    assert commands == [f"npx --yes {cli} diff --app . --no-change-set --no-notices 'Pipeline/prod/**'"]


def test_the_diff_may_assume_only_the_bootstrap_lookup_roles_of_prods_account(pipeline_stack):
    role = pipeline_stack.diffs["prod"].project.role
    statements = pipeline_stack.resolve(role.node.find_child("DefaultPolicy").document.to_json())["Statement"]
    (assume,) = [statement for statement in statements if statement["Action"] == "sts:AssumeRole"]
    resources = json.dumps(assume["Resource"])
    for region in ("eu-west-1", "us-east-1"):
        assert f":iam::111111111111:role/cdk-hnb659fds-lookup-role-111111111111-{region}" in resources
    assert len(assume["Resource"]) == 2 and "deploy-role" not in resources


def test_the_diff_pattern_selects_exactly_prods_stacks_in_the_assembly(pipeline_assembly):
    stack, outdir = pipeline_assembly
    cdk_ls = [str(ROOT / "node_modules" / ".bin" / "cdk"), "ls", "--app", str(outdir), "Pipeline/prod/**"]
    result = subprocess.run(cdk_ls, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    # Every stack of the stage, a secondary region's (Pipeline/prod/UsWest2/Api) included.
    stacks = [node for node in stack.stages["prod"].node.find_all() if isinstance(node, cdk.Stack)]
    listed = {line.split(" ")[0] for line in result.stdout.splitlines()}
    assert listed == {each.node.path for each in stacks}


@pytest.mark.parametrize("name", ["dev", "staging"])
def test_earlier_environments_deploy_without_approval(stages, name):
    assert _actions_of(stages[name], "Manual") == []


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_each_environment_is_smoke_tested_after_its_deployment_with_its_outputs(template, stages, name):
    (smoke,) = [action for action in _actions_of(stages[name], "CodeBuild") if action["Name"] == "SmokeTest"]
    last_deploy = max(action["RunOrder"] for action in _actions_of(stages[name], "CloudFormation"))
    assert smoke["RunOrder"] > last_deploy
    variables = {v["name"]: v["value"] for v in json.loads(smoke["Configuration"]["EnvironmentVariables"])}
    # Stack outputs reach the step as CodePipeline variables of the deploy actions that produced them.
    assert re.fullmatch(r"#\{.*Api.*\.ApiUrl\}", variables["SMOKE_API_URL"])
    assert re.fullmatch(r"#\{.*Edge.*\.DistributionDomainName\}", variables["SMOKE_DISTRIBUTION_DOMAIN"])
    buildspec = _buildspec(template, smoke["Configuration"]["ProjectName"])
    assert buildspec["phases"]["build"]["commands"] == ["python3 scripts/smoke_test.py"]
    config = load_environment(name)
    read_only = config.functions.seed_product_count == 0
    environment = _project(template, smoke["Configuration"]["ProjectName"])["Environment"][
        "EnvironmentVariables"
    ]
    assert {variable["Name"]: variable["Value"] for variable in environment} == {
        "SMOKE_READ_ONLY": "1" if read_only else "0",
        "SMOKE_SETTLE_SECONDS": str(config.api.item_cache_ttl_seconds + 30),
    }


def test_prod_is_smoke_tested_read_only_and_holds_no_write_permission(pipeline_stack):
    assert load_environment("prod").functions.seed_product_count == 0
    prod_role = pipeline_stack.smoke_tests["prod"].project.role
    dev_role = pipeline_stack.smoke_tests["dev"].project.role
    template = Template.from_stack(pipeline_stack).to_json()

    def invoke_statements(role) -> list[dict]:
        role_id = pipeline_stack.resolve(role.node.default_child.logical_id)
        return [
            statement
            for policy in resources_of_type(template, "AWS::IAM::Policy").values()
            if {"Ref": role_id} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if statement["Action"] == "execute-api:Invoke"
        ]

    assert invoke_statements(prod_role) == []
    (statement,) = invoke_statements(dev_role)
    assert json.dumps(statement["Resource"]).endswith(':*/*/PUT/products/*"]]}')


def test_artifacts_are_kms_encrypted_and_access_logged(template):
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": Match.any_value(),
                        }
                    }
                ]
            },
            "LoggingConfiguration": {
                "DestinationBucketName": Match.any_value(),
                "LogFilePrefix": "artifacts/",
            },
        },
    )
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_cdk_nag_finds_nothing_unsuppressed_in_the_pipeline(pipeline_assembly):
    """Synth passed (an error would have stopped it); no warning is left either."""
    _, outdir = pipeline_assembly
    report = json.loads((outdir / "validation-report.json").read_text())
    assert [v["ruleName"] for plugin in report["pluginReports"] for v in plugin["violations"]] == []


@pytest.fixture(scope="module")
def unsuppressed_wildcard_findings(tmp_path_factory) -> dict[str, set[str]]:
    """The IAM5 findings cdk-nag reports per pipeline resource (logical id) with the pipeline suppressions
    left out: synth then fails, and its validation report lists every finding with its resource."""
    outdir = tmp_path_factory.mktemp("unsuppressed.out")
    app = new_app(outdir)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline_stack_module, "suppress_pipeline_findings", lambda *args, **kwargs: None)
        add_pipeline_if_configured(app, configs_with_source())
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((outdir / "validation-report.json").read_text())
    stack = app.node.find_child("Pipeline")
    logical_ids = {
        node.node.path: stack.resolve(node.logical_id)
        for node in stack.node.find_all()
        if cdk.CfnResource.is_cfn_resource(node) and cdk.Stack.of(node) is stack
    }
    findings: dict[str, set[str]] = {}
    for plugin in report["pluginReports"]:
        for violation in plugin["violations"]:
            match = re.fullmatch(r"AwsSolutions-IAM5\[(.+)\]", violation["ruleName"])
            for construct in violation["violatingConstructs"] if match else []:
                if construct["constructPath"] in logical_ids:
                    findings.setdefault(logical_ids[construct["constructPath"]], set()).add(match.group(1))
    return findings


def test_without_its_suppressions_the_pipeline_has_wildcard_findings(unsuppressed_wildcard_findings):
    """The comparison below means something only if cdk-nag really reports the generated roles' wildcards."""
    assert len(unsuppressed_wildcard_findings) >= 7
    assert all(findings for findings in unsuppressed_wildcard_findings.values())


def test_every_wildcard_suppression_names_exactly_the_findings_its_resource_has(
    template, unsuppressed_wildcard_findings
):
    """No blanket IAM5 suppression, no finding suppressed on a resource that does not have it, none twice."""
    suppressed: dict[str, list[str]] = {}
    for logical_id, resource in template.to_json()["Resources"].items():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            if rule["id"].startswith("AwsSolutions-IAM5"):
                finding = re.fullmatch(r"AwsSolutions-IAM5\[(.+)\]", rule["id"])
                assert finding, f"{logical_id}: IAM5 suppressed without naming its finding"
                suppressed.setdefault(logical_id, []).append(finding.group(1))
    for logical_id, entries in suppressed.items():
        assert len(entries) == len(set(entries)), f"{logical_id}: a finding suppressed twice"
    assert {key: set(entries) for key, entries in suppressed.items()} == unsuppressed_wildcard_findings


def test_the_suppressions_follow_an_account_and_region_pinned_in_config(tmp_path):
    """Pinned, ARNs carry the literal account and region: the suppressions must spell them the same way."""
    app = new_app(tmp_path)
    pinned = [
        dataclasses.replace(config, account="222222222222", region="eu-west-1")
        for config in configs_with_source()
    ]
    add_pipeline_if_configured(app, pinned)
    # A finding in a stage's own stacks is theirs to answer; only the pipeline template is judged here.
    with contextlib.suppress(RuntimeError):
        app.synth()
    report_file = tmp_path / "validation-report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {"pluginReports": []}
    in_pipeline = [
        f"{violation['ruleName']} on {construct['constructPath']}"
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
        if not construct["constructPath"].startswith(("Pipeline/dev/", "Pipeline/staging/", "Pipeline/prod/"))
    ]
    assert in_pipeline == []
    template = json.loads((tmp_path / "Pipeline.template.json").read_text())
    assert "222222222222" in json.dumps(template["Resources"])  # the pin reached the pipeline's own ARNs


def test_only_environments_the_smoke_test_writes_to_carry_the_execute_api_suppression(pipeline_stack):
    for name, smoke_test in pipeline_stack.smoke_tests.items():
        policy = smoke_test.project.role.node.find_child("DefaultPolicy").node.default_child
        rules = policy.get_metadata("cdk_nag")["rules_to_suppress"]
        entries = [rule["id"] for rule in rules]
        writes = load_environment(name).functions.seed_product_count > 0
        assert any(":execute-api:" in entry for entry in entries) == writes, name


def test_cfn_lint_finds_no_errors_in_the_pipeline_template(pipeline_assembly):
    stack, outdir = pipeline_assembly
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("cfn-lint")),
            "--format",
            "parseable",
            str(outdir / stack.template_file),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if re.search(r":E\d{4}:", line)]
    assert errors == [], result.stdout + result.stderr
    assert result.returncode in (0, 4, 8, 12), result.stdout + result.stderr  # 4/8: warnings/info only


def test_cdk_nag_runs_on_the_pipeline_stack(tmp_path):
    """A non-compliant resource in the pipeline stack stops synth: the rules really visit it."""
    from aws_cdk import aws_s3 as s3

    app = new_app(tmp_path)
    stack = add_pipeline_if_configured(app, configs_with_source())
    s3.Bucket(stack, "UnloggedBucket")
    with pytest.raises(RuntimeError, match=r"\(AwsSolutions\)\n\s+Pipeline/UnloggedBucket/Resource"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    s1 = [
        construct["constructPath"]
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        if violation["ruleName"] == "AwsSolutions-S1"
        for construct in violation["violatingConstructs"]
    ]
    assert s1 == ["Pipeline/UnloggedBucket/Resource"]


def test_the_pipeline_lives_with_prod_and_is_protected_like_it(pipeline_stack):
    prod = load_environment("prod")
    assert pipeline_stack.termination_protection == prod.termination_protection
    assert pipeline_stack.tags.tag_values() == dict(prod.tags)


def test_without_a_source_the_pipeline_is_skipped_with_one_line(tmp_path, capsys):
    app = new_app(tmp_path)
    assert add_pipeline_if_configured(app, [load_environment(name) for name in ENVIRONMENT_NAMES]) is None
    assert [child.node.id for child in app.node.children] == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("Pipeline stack skipped: no source configured")
    assert "pipeline.connection_arn" in err and "'prod'" in err


def test_the_pipeline_deploys_across_accounts_and_regions_with_kms_encrypted_replicas(pipeline_stack):
    """cross_account_keys: CodePipeline's artifact replicas in other regions (every stage's us-east-1 stack
    for its CloudFront web ACL) get rotated KMS keys, which other accounts' deploy roles can be granted."""
    codepipeline = pipeline_stack.pipeline.pipeline
    secondaries = load_environment("prod").global_datastore.secondary_regions
    assert set(codepipeline.cross_region_support) == {"us-east-1", pipeline_stack.region, *secondaries}
    support = codepipeline.cross_region_support["us-east-1"]
    template = Template.from_stack(support.stack).to_json()
    (key,) = resources_of_type(template, "AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    (bucket,) = resources_of_type(template, "AWS::S3::Bucket").values()
    encryption = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"


def test_a_pipeline_source_needs_prod_pinned_to_an_account(tmp_path):
    from config import ConfigError, parse_environment
    from config.environments import ENVIRONMENTS

    raw = {**ENVIRONMENTS["prod"], "pipeline": {"connection_arn": CONNECTION, "repository": REPOSITORY}}
    with pytest.raises(
        ConfigError, match=r"^environments\.prod\.account: None is not allowed; expected a 12-digit"
    ):
        parse_environment("prod", raw)
