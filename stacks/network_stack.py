"""The network every other tier runs in: VPC, endpoints, flow logs, and the security groups of the data tier,
the endpoints and the database's rotation function."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs

from caching_constructs.core.encryption_keys import log_group_key
from config.schema import NetworkConfig
from constructs import Construct
from stacks.cdk_values import log_retention

# Subnet sizes leave room to grow inside a /16..../22 VPC: /24 public (NAT, nothing else), /22 for Lambda
# ENIs (they scale with concurrency), /24 isolated for the data stores (a handful of ENIs).
PUBLIC_SUBNET_MASK = 24
APPLICATION_SUBNET_MASK = 22
DATA_SUBNET_MASK = 24


class NetworkStack(Stack):
    """VPC with public, private-with-egress (application) and isolated (data) subnets.

    The groups of what only answers (data stores, interface endpoints) are created here, empty and without
    egress. Each caller in a later stack opens its own path from its side,
    ``function.connections.allow_to_default_port(cache.connections)``: the CDK then puts both rules in the
    caller's stack, so this stack never references a later one and a rule is stated once, beside its
    caller. The database's rotation function is the exception: the Data stack creates it, and wires it from
    the database's side, so its group lives here with the database's (``database_rotation_security_group``).
    Access is never wired with CIDR ranges.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: NetworkConfig,
        removal_policy: RemovalPolicy,
        customer_managed_keys: bool = True,
        **kwargs,
    ) -> None:
        self._az_count = network.max_azs
        super().__init__(scope, construct_id, **kwargs)
        mask_for_prefix = max(0, 20 - int(network.cidr.split("/")[1]))
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(network.cidr),
            max_azs=network.max_azs,
            nat_gateways=network.nat_gateways,
            # The default SG allows all traffic between its members; nothing should ever use it.
            restrict_default_security_group=True,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="Public",
                    subnet_type=ec2.SubnetType.PUBLIC,
                    cidr_mask=PUBLIC_SUBNET_MASK + mask_for_prefix,
                    # Only NAT gateways live here, with their own Elastic IPs; nothing launched into these
                    # subnets should get a public address by accident (Control Tower CT.EC2.PR.11).
                    map_public_ip_on_launch=False,
                ),
                ec2.SubnetConfiguration(
                    name="Application",
                    subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS,
                    cidr_mask=APPLICATION_SUBNET_MASK + mask_for_prefix,
                ),
                ec2.SubnetConfiguration(
                    name="Data",
                    subnet_type=ec2.SubnetType.PRIVATE_ISOLATED,
                    cidr_mask=DATA_SUBNET_MASK + mask_for_prefix,
                ),
            ],
        )

        self._add_flow_logs(network, removal_policy, customer_managed_keys)

        # Gateway endpoints are free and keep S3/DynamoDB traffic (including DAX misses) off the NAT.
        self.vpc.add_gateway_endpoint("S3Endpoint", service=ec2.GatewayVpcEndpointAwsService.S3)
        self.vpc.add_gateway_endpoint("DynamoDbEndpoint", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB)

        self._add_security_groups_and_endpoints()

    def _add_flow_logs(
        self, network: NetworkConfig, removal_policy: RemovalPolicy, customer_managed_keys: bool
    ) -> None:
        self.log_key = log_group_key(
            self,
            description="Encrypts the VPC flow log group",
            removal_policy=removal_policy,
            enabled=customer_managed_keys,
        )
        flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            retention=log_retention(network.flow_log_retention_days),
            removal_policy=removal_policy,
            encryption_key=self.log_key,
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )

    def _add_security_groups_and_endpoints(self) -> None:
        # "The application security group" in these descriptions now means the application tier's callers,
        # each in a group of its own: a new GroupDescription would replace the group under every data store.
        self.cache_security_group = self._security_group(
            "CacheSecurityGroup", "ElastiCache nodes; ingress only from the application security group"
        )
        self.database_security_group = self._security_group(
            "DatabaseSecurityGroup", "RDS MySQL writer and replicas; ingress only from the application SG"
        )
        self.dax_security_group = self._security_group(
            "DaxSecurityGroup", "DAX cluster; ingress only from the application security group"
        )
        # No open egress: the Data stack's MySqlDatabase opens exactly MySQL and the Secrets Manager endpoint.
        self.database_rotation_security_group = self._security_group(
            "DatabaseRotationSecurityGroup",
            "MySQL secret rotation function; to MySQL and Secrets Manager only",
        )

        # Secret reads (functions, the hosted rotation function) stay in the VPC instead of leaning on NAT.
        # The endpoint only answers; its own group (unlike the one the CDK would make) has no egress rule, and
        # admits the callers that open a path to it.
        self.secrets_manager_endpoint_security_group = self._security_group(
            "SecretsManagerEndpointSecurityGroup", "Secrets Manager interface endpoint; HTTPS in from callers"
        )
        self.secrets_manager_endpoint = self.vpc.add_interface_endpoint(
            "SecretsManagerEndpoint",
            service=ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
            private_dns_enabled=True,
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            security_groups=[self.secrets_manager_endpoint_security_group],
            open=False,
        )

        # The product API queues each written item's path for the edge refresher; with no egress beyond the
        # groups it is wired to, it reaches SQS only through this endpoint (private DNS: boto3's default
        # sqs.<region> host resolves to it). Like the Secrets Manager endpoint it only answers, and admits
        # the callers that open a path to it.
        self.sqs_endpoint_security_group = self._security_group(
            "SqsEndpointSecurityGroup", "SQS interface endpoint; HTTPS in from callers"
        )
        self.sqs_endpoint = self.vpc.add_interface_endpoint(
            "SqsEndpoint",
            service=ec2.InterfaceVpcEndpointAwsService.SQS,
            private_dns_enabled=True,
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            security_groups=[self.sqs_endpoint_security_group],
            open=False,
        )

    @property
    def availability_zones(self) -> list[str]:
        """Without an account and region the CDK only ever offers two AZs; select the configured count."""
        if cdk.Token.is_unresolved(self.region):
            return [cdk.Fn.select(index, cdk.Fn.get_azs()) for index in range(self._az_count)]
        return super().availability_zones

    def _security_group(self, construct_id: str, description: str, *, allow_all_outbound: bool = False):
        return ec2.SecurityGroup(
            self, construct_id, vpc=self.vpc, description=description, allow_all_outbound=allow_all_outbound
        )
