"""Builds only the Network and Data stacks of one environment config, for data-tier variants (e.g. Memcached)
that the full stage does not deploy."""

from __future__ import annotations

import aws_cdk as cdk

from caching_constructs.core.nag import suppress_cdk_singletons
from config.schema import EnvironmentConfig
from stacks.compliance import apply_compliance_checks
from stacks.data_stack import DataStack
from stacks.stage import add_network_and_data
from tests.infra.conftest import new_app


def data_stack_for(config: EnvironmentConfig, outdir) -> DataStack:
    """A synthesized DataStack (cdk-nag run over it) built from ``config``, wired as the stage wires it."""
    app = new_app(outdir)
    stage = cdk.Stage(app, config.name)
    _, data = add_network_and_data(stage, config)
    apply_compliance_checks(stage)
    suppress_cdk_singletons(stage)
    app.synth()
    return data
