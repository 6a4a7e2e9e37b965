"""Helpers for reading synthesized templates in tests."""

from __future__ import annotations

import json
import re
from typing import Any

_ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def masked(template: dict[str, Any]) -> dict[str, Any]:
    """The template with every asset hash replaced, so snapshots are stable across machines and bundles."""
    return json.loads(_ASSET_HASH.sub("<asset-hash>", json.dumps(template, sort_keys=True)))


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource["Type"] == resource_type
    }
