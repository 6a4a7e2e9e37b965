"""The pipeline's source is configured on prod, the environment that owns the pipeline, and nowhere else."""

from __future__ import annotations

import copy

import pytest

from config import ConfigError, parse_environment
from config.environments import ENVIRONMENTS

CONNECTION = "arn:aws:codeconnections:eu-west-1:111111111111:connection/0a1b2c3d"


def _with_source(name: str) -> dict:
    raw = copy.deepcopy(ENVIRONMENTS[name])
    raw["pipeline"] = {"connection_arn": CONNECTION, "repository": "example/caching-architecture"}
    if name == "prod":  # a pipeline deploys across accounts and regions: its stack must be pinned
        raw.update(account="111111111111", region="eu-west-1")
        # The pinned region is now the Global Datastore's primary: naming another one would be refused.
        raw["global_datastore"] = {**raw["global_datastore"], "primary_region": None}
    return raw


def test_prod_accepts_a_pipeline_source():
    pipeline = parse_environment("prod", _with_source("prod")).pipeline
    assert (pipeline.connection_arn, pipeline.repository, pipeline.branch) == (
        CONNECTION,
        "example/caching-architecture",
        "main",
    )


@pytest.mark.parametrize("name", ["dev", "staging"])
def test_a_pipeline_source_outside_prod_is_rejected_instead_of_ignored(name):
    with pytest.raises(
        ConfigError, match=rf"^environments\.{name}\.pipeline\.connection_arn: .* null outside prod$"
    ):
        parse_environment(name, _with_source(name))


def test_a_connection_without_a_repository_is_rejected():
    raw = copy.deepcopy(ENVIRONMENTS["prod"])
    raw["pipeline"] = {"connection_arn": CONNECTION}
    with pytest.raises(
        ConfigError, match=r"pipeline\.connection_arn: .* connection_arn and repository together"
    ):
        parse_environment("prod", raw)
