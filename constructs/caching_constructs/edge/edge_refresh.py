"""After a write, the edge layers hear about it: a queue of changed paths and the function that drains it.

* ``EdgeRefreshQueue`` lives beside the function that writes (the producer sends ``{"paths": [...]}`` after
  its commit): an SSE-encrypted, TLS-only SQS queue with a dead-letter queue.
* ``EdgeRefresher`` lives where the distribution is known, so that the stack holding the distribution
  depends on the one holding the queue and never the other way round. It is a Python function *outside* any
  VPC, fed by the queue in batches, that refreshes the API stage cache for each path (an IAM-signed ``GET``
  with ``Cache-Control: max-age=0``, allowed by the ``refresh_policy`` the API's own construct issues:
  ``CachedRestApi.add_cache_refresh_policy``) and, when given the distribution, sends CloudFront one
  invalidation per batch.

Both stay optional accelerators: a lost or failed refresh leaves the edge to catch up by its TTLs, which bound
the staleness anyway.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs

from caching_constructs.core.nag import exempt_control
from caching_constructs.core.python_function import PythonFunction
from caching_contract import variables
from caching_contract.services import EDGE_REFRESHER
from constructs import Construct

REFRESHER_TIMEOUT = cdk.Duration.seconds(60)
"""The refresher's timeout: a batch holds up to 10 paths, refreshed one after another, each GET bounded at
5 s by the handler, plus one CloudFront call; so even a batch whose every GET times out finishes."""
BATCH_SIZE = 10
"""Messages per invocation, and so at most 10 paths per CloudFront invalidation."""
MAX_BATCHING_WINDOW = cdk.Duration.seconds(1)
"""How long the event source gathers messages before it invokes: the refresh starts at most this long after
the write (plus SQS's polling), and a burst of writes costs one invalidation per second, not per write."""
QUEUE_RETENTION = cdk.Duration.hours(1)
"""How long an undelivered path is kept: a refresh only shortcuts TTLs of seconds to minutes."""
VISIBILITY_TIMEOUT_FACTOR = 6
"""AWS's advice for a queue that feeds Lambda: a visibility timeout of six times the function's timeout, so
a message is not handed out again while a throttled invocation of it is still being retried."""


class EdgeRefreshQueue(Construct):
    """The queue of changed paths, and its dead-letter queue. Grant producers with ``grant_send``.

    :param consumer_timeout: the timeout of the function that drains it; the visibility timeout is
        ``VISIBILITY_TIMEOUT_FACTOR`` times it. Default ``REFRESHER_TIMEOUT`` (what ``EdgeRefresher`` uses).
    :param max_receive_count: deliveries of a message before it moves to the dead-letter queue. Default 3.
    :param retention: how long an undelivered path is kept. Default one hour: a refresh only shortcuts TTLs of
        seconds to minutes, so an older one has nothing left to do, but it must outlive its redeliveries.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        consumer_timeout: cdk.Duration = REFRESHER_TIMEOUT,
        max_receive_count: int = 3,
        retention: cdk.Duration = QUEUE_RETENTION,
    ) -> None:
        super().__init__(scope, construct_id)
        if not 1 <= max_receive_count <= 1000:
            raise ValueError(f"max_receive_count must be from 1 to 1000, got {max_receive_count}")
        visibility = cdk.Duration.seconds(consumer_timeout.to_seconds() * VISIBILITY_TIMEOUT_FACTOR)
        if visibility.to_seconds() > 43200:
            raise ValueError(
                f"consumer_timeout {consumer_timeout.to_seconds()} s needs a visibility timeout over SQS's "
                "12 hours"
            )
        if retention.to_seconds() <= visibility.to_seconds() * max_receive_count:
            raise ValueError(
                f"retention ({retention.to_seconds()} s) must outlast {max_receive_count} deliveries of "
                f"{visibility.to_seconds()} s each, or messages expire before the dead-letter queue"
            )
        self.consumer_timeout = consumer_timeout
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # Kept for inspection: a path here was refreshed by nobody (the TTLs covered it).
            retention_period=cdk.Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=visibility,
            retention_period=retention,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=max_receive_count
            ),
        )
        exempt_control(
            self.dead_letter_queue,
            "CT.SQS.PR.1",
            "This queue is itself the dead-letter queue of the edge refresh queue; a dead-letter queue of "
            "its own would only move the same undeliverable paths once more.",
        )

    @property
    def queue_url(self) -> str:
        return self.queue.queue_url

    def grant_send(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to send changed paths (``sqs:SendMessage`` and friends on this queue only)."""
        return self.queue.grant_send_messages(grantee)


OUTSIDE_VPC = (
    "The edge refresher touches no data store: it calls only the public execute-api endpoint of the "
    "regional API (to refresh the stage cache) and CloudFront's API. In the VPC it would need a NAT route "
    "for both, and an execute-api VPC endpoint with private DNS would divert those calls to private APIs, "
    "where the regional API is not."
)
"""Why the refresher runs outside the VPC (Control Tower CT.LAMBDA.PR.3 exemption)."""


class EdgeRefresher(PythonFunction):
    """Drains an ``EdgeRefreshQueue``: refreshes each path's stage-cache entry and, with ``distribution``,
    invalidates the batch's paths in CloudFront. Runs outside any VPC: it calls only public AWS endpoints.

    :param queue: the queue to drain; the function's timeout is its ``consumer_timeout``.
    :param code: the asset holding the refresher's handler (``caching_contract.services.EDGE_REFRESHER``).
    :param architecture: the function's architecture.
    :param api_url: the invoke URL of the API stage whose cache it refreshes (``API_URL``).
    :param refresh_policy: the policy allowing ``execute-api:InvalidateCache`` on exactly the routes it may
        refresh, of that stage only (``CachedRestApi.add_cache_refresh_policy``); attached to its role.
    :param distribution: when given, it gets ``DISTRIBUTION_ID`` and ``cloudfront:CreateInvalidation`` on
        this distribution only. Default None: stage cache only.
    :param memory_size: default 256 MB (it waits on HTTP calls; memory buys nothing).
    :param log_retention: default one month.
    :param log_removal_policy: default DESTROY.
    :param log_encryption_key: KMS key of its log group. Default none.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: EdgeRefreshQueue,
        code: lambda_.Code,
        architecture: lambda_.Architecture,
        api_url: str,
        refresh_policy: iam.IManagedPolicy,
        distribution: cloudfront.IDistribution | None = None,
        memory_size: int = 256,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        log_removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
        log_encryption_key: kms.IKey | None = None,
    ) -> None:
        environment = {variables.API_URL: api_url}
        if distribution is not None:
            environment[variables.DISTRIBUTION_ID] = distribution.distribution_id
        super().__init__(
            scope,
            construct_id,
            code=code,
            handler=EDGE_REFRESHER.handler,
            description="Edge refresh: after a product write, refreshes its stage-cache entry (and "
            "invalidates it in CloudFront when configured)",
            architecture=architecture,
            timeout=queue.consumer_timeout,
            memory_size=memory_size,
            environment=environment,
            log_retention=log_retention,
            log_removal_policy=log_removal_policy,
            log_encryption_key=log_encryption_key,
            outside_vpc_reason=OUTSIDE_VPC,
        )
        self.event_source = event_sources.SqsEventSource(
            queue.queue,
            batch_size=BATCH_SIZE,
            max_batching_window=MAX_BATCHING_WINDOW,
            # Only the messages whose paths failed come back (the handler reports them), not the whole batch.
            report_batch_item_failures=True,
        )
        self.function.add_event_source(self.event_source)

        # Only a caller holding InvalidateCache on the method may make the stage re-fetch with max-age=0;
        # everyone else gets 403 (FAIL_WITH_403 on every cached method).
        role = self.role
        assert role is not None  # the Function created it
        role.add_managed_policy(refresh_policy)
        if distribution is not None:
            distribution.grant_create_invalidation(self)
