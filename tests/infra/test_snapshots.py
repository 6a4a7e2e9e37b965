"""A snapshot per stack and environment, asset hashes masked. Refresh with `make snapshots`."""

from __future__ import annotations

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from config import ENVIRONMENT_NAMES
from tests.infra.conftest import stack_label
from tests.infra.templates import masked


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.with_defaults(extension_class=JSONSnapshotExtension)


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_every_stack_template_matches_its_snapshot(synthesized, name, snapshot_json):
    env = synthesized[name]
    for stack in env.stacks():
        assert masked(env.template(stack).to_json()) == snapshot_json(name=stack_label(stack))
