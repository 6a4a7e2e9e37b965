"""``CacheWarmer``: loads the hottest catalogue rows into Redis off-peak, on a schedule or by hand.

Runtime: ``lambda/functions/cache_warmer.py``.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs

from caching_constructs.app.cache_auth import connect_to_data_stores
from caching_constructs.app.cachelib_environment import CacheSettings, library_environment
from caching_constructs.core.logical_ids import keep_logical_ids
from caching_constructs.core.nag import exempt_control, suppress_findings
from caching_constructs.core.python_function import FunctionDefaults, PythonFunction
from caching_constructs.data.mysql_database import MySqlDatabase
from caching_constructs.elasticache.caches import REDIS_CACHES, CacheStore
from caching_contract import variables
from caching_contract.services import CACHE_WARMER
from constructs import Construct


class CacheWarmer(PythonFunction):
    """The warmer function with its schedule (``schedule_rule``) and the encrypted dead-letter queue
    (``failure_queue``) of both its failed asynchronous invocations and its schedule's failed deliveries.
    It reaches Redis, MySQL and the Secrets Manager endpoint, nothing else.

    :param defaults: the props every function of the application shares; needs a ``vpc``.
    :param cache: the replication group it fills, or a Memcached cluster.
    :param database: where it streams the hottest rows from.
    :param secrets_manager_endpoint: where it reads the AUTH token and the database credentials.
    :param cache_settings: TTLs and the near cache, as the product API caches.
    :param top_n: how many rows one run warms.
    :param schedule: when it runs.
    :param timeout: the function's timeout.
    :param reserved_concurrent_executions: default None; 1 keeps to one warmer at a time.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: FunctionDefaults,
        cache: CacheStore,
        database: MySqlDatabase,
        secrets_manager_endpoint: ec2.IConnectable,
        cache_settings: CacheSettings,
        top_n: int,
        schedule: events.Schedule,
        timeout: cdk.Duration,
        reserved_concurrent_executions: int | None = None,
    ) -> None:
        redis = cache if isinstance(cache, REDIS_CACHES) else None
        environment = {
            **library_environment(
                CACHE_WARMER, cache=cache, database=database, cache_settings=cache_settings
            ),
            variables.WARM_TOP_N: str(top_n),
        }
        super().__init__(
            scope,
            construct_id,
            **defaults.props(environment=environment),
            handler=CACHE_WARMER.handler,
            description=f"Loads the hottest products into {'Redis' if redis else 'Memcached'} off-peak "
            "(schedule or manual invoke)",
            timeout=timeout,
            reserved_concurrent_executions=reserved_concurrent_executions,
        )
        self.failure_queue = sqs.Queue(
            self,
            "WarmerFailures",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        dead_letter_queue = (
            "This queue is itself the dead-letter destination of the warmer's failed asynchronous "
            "invocations and of its schedule target."
        )
        suppress_findings(self.failure_queue, [{"id": "AwsSolutions-SQS3", "reason": dead_letter_queue}])
        exempt_control(self.failure_queue, "CT.SQS.PR.1", dead_letter_queue)
        self.send_failures_to(self.failure_queue)
        connect_to_data_stores(
            self,
            CACHE_WARMER.id,
            cache=cache,
            database=database,
            secrets_manager_endpoint=secrets_manager_endpoint,
            cache_use=" fills the cache",
            database_use=" streams the hottest rows",
        )
        self.schedule_rule = events.Rule(
            self, "WarmSchedule", description="Warm the cache off-peak", schedule=schedule
        )
        self.schedule_rule.add_target(
            targets.LambdaFunction(
                self.function,
                dead_letter_queue=self.failure_queue,
                retry_attempts=2,
                max_event_age=cdk.Duration.hours(1),
            )
        )
        # Both were deployed at the stack's root before this construct existed. A new logical id would replace
        # the queue, dropping the failed events it keeps for 14 days, and deleting the old queue policy would
        # strip the new one; the rule is kept too, so that no run is skipped or doubled on the way.
        keep_logical_ids(self.failure_queue, old_path=["WarmerFailures"])
        keep_logical_ids(self.schedule_rule, old_path=["WarmSchedule"])
