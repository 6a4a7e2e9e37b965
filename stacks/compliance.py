"""AWS's own policy rules, run by CDK's policy-validation framework at every synth.

* cdk-nag 3's AWS Solutions pack. cdk-nag 3 is a validation plugin, not an Aspect; it walks the construct
  tree it is handed. CDK hands every plugin the whole app, so one pack per stage would report every other
  stage's findings too: ``StageNagChecks`` runs the pack over its own stage only, leaving nested stages to
  their own registration.
* The Control Tower proactive controls, as CloudFormation Guard rules (cdklabs-cdk-validator-cfnguard). CDK
  hands this plugin the templates of the stage it is registered on, nested stages included, so it is added to
  the environments' stages only (``CachingStage``), never to the App.

A finding that is not acknowledged (``caching_constructs.core.nag``) fails synth; the report is written to
``<cdk.out>/validation-report.json``.
"""

from __future__ import annotations

import builtins
import functools
import json
import re
import tarfile
from pathlib import Path
from typing import cast

import aws_cdk as cdk
import jsii
from aws_cdk import aws_logs as logs
from cdk_nag import AwsSolutionsChecks
from cdklabs.cdk_validator_cfnguard import CfnGuardValidator

from caching_constructs.core.nag import GUARD_PLUGIN, exempt_control
from constructs import IConstruct

NAG_PLUGIN = "AwsSolutions"
_REGISTERED = "caching:policy-validation"


@jsii.implements(cdk.IPolicyValidationPlugin)
class StageNagChecks:
    """cdk-nag's AWS Solutions rules over one stage's own stacks (not those of stages nested in it)."""

    def __init__(self, stage: cdk.Stage) -> None:
        self._stage = stage
        # The acknowledgments also go into each resource's template Metadata (cdk_nag.rules_to_suppress),
        # so the deployed templates carry the audit trail.
        self._pack = AwsSolutionsChecks(stage, verbose=True, write_suppressions_to_cloud_formation=True)

    @builtins.property
    def name(self) -> str:
        return NAG_PLUGIN

    @builtins.property
    def version(self) -> str | None:
        return self._pack.version

    @builtins.property
    def rule_ids(self) -> list[str] | None:
        return None

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        report = self._pack.validate_scope(self._stage)
        if not report.violations:
            return report
        nested = [
            child.node.path + "/"
            for child in self._stage.node.find_all()
            if cdk.Stage.is_stage(child) and child.node.path != self._stage.node.path
        ]
        violations = []
        for violation in report.violations:
            resources = [
                resource
                for resource in violation.violating_resources
                if not any((resource.construct_path or "").startswith(prefix) for prefix in nested)
            ]
            if resources:
                violations.append(
                    cdk.PolicyViolation(
                        rule_name=violation.rule_name,
                        description=violation.description,
                        severity=violation.severity,
                        fix=violation.fix,
                        rule_metadata=violation.rule_metadata,
                        violating_resources=resources,
                    )
                )
        return cdk.PolicyValidationPluginReport(success=not violations, violations=violations)


@jsii.implements(cdk.IPolicyValidationPlugin)
class ControlTowerChecks:
    """The bundled Control Tower proactive controls (``CfnGuardValidator``), each run only where it can apply.

    cfn-guard's time grows with the rules it loads: all 237 take ~9 s per environment, which every synth
    (and every test that synthesizes) would pay. A rule that names none of the resource types in the
    templates can only skip, so at validation time the rules are narrowed to those naming a type that is
    present (about 90). Nothing is lost: a new resource type brings its rules back on its own.
    """

    def __init__(self) -> None:
        self._rule_types = _control_tower_rule_types()

    @builtins.property
    def name(self) -> str:
        return GUARD_PLUGIN

    @builtins.property
    def version(self) -> str | None:
        return None

    @builtins.property
    def rule_ids(self) -> list[str] | None:
        return None

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        present: set[str] = set()
        for path in context.template_paths:
            resources = json.loads(Path(path).read_text()).get("Resources", {})
            present.update(resource.get("Type", "") for resource in resources.values())
        idle = sorted(rule for rule, types in self._rule_types.items() if types and not types & present)
        # cfn-guard prints one JSON document for all templates; the default 1 MB buffer is too small for a
        # whole environment's results, and an overflow would fail synth with ENOBUFS instead of a report.
        report = CfnGuardValidator(disabled_rules=idle, max_buffer=64 * 1024 * 1024).validate(context)
        # The plugin still speaks the Beta1 types; CDK wants this interface's own report back.
        return cdk.PolicyValidationPluginReport(
            success=report.success,
            violations=[
                cdk.PolicyViolation(
                    rule_name=violation.rule_name,
                    description=violation.description,
                    fix=violation.fix,
                    rule_metadata=violation.rule_metadata,
                    severity=violation.severity,
                    violating_resources=[
                        cdk.PolicyViolatingResource(
                            locations=resource.locations,
                            resource_logical_id=resource.resource_logical_id,
                            template_path=resource.template_path,
                        )
                        for resource in violation.violating_resources
                    ],
                )
                for violation in report.violations
            ],
        )


