"""Secrets Manager reads, cached per container. boto3 comes with the Lambda runtime and is imported on the
first read, so a function that never reads a secret never pays for it.

(Powertools Parameters did the same with 2 MiB of asset; this is the part of it the library used.)
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

SECRET_MAX_AGE_SECONDS = 300  # picks up a rotated secret within 5 minutes without a call per request

_lock = threading.Lock()
_client: Any = None
_values: dict[str, tuple[float, str]] = {}


def get_secret(arn: str, *, force_fetch: bool = False) -> str:
    """The secret string of ``arn``, cached for :data:`SECRET_MAX_AGE_SECONDS` (``force_fetch`` bypasses the
    cache: a rotated password was just refused)."""
    global _client
    cached = _values.get(arn)
    if cached is not None and not force_fetch and time.monotonic() - cached[0] < SECRET_MAX_AGE_SECONDS:
        return cached[1]
    with _lock:
        if _client is None:
            import boto3

            _client = boto3.client("secretsmanager")
        client = _client
    reply = client.get_secret_value(SecretId=arn)
    value = reply["SecretString"] if "SecretString" in reply else reply["SecretBinary"].decode("utf-8")
    _values[arn] = (time.monotonic(), value)
    return value


def clear_cache() -> None:
    """Forget cached values and the client (tests; a new container starts this way)."""
    global _client
    with _lock:
        _client = None
        _values.clear()


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
