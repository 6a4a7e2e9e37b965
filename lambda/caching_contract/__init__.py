"""What the CDK app and the Lambda functions must agree on, in the one copy both of them import.

- ``variables``: the environment variables the functions read and the app sets.
- ``metrics``: the caching library's CloudWatch namespace, metric names and dimensions.
- ``services``: each function's construct id, service name and handler.
- ``http``: the API's paths, headers, cache lifetimes and write modes.
- ``catalog``: the product schema's limits and categories.

Standard library only, and nothing runs at import: the functions import it from their asset (both bundles
ship it), and the CDK app imports the same files at synth (``constructs/pyproject.toml`` maps the package to
this folder). A renamed variable or metric therefore fails on both sides at import or type check, never
silently in production.
"""