@functools.cache
def _control_tower_rule_types() -> dict[str, frozenset[str]]:
    """Guard rule file name (``ct-s3-pr-1``) -> the CloudFormation resource types it names, read from the
    rules the installed plugin bundles."""
    import cdklabs.cdk_validator_cfnguard as plugin

    (bundle,) = (Path(plugin.__file__).parent / "_jsii").glob("*.tgz")
    rule_types = {}
    with tarfile.open(bundle) as archive:
        for member in archive.getmembers():
            extracted = archive.extractfile(member)
            if extracted is not None and member.name.endswith(".guard") and "/control-tower/" in member.name:
                text = extracted.read().decode()
                stem = Path(member.name).stem
                rule_types[stem] = frozenset(re.findall(r'"(AWS::[A-Za-z0-9]+::[A-Za-z0-9]+)"', text))
    return rule_types


def apply_compliance_checks(scope: IConstruct, *, control_tower: bool = False) -> None:
    """Run cdk-nag (and with ``control_tower`` the Control Tower proactive controls) over the stage
    ``scope`` when the app synthesizes. Call it once per stage: ``CachingStage`` does so for itself with
    both, ``app.py`` for the App's own stacks (the pipeline) with cdk-nag."""
    stage = cast(cdk.Stage, scope) if cdk.Stage.is_stage(scope) else cdk.Stage.of(scope)
    if stage is None:
        raise ValueError(f"{scope.node.path}: policy validation runs per stage; this construct has none")
    # Once per stage (the pipeline stack asks for its App, and so does app.py): a second set of plugins
    # would report every finding twice.
    if any(entry.type == _REGISTERED for entry in stage.node.metadata):
        return
    stage.node.add_metadata(_REGISTERED, "AwsSolutions" + (" + Control Tower" if control_tower else ""))
    plugins: list[cdk.IPolicyValidationPlugin] = [StageNagChecks(stage)]
    if control_tower:
        plugins.append(ControlTowerChecks())
    cdk.Validations.of(stage).add_plugins(*plugins)


AUDIT_RETENTION_DAYS = 365
"""Control Tower CT.CLOUDWATCH.PR.2 wants a year of every log group."""


def exempt_log_groups(stage: cdk.Stage, *, customer_managed_keys: bool) -> None:
    """Exempt each of the stage's log groups, on that log group, from the two Control Tower log controls it
    deliberately does not meet: a retention under a year (set per environment in config), and, with
    ``security.customer_managed_keys`` off, encryption by CloudWatch Logs' own key."""
    for node in stage.node.find_all():
        owner = cdk.Stage.of(node)
        if not isinstance(node, logs.CfnLogGroup) or owner is None or owner.node.path != stage.node.path:
            continue
        days = node.retention_in_days
        if isinstance(days, (int, float)) and days < AUDIT_RETENTION_DAYS:
            exempt_control(
                node,
                "CT.CLOUDWATCH.PR.2",
                f"Operational logs kept {int(days)} days, the retention this environment's config sets for "
                "them: they serve debugging, not audit (CloudTrail keeps who changed what), and a year of "
                "every function's and the VPC's logs would cost more than it tells.",
            )
        if node.kms_key_id is None and not customer_managed_keys:
            exempt_control(
                node,
                "CT.CLOUDWATCH.PR.3",
                "Encrypted with CloudWatch Logs' own key: customer-managed keys are off in this environment "
                "by config (security.customer_managed_keys=false).",
            )
