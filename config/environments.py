"""The deployment environments: the one place their settings are defined.

Only what differs from the defaults in ``config.schema`` is written here. ``account`` and ``region`` stay
null so synth is environment-agnostic on a machine with no credentials; set both to pin an environment to an
account (commit the resulting cdk.context.json lookups with it). Null environments share the credentials'
account and region, and synth checks that together they fit its default quotas (``config/quotas.py``).
"""

from __future__ import annotations

from typing import Any

_COMMON_TAGS = {"project": "caching-architecture", "owner": "platform-team", "cost-center": "cc-1234"}

ENVIRONMENTS: dict[str, dict[str, Any]] = {
    "dev": {
        "removal_policy": "destroy",
        "tags": _COMMON_TAGS,
        "network": {"cidr": "10.10.0.0/16", "max_azs": 2, "nat_gateways": 1, "flow_log_retention_days": 14},
        "cache": {"engine": "redis", "engine_version": "7.1", "replicas_per_shard": 0},
        "database": {"read_replica_count": 1, "backup_retention_days": 1},
        "dax": {"node_count": 1},
        # dev runs the optional near cache so its pub/sub invalidation is exercised somewhere deployed.
        "functions": {"seed_product_count": 1000, "log_retention_days": 14, "l1_enabled": True},
        "api": {"cache_cluster_size": "0.5", "throttle_rate_limit": 50, "throttle_burst_limit": 100},
        # make cost prices the templates at this traffic; the cost test fails above the budget.
        "cost": {"monthly_budget_usd": 210},
    },
    "staging": {
        "removal_policy": "snapshot",
        "deletion_protection": False,
        "tags": _COMMON_TAGS,
        "network": {"cidr": "10.20.0.0/16", "max_azs": 2, "nat_gateways": 1},
        "cache": {
            "engine": "valkey",
            "engine_version": "8.0",
            "node_type": "cache.t4g.small",
            "replicas_per_shard": 1,
            "snapshot_retention_days": 3,
        },
        # Memcached instead (README, "Choosing Memcached"; tests/infra/memcached_stage.py builds this):
        # "cache": {
        #     "engine": "memcached",
        #     "engine_version": "1.6.22",  # 1.6.12 or later: in-transit encryption
        #     "node_type": "cache.t4g.small",
        #     "num_shards": 2,  # nodes, spread across AZs; no replicas, so no snapshots
        #     "port": 11212,  # not the well-known 11211
        # },
        # Or ElastiCache Serverless (README, "Choosing ElastiCache Serverless"; built by
        # tests/infra/serverless_stage.py). The service sets eviction, port and topology; IAM auth only:
        # "cache": {
        #     "mode": "serverless",
        #     "engine": "valkey",
        #     "engine_version": "8.0",  # only the major counts: Redis OSS 7, Valkey 7 or 8
        #     "serverless_max_data_storage_gb": 5,  # past it, the service evicts
        #     "serverless_max_ecpu_per_second": 5000,  # past it, commands are throttled
        #     "snapshot_retention_days": 7,
        #     "snapshot_window": "03:00-04:00",  # the daily snapshot starts at 03:00 UTC
        # },
        "database": {
            "instance_class": "t4g.small",
            "multi_az": True,
            "read_replica_count": 1,
            "backup_retention_days": 7,
        },
        "dax": {"node_count": 2},
        "functions": {"seed_product_count": 10000, "reserved_concurrency": 20},
        "api": {"cache_cluster_size": "0.5"},
        # t4g.small (2 GiB) allows ~170 MySQL connections. The address is a placeholder: put the team's own.
        "monitoring": {"database_connections": 120, "alarm_emails": ["ops@example.com"]},
        "cost": {
            "monthly_budget_usd": 330,
            "viewer_requests_per_month": 1_000_000,
            "writes_per_month": 10_000,
            "log_ingestion_gb_per_month": 5,
            "nat_processed_gb_per_month": 5,
        },
    },
    "prod": {
        "removal_policy": "snapshot",
        "deletion_protection": True,
        "termination_protection": True,
        "tags": {**_COMMON_TAGS, "cost-center": "cc-5678"},
        "network": {"cidr": "10.30.0.0/16", "max_azs": 3, "nat_gateways": 3, "flow_log_retention_days": 365},
        "cache": {
            "engine": "redis",
            "engine_version": "7.1",
            "node_type": "cache.r7g.large",
            "replicas_per_shard": 2,
            "snapshot_retention_days": 14,
            "log_retention_days": 90,
        },
        "database": {
            "instance_class": "r7g.large",
            "multi_az": True,
            "read_replica_count": 2,
            "backup_retention_days": 14,
            "performance_insights": True,
            "allocated_storage_gib": 100,
            "max_allocated_storage_gib": 1000,
        },
        "dax": {"node_type": "dax.r5.large", "node_count": 3},
        "functions": {"seed_product_count": 0, "reserved_concurrency": 200, "log_retention_days": 90},
        "api": {"cache_cluster_size": "1.6", "throttle_rate_limit": 1000, "throttle_burst_limit": 2000},
        "edge": {"price_class": "PriceClass_All"},
        # ElastiCache Global Datastore plus a read path in us-west-2 (docs/DEPLOY.md, "Secondary regions").
        # The primary region is named because region is null: the secondary stacks read its outputs there.
        "global_datastore": {"secondary_regions": ["us-west-2"], "primary_region": "us-east-1"},
        # r7g.large (16 GiB) allows ~1300 MySQL connections; alarm well before it.
        "monitoring": {
            "period_minutes": 1,
            "database_connections": 1000,
            "database_freeable_memory_mib": 1024,
            # Placeholder: staging and prod must name a subscriber; put the on-call address, an existing SNS
            # topic (alarm_topic_arns) or a Slack channel through AWS Chatbot (alarm_slack_channels).
            "alarm_emails": ["oncall@example.com"],
        },
        # About 40 requests/s on average, 80% answered by CloudFront. The budget includes the us-west-2
        # secondary region (its Global Datastore member, cross-region database replica, VPC and read path):
        # about $890 of the $3,330 estimate.
        "cost": {
            "monthly_budget_usd": 3700,
            "viewer_requests_per_month": 100_000_000,
            "edge_hit_ratio": 0.8,
            "stage_cache_hit_ratio": 0.6,
            "average_response_kb": 8,
            "function_duration_ms": 30,
            "writes_per_month": 500_000,
            "dynamodb_reads_per_month": 5_000_000,
            "dynamodb_writes_per_month": 500_000,
            "storage_gb": 20,
            "log_ingestion_gb_per_month": 100,
            "nat_processed_gb_per_month": 50,
            "endpoint_processed_gb_per_month": 10,
        },
    },
}
