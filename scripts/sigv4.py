"""AWS Signature Version 4 for one HTTP request, standard library only (the smoke test's IAM-signed writes).

Credentials come from the environment (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``,
as ``aws-actions/configure-aws-credentials`` sets them) or from the container credentials endpoint a
CodeBuild job gets (``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI``, or ``..._FULL_URI`` with its token).
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


def find_credentials(timeout: float) -> Credentials | None:
    environ = os.environ
    if environ.get("AWS_ACCESS_KEY_ID") and environ.get("AWS_SECRET_ACCESS_KEY"):
        return Credentials(
            environ["AWS_ACCESS_KEY_ID"], environ["AWS_SECRET_ACCESS_KEY"], environ.get("AWS_SESSION_TOKEN")
        )
    relative_uri = environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    full_uri = environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if not relative_uri and not full_uri:
        return None
    request = urllib.request.Request(f"{_CONTAINER_ENDPOINT}{relative_uri}" if relative_uri else full_uri)
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
