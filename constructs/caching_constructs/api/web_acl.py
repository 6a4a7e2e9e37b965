"""``ManagedRulesWebAcl``: a WAFv2 web ACL of AWS managed rule groups plus a per-IP rate rule.

Scope ``CLOUDFRONT`` ACLs exist only in us-east-1 (create this construct in a stack deployed there);
``REGIONAL`` ones in the region of what they protect (an API Gateway stage, a load balancer).

Rules, in evaluation order (first match wins for block/allow):

1. ``AWSManagedRulesAmazonIpReputationList``: sources Amazon's threat intelligence knows for bots and abuse.
2. a rate-based rule: one client IP over ``rate_limit`` requests in any 5 minutes is blocked until it slows
   down. Reads are cheap through the caches, but a flood of cache-busting query strings reaches the database.
3. ``AWSManagedRulesCommonRuleSet`` (OWASP-style inspection), with ``SizeRestrictions_BODY`` (8 KB) only
   counted: the product API accepts bodies up to 16 KiB and answers larger ones itself with 413.
4. ``AWSManagedRulesKnownBadInputsRuleSet`` (Log4j, exploit paths) and 5. ``AWSManagedRulesSQLiRuleSet``: the
   product API queries MySQL (with bound parameters; the rule set is defence in depth).

The default action allows. Every rule publishes CloudWatch metrics and sampled requests.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_wafv2 as wafv2

from caching_constructs.core.rules import WAF_RATE_LIMIT
from caching_constructs.core.validation import fail, require
from constructs import Construct

SCOPES = ("CLOUDFRONT", "REGIONAL")
MANAGED_RULE_GROUPS: tuple[tuple[str, Sequence[str]], ...] = (
    ("AWSManagedRulesAmazonIpReputationList", ()),
    ("AWSManagedRulesCommonRuleSet", ("SizeRestrictions_BODY",)),
    ("AWSManagedRulesKnownBadInputsRuleSet", ()),
    ("AWSManagedRulesSQLiRuleSet", ()),
)
"""(managed rule group, rules in it that only count). The rate rule sits after the first group."""
RATE_RULE = "RateLimitPerIp"


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True
    )


class ManagedRulesWebAcl(Construct):
    """A web ACL; attach it with ``web_acl_arn`` (CloudFront ``web_acl_id``, or a ``CfnWebACLAssociation``).

    :param scope_name: ``CLOUDFRONT`` (the stack must be in us-east-1) or ``REGIONAL``.
    :param rate_limit: requests per 5 minutes per client IP before the rate rule blocks (10 to 2e9).
    :param metric_prefix: prefix of the CloudWatch metric names of the ACL and its rules.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, scope_name: str, rate_limit: int, metric_prefix: str
    ) -> None:
        if scope_name not in SCOPES:
            raise fail("scope_name", scope_name, "CLOUDFRONT or REGIONAL")
        require("rate_limit", rate_limit, WAF_RATE_LIMIT)
        super().__init__(scope, construct_id)
        rules: list[wafv2.CfnWebACL.RuleProperty] = []
        for name, counted in MANAGED_RULE_GROUPS:
            rules.append(
                wafv2.CfnWebACL.RuleProperty(
                    name=name,
                    priority=len(rules),
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS",
                            name=name,
                            rule_action_overrides=[
                                wafv2.CfnWebACL.RuleActionOverrideProperty(
                                    name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                                )
                                for rule in counted
                            ]
                            or None,
                        )
                    ),
                    visibility_config=_visibility(f"{metric_prefix}-{name}"),
                )
            )
            if len(rules) == 1:
                rules.append(
                    wafv2.CfnWebACL.RuleProperty(
                        name=RATE_RULE,
                        priority=len(rules),
                        action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                        statement=wafv2.CfnWebACL.StatementProperty(
                            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                                aggregate_key_type="IP", limit=rate_limit, evaluation_window_sec=300
                            )
                        ),
                        visibility_config=_visibility(f"{metric_prefix}-{RATE_RULE}"),
                    )
                )
        self.web_acl = wafv2.CfnWebACL(
            self,
            "Resource",
            scope=scope_name,
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            # WAF allows letters, digits, spaces and only a few punctuation marks in descriptions.
            description=f"AWS managed rule groups and a per-IP rate rule, {rate_limit} per 5 minutes",
            rules=rules,
            visibility_config=_visibility(metric_prefix),
        )
        self.node.default_child = self.web_acl
        self.web_acl_arn: str = self.web_acl.attr_arn
        """The ACL's ARN: CloudFront's ``web_acl_id`` takes it, as does ``CfnWebACLAssociation``."""
