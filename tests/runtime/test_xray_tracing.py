"""X-Ray (issue 6): Redis and MySQL calls become subsegments in a traced Lambda, and nothing is patched
otherwise.

Each case runs the product API in a fresh interpreter (``xray_probe.py``), since patching is per process.
The traced case sets what Lambda sets with active tracing (``LAMBDA_TASK_ROOT``, ``_X_AMZN_TRACE_ID``,
``AWS_XRAY_DAEMON_ADDRESS``) and points the daemon address at a UDP socket here, so the test reads the very
datagrams the X-Ray daemon would receive.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cachelib.tracing import tracing_requested

pytest_plugins = ["handler_fixtures"]

PROBE = Path(__file__).with_name("xray_probe.py")
TRACE_ROOT = "1-5759e988-bd862e3fe1be46a994272793"
TRACE_PARENT = "53995c3f42cd8ad8"


def _run_probe(env: dict[str, str], product_id: str = "7") -> dict:
    completed = subprocess.run(
        [sys.executable, str(PROBE), product_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _received(sock: socket.socket) -> list[dict]:
    entities = []
    sock.settimeout(0.5)
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return entities
        header, _, body = data.decode("utf-8").partition("\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        entities.append(json.loads(body))


def _clean_env() -> dict[str, str]:
    drop = ("LAMBDA_TASK_ROOT", "_X_AMZN_TRACE_ID", "AWS_XRAY_DAEMON_ADDRESS", "AWS_XRAY_SDK_ENABLED")
    return {k: v for k, v in os.environ.items() if k not in drop}


def test_redis_and_mysql_calls_are_subsegments_of_the_lambda_trace(handler_env, tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        env = {
            **_clean_env(),
            "LAMBDA_TASK_ROOT": str(tmp_path),
            "AWS_LAMBDA_FUNCTION_NAME": "product-api",
            "_X_AMZN_TRACE_ID": f"Root={TRACE_ROOT};Parent={TRACE_PARENT};Sampled=1",
            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        }
        probe = _run_probe(env)
        entities = _received(daemon)

    assert probe["statuses"] == [200, 200]
    assert not probe["patched_by_module_import"]  # patched on the first invocation, not at import
    assert probe["redis_patched"] and probe["pymysql_patched"] and not probe["xray_sdk_imported"]
    assert entities, "no subsegment reached the daemon address"
    assert {e["trace_id"] for e in entities} == {TRACE_ROOT}
    assert {e["parent_id"] for e in entities} == {TRACE_PARENT}  # children of Lambda's own segment
    assert all(e["type"] == "subsegment" and e["namespace"] == "remote" for e in entities)
    assert all(0 < e["end_time"] - e["start_time"] < 5 and len(e["id"]) == 16 for e in entities)
    assert len({e["id"] for e in entities}) == len(entities)

    redis_commands = [e["annotations"]["redis_command"] for e in entities if e["name"] == "redis"]
    assert "GET" in redis_commands  # the cache read
    assert "EVALSHA" in redis_commands  # the lease / fill scripts of the miss
    sql = [e for e in entities if e.get("sql", {}).get("database_type") == "MySQL"]
    assert len(sql) == 1  # the one miss loaded the row; the second read was a hit
    assert sql[0]["sql"]["user"] == handler_env["DB_USER"]
    assert sql[0]["name"] == f"{handler_env['DB_NAME']}@{handler_env['DB_WRITER_HOST']}"
    assert sql[0]["sql"]["url"].endswith(f":{handler_env['DB_PORT']}/{handler_env['DB_NAME']}")
    assert "password" not in json.dumps(entities).lower()


@pytest.mark.parametrize(
    "extra",
    [
        {},  # a laptop or a test: not in Lambda
        {"LAMBDA_TASK_ROOT": "/var/task"},  # in Lambda, tracing off
        {
            "LAMBDA_TASK_ROOT": "/var/task",
            "_X_AMZN_TRACE_ID": f"Root={TRACE_ROOT};Parent={TRACE_PARENT};Sampled=1",
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
            "AWS_XRAY_SDK_ENABLED": "false",  # explicitly switched off
        },
    ],
    ids=["local", "lambda-untraced", "sdk-disabled"],
)
def test_without_tracing_nothing_is_patched(handler_env, extra):
    probe = _run_probe({**_clean_env(), **extra})
    assert probe == {
        "statuses": [200, 200],
        "patched_by_module_import": False,
        "xray_sdk_imported": False,
        "redis_patched": False,
        "pymysql_patched": False,
    }


def test_an_unsampled_request_sends_nothing(handler_env, tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        env = {
            **_clean_env(),
            "LAMBDA_TASK_ROOT": str(tmp_path),
            "_X_AMZN_TRACE_ID": f"Root={TRACE_ROOT};Parent={TRACE_PARENT};Sampled=0",
            "AWS_XRAY_DAEMON_ADDRESS": f"udp:127.0.0.1:{daemon.getsockname()[1]} tcp:127.0.0.1:1",
        }
        probe = _run_probe(env)
        entities = _received(daemon)
    assert probe["statuses"] == [200, 200] and probe["redis_patched"]
    assert entities == []


def test_a_failed_call_is_a_fault_subsegment_and_still_raises(redis_server, tmp_path, monkeypatch):
    import redis

    from cachelib import tracing

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={TRACE_ROOT};Parent={TRACE_PARENT};Sampled=1")
        tracing.enable_tracing(f"127.0.0.1:{daemon.getsockname()[1]}")
        try:
            client = redis.Redis(host=redis_server.host, port=redis_server.port)
            with pytest.raises(redis.ResponseError):
                client.execute_command("NOSUCHCOMMAND")
            client.close()
        finally:
            tracing.disable_tracing()
        entities = _received(daemon)
    assert not hasattr(redis.Redis.execute_command, "__wrapped__")  # disable_tracing restored the class
    assert [e["annotations"]["redis_command"] for e in entities] == ["NOSUCHCOMMAND"]
    assert entities[0]["fault"] is True
    assert entities[0]["cause"]["exceptions"][0]["type"] == "ResponseError"


def test_tracing_is_requested_only_inside_a_traced_lambda():
    traced = {"LAMBDA_TASK_ROOT": "/var/task", "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000"}
    assert tracing_requested(traced)
    assert tracing_requested({"LAMBDA_TASK_ROOT": "/var/task", "_X_AMZN_TRACE_ID": "Root=1-a-b"})
    assert not tracing_requested({"AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000"})  # not in Lambda
    assert not tracing_requested({"LAMBDA_TASK_ROOT": "/var/task"})
    assert not tracing_requested({**traced, "AWS_XRAY_SDK_ENABLED": "False"})
