"""The API stack: stage cache, per-method caching and cache keys, validation, auth, logs and tracing."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from tests.infra.templates import resources_of_type

PRODUCT_ITEM = "/~1products~1{id}"
PRODUCT_LIST = "/~1products"
LIST_QUERY = ["category", "page", "limit"]


def _stage(env) -> dict:
    stages = resources_of_type(env.template(env.stage.api).to_json(), "AWS::ApiGateway::Stage")
    assert len(stages) == 1
    return next(iter(stages.values()))["Properties"]


def _method_settings(env) -> dict[tuple[str, str], dict]:
    return {(s["ResourcePath"], s["HttpMethod"]): s for s in _stage(env)["MethodSettings"]}


def _methods(env) -> dict[tuple[str, str], dict]:
    """Methods keyed by (path, HTTP method), the path rebuilt from the resources' PathPart chain."""
    template = env.template(env.stage.api).to_json()
    resources = resources_of_type(template, "AWS::ApiGateway::Resource")

    def path_of(resource_ref) -> str:
        if "Fn::GetAtt" in resource_ref:  # the root resource
            return ""
        resource = resources[resource_ref["Ref"]]["Properties"]
        return path_of(resource["ParentId"]) + "/" + resource["PathPart"]

    return {
        (path_of(method["Properties"]["ResourceId"]), method["Properties"]["HttpMethod"]): method[
            "Properties"
        ]
        for method in resources_of_type(template, "AWS::ApiGateway::Method").values()
    }


@pytest.mark.parametrize(("name", "size"), [("dev", "0.5"), ("staging", "0.5"), ("prod", "1.6")])
def test_stage_cache_cluster_is_enabled_and_sized_from_config(synthesized, name, size):
    env = synthesized[name]
    assert env.config.api.cache_cluster_size == size
    stage = _stage(env)
    assert stage["CacheClusterEnabled"] is True
    assert stage["CacheClusterSize"] == size


def test_stage_defaults_cache_nothing_and_encrypt_what_is_cached(dev):
    default = _method_settings(dev)[("/*", "*")]
    assert default["CachingEnabled"] is False
    assert default["CacheDataEncrypted"] is True


def test_product_reads_are_cached_with_ttls_from_config(synthesized):
    for env in synthesized.values():
        settings = _method_settings(env)
        item, listing = settings[(PRODUCT_ITEM, "GET")], settings[(PRODUCT_LIST, "GET")]
        assert item["CachingEnabled"] is True and item["CacheDataEncrypted"] is True
        assert item["CacheTtlInSeconds"] == env.config.api.item_cache_ttl_seconds
        assert listing["CachingEnabled"] is True and listing["CacheDataEncrypted"] is True
        assert listing["CacheTtlInSeconds"] == env.config.api.list_cache_ttl_seconds


def test_writes_and_the_dax_demo_are_never_cached(dev):
    settings = _method_settings(dev)
    for key in [
        (PRODUCT_ITEM, "PUT"),
        (PRODUCT_LIST, "POST"),
        ("/~1dax~1items~1{id}", "GET"),
        ("/~1dax~1items~1{id}", "PUT"),
    ]:
        assert settings[key]["CachingEnabled"] is False, key
    cached = {key for key, setting in settings.items() if setting.get("CachingEnabled")}
    assert cached == {(PRODUCT_ITEM, "GET"), (PRODUCT_LIST, "GET")}


def test_cache_keys_are_exactly_the_parameters_the_response_depends_on(dev):
    methods = _methods(dev)
    assert methods[("/products/{id}", "GET")]["Integration"]["CacheKeyParameters"] == [
        "method.request.path.id"
    ]
    assert methods[("/products", "GET")]["Integration"]["CacheKeyParameters"] == [
        f"method.request.querystring.{name}" for name in LIST_QUERY
    ]
    for key, method in methods.items():
        if key not in {("/products/{id}", "GET"), ("/products", "GET")}:
            assert "CacheKeyParameters" not in method["Integration"], key


def test_request_parameters_are_declared_and_validated(dev):
    methods = _methods(dev)
    assert methods[("/products/{id}", "GET")]["RequestParameters"] == {"method.request.path.id": True}
    assert methods[("/products", "GET")]["RequestParameters"] == {
        f"method.request.querystring.{name}": False for name in LIST_QUERY
    }
    template = dev.template(dev.stage.api)
    template.has_resource_properties(
        "AWS::ApiGateway::RequestValidator",
        {"ValidateRequestParameters": True, "ValidateRequestBody": Match.absent()},
    )
    template.has_resource_properties(
        "AWS::ApiGateway::RequestValidator", {"ValidateRequestParameters": True, "ValidateRequestBody": True}
    )
    for method in methods.values():
        assert "RequestValidatorId" in method


def test_every_route_goes_through_lambda_proxy_integration(dev):
    methods = _methods(dev)
    assert set(methods) == {
        ("/products/{id}", "GET"),
        ("/products", "GET"),
        ("/products/{id}", "PUT"),
        ("/products", "POST"),
        ("/dax/items/{id}", "GET"),
        ("/dax/items/{id}", "PUT"),
    }
    for method in methods.values():
        assert method["Integration"]["Type"] == "AWS_PROXY"


def test_writes_require_iam_and_a_json_body_model_and_reads_are_public(dev):
    methods = _methods(dev)
    for (path, verb), method in methods.items():
        if verb == "GET":
            assert method["AuthorizationType"] == "NONE", path
            assert "RequestModels" not in method
        else:
            assert method["AuthorizationType"] == "AWS_IAM", (path, verb)
            assert set(method["RequestModels"]) == {"application/json"}


