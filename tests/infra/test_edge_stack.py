"""The edge stack: CloudFront with an API origin and a private S3 origin, logging, headers, deployments."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from aws_cdk.assertions import Match

from config import ENVIRONMENT_NAMES
from stacks.edge_stack import API_PATH_PATTERNS, SITE_DIR
from tests.infra.templates import resources_of_type

CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"


def _template(env) -> dict:
    return env.template(env.stage.edge).to_json()


def _distribution(env) -> dict:
    (distribution,) = resources_of_type(_template(env), "AWS::CloudFront::Distribution").values()
    return distribution["Properties"]["DistributionConfig"]


def _buckets(env) -> dict[str, dict]:
    return resources_of_type(_template(env), "AWS::S3::Bucket")


def test_static_files_come_from_s3_through_origin_access_control_not_an_identity(synthesized):
    for env in synthesized.values():
        template = _template(env)
        assert len(resources_of_type(template, "AWS::CloudFront::OriginAccessControl")) == 1
        assert not resources_of_type(template, "AWS::CloudFront::CloudFrontOriginAccessIdentity")
        s3_origins = [o for o in _distribution(env)["Origins"] if "S3OriginConfig" in o]
        assert len(s3_origins) == 1
        assert "OriginAccessControlId" in s3_origins[0]
        assert s3_origins[0]["S3OriginConfig"]["OriginAccessIdentity"] == ""


def test_only_cloudfront_may_read_the_static_bucket(dev):
    template = _template(dev)
    static_id = next(key for key in _buckets(dev) if key.startswith("SiteStaticBucket"))
    policy = next(
        p["Properties"]["PolicyDocument"]
        for p in resources_of_type(template, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": static_id}
    )
    reads = [
        s for s in policy["Statement"] if s["Effect"] == "Allow" and "s3:GetObject" in json.dumps(s["Action"])
    ]
    assert reads and all(s["Principal"] == {"Service": "cloudfront.amazonaws.com"} for s in reads)
    assert all("AWS:SourceArn" in json.dumps(s["Condition"]) for s in reads)


def test_no_bucket_is_public_and_every_bucket_is_encrypted_and_https_only(synthesized):
    for env in synthesized.values():
        template = _template(env)
        buckets = _buckets(env)
        assert len(buckets) == 2
        for bucket_id, bucket in buckets.items():
            properties = bucket["Properties"]
            assert properties["PublicAccessBlockConfiguration"] == {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            }
            (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
            policy = next(
                p["Properties"]["PolicyDocument"]
                for p in resources_of_type(template, "AWS::S3::BucketPolicy").values()
                if p["Properties"]["Bucket"] == {"Ref": bucket_id}
            )
            assert any(
                s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                for s in policy["Statement"]
            )


def test_cloudfront_logs_to_an_sse_s3_bucket_that_accepts_log_delivery_acls(synthesized):
    for env in synthesized.values():
        logging = _distribution(env)["Logging"]
        log_bucket_id = logging["Bucket"]["Fn::GetAtt"][0]
        log_bucket = _buckets(env)[log_bucket_id]["Properties"]
        assert log_bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]}
        assert log_bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == (
            env.config.edge.access_log_retention_days
        )


def test_api_paths_go_to_the_api_keyed_on_the_list_query_strings_and_authorization(dev):
    distribution = _distribution(dev)
    behaviors = {b["PathPattern"]: b for b in distribution["CacheBehaviors"]}
    assert set(behaviors) == set(API_PATH_PATTERNS)
    api_origin = next(o for o in distribution["Origins"] if "CustomOriginConfig" in o)
    assert api_origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    # The stage name is the URL's fourth segment: https://<id>.execute-api.<region>.<suffix>/api/
    assert api_origin["OriginPath"]["Fn::Join"][1][1]["Fn::Select"][0] == 3
    cache_policies = resources_of_type(_template(dev), "AWS::CloudFront::CachePolicy")
    for behavior in behaviors.values():
        assert behavior["TargetOriginId"] == api_origin["Id"]
        assert behavior["CachedMethods"] == ["GET", "HEAD"]
        config = cache_policies[behavior["CachePolicyId"]["Ref"]]["Properties"]["CachePolicyConfig"]
        keys = config["ParametersInCacheKeyAndForwardedToOrigin"]
        assert keys["QueryStringsConfig"] == {
            "QueryStringBehavior": "whitelist",
            "QueryStrings": ["category", "page", "limit"],
        }
        # The only way CloudFront forwards Authorization (for writes through it); reads carry none.
        assert keys["HeadersConfig"] == {"HeaderBehavior": "whitelist", "Headers": ["Authorization"]}
        assert keys["CookiesConfig"] == {"CookieBehavior": "none"}
        assert config["DefaultTTL"] == dev.config.edge.api_default_ttl_seconds


def _origin_request_policy(env, behavior: dict) -> dict:
    policy_id = behavior["OriginRequestPolicyId"]
    assert isinstance(policy_id, dict), f"managed policy {policy_id} forwards headers the API does not read"
    policies = resources_of_type(_template(env), "AWS::CloudFront::OriginRequestPolicy")
    return policies[policy_id["Ref"]]["Properties"]["OriginRequestPolicyConfig"]


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_the_api_origin_gets_only_the_headers_the_api_reads_and_never_cache_control(synthesized, name):
    """A browser reload's Cache-Control: max-age=0 must never reach the stage (it answers 403, which
    CloudFront would serve to everyone); writes through CloudFront still carry their SigV4 and idempotency
    headers."""
    env = synthesized[name]
    distribution = _distribution(env)
    for behavior in distribution["CacheBehaviors"]:
        if not env.config.global_datastore.secondary_regions:  # else reads only (test_secondary_stacks.py)
            assert {"POST", "PUT"} <= set(behavior["AllowedMethods"])  # writes may come through CloudFront
        config = _origin_request_policy(env, behavior)
        headers = config["HeadersConfig"]
        assert headers["HeaderBehavior"] == "whitelist"
        assert {h.lower() for h in headers["Headers"]} == {
            "x-amz-date",
            "x-amz-security-token",
            "x-amz-content-sha256",
            "content-type",
            "idempotency-key",
            "x-correlation-id",
        }
        # The cache key's query strings are forwarded anyway; nothing else.
        assert config["QueryStringsConfig"] == {"QueryStringBehavior": "none"}
        assert config["CookiesConfig"] == {"CookieBehavior": "none"}
        cache_policy = resources_of_type(_template(env), "AWS::CloudFront::CachePolicy")[
            behavior["CachePolicyId"]["Ref"]
        ]["Properties"]["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]
        forwarded = {h.lower() for h in headers["Headers"] + cache_policy["HeadersConfig"].get("Headers", [])}
        assert not forwarded & {"cache-control", "pragma", "host"}
        assert "authorization" in forwarded


def test_the_headers_the_api_reads_are_forwarded_to_it():
    from caching_contract import http
    from stacks.edge_stack import API_HEADERS

    assert http.IDEMPOTENCY_KEY_HEADER in API_HEADERS
    assert http.CORRELATION_HEADER in API_HEADERS


@pytest.mark.parametrize("header", ["Cache-Control", "host", "Pragma"])
def test_a_header_that_would_refresh_or_misroute_the_stage_is_refused(header, tmp_path):
    import aws_cdk as cdk
    from aws_cdk import aws_apigateway as apigw
    from aws_cdk import aws_cloudfront as cloudfront

    from caching_constructs.edge.static_site import StaticSiteDistribution

    stack = cdk.Stack(cdk.App(outdir=str(tmp_path)))
    api = apigw.RestApi(stack, "Api")
    api.root.add_method("GET")
    with pytest.raises(ValueError, match=r"api_headers: .* must not reach the API"):
        StaticSiteDistribution(
            stack,
            "Site",
            rest_api=api,
            api_path_patterns=["/products"],
            api_query_strings=["page"],
            api_default_ttl=cdk.Duration.seconds(30),
            api_headers=["Content-Type", header],
            site_dir=SITE_DIR,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
        )


def test_an_api_default_ttl_above_the_policys_maximum_is_refused_not_silently_raised(tmp_path):
    """CDK's CachePolicy would lift its maximum TTL to a longer default, past what the API may ask for."""
    import aws_cdk as cdk
    from aws_cdk import aws_apigateway as apigw
    from aws_cdk import aws_cloudfront as cloudfront

    from caching_constructs.edge.static_site import StaticSiteDistribution

    stack = cdk.Stack(cdk.App(outdir=str(tmp_path)))
    api = apigw.RestApi(stack, "Api")
    api.root.add_method("GET")
    with pytest.raises(ValueError, match=r"api_default_ttl \(seconds\): 3601 .*from 0 to 3600"):
        StaticSiteDistribution(
            stack,
            "Site",
            rest_api=api,
            api_path_patterns=["/products"],
            api_query_strings=["page"],
            api_default_ttl=cdk.Duration.seconds(3601),
            api_headers=["Content-Type"],
            site_dir=SITE_DIR,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
        )


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_errors_are_cached_at_the_edge_for_a_second_and_keep_the_origins_own_body(synthesized, name):
    """Every status CloudFront caches gets a 1 s error TTL (its default is 10 s, CloudFormation's 300 s), and
    no error page: the API's JSON errors and S3's answers for the static site pass through unchanged."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", "AWS::CloudFront::Distribution").schema
    cacheable = set(schema["definitions"]["CustomErrorResponse"]["properties"]["ErrorCode"]["enum"]) - {416}
    responses = _distribution(synthesized[name])["CustomErrorResponses"]
    assert {r["ErrorCode"] for r in responses} == cacheable
    assert {400, 403, 404, 405, 500, 502, 503, 504} <= cacheable  # what the stage and the handler answer
    for response in responses:
        assert response == {"ErrorCode": response["ErrorCode"], "ErrorCachingMinTTL": 1}


def test_the_edge_and_the_stage_cache_key_on_the_same_query_strings(dev):
    from stacks.edge_stack import API_QUERY_STRINGS

    api = dev.template(dev.stage.api).to_json()
    keys = [
        m["Properties"]["Integration"].get("CacheKeyParameters", [])
        for m in resources_of_type(api, "AWS::ApiGateway::Method").values()
    ]
    stage_query_keys = {k.rsplit(".", 1)[1] for key_list in keys for k in key_list if ".querystring." in k}
    assert stage_query_keys == set(API_QUERY_STRINGS)


def test_viewers_get_https_compression_and_security_headers(synthesized):
    for env in synthesized.values():
        distribution = _distribution(env)
        behaviors = [distribution["DefaultCacheBehavior"], *distribution["CacheBehaviors"]]
        headers_policies = resources_of_type(_template(env), "AWS::CloudFront::ResponseHeadersPolicy")
        for behavior in behaviors:
            assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
            assert behavior["Compress"] is True
            policy = headers_policies[behavior["ResponseHeadersPolicyId"]["Ref"]]["Properties"]
            security = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
            assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
            assert security["ContentTypeOptions"]["Override"] is True
            assert security["FrameOptions"]["FrameOption"] == "DENY"
            assert "default-src 'self'" in security["ContentSecurityPolicy"]["ContentSecurityPolicy"]
        assert distribution["DefaultCacheBehavior"]["CachePolicyId"] == CACHING_OPTIMIZED
        assert distribution["DefaultRootObject"] == "index.html"


@pytest.mark.parametrize(("name", "price_class"), [("dev", "PriceClass_100"), ("prod", "PriceClass_All")])
def test_price_class_follows_the_config(synthesized, name, price_class):
    assert _distribution(synthesized[name])["PriceClass"] == price_class


def test_no_custom_domain_unless_configured(dev):
    distribution = _distribution(dev)
    assert distribution.get("ViewerCertificate", {}).get("CloudFrontDefaultCertificate", True) is True


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_the_project_creates_the_cloudfront_acl_in_us_east_1_and_the_edge_reads_it_across_regions(
    synthesized, name
):
    env = synthesized[name]
    acl_stack = env.stage.edge_web_acl
    assert acl_stack.region == "us-east-1"  # whatever region the environment deploys to
    template = env.template(acl_stack)
    template.has_resource_properties("AWS::WAFv2::WebACL", {"Scope": "CLOUDFRONT"})
    assert _distribution(env)["WebACLId"] == {
        "Fn::GetStackOutput": {
            "StackName": f"{name}-EdgeWebAcl",
            "OutputName": "WebAclArn",
            "Region": "us-east-1",
        }
    }
    # The Edge stack deploys after the ACL's stack, so the output exists when it is read.
    edge = env.assembly.get_stack_artifact(env.stage.edge.artifact_id)
    assert acl_stack.artifact_id in {dependency.id for dependency in edge.dependencies}


def test_a_configured_cloudfront_acl_means_no_acl_stack(tmp_path):
    from config import parse_environment
    from config.environments import ENVIRONMENTS
    from stacks.stage import CachingStage
    from tests.infra.conftest import new_app

    acl = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/edge/abc"
    stage = CachingStage(
        new_app(tmp_path),
        "dev",
        config=parse_environment("dev", {**ENVIRONMENTS["dev"], "edge": {"waf_web_acl_arn": acl}}),
    )
    assert stage.edge_web_acl is None
    assert [child.node.id for child in stage.node.children if child.node.id == "EdgeWebAcl"] == []


def test_a_configured_web_acl_and_certificate_enforce_tls_1_2_2021(tmp_path):
    from config import parse_environment
    from config.environments import ENVIRONMENTS
    from stacks.stage import CachingStage
    from tests.infra.conftest import new_app

    acl = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/edge/abc"
    certificate = "arn:aws:acm:us-east-1:123456789012:certificate/0f0e"
    raw = {
        **ENVIRONMENTS["dev"],
        "edge": {"waf_web_acl_arn": acl, "domain_name": "shop.example.com", "certificate_arn": certificate},
    }
    app = new_app(tmp_path)
    stage = CachingStage(app, "dev", config=parse_environment("dev", raw))
    from aws_cdk.assertions import Template

    Template.from_stack(stage.edge).has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {
                    "WebACLId": acl,
                    "Aliases": ["shop.example.com"],
                    "ViewerCertificate": {
                        "AcmCertificateArn": certificate,
                        "MinimumProtocolVersion": "TLSv1.2_2021",
                        "SslSupportMethod": "sni-only",
                    },
                }
            )
        },
    )


def _deployments(env) -> list[dict]:
    return [
        d["Properties"] for d in resources_of_type(_template(env), "Custom::CDKBucketDeployment").values()
    ]


def test_hashed_assets_are_immutable_and_the_entry_page_is_short_lived(dev):
    by_cache_control = {d["SystemMetadata"]["cache-control"]: d for d in _deployments(dev)}
    assert set(by_cache_control) == {
        "public, max-age=31536000, immutable",
        "public, max-age=60, must-revalidate",
    }
    assets = by_cache_control["public, max-age=31536000, immutable"]
    entry = by_cache_control["public, max-age=60, must-revalidate"]
    assert assets["DestinationBucketKeyPrefix"] == "assets/"
    assert "DistributionId" not in assets  # new names need no invalidation
    assert entry["DistributionPaths"] == ["/", "/index.html"]
    for deployment in (assets, entry):
        assert deployment["Prune"] is False  # neither deployment deletes the other's files


def test_the_site_names_its_assets_by_content_hash():
    index = (SITE_DIR / "index.html").read_text()
    referenced = re.findall(r'(?:href|src)="/assets/([^"]+)"', index)
    assert len(referenced) == 2
    for name in referenced:
        content = (SITE_DIR / "assets" / name).read_bytes()
        assert name.split(".")[1] == hashlib.sha256(content).hexdigest()[:12], name


def test_outputs_for_the_pipeline_smoke_test(synthesized):
    for env in synthesized.values():
        outputs = _template(env)["Outputs"]
        assert {"DistributionDomainName", "DistributionId", "StaticBucketName"} <= set(outputs)
