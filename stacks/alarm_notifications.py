"""Where a Monitoring stack's alarms go: its encrypted alarm topic, the environment's email subscribers and
Slack channels on it, and the existing topics of ``monitoring.alarm_topic_arns``. Shared by the primary
region's ``MonitoringStack`` and each secondary region's ``SecondaryMonitoringStack``."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions

from caching_constructs.core.encryption_keys import customer_managed_key
from caching_constructs.monitoring.facade import OperationsMonitoring
from config.schema import MonitoringConfig


def alarm_topic(stack: cdk.Stack, emails: Sequence[str]) -> sns.Topic:
    """The stack's ``AlarmTopic`` under its own ``AlarmTopicKey``, each address in ``emails`` subscribed."""
    # Always a customer-managed key: CloudWatch cannot publish to a topic under the AWS-managed SNS key.
    key = customer_managed_key(
        stack,
        "AlarmTopicKey",
        description="Encrypts the alarm topic",
        # It encrypts only messages in flight: nothing outlives the topic, so it goes with the stack
        # (after KMS's waiting period, during which deletion can still be cancelled).
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    # CloudWatch publishes to the topic as a service, so it needs the key; only for this account's alarms.
    key.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],  # in a key policy, "*" is this key
            conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
        )
    )
    topic = sns.Topic(stack, "AlarmTopic", master_key=key, enforce_ssl=True, display_name="Caching alarms")
    for address in emails:
        topic.add_subscription(subscriptions.EmailSubscription(address))
    return topic


def chat_channels(
    stack: cdk.Stack, topic: sns.ITopic, channels: Sequence[str]
) -> list[chatbot.SlackChannelConfiguration]:
    """One AWS Chatbot configuration per 'WORKSPACE_ID/CHANNEL_ID', posting ``topic``."""
    configurations = []
    for index, channel in enumerate(channels):
        workspace, channel_id = channel.split("/")
        configuration = chatbot.SlackChannelConfiguration(
            stack,
            f"SlackChannel{index + 1}",
            # Unique per account: two environments (or regions) may post to the same channel.
            slack_channel_configuration_name=f"{stack.stack_name}-{channel_id}"[:128],
            slack_workspace_id=workspace,
            slack_channel_id=channel_id,
            notification_topics=[topic],
            # Chatbot only reads alarms: its role may describe CloudWatch, nothing else.
            guardrail_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("CloudWatchReadOnlyAccess")],
        )
        configurations.append(configuration)
    return configurations


def additional_topics(
    stack: cdk.Stack, arns: Sequence[str], *, region: str | None = None
) -> list[sns.ITopic]:
    """The existing topics every alarm also notifies (``AlarmTopic1``...). With ``region``, only those in that
    region: a CloudWatch alarm can only act on an SNS topic of its own region."""
    return [
        sns.Topic.from_topic_arn(stack, f"AlarmTopic{index + 1}", arn)
        for index, arn in enumerate(arns)
        if region is None or arn.split(":")[3] == region
    ]


def operations_monitoring(
    stack: cdk.Stack, config: MonitoringConfig, *, region: str | None = None
) -> tuple[sns.Topic, list[chatbot.SlackChannelConfiguration], OperationsMonitoring]:
    """A Monitoring stack's alarm topic with the environment's subscribers, its Slack channels, and the
    dashboard-and-alarms facade that notifies them; ``region`` as for :func:`additional_topics`."""
    topic = alarm_topic(stack, config.alarm_emails)
    channels = chat_channels(stack, topic, config.alarm_slack_channels)
    monitoring = OperationsMonitoring(
        stack,
        "Operations",
        alarm_topic=topic,
        additional_topics=additional_topics(stack, config.alarm_topic_arns, region=region),
        period=cdk.Duration.minutes(config.period_minutes),
        evaluation_periods=config.evaluation_periods,
        alarm_name_prefix=stack.stack_name,
    )
    return topic, channels, monitoring
