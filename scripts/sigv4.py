"""AWS Signature Version 4 for one HTTP request (the smoke test's IAM-signed writes).

``find_signer`` prefers botocore when it is importable (a laptop with the AWS CLI or boto3 installed, most
CI images): its credential chain reads the environment, ``AWS_PROFILE`` and the shared config and credentials
files, IAM Identity Center (SSO) sessions, assumed roles and the container and instance endpoints, and
botocore signs. Without botocore, the standard-library signer here is the fallback, with credentials from
the environment (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``, as
``aws-actions/configure-aws-credentials`` sets them) or from the container credentials endpoint a CodeBuild
job gets (``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI``, or ``..._FULL_URI`` with its token).
Nothing is written to disk or printed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

_CONTAINER_ENDPOINT = "http://169.254.170.2"
_EXECUTE_API_HOST = re.compile(r"[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?")


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str | None = None


def execute_api_region(url: str) -> str | None:
    """The region of an ``https://<id>.execute-api.<region>.amazonaws.com/...`` URL, else None."""
    match = _EXECUTE_API_HOST.fullmatch(urlsplit(url).hostname or "")
    return match.group(1) if match else None


class CredentialsError(RuntimeError):
    """Credentials were configured but could not be read (a missing profile, an expired SSO session ...)."""


class Signer(Protocol):
    def headers(self, method: str, url: str, body: bytes, *, region: str) -> dict[str, str]:
        """The headers that sign this request for ``execute-api`` in ``region``."""
        ...


@dataclass(frozen=True)
class StdlibSigner:
    credentials: Credentials

    def headers(self, method: str, url: str, body: bytes, *, region: str) -> dict[str, str]:
        return signed_headers(method, url, body, credentials=self.credentials, region=region)


@dataclass(frozen=True)
class BotocoreSigner:
    credentials: Any  # botocore.credentials.ReadOnlyCredentials

    def headers(self, method: str, url: str, body: bytes, *, region: str) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, data=body)
        SigV4Auth(self.credentials, "execute-api", region).add_auth(request)
        return {name: value for name, value in request.headers.items() if name.lower() != "host"}


def find_signer(timeout: float) -> Signer | None:
    """botocore's credential chain and signer when botocore is importable, else the standard-library ones;
    None when no credentials are configured. Raises ``CredentialsError`` for configured but unreadable ones.
    """
    try:
        import botocore.exceptions
        import botocore.session
    except ImportError:
        credentials = find_credentials(timeout)
        return StdlibSigner(credentials) if credentials else None
    try:
        found = botocore.session.Session().get_credentials()
        return BotocoreSigner(found.get_frozen_credentials()) if found is not None else None
    except botocore.exceptions.BotoCoreError as error:
        raise CredentialsError(str(error)) from None


def find_credentials(timeout: float) -> Credentials | None:
    """The standard-library chain: the environment, then the container credentials endpoint."""
    environ = os.environ
    if environ.get("AWS_ACCESS_KEY_ID") and environ.get("AWS_SECRET_ACCESS_KEY"):
        return Credentials(
            environ["AWS_ACCESS_KEY_ID"], environ["AWS_SECRET_ACCESS_KEY"], environ.get("AWS_SESSION_TOKEN")
        )
    relative_uri = environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    full_uri = environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    url = f"{_CONTAINER_ENDPOINT}{relative_uri}" if relative_uri else full_uri
    if not url:
        return None
    request = urllib.request.Request(url)
    if not relative_uri and environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"):
        request.add_header("Authorization", environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"])
    with urllib.request.urlopen(request, timeout=timeout) as response:
        document = json.load(response)
    return Credentials(document["AccessKeyId"], document["SecretAccessKey"], document.get("Token"))


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signed_headers(
    method: str,
    url: str,
    body: bytes,
    *,
    credentials: Credentials,
    region: str,
    service: str = "execute-api",
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers (``Authorization``, ``X-Amz-Date``, session token) that sign this request."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    parts = urlsplit(url)
    host = parts.netloc
    headers = {"host": host, "x-amz-date": amz_date}
    if credentials.session_token:
        headers["x-amz-security-token"] = credentials.session_token
    names = sorted(headers)
    if parts.query:
        raise ValueError("signing URLs with a query string is not supported (the smoke test never needs it)")
    canonical_request = "\n".join(
        [
            method,
            quote(parts.path or "/", safe="/~"),
            "",
            "".join(f"{name}:{headers[name].strip()}\n" for name in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = _hmac(
        _hmac(_hmac(_hmac(f"AWS4{credentials.secret_key}".encode(), date), region), service), "aws4_request"
    )
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    result = {
        "X-Amz-Date": amz_date,
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        ),
    }
    if credentials.session_token:
        result["X-Amz-Security-Token"] = credentials.session_token
    return result
