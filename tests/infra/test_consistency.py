"""The consistency contract after a write cannot drift from what is deployed: its inputs are rebuilt from the
synthesized templates (stage-cache TTLs, the CloudFront cache policy, the refresher's batching window and
CloudFront permission, the near cache's settings) and must equal what ``stacks.consistency`` derives from the
config; the README's table must be that module's output."""

from __future__ import annotations

import dataclasses

import pytest
from aws_cdk.assertions import Template

from caching_contract import http
from config import ENVIRONMENT_NAMES, load_environment
from stacks import consistency
from stacks.consistency import Timings, contract, timings
from stacks.stage import CachingStage
from tests.infra.conftest import new_app
from tests.infra.templates import resources_of_type

ITEM = "/~1products~1{id}"
LIST = "/~1products"


def deployed_timings(api: dict, edge: dict) -> Timings:
    """The contract's inputs as the templates state them (the handler's max-ages come from its source: no
    template holds them)."""
    (stage,) = resources_of_type(api, "AWS::ApiGateway::Stage").values()
    settings = {(s["ResourcePath"], s["HttpMethod"]): s for s in stage["Properties"]["MethodSettings"]}
    for path in (ITEM, LIST):
        assert settings[(path, "GET")]["CachingEnabled"] is True, path
    (product_api,) = [
        r["Properties"]
        for r in resources_of_type(api, "AWS::Lambda::Function").values()
        if r["Properties"].get("Handler") == "functions.product_api.lambda_handler"
    ]
    variables = product_api["Environment"]["Variables"]
    distribution = next(iter(resources_of_type(edge, "AWS::CloudFront::Distribution").values()))
    behaviors = distribution["Properties"]["DistributionConfig"]["CacheBehaviors"]
    policies = resources_of_type(edge, "AWS::CloudFront::CachePolicy")
    (policy_id,) = {b["CachePolicyId"]["Ref"] for b in behaviors if b["PathPattern"].startswith("/products")}
    policy = policies[policy_id]["Properties"]["CachePolicyConfig"]
    (mapping,) = resources_of_type(edge, "AWS::Lambda::EventSourceMapping").values()
    (refresher,) = [
        r["Properties"]
        for r in resources_of_type(edge, "AWS::Lambda::Function").values()
        if r["Properties"].get("Handler") == "functions.edge_refresh.lambda_handler"
    ]
    fresh, stale = http.EDGE_MAX_AGE_SECONDS, http.STALE_MAX_AGE_SECONDS
    return Timings(
        near_cache=int(variables["CACHE_L1_TTL_SECONDS"]) if variables["CACHE_L1_ENABLED"] == "true" else 0,
        item_stage_ttl=settings[(ITEM, "GET")]["CacheTtlInSeconds"],
        list_stage_ttl=settings[(LIST, "GET")]["CacheTtlInSeconds"],
        edge_min_ttl=policy["MinTTL"],
        edge_max_ttl=policy["MaxTTL"],
        fresh_max_age=fresh,
        stale_max_age=stale,
        refresh_window=mapping["Properties"]["MaximumBatchingWindowInSeconds"],
        invalidate_on_write="DISTRIBUTION_ID" in refresher["Environment"]["Variables"],
    )


@pytest.mark.parametrize("name", ENVIRONMENT_NAMES)
def test_the_contract_is_derived_from_what_each_environment_deploys(synthesized, name):
    env = synthesized[name]
    deployed = deployed_timings(env.template(env.stage.api).to_json(), env.template(env.stage.edge).to_json())
    assert deployed == timings(env.config)


def test_the_contract_follows_a_changed_config_through_the_templates(tmp_path):
    """Other TTLs, the near cache off and invalidation on: the templates and the contract move together."""
    base = load_environment("dev")
    config = dataclasses.replace(
        base,
        api=dataclasses.replace(base.api, item_cache_ttl_seconds=300, list_cache_ttl_seconds=120),
        functions=dataclasses.replace(base.functions, l1_enabled=False),
        edge=dataclasses.replace(base.edge, invalidate_on_write=True),
    )
    stage = CachingStage(new_app(tmp_path), "dev", config=config)
    deployed = deployed_timings(
        Template.from_stack(stage.api).to_json(), Template.from_stack(stage.edge).to_json()
    )
    assert deployed == timings(config)
    assert (deployed.item_stage_ttl, deployed.near_cache, deployed.invalidate_on_write) == (300, 0, True)
    item_cloudfront = next(r for r in contract(deployed) if "{id}" in r.route and "CloudFront" in r.path)
    assert item_cloudfront.bound_seconds == 300 + 10
    assert "invalidated" in item_cloudfront.refreshed


def test_the_bounds_add_the_layers_up():
    t = timings(load_environment("staging"))
    assert (t.near_cache, t.item_stage_ttl, t.list_stage_ttl, t.edge_ttl) == (0, 60, 30, 10)
    bounds = {(r.route, r.path): r.bound_seconds for r in contract(t)}
    item, listing = consistency.ITEM, consistency.LIST
    function, stage, cloudfront = consistency.PATHS
    assert bounds == {
        (item, function): 0,
        (item, stage): 60,
        (item, cloudfront): 70,
        (listing, function): 0,
        (listing, stage): 30,
        (listing, cloudfront): 40,
    }
    # dev's near cache may serve another container's copy up to its TTL, ahead of every other layer.
    dev = {(r.route, r.path): r.bound_seconds for r in contract(timings(load_environment("dev")))}
    assert dev[(item, cloudfront)] == 5 + 60 + 10
    # Only items are refreshed; list pages keep their bound.
    assert all(
        "not refreshed" in r.refreshed for r in contract(t) if r.route == listing and r.path != function
    )


def test_cloudfront_keeps_a_200_for_the_handlers_longer_max_age_within_the_policy():
    assert (http.EDGE_MAX_AGE_SECONDS, http.STALE_MAX_AGE_SECONDS) == (10, 1)
    t = timings(load_environment("prod"))
    assert t.edge_ttl == 10
    assert dataclasses.replace(t, edge_max_ttl=5).edge_ttl == 5
    assert dataclasses.replace(t, edge_min_ttl=30).edge_ttl == 30


def test_the_readme_table_is_the_modules_output():
    text = consistency.README.read_text()
    section = consistency.readme_section(text)
    assert section is not None, "README.md lost its consistency-contract section"
    assert section == consistency.markdown(consistency.all_environments()), (
        "README.md's contract is stale: run .venv/bin/python -m stacks.consistency --write"
    )
