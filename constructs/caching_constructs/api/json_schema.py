"""API Gateway ``JsonSchema`` models from plain JSON-schema (draft 4) dictionaries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import aws_apigateway as apigw


def json_schema(schema: Mapping[str, Any]) -> apigw.JsonSchema:
    """``JsonSchema`` from a plain draft-4 dict (only the keywords the body models here use)."""
    kinds = {
        "object": apigw.JsonSchemaType.OBJECT,
        "string": apigw.JsonSchemaType.STRING,
        "number": apigw.JsonSchemaType.NUMBER,
        "integer": apigw.JsonSchemaType.INTEGER,
        "boolean": apigw.JsonSchemaType.BOOLEAN,
    }
    names = {
        "title": "title",
        "required": "required",
        "enum": "enum",
        "minLength": "min_length",
        "maxLength": "max_length",
        "minimum": "minimum",
        "maximum": "maximum",
        "pattern": "pattern",
        "additionalProperties": "additional_properties",
    }
    options: dict[str, Any] = {}
    if "$schema" in schema:
        options["schema"] = apigw.JsonSchemaVersion.DRAFT4
    kind = schema.get("type")
    if isinstance(kind, str):
        options["type"] = kinds[kind]
    elif kind is not None:
        options["type"] = [kinds[k] for k in kind]
    for key, name in names.items():
        if key in schema:
            options[name] = schema[key]
    if "properties" in schema:
        options["properties"] = {key: json_schema(value) for key, value in schema["properties"].items()}
    unknown = set(schema) - {*names, "$schema", "type", "properties"}
    if unknown:
        raise ValueError(f"unsupported JSON schema keyword(s): {sorted(unknown)}")
    return apigw.JsonSchema(**options)
