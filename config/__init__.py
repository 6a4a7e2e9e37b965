"""Per-environment configuration: ``load_environment("dev")`` returns a frozen, validated config."""

from __future__ import annotations

from config.environments import ENVIRONMENTS
from config.loader import parse_environment
from config.schema import ConfigError, EnvironmentConfig

ENVIRONMENT_NAMES: tuple[str, ...] = tuple(ENVIRONMENTS)


def load_environment(name: str) -> EnvironmentConfig:
    """The validated config of environment ``name``; an unknown name raises a one-line ``ConfigError``."""
    if name not in ENVIRONMENTS:
        raise ConfigError(f"env: {name!r} is not allowed; expected one of {', '.join(ENVIRONMENT_NAMES)}")
    return parse_environment(name, ENVIRONMENTS[name])


__all__ = ["ENVIRONMENT_NAMES", "ConfigError", "EnvironmentConfig", "load_environment", "parse_environment"]
