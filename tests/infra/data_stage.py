"""Builds only the Network and Data stacks of one environment config, for data-tier variants (e.g. Memcached)
that the full stage does not deploy."""

from __future__ import annotations

import aws_cdk as cdk

from config.schema import EnvironmentConfig
from stacks.cdk_values import removal_policy
from stacks.compliance import apply_compliance_checks
from stacks.data_stack import DataStack
from stacks.network_stack import NetworkStack
from tests.infra.conftest import new_app


def data_stack_for(config: EnvironmentConfig, outdir) -> DataStack:
    """A synthesized DataStack (with cdk-nag run over it) built from ``config``."""
    app = new_app(outdir)
    stage = cdk.Stage(app, config.name)
    network = NetworkStack(
        stage,
        "Network",
        network=config.network,
        removal_policy=removal_policy("destroy", supports_snapshot=False),
    )
    data = DataStack(
        stage,
        "Data",
        vpc=network.vpc,
        application_security_group=network.application_security_group,
        cache_security_group=network.cache_security_group,
        database_security_group=network.database_security_group,
        dax_security_group=network.dax_security_group,
        secrets_manager_endpoint=network.secrets_manager_endpoint,
        cache=config.cache,
        database=config.database,
        dax=config.dax,
        removal_policy=removal_policy(config.removal_policy, supports_snapshot=True),
        deletion_protection=config.deletion_protection,
    )
    apply_compliance_checks(stage)
    app.synth()
    return data