def test_product_body_model_mirrors_the_handlers_validation(dev):
    from caching_contract import catalog
    from functions import product_validation

    models = resources_of_type(dev.template(dev.stage.api).to_json(), "AWS::ApiGateway::Model")
    schemas = [
        m["Properties"]["Schema"]
        for m in models.values()
        if m["Properties"]["Schema"].get("title") == "Product"
    ]
    assert len(schemas) == 2  # PUT /products/{id} and POST /products
    schema = schemas[0]
    assert set(schema["properties"]) == set(product_validation.PRODUCT_FIELDS)
    assert set(schema["required"]) == set(product_validation.REQUIRED_FIELDS)
    assert schema["additionalProperties"] is False
    assert schema["properties"]["category"]["enum"] == list(catalog.CATEGORIES)
    assert schema["properties"]["name"]["maxLength"] == catalog.NAME_MAX_LENGTH


def test_unauthorized_cache_invalidation_fails_with_403_on_every_cached_method(dev):
    template = dev.template(dev.stage.api).to_json()
    calls = [
        resource["Properties"]
        for resource in resources_of_type(template, "Custom::AWS").values()
        if "updateStage" in json.dumps(resource["Properties"]["Create"])
    ]
    assert len(calls) == 1
    rendered = "".join(part for part in calls[0]["Create"]["Fn::Join"][1] if isinstance(part, str))
    for path in (PRODUCT_ITEM, PRODUCT_LIST):
        assert (
            f'"path":"{path}/GET/caching/unauthorizedCacheControlHeaderStrategy","value":"FAIL_WITH_403"'
            in rendered
        )
        assert f'"path":"{path}/GET/caching/requireAuthorizationForCacheControl","value":"true"' in rendered
    assert calls[0]["Update"] == calls[0]["Create"]


def test_the_invalidation_setting_may_only_patch_this_stage(dev):
    policies = resources_of_type(dev.template(dev.stage.api).to_json(), "AWS::IAM::Policy")
    patch_statements = [
        statement
        for policy in policies.values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "apigateway:PATCH"
    ]
    assert len(patch_statements) == 1
    assert "/stages/" in json.dumps(patch_statements[0]["Resource"])


def test_throttling_comes_from_config(synthesized):
    for env in synthesized.values():
        default = _method_settings(env)[("/*", "*")]
        assert default["ThrottlingRateLimit"] == env.config.api.throttle_rate_limit
        assert default["ThrottlingBurstLimit"] == env.config.api.throttle_burst_limit


def test_access_logs_are_json_and_tracing_is_on(dev):
    stage = _stage(dev)
    assert stage["TracingEnabled"] is True
    fields = json.loads(stage["AccessLogSetting"]["Format"])
    assert {"requestId", "status", "resourcePath", "responseLatency", "integrationLatency"} <= set(fields)
    dev.template(dev.stage.api).has_resource_properties(
        "AWS::Logs::LogGroup", {"RetentionInDays": dev.config.functions.log_retention_days}
    )


def test_the_api_is_regional_because_cloudfront_is_the_edge(dev):
    dev.template(dev.stage.api).has_resource_properties(
        "AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["REGIONAL"]}}
    )


def test_the_api_url_is_a_stable_output(synthesized):
    for env in synthesized.values():
        outputs = env.template(env.stage.api).to_json()["Outputs"]
        assert "ApiUrl" in outputs
        assert not [key for key in outputs if key.startswith("ApiRestApiEndpoint")]


def test_the_stage_cache_keeps_a_write_from_being_cached_even_with_a_ttl():
    import aws_cdk as cdk

    from caching_constructs.api.cached_rest_api import ApiRoute

    route = ApiRoute(
        method="PUT", path="/products/{id}", handler=None, cache_ttl=cdk.Duration.seconds(5), body_schema={}
    )
    with pytest.raises(ValueError, match="only GET methods may be cached"):
        route.validate()


def test_a_write_without_iam_or_body_model_is_rejected():
    from caching_constructs.api.cached_rest_api import ApiRoute

    with pytest.raises(ValueError, match="writes must use IAM"):
        ApiRoute(method="POST", path="/products", handler=None, iam_auth=False, body_schema={}).validate()
    with pytest.raises(ValueError, match="body_schema"):
        ApiRoute(method="POST", path="/products", handler=None).validate()


def test_api_methods_have_no_cognito_and_nag_runs_over_them(dev):
    # cdk-nag's suite-wide test proves there are no unsuppressed findings; here only that the
    # suppressions for public reads are attached to the GET methods and nowhere broader.
    template = dev.template(dev.stage.api)
    template.has_resource(
        "AWS::ApiGateway::Method",
        {
            "Properties": Match.object_like({"HttpMethod": "GET", "AuthorizationType": "NONE"}),
            "Metadata": Match.object_like(
                {
                    "cdk_nag": {
                        "rules_to_suppress": Match.array_with(
                            [Match.object_like({"id": "AwsSolutions-APIG4"})]
                        )
                    }
                }
            ),
        },
    )


def test_a_body_schema_keyword_the_model_cannot_express_is_refused():
    from caching_constructs.api.json_schema import json_schema

    with pytest.raises(ValueError, match=r"unsupported JSON schema keyword\(s\): \['oneOf'\]"):
        json_schema({"type": "object", "oneOf": []})
