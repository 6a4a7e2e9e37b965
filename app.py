#!/usr/bin/env python3
"""Chooses the environments to synthesize: ``-c env=NAME`` for one, none for all of them."""

from __future__ import annotations

import sys

try:
    import aws_cdk as cdk
except ModuleNotFoundError:
    # cdk.json runs `python3 app.py`: outside the venv that is the machine's Python, without the CDK library.
    sys.exit(f"{sys.executable} has no aws_cdk: run: source .venv/bin/activate (or make setup)")

from caching_constructs.core.rules import InvalidValue
from config import ENVIRONMENT_NAMES, ConfigError, load_environment
from config.loader import has_alarm_subscribers
from config.quotas import check_shared_quotas
from stacks.compliance import apply_compliance_checks
from stacks.pipeline_stack import add_pipeline_if_configured
from stacks.stage import CachingStage


def main() -> None:
    app = cdk.App()
    requested = app.node.try_get_context("env")
    try:
        configs = [load_environment(name) for name in ([requested] if requested else ENVIRONMENT_NAMES)]
        # Environments that share an account and region add up; one alone can still exceed a new account's.
        check_shared_quotas(configs)
        for config in configs:
            if not has_alarm_subscribers(config.monitoring):
                print(
                    f"{config.name}: alarms notify nobody (no monitoring.alarm_emails, alarm_topic_arns or "
                    "alarm_slack_channels); they show on the dashboard only.",
                    file=sys.stderr,
                )
            try:
                CachingStage(app, config.name, config=config)
            except InvalidValue as error:
                # A construct refused a value the loader let through (a gap in config/loader.py): the user
                # still gets one line naming the environment, the prop and the value, not a traceback.
                raise ConfigError(f"environments.{config.name}: {error}") from None
    except ConfigError as error:
        sys.exit(f"Configuration error: {error}")
    if not requested:
        # The pipeline deploys every environment, so it belongs only to the all-environments synth.
        add_pipeline_if_configured(app, configs)
    # The App's own stacks (the pipeline); every CachingStage checks itself.
    apply_compliance_checks(app)
    app.synth()


if __name__ == "__main__":
    main()
