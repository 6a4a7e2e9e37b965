"""One synthesis of every environment, shared by all template tests (bundling is skipped: not under test)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from config import ENVIRONMENT_NAMES, EnvironmentConfig, load_environment
from stacks.stage import CachingStage

ROOT = Path(__file__).resolve().parents[2]


def cdk_json_context() -> dict:
    """The feature flags from cdk.json, so tests synthesize exactly as `cdk synth` does."""
    return json.loads((ROOT / "cdk.json").read_text())["context"]


def new_app(outdir: Path, *, bundle: bool = False) -> cdk.App:
    context = dict(cdk_json_context())
    if not bundle:
        context["aws:cdk:bundling-stacks"] = []
    return cdk.App(context=context, outdir=str(outdir))


@dataclass(frozen=True)
class SynthesizedEnvironment:
    config: EnvironmentConfig
    stage: CachingStage
    assembly: cdk.cx_api.CloudAssembly

    def template(self, stack: cdk.Stack) -> Template:
        return Template.from_stack(stack)

    def stacks(self) -> list[cdk.Stack]:
        """Every stack in the stage's assembly, once: the secondary regions' sit one scope deeper (under
        their ``SecondaryRegion``), so the stage's direct children alone would miss them."""
        return [node for node in self.stage.node.find_all() if isinstance(node, cdk.Stack)]


def stack_label(stack: cdk.Stack) -> str:
    """The stack's path inside its stage, unique there and usable in a file name: ``Network`` for the
    primary's, ``UsWest2-Network`` for a secondary region's (``node.id`` alone repeats across regions)."""
    return stack.node.path.split("/", 1)[1].replace("/", "-")


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory) -> dict[str, SynthesizedEnvironment]:
    """Every environment, synthesized once for the whole session."""
    app = new_app(tmp_path_factory.mktemp("cdk.out"))
    stages = {name: CachingStage(app, name, config=load_environment(name)) for name in ENVIRONMENT_NAMES}
    app.synth()
    return {
        name: SynthesizedEnvironment(config=stage.config, stage=stage, assembly=stage.synth())
        for name, stage in stages.items()
    }


@pytest.fixture(scope="session")
def dev(synthesized) -> SynthesizedEnvironment:
    return synthesized["dev"]


@pytest.fixture(scope="session")
def staging(synthesized) -> SynthesizedEnvironment:
    return synthesized["staging"]


@pytest.fixture(scope="session")
def prod(synthesized) -> SynthesizedEnvironment:
    return synthesized["prod"]


@pytest.fixture(scope="session")
def staging_memcached(tmp_path_factory) -> SynthesizedEnvironment:
    """staging with ``cache.engine: memcached`` (``tests/infra/memcached_stage.py``), synthesized on its own;
    cdk-nag and the Control Tower rules run inside the stage, and a finding without an exemption raises."""
    from tests.infra.memcached_stage import memcached_staging_config

    config = memcached_staging_config()
    app = new_app(tmp_path_factory.mktemp("staging-memcached.out"))
    stage = CachingStage(app, config.name, config=config)
    app.synth()
    return SynthesizedEnvironment(config=config, stage=stage, assembly=stage.synth())


@pytest.fixture(scope="session")
def staging_serverless(tmp_path_factory) -> SynthesizedEnvironment:
    """staging with ``cache.mode: serverless`` (``tests/infra/serverless_stage.py``), synthesized on its own;
    cdk-nag and the Control Tower rules run inside the stage, and a finding without an exemption raises."""
    from tests.infra.serverless_stage import serverless_staging_config

    config = serverless_staging_config()
    app = new_app(tmp_path_factory.mktemp("staging-serverless.out"))
    stage = CachingStage(app, config.name, config=config)
    app.synth()
    return SynthesizedEnvironment(config=config, stage=stage, assembly=stage.synth())


@pytest.fixture(scope="session")
def dev_without_hardening(tmp_path_factory) -> SynthesizedEnvironment:
    """dev with every ``security`` switch off (no customer-managed keys, versioning or web ACLs)."""
    import dataclasses

    base = load_environment("dev")
    config = dataclasses.replace(
        base,
        security=dataclasses.replace(
            base.security, customer_managed_keys=False, bucket_versioning=False, web_acls=False
        ),
    )
    app = new_app(tmp_path_factory.mktemp("unhardened.out"))
    stage = CachingStage(app, "dev", config=config)
    app.synth()  # a finding without an exemption raises
    return SynthesizedEnvironment(config=config, stage=stage, assembly=stage.synth())
