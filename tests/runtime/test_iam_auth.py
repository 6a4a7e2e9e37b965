"""The ElastiCache IAM auth token (cachelib.iam_auth) against a fixed clock and fixed credentials: its shape
as the AWS documentation gives it, its signature recomputed by hand, its expiry and refresh, and the 12-hour
connection recycling on a real redis-server."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import time
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import redis
from botocore.credentials import ReadOnlyCredentials

from cachelib import iam_auth
from cachelib.connections import redis_connection_kwargs
from cachelib.errors import ConfigurationError
from cachelib.settings import Settings

NOW = datetime.datetime(2025, 1, 2, 3, 4, 5)
NOW_EPOCH = NOW.replace(tzinfo=datetime.UTC).timestamp()
CREDENTIALS = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: NOW)


def _token(**overrides: object) -> str:
    props = {
        "user_id": "dev-data-productapi",
        "cache_name": "dev-cache-rg",
        "region": "eu-west-1",
        "credentials": CREDENTIALS,
        **overrides,
    }
    return iam_auth.presigned_token(**props)  # type: ignore[arg-type]


def _signature(token: str, region: str) -> str:
    """SigV4 query signing, written out from the AWS documentation rather than taken from botocore."""
    host, _, query = token.partition("/?")
    params = [(k, v) for k, v in parse_qsl(query) if k != "X-Amz-Signature"]
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params))
    canonical = f"GET\n/\n{canonical_query}\nhost:{host}\n\nhost\n{hashlib.sha256(b'').hexdigest()}"
    scope = f"20250102/{region}/elasticache/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n20250102T030405Z\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = ("AWS4" + CREDENTIALS.secret_key).encode()
    for part in ("20250102", region, "elasticache", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def test_the_token_is_the_presigned_connect_request_without_its_scheme(fixed_clock):
    token = _token()
    assert not token.startswith("https://")
    url = urlsplit("https://" + token)
    assert (url.netloc, url.path) == ("dev-cache-rg", "/")
    query = dict(parse_qsl(url.query))
    assert query == {
        "Action": "connect",
        "User": "dev-data-productapi",
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": "AKIDEXAMPLE/20250102/eu-west-1/elasticache/aws4_request",
        "X-Amz-Date": "20250102T030405Z",
        "X-Amz-Expires": "900",
        "X-Amz-SignedHeaders": "host",
        "X-Amz-Security-Token": "session-token",
        "X-Amz-Signature": query["X-Amz-Signature"],
    }
    assert query["X-Amz-Signature"] == _signature(token, "eu-west-1")


def test_a_serverless_token_names_the_resource_type(fixed_clock):
    token = _token(serverless=True, cache_name="dev-serverless")
    query = dict(parse_qsl(urlsplit("https://" + token).query))
    assert query["ResourceType"] == "ServerlessCache" and query["Action"] == "connect"
    assert query["X-Amz-Signature"] == _signature(token, "eu-west-1")


def test_the_same_inputs_sign_the_same_token_and_another_user_another(fixed_clock):
    assert _token() == _token()
    assert _token() != _token(user_id="dev-data-cachewarmer")


class _Clock:
    def __init__(self) -> None:
        self.now = NOW_EPOCH

    def __call__(self) -> float:
        return self.now


def test_a_token_is_reused_until_a_minute_before_it_expires_then_signed_again(fixed_clock):
    clock, signed = _Clock(), []

    def credentials() -> ReadOnlyCredentials:
        signed.append(clock.now)
        return CREDENTIALS

    provider = iam_auth.IamAuthTokenProvider(
        user_id="u", cache_name="c", region="eu-west-1", credentials=credentials, clock=clock
    )
    user, first = provider.get_credentials()
    assert user == "u" and provider.expires_at == NOW_EPOCH + 900
    clock.now += 900 - 60 - 1
    assert provider.get_credentials()[1] == first and len(signed) == 1
    clock.now += 1  # 14 minutes in: a new connection gets a new token, valid another 15 minutes
    provider.get_credentials()
    assert len(signed) == 2 and provider.expires_at == clock.now + 900


def test_no_credentials_is_a_connection_error_the_breaker_handles():
    def missing() -> ReadOnlyCredentials:
        raise RuntimeError("no credentials")

    provider = iam_auth.IamAuthTokenProvider(user_id="u", cache_name="c", region="r", credentials=missing)
    with pytest.raises(redis.exceptions.ConnectionError, match="cannot sign"):
        provider.get_credentials()


def test_iam_auth_settings_choose_the_token_provider_and_need_user_cache_and_region():
    settings = Settings.from_env(
        {
            "REDIS_HOST": "h",
            "REDIS_IAM_AUTH": "true",
            "REDIS_USERNAME": "dev-data-productapi",
            "REDIS_CACHE_NAME": "rg",
            "AWS_REGION": "eu-west-1",
            "REDIS_SERVERLESS": "true",
        }
    )
    provider = redis_connection_kwargs(settings)["credential_provider"]
    assert isinstance(provider, iam_auth.IamAuthTokenProvider)
    assert (provider.user_id, provider.cache_name, provider.region, provider.serverless) == (
        "dev-data-productapi",
        "rg",
        "eu-west-1",
        True,
    )
    with pytest.raises(ConfigurationError, match="REDIS_IAM_AUTH"):
        Settings.from_env({"REDIS_HOST": "h", "REDIS_IAM_AUTH": "true", "AWS_REGION": "eu-west-1"})


def test_a_connection_older_than_the_limit_is_replaced_on_checkout(redis_server):
    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    iam_auth.recycle_client_connections(client, max_age_seconds=0.3)
    first = client.client_id()
    assert client.client_id() == first  # young: reused
    time.sleep(0.35)
    second = client.client_id()
    assert second != first  # old: closed and reopened (a new AUTH, a fresh token)
    assert client.client_id() == second
    client.close()


def test_cluster_nodes_found_later_are_recycled_too(redis_cluster):
    from redis.cluster import RedisCluster

    host, port = redis_cluster.startup
    client = RedisCluster(host=host, port=port)
    iam_auth.recycle_client_connections(client, max_age_seconds=0.3)
    pools = [node.redis_connection.connection_pool for node in client.get_nodes()]
    assert all(
        pool.get_connection.__name__ == "get_connection"
        and "checkout" in pool.get_connection.__code__.co_freevars
        for pool in pools
    )
    node_client = client.nodes_manager.create_redis_node(host=host, port=port)
    assert "checkout" in node_client.connection_pool.get_connection.__code__.co_freevars
    client.close()
