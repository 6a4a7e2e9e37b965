"""Run in a fresh interpreter by ``test_xray_tracing.py``: a product API invocation exactly as Lambda runs it.

Reads ``GET /products/<id>`` twice (a miss that queries MySQL, then a hit) and prints, as one JSON line,
the statuses and whether the Redis/MySQL client classes were patched (and no X-Ray SDK imported).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lambda"))

import pymysql.cursors
import redis

from functions import product_api

after_import = hasattr(redis.Redis.execute_command, "__wrapped__")
product_id = sys.argv[1]
event = {"httpMethod": "GET", "path": f"/products/{product_id}", "pathParameters": {"id": product_id}}
statuses = [product_api.lambda_handler(event, None)["statusCode"] for _ in range(2)]
product_api.reset_state()

print(
    json.dumps(
        {
            "statuses": statuses,
            "patched_by_module_import": after_import,
            "xray_sdk_imported": "aws_xray_sdk" in sys.modules,
            "redis_patched": hasattr(redis.Redis.execute_command, "__wrapped__"),
            "pymysql_patched": hasattr(pymysql.cursors.Cursor.execute, "__wrapped__"),
        }
    )
)
