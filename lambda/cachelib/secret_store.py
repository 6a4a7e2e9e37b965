"""Secrets Manager reads, cached per container (Powertools Parameters), imported lazily for cold start."""

from __future__ import annotations

import json
from typing import Any

SECRET_MAX_AGE_SECONDS = 300  # picks up a rotated secret within 5 minutes without a call per request


def get_secret(arn: str, *, force_fetch: bool = False) -> str:
    """The secret string of ``arn``, cached for :data:`SECRET_MAX_AGE_SECONDS`."""
    from aws_lambda_powertools.utilities import parameters

    value: Any = parameters.get_secret(arn, max_age=SECRET_MAX_AGE_SECONDS, force_fetch=force_fetch)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def parse_credentials(secret: str, default_username: str | None = None) -> tuple[str | None, str]:
    """``(username, password)`` from a plain token or a JSON ``{"username", "password"}`` secret."""
    text = secret.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("password"), str):
            username = data.get("username")
            if not isinstance(username, str) or not username:
                username = default_username
            return username, data["password"]
    return default_username, text
