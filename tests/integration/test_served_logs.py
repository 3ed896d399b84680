"""`referral serve --workers 2`: each worker is a new interpreter that imports the app
factory, not the command that ran; its logs must still be the configured ones (level,
JSON, unprintable characters escaped), with no line per workflow callback or policy
decision from the libraries underneath."""

import json
import subprocess
import sys

import httpx
from sqlalchemy import Engine

from referral.services.uow import Runtime
from tests.integration.test_race import _free_port, _wait_until_up, case_and_token
from tests.integration.test_worker import database, referral_env, url_of

__all__ = ["database"]  # a fixture: a database of its own, with real commits


def test_two_workers_log_as_configured(database: tuple[Engine, Runtime]) -> None:
    engine, runtime = database
    case_id, token = case_and_token(runtime, "logs")
    port = _free_port()
    env = {
        **referral_env(url_of(engine)),
        "REFERRAL_PORT": str(port),
        "REFERRAL_WORKERS": "2",
        "REFERRAL_LOG_LEVEL": "INFO",
        "REFERRAL_LOG_JSON": "true",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "referral", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_until_up(port, server)
        bearer = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=bearer) as client:
            # Both workers take requests: several moves, reads and a refused read.
            for _ in range(3):
                moved = client.post(
                    f"/api/cases/{case_id}/transitions", json={"trigger": "start_screening"}
                )
                assert moved.status_code in (200, 409)
                assert client.get(f"/api/cases/{case_id}").status_code == 200
                assert client.get("/api/cases/999999").status_code == 404
            client.get("/cases/1%0Aforged_line=1")  # a line break typed into a path
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    ours = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(event["event"] == "case_moved" for event in ours), output[-2000:]
    assert all(event["level"] != "debug" for event in ours)
    # Nothing from the workflow engine's callbacks or Casbin's decisions, at INFO.
    assert "transitions.core" not in output
    assert "casbin" not in output
    assert "Request: Actor(" not in output
    assert "\nforged_line" not in output
