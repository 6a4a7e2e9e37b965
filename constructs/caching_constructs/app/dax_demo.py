"""``DaxDemo``: item reads and writes through DAX, to show DAX's own item cache.

Runtime: ``lambda/functions/dax_demo.py`` (its own asset: the DAX client is an sdist-only package).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb

from caching_constructs.api.api_routes import ApiRoute
from caching_constructs.app.cachelib_environment import service_environment
from caching_constructs.core.python_function import FunctionDefaults, PythonFunction
from caching_constructs.data.dax_cluster import DaxCluster
from caching_contract import variables
from caching_contract.http import DAX_ITEM_ROUTE
from caching_contract.services import DAX_DEMO
from constructs import Construct

ITEM_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "title": "DaxItem",
    "type": "object",
}


class DaxDemo(PythonFunction):
    """The DAX demo function: reads and writes ``table`` items through ``dax``, which is all it reaches.

    :param defaults: the props every function of the application shares; needs a ``vpc`` and the asset
        with the DAX client.
    :param dax: the cluster in front of ``table``.
    :param table: the table whose items it serves.
    :param timeout: the function's timeout.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: FunctionDefaults,
        dax: DaxCluster,
        table: dynamodb.ITable,
        timeout: cdk.Duration,
    ) -> None:
        environment = {
            **service_environment(DAX_DEMO),
            variables.DAX_ENDPOINT: dax.endpoint_url,
            variables.DAX_TABLE_NAME: table.table_name,
        }
        super().__init__(
            scope,
            construct_id,
            **defaults.props(environment=environment),
            handler=DAX_DEMO.handler,
            description="DAX demo: item reads and writes through the DAX cluster",
            timeout=timeout,
        )
        self.connections.allow_to_default_port(dax.connections, "DaxDemo: item reads and writes through DAX")
        dax.grant_read_data(self)
        dax.grant_write_data(self)

    def routes(self) -> list[ApiRoute]:
        """Deliberately never stage-cached: a stage cache would hide DAX's own item cache."""
        return [
            ApiRoute(method="GET", path=DAX_ITEM_ROUTE, handler=self.function),
            ApiRoute(method="PUT", path=DAX_ITEM_ROUTE, handler=self.function, body_schema=ITEM_SCHEMA),
        ]
