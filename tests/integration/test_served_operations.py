"""`referral serve --workers 2` as an operator runs it: /metrics sums what every process
counted, and a name typed into any search or filter form reaches no log, neither ours
(structlog) nor the server's access log."""

import re
import subprocess
import sys

import httpx
from sqlalchemy import Engine

from referral.services.uow import Runtime
from tests.integration.test_race import _free_port, _wait_until_up
from tests.integration.test_worker import database, referral_env, url_of

__all__ = ["database"]  # a fixture: a database of its own, with real commits

PLANTED = "Quentin-Zebedee-Planted"
TOKEN = "scrape-token-0123456789abcdef"
CSRF = re.compile(r'name="_csrf" value="([^"]+)"')

# Every GET form of the pages (`method="get"` in the templates) and its fields, sent by
# the form's own user with the planted name in each field in turn (a free-text field
# answers 200, a number or date field 422), and all at once; the queue's form also by HTMX.
FORMS = {
    "coordinator": [
        ("/queue", ["state"], {}),
        ("/queue", ["state"], {"HX-Request": "true"}),
    ],
    "dpo": [
        ("/audit", ["user", "organisation", "case", "action", "decision", "from", "to"], {}),
        ("/audit/reports", ["report", "user"], {}),
        ("/audit/reports", ["report", "organisation"], {}),
        ("/audit/reports", ["report", "case"], {}),
        ("/subjects", ["subject"], {}),
        ("/subjects", ["case"], {}),
    ],
}


def _signed_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    form = client.get("/login")
    found = CSRF.search(form.text)
    assert found, form.text[:500]
    signed = client.post(
        "/login",
        data={"username": username, "password": "demo-password", "_csrf": found.group(1)},
    )
    assert signed.status_code == 303, signed.text[:500]
    return client


def test_served_metrics_sum_workers_and_typed_names_stay_out_of_logs(
    database: tuple[Engine, Runtime],
) -> None:
    from tests.factories import make_world

    engine, runtime = database
    make_world(runtime)
    port = _free_port()
    env = {
        **referral_env(url_of(engine)),
        "REFERRAL_PORT": str(port),
        "REFERRAL_WORKERS": "2",
        "REFERRAL_LOG_LEVEL": "INFO",  # the access log on, a line a request
        "REFERRAL_COOKIE_SECURE": "false",
        "REFERRAL_METRICS_TOKEN": TOKEN,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "referral", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(port, server)
        for username, forms in FORMS.items():
            client = _signed_in(base, username)
            try:
                for path, fields, headers in forms:
                    for planted in [*([f] for f in fields), fields]:
                        answer = client.get(
                            path, params=dict.fromkeys(planted, PLANTED), headers=headers
                        )
                        assert answer.status_code < 500, (path, answer.status_code)
            finally:
                client.close()
        # Fresh connections, so that both processes take some of them.
        for _ in range(20):
            assert httpx.get(f"{base}/health", headers={"Connection": "close"}).status_code == 200
        scrapes = [
            httpx.get(
                f"{base}/metrics",
                headers={"Authorization": f"Bearer {TOKEN}", "Connection": "close"},
            ).text
            for _ in range(6)
        ]
        assert httpx.get(f"{base}/metrics").status_code == 404  # no token, nothing shown
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    health = re.compile(
        r'referral_http_request_duration_seconds_count\{method="GET",route="/health",'
        r'status="200"\} (\S+)'
    )
    # Whichever process answered the scrape, it counted every process's requests.
    counts = [float(m.group(1)) for text in scrapes for m in [health.search(text)] if m]
    assert counts == [20.0] * 6, counts
    assert all("referral_timers_due" in text for text in scrapes)
    # The access log was on and wrote the filter forms' requests, without their queries.
    assert '"GET /audit?- HTTP/1.1" 200' in output, output[-3000:]
    assert PLANTED not in output
