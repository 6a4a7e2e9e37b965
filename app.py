#!/usr/bin/env python3
"""Chooses the environments to synthesize: ``-c env=NAME`` for one, none for all of them."""

from __future__ import annotations

import sys

import aws_cdk as cdk

from config import ENVIRONMENT_NAMES, ConfigError, load_environment
from stacks.compliance import apply_compliance_checks
from stacks.pipeline_stack import add_pipeline_if_configured
from stacks.stage import CachingStage


def main() -> None:
    app = cdk.App()
    requested = app.node.try_get_context("env")
    try:
        configs = [load_environment(name) for name in ([requested] if requested else ENVIRONMENT_NAMES)]
        for config in configs:
            CachingStage(app, config.name, config=config)
    except ConfigError as error:
        sys.exit(f"Configuration error: {error}")
    if not requested:
        # The pipeline deploys every environment, so it belongs only to the all-environments synth.
        add_pipeline_if_configured(app, configs)
    apply_compliance_checks(app)
    app.synth()


if __name__ == "__main__":
    main()
