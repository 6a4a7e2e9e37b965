"""After a write, the edge layers hear about it: API Gateway's stage cache is refreshed for the changed
item, and CloudFront (when turned on) invalidates its path. One queue, batched.

**Producer** (:class:`EdgeRefreshQueue`, in the product API): after a write has put L1 and Redis right, it
sends the item's path to an SQS queue (``EDGE_REFRESH_QUEUE_URL``; reached through the VPC's SQS endpoint).
A failed send costs freshness at the edge, never the write: the edge then catches up by its TTLs, which
bound the staleness anyway (see the README's consistency contract).

**Consumer** (:func:`lambda_handler`, the edge refresher, outside the VPC): for each distinct path of an SQS
batch it sends API Gateway an IAM-signed ``GET`` with ``Cache-Control: max-age=0`` (its role holds
``execute-api:InvalidateCache`` on the item route only), which makes the stage fetch the item afresh and
store it; then, if ``DISTRIBUTION_ID`` is set, one CloudFront invalidation for every path of the batch.
Paths that fail are reported back (``batchItemFailures``) and retried by SQS, then dead-lettered.

List pages are not refreshed: they are keyed on query strings no write can enumerate, so their edge
staleness is bounded by their TTLs instead.
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.error
import urllib.request
import uuid
from typing import Any

from cachelib import logs
from caching_contract import variables
from caching_contract.http import COLLECTION_PATH

LOGGER = logging.getLogger("edge_refresh")
logs.configure_logging()  # every record in the one log shape (cachelib.logs)

ITEM_PATH = re.compile(re.escape(COLLECTION_PATH) + r"/[1-9][0-9]{0,18}")
"""The only paths the refresher ever touches (its IAM permission covers exactly this route)."""
_TIMEOUT_SECONDS = 5


class EdgeRefreshQueue:
    """Sends changed paths to the edge refresher. A no-op without ``EDGE_REFRESH_QUEUE_URL``."""

    def __init__(self, queue_url: str | None = None) -> None:
        self.queue_url = (
            queue_url if queue_url is not None else os.environ.get(variables.EDGE_REFRESH_QUEUE_URL) or None
        )
        self._client: Any = None
        self.failures = 0

    def enqueue(self, *paths: str) -> bool:
        """``True`` when the paths were handed over (or nothing is configured); ``False`` when the send
        failed: logged and counted, never raised (the write itself is done)."""
        if self.queue_url is None or not paths:
            return True
        try:
            if self._client is None:
                import boto3  # in the Lambda runtime; loaded on the first write, never on a read

                self._client = boto3.client("sqs")
            self._client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps({"paths": list(paths)}))
        except Exception as exc:  # the edge catches up by its TTLs; the write must not fail for this
            self.failures += 1
            error = f"{type(exc).__name__}: {exc}"
            LOGGER.warning("edge refresh not queued", extra={"paths": list(paths), "error": error})
            return False
        return True


# --- consumer -------------------------------------------------------------------------------------------


def _paths_by_record(event: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for record in (event or {}).get("Records", []):
        try:
            paths = json.loads(record["body"])["paths"]
        except (KeyError, TypeError, ValueError):
            LOGGER.warning(
                "dropping a malformed edge refresh message", extra={"message_id": record.get("messageId")}
            )
            continue
        found[record["messageId"]] = [p for p in paths if isinstance(p, str) and ITEM_PATH.fullmatch(p)]
    return found


def refresh_stage_cache(api_url: str, path: str, region: str) -> None:
    """An IAM-signed GET with ``Cache-Control: max-age=0``: API Gateway drops the stage-cache entry of
    ``path``, calls the integration and caches its fresh answer. Raises on anything but 200/404."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.session import get_session

    url = api_url.rstrip("/") + path
    if not url.startswith(("https://", "http://")):  # the API's URL from the CDK app; http only in tests
        raise ValueError(f"API_URL must be an http(s) URL, not {api_url!r}")
    request = AWSRequest(method="GET", url=url, headers={"Cache-Control": "max-age=0"})
    SigV4Auth(get_session().get_credentials(), "execute-api", region).add_auth(request)
    prepared = urllib.request.Request(url, method="GET", headers=dict(request.headers.items()))  # noqa: S310
    try:
        with urllib.request.urlopen(prepared, timeout=_TIMEOUT_SECONDS) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as exc:
        if exc.code != 404:  # a product deleted meanwhile has nothing to refresh
            raise


def lambda_handler(event: Any, context: Any = None) -> dict[str, Any]:
    """SQS batch (``ReportBatchItemFailures``): refresh each distinct path once, then one CloudFront
    invalidation for the batch when ``DISTRIBUTION_ID`` is set."""
    api_url = os.environ[variables.API_URL]
    region = os.environ.get(variables.AWS_REGION, "us-east-1")
    by_record = _paths_by_record(event)
    failed_paths: set[str] = set()
    refreshed: list[str] = []
    for path in sorted({p for paths in by_record.values() for p in paths}):
        try:
            refresh_stage_cache(api_url, path, region)
            refreshed.append(path)
        except Exception as exc:
            failed_paths.add(path)
            LOGGER.warning(
                "stage cache refresh failed", extra={"path": path, "error": f"{type(exc).__name__}: {exc}"}
            )
    invalidated = 0
    distribution = os.environ.get(variables.DISTRIBUTION_ID)
    if distribution and refreshed:
        import boto3

        boto3.client("cloudfront").create_invalidation(
            DistributionId=distribution,
            InvalidationBatch={
                "Paths": {"Quantity": len(refreshed), "Items": refreshed},
                "CallerReference": str(uuid.uuid4()),
            },
        )
        invalidated = len(refreshed)
    failures = [{"itemIdentifier": mid} for mid, paths in by_record.items() if failed_paths & set(paths)]
    LOGGER.info(
        "edge refresh",
        extra={"refreshed": len(refreshed), "invalidated": invalidated, "failed": len(failures)},
    )
    return {"batchItemFailures": failures}
