"""Reading synthesized templates out of a cloud assembly, and synthesizing one without the CDK CLI.

A cloud assembly holds one nested assembly per ``CachingStage`` (``assembly-dev`` ...), each listing its
stacks and their template files. Stacks outside a stage (the delivery pipeline) belong to no environment and
are left out of the estimates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

Template = dict[str, Any]
StackTemplates = dict[str, Template]
"""Stack name within its stage (``Network``, ``Data``, ...) to its CloudFormation template."""


def load_assembly(directory: Path) -> dict[str, StackTemplates]:
    """Every environment's templates in ``directory``: a whole cloud assembly or one stage's nested one."""
    manifest_file = directory / "manifest.json"
    if not manifest_file.is_file():
        raise FileNotFoundError(f"{directory} is not a cloud assembly (no manifest.json): synthesize first")
    manifest = json.loads(manifest_file.read_text())
    environments: dict[str, StackTemplates] = {}
    stacks: StackTemplates = {}
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        properties = artifact.get("properties", {})
        if artifact["type"] == "cdk:cloud-assembly":
            nested = load_assembly(directory / properties["directoryName"])
            environments.update(nested)
        elif artifact["type"] == "aws:cloudformation:stack":
            name = artifact.get("displayName", artifact_id)
            stacks[name] = json.loads((directory / properties["templateFile"]).read_text())
    if stacks and all("/" in name for name in stacks):
        environment = next(iter(stacks)).split("/", 1)[0]
        environments[environment] = {name.split("/", 1)[1]: template for name, template in stacks.items()}
    return environments


def synthesize(outdir: Path, environment: str | None = None) -> Path:
    """Run ``app.py`` as ``cdk synth`` does, with bundling skipped: prices don't depend on the bundle, and
    skipping it needs no network (pip) and no Docker. The CDK's feature flags come from ``cdk.json``."""
    context = dict(json.loads((ROOT / "cdk.json").read_text())["context"])
    context["aws:cdk:bundling-stacks"] = []
    if environment:
        context["env"] = environment
    env = {**os.environ, "CDK_OUTDIR": str(outdir), "CDK_CONTEXT_JSON": json.dumps(context)}
    outdir.mkdir(parents=True, exist_ok=True)
    # The interpreter running this module and the repository's own app.py: no user input reaches the command.
    subprocess.run([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, check=True)  # noqa: S603
    return outdir
