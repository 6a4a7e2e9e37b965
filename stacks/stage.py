"""One environment's deployment: every stack, built from one typed config."""

from __future__ import annotations

import aws_cdk as cdk

from caching_constructs.core.nag import suppress_cdk_singletons
from caching_contract import services
from config.schema import EnvironmentConfig
from constructs import Construct
from stacks.api_stack import ApiStack
from stacks.cdk_values import removal_policy
from stacks.compliance import apply_compliance_checks, exempt_log_groups
from stacks.cross_stack import protect_cross_stack_references
from stacks.data_stack import DataStack
from stacks.edge_stack import EdgeStack
from stacks.edge_web_acl_stack import CLOUDFRONT_WAF_REGION, EdgeWebAclStack
from stacks.global_stacks import add_global_datastore, failover_api_url
from stacks.monitoring_stack import MonitoringStack
from stacks.network_stack import NetworkStack


class CachingStage(cdk.Stage):
    """All stacks of one environment. ``app.py`` and the delivery pipeline add this same class.

    The environment's name is the stage's id, so it shows in stack names (``dev-Network``) and in tags, while
    stack and construct ids inside stay the same in every environment.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs) -> None:
        if config.account is not None:
            kwargs.setdefault("env", cdk.Environment(account=config.account, region=config.region))
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        tags = {**config.tags, "environment": config.name}
        # Stack-level tags also reach resources that CloudFormation creates on the stacks' behalf.
        stack_props = {"termination_protection": config.termination_protection, "tags": tags}

        self.network, self.data = add_network_and_data(self, config, **stack_props)
        network = self.network
        self.api = ApiStack(
            self,
            "Api",
            functions=config.functions,
            api=config.api,
            vpc=network.vpc,
            secrets_manager_endpoint=network.secrets_manager_endpoint,
            sqs_endpoint=network.sqs_endpoint,
            cache=self.data.cache,
            database=self.data.database,
            dax=self.data.dax,
            table=self.data.table,
            removal_policy=removal_policy(config.removal_policy, supports_snapshot=False),
            environment_name=config.name,
            security=config.security,
            description="Caching architecture: Lambda functions and the REST API with stage caching",
            **stack_props,
        )
        self.edge_web_acl: EdgeWebAclStack | None = None
        edge_web_acl_arn = config.edge.waf_web_acl_arn
        if edge_web_acl_arn is None and config.security.web_acls:
            # CloudFront web ACLs live in us-east-1 only: their own stack there, read across regions.
            self.edge_web_acl = EdgeWebAclStack(
                self,
                "EdgeWebAcl",
                rate_limit=config.security.waf_rate_limit,
                env=cdk.Environment(account=config.account, region=CLOUDFRONT_WAF_REGION),
                description="Caching architecture: the CloudFront web ACL (WAF keeps these in us-east-1)",
                **stack_props,
            )
        self.edge = EdgeStack(
            self,
            "Edge",
            edge=config.edge,
            rest_api=self.api.rest_api.api,
            removal_policy=removal_policy(config.removal_policy, supports_snapshot=False),
            deployment_log_retention_days=config.functions.log_retention_days,
            security=config.security,
            web_acl_arn=self.edge_web_acl.web_acl_arn if self.edge_web_acl else edge_web_acl_arn,
            edge_refresh_queue=self.api.edge_refresh_queue,
            edge_refresh_policy=self.api.edge_refresh_policy,
            function_architecture=config.functions.architecture,
            failover_api_url=failover_api_url(self.stage_name, config),
            description="Caching architecture: CloudFront distribution, the static site bucket and the edge "
            "refresher",
            **stack_props,
        )
        if self.edge_web_acl is not None:
            self.edge.add_stack_dependency(self.edge_web_acl, "reads the CloudFront web ACL's ARN")
        self.global_datastore, self.secondary_regions = add_global_datastore(
            self, config, self.network, self.data, stack_props
        )
        self._add_monitoring(config, stack_props)
        if self.secondary_regions:
            self.edge.add_stack_dependency(
                self.secondary_regions[0].api, "reads its ApiUrl for the API paths' failover origin"
            )

        for key, value in tags.items():
            cdk.Tags.of(self).add(key, value)
        # A replaced Network/Data resource must reach its consumers in the same deploy
        # (stacks/cross_stack.py).
        protect_cross_stack_references(self)
        # Policy-validation plugins run per stage: this stage checks its own stacks, in app.py and in the
        # pipeline alike.
        apply_compliance_checks(self, control_tower=True)
        exempt_log_groups(self, customer_managed_keys=config.security.customer_managed_keys)
        suppress_cdk_singletons(self)

    def _add_monitoring(self, config: EnvironmentConfig, stack_props: dict) -> None:
        api = self.api
        # The refill runs in the primary region, so the primary's Monitoring stack watches it.
        refill = self.global_datastore.refill if self.global_datastore else None
        self.monitoring = MonitoringStack(
            self,
            "Monitoring",
            monitoring=config.monitoring,
            cache=self.data.cache,
            database=self.data.database,
            dax=self.data.dax,
            api_stage=api.rest_api.stage,
            distribution=self.edge.site.distribution,
            functions={
                function.node.id: function
                for function in (
                    api.product_api,
                    api.cache_warmer,
                    api.schema_seed,
                    api.dax_demo,
                    self.edge.edge_refresher,
                    *([refill] if refill else []),
                )
            },
            dead_letter_queues={
                "EdgeRefresh": api.edge_refresh_queue.dead_letter_queue,
                services.CACHE_WARMER.id: api.cache_warmer.failure_queue,
                **({services.SECONDARY_REFILL.id: refill.queue.dead_letter_queue} if refill else {}),
            },
            application_services=services.CACHING_LIBRARY_SERVICES,
            environment=config.name,
            description="Caching architecture: dashboard and alarms to an encrypted SNS topic",
            **stack_props,
        )


def add_network_and_data(
    scope: Construct, config: EnvironmentConfig, **stack_props
) -> tuple[NetworkStack, DataStack]:
    """The two stacks every environment starts with; a data-tier-only build (e.g. Memcached) uses them too."""
    network = NetworkStack(
        scope,
        "Network",
        network=config.network,
        removal_policy=removal_policy(config.removal_policy, supports_snapshot=False),
        customer_managed_keys=config.security.customer_managed_keys,
        description="Caching architecture: VPC, endpoints, flow logs and per-tier security groups",
        **stack_props,
    )
    data = DataStack(
        scope,
        "Data",
        vpc=network.vpc,
        cache_security_group=network.cache_security_group,
        database_security_group=network.database_security_group,
        dax_security_group=network.dax_security_group,
        database_rotation_security_group=network.database_rotation_security_group,
        secrets_manager_endpoint=network.secrets_manager_endpoint,
        cache=config.cache,
        database=config.database,
        dax=config.dax,
        removal_policy=removal_policy(config.removal_policy, supports_snapshot=True),
        deletion_protection=config.deletion_protection,
        customer_managed_keys=config.security.customer_managed_keys,
        secret_replica_regions=config.global_datastore.secondary_regions,
        description="Caching architecture: ElastiCache, RDS MySQL with read replicas, DynamoDB with DAX",
        **stack_props,
    )
    return network, data
