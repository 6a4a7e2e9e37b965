"""MemcachedCluster on a bare stack: the same connections/metrics shape as Redis, TLS, and each bad prop."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk.assertions import Template

from caching_constructs.elasticache.memcached_cluster import MemcachedCluster
from tests.infra.bare_stack import bare_stack, isolated_subnet_refs


def _cluster(**props):
    stack, vpc = bare_stack()
    return stack, vpc, MemcachedCluster(stack, "Cache", vpc=vpc, **props)


def test_nodes_are_spread_over_azs_with_tls_on_a_non_default_port():
    stack, vpc, _ = _cluster(num_nodes=3)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::ElastiCache::CacheCluster",
        {
            "Engine": "memcached",
            "EngineVersion": "1.6.22",
            "NumCacheNodes": 3,
            "AZMode": "cross-az",
            "Port": 11212,
            "TransitEncryptionEnabled": True,
        },
    )
    template.has_resource_properties(
        "AWS::ElastiCache::ParameterGroup", {"CacheParameterGroupFamily": "memcached1.6"}
    )
    template.has_resource_properties(
        "AWS::ElastiCache::SubnetGroup", {"SubnetIds": isolated_subnet_refs(stack, vpc)}
    )


def test_one_node_is_single_az():
    stack, _, _ = _cluster(num_nodes=1)
    Template.from_stack(stack).has_resource_properties(
        "AWS::ElastiCache::CacheCluster", {"AZMode": "single-az"}
    )


def test_metrics_have_the_cache_shape_and_hit_rate_is_computed():
    stack, _, cluster = _cluster()
    assert cluster.metric_evictions().metric_name == "Evictions"
    assert cluster.metric_engine_cpu_utilization().metric_name == "CPUUtilization"
    assert cluster.metric_curr_connections().namespace == "AWS/ElastiCache"
    assert stack.resolve(cluster.metric_curr_connections().dimensions["CacheClusterId"]) == stack.resolve(
        cluster.cache_cluster.ref
    )
    hit_rate = cluster.metric_cache_hit_rate()
    assert isinstance(hit_rate, cloudwatch.MathExpression)
    assert set(hit_rate.using_metrics) == {"hits", "misses"}
    assert cluster.reader_endpoint_address is None


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"engine_version": "1.6.6"}, r"engine_version: '1\.6\.6' .*from 1\.6\.12 on"),
        ({"engine_version": "1.6"}, r"engine_version: '1\.6' .*from 1\.6\.12 on"),
        ({"engine_version": "1.5.16"}, r"engine_version: '1\.5\.16' .*1\.6\.x for engine 'memcached'"),
        ({"num_nodes": 41}, r"num_nodes: 41 .*from 1 to 40"),
        ({"port": 11211}, r"port: 11211 .*Memcached's well-known 11211"),
        ({"removal_policy": cdk.RemovalPolicy.SNAPSHOT}, r"removal_policy: 'SNAPSHOT' .*no snapshots"),
        ({"node_type": "m5.large"}, r"node_type: 'm5\.large'"),
    ],
)
def test_each_invalid_prop_raises_its_own_error(props, message):
    stack, vpc = bare_stack()
    with pytest.raises(ValueError, match=message):
        MemcachedCluster(stack, "Cache", vpc=vpc, **props)
