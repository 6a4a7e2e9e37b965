"""The functions as services: the id of each one's construct (and its alarms), the service name its logs and
metrics carry (``POWERTOOLS_SERVICE_NAME``, the metrics' ``service`` dimension) and its handler."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Service:
    id: str
    """PascalCase: the function's construct id, and the prefix of its alarms' ids."""
    name: str
    """kebab-case: ``POWERTOOLS_SERVICE_NAME`` and the ``service`` dimension of its metrics."""
    handler: str
    """The handler Lambda calls, ``module.function`` from the asset's root."""


PRODUCT_API = Service("ProductApi", "product-api", "functions.product_api.lambda_handler")
"""Every ``/products`` route; a secondary region's copy reports under the same name."""
CACHE_WARMER = Service("CacheWarmer", "cache-warmer", "functions.cache_warmer.lambda_handler")
SCHEMA_SEED = Service("SchemaSeed", "schema-seed", "functions.schema_seed.on_event")
DAX_DEMO = Service("DaxDemo", "dax-demo", "functions.dax_demo.lambda_handler")
EDGE_REFRESHER = Service("EdgeRefresher", "edge-refresher", "functions.edge_refresh.lambda_handler")
SECONDARY_REFILL = Service("SecondaryRefill", "secondary-refill", "functions.secondary_refill.lambda_handler")

CACHING_LIBRARY_SERVICES = (PRODUCT_API, CACHE_WARMER)
"""The services whose cache outcomes the dashboard shows and whose cache errors alarm."""
