"""The CloudFront web ACL, in us-east-1 whatever region the environment deploys to.

WAF keeps every CLOUDFRONT-scope web ACL in us-east-1, so it cannot sit in the Edge stack unless that stack
deploys there. This stack is pinned to us-east-1 (account: the environment's, or the credentials' when it is
null) and the Edge stack reads the ACL's ARN across regions with ``Fn::GetStackOutput`` and
``Region: us-east-1`` (``web_acl_arn``), which CloudFormation resolves when the Edge stack deploys; the
Edge stack depends on this one, so it deploys first. The CDK's own cross-region references would need the
Edge stack's region at synth (they refuse an environment-agnostic consumer) and a custom resource; this
needs neither, and synth stays offline with nothing looked up. Deploying needs the account bootstrapped in
us-east-1 too (docs/DEPLOY.md).
"""

from __future__ import annotations

import aws_cdk as cdk

from caching_constructs.api.web_acl import ManagedRulesWebAcl
from constructs import Construct

CLOUDFRONT_WAF_REGION = "us-east-1"
WEB_ACL_ARN_OUTPUT = "WebAclArn"


class EdgeWebAclStack(cdk.Stack):
    """``web_acl``: the CLOUDFRONT-scope ``ManagedRulesWebAcl`` of one environment's distribution."""

    def __init__(self, scope: Construct, construct_id: str, *, rate_limit: int, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if not cdk.Token.is_unresolved(self.region) and self.region != CLOUDFRONT_WAF_REGION:
            raise ValueError(
                f"{self.node.path}: a CloudFront web ACL must be in us-east-1, not {self.region}"
            )
        self.web_acl = ManagedRulesWebAcl(
            self,
            "WebAcl",
            scope_name="CLOUDFRONT",
            rate_limit=rate_limit,
            metric_prefix=f"{self.stack_name}-cloudfront",
        )
        cdk.CfnOutput(
            self,
            WEB_ACL_ARN_OUTPUT,
            value=self.web_acl.web_acl_arn,
            description="The CloudFront web ACL; the Edge stack reads it with Fn::GetStackOutput",
        )

    @property
    def web_acl_arn(self) -> str:
        """The ACL's ARN as a stack in any region reads it at deploy time (``Fn::GetStackOutput``); that
        stack must ``add_dependency`` on this one so that it deploys after it."""
        return cdk.Fn.get_stack_output(self.stack_name, WEB_ACL_ARN_OUTPUT, region=CLOUDFRONT_WAF_REGION)
