"""Lambda handlers (issue 7). Entry points, as the CDK app wires them:

* ``functions.product_api.lambda_handler`` -- product API behind API Gateway (REST proxy events);
* ``functions.cache_warmer.lambda_handler`` -- scheduled warm of the hottest products;
* ``functions.schema_seed.on_event`` -- schema/seed custom resource (CDK Provider framework);
* ``functions.dax_demo.lambda_handler`` -- ``GET|PUT /dax/items/{id}`` through DAX.

Modules import only what their handler needs; clients and connections are created on first use.
"""
