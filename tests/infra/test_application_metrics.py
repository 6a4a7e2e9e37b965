"""The caching library's EMF metrics carry the environment as a dimension, named as the contract names it
(``caching_contract.metrics``) and read from the variable the functions receive it in.

(Run here rather than under tests/runtime: it needs no server, only the library.)
"""

from __future__ import annotations

import io
import json

import pytest

from cachelib import metrics as library
from caching_contract import metrics, variables


def _documents(recorder: library.CacheMetrics, invocations: int) -> list[dict]:
    stream = io.StringIO()
    for _ in range(invocations):
        recorder.incr(metrics.CACHE_ERROR)
        recorder.emit(stream)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_every_emf_document_carries_service_and_environment(monkeypatch, environment):
    monkeypatch.setenv(variables.ENVIRONMENT, environment)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    documents = _documents(library.CacheMetrics("CachingArchitecture", "product-api"), invocations=2)
    assert len(documents) == 2  # every invocation's document, not only the first
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "CachingArchitecture"
        assert set(directive["Dimensions"][0]) == {"service", "environment"}
        assert document["environment"] == environment and document["service"] == "product-api"
        assert document[metrics.CACHE_ERROR] == 1


def test_without_the_variable_no_environment_dimension_is_invented(monkeypatch):
    monkeypatch.delenv(variables.ENVIRONMENT, raising=False)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    (document,) = _documents(library.CacheMetrics("CachingArchitecture", "product-api"), invocations=1)
    assert "environment" not in document
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
