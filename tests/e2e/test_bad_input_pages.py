"""Bad input to the pages: a clear 4xx page that names the problem, never a 500, nothing saved.

Forms are posted as raw bytes where a browser's encoder would have cleaned them, the way
a hand-made request arrives.
"""

import io
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
import structlog
from sqlalchemy import func, select

from referral.db.tables import Case, InformationRequest
from referral.demo import DemoWorld
from referral.domain.vocabulary import OrgKind
from referral.logging import scrub_unprintable
from referral.services import screening
from referral.services.uow import Runtime, UnitOfWork
from tests.e2e.conftest import Browser
from tests.factories import submit

Browse = Callable[..., Browser]
NOT_FOUND = "There is nothing at this address, or you may not see it."
FORM = "application/x-www-form-urlencoded"


def rows(runtime: Runtime, table: Any) -> int:
    with UnitOfWork(runtime) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(table)) or 0)


def post_raw(b: Browser, url: str, body: bytes, media_type: str = FORM) -> Any:
    """A form as bytes: the CSRF field first, then `body` exactly as given."""
    content = urlencode({"_csrf": b.csrf}).encode() + b"&" + body
    headers = {"content-type": media_type}
    return b.client.post(url, content=content, headers=headers, follow_redirects=False)


def referral_form(given_name: bytes) -> bytes:
    rest = urlencode(
        {
            "family_name": "Input",
            "concern_summary": "Synthetic concern for the bad-input tests.",
            "concern_types": "hate_targeting_a_group",
            "action": "submit",
        }
    ).encode()
    return b"given_name=" + given_name + b"&" + rest


# -- ids -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("coordinator", f"/cases/{2**31}"),
        ("coordinator", f"/cases/{2**63}"),
        ("coordinator", f"/meetings/{10**20}"),
        ("provider", f"/interventions/{2**31}"),
        ("dpo", f"/subjects/{2**63}"),
        ("dpo", f"/audit/reports/case/{10**17}"),
        ("dpo", f"/audit/reports/case/{10**17}.csv"),
    ],
)
def test_an_id_no_row_can_have_is_404_on_every_page(browser: Browse, who: str, path: str) -> None:
    response = browser(who).get(path)
    assert response.status_code == 404
    assert NOT_FOUND in response.text


def test_an_organisation_id_past_the_bound_asks_nobody(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = submit(world)
    world.run("coordinator", screening.start_screening, screening.StartScreening(case_id))
    b = browser("coordinator")
    b.get(f"/cases/{case_id}")
    health = str(world.org_ids[OrgKind.HEALTH])
    response = b.post(
        f"/cases/{case_id}/information-requests",
        {"organisation_ids": [health, str(2**31)], "question": "Known to you?"},
    )
    assert response.status_code == 422
    assert "choose agencies from the list" in response.text
    assert rows(runtime, InformationRequest) == 0


# -- dates and numbers in query strings -------------------------------------------------------


DATE_RANGE = "is not between 1900-01-01 and 2999-12-31"
ID_RANGE = "is not a number from 1 to 2147483647"


@pytest.mark.parametrize(
    ("path", "name", "problem"),
    [
        ("/audit?to=9999-12-31", "to", DATE_RANGE),
        ("/audit?from=0001-01-01", "from", DATE_RANGE),
        ("/audit/export.csv?to=9999-12-31", "to", DATE_RANGE),
        ("/audit/reports/case/1?to=9999-12-31", "to", DATE_RANGE),
        ("/audit/reports?report=case&case=1&case-to=9999-12-31", "case-to", DATE_RANGE),
        (f"/audit?user={2**31}", "user", ID_RANGE),
        (f"/audit/reports/case/1?page={2**31}", "page", ID_RANGE),
        (f"/subjects?case={10**17}", "case", ID_RANGE),
        ("/audit?case=%C2%B2", "case", ID_RANGE),  # '²' is a digit to str.isdigit
    ],
)
def test_a_query_value_out_of_range_is_400_naming_it(
    browser: Browse, path: str, name: str, problem: str
) -> None:
    response = browser("dpo").get(path)
    assert response.status_code == 400, response.text
    assert f"the query parameter &#34;{name}&#34; {problem}" in response.text


def test_an_audit_filter_that_is_no_date_at_all_keeps_its_422(browser: Browse) -> None:
    response = browser("dpo").get("/audit?to=someday")
    assert response.status_code == 422
    assert "Enter a date like 2026-03-02." in response.text


# -- the path ------------------------------------------------------------------------------


def test_a_nul_in_a_static_path_is_404(browser: Browse) -> None:
    response = browser().get("/static/htmx-2.0.11.min.js%00.txt")
    assert response.status_code == 404
    assert NOT_FOUND in response.text
    assert browser().get("/static/htmx-2.0.11.min.js").status_code == 200


def test_unprintable_characters_never_reach_a_log_line() -> None:
    out = io.StringIO()
    log = structlog.wrap_logger(
        structlog.PrintLogger(out),
        processors=[scrub_unprintable, structlog.dev.ConsoleRenderer(colors=False)],
    )
    log.error("request_failed", path="/static/x.js\x00.txt\n\x1b[2Jforged", status=500)
    line = out.getvalue()
    assert line.count("\n") == 1 and "\x00" not in line and "\x1b" not in line
    assert "/static/x.js\\x00.txt\\x0a\\x1b[2Jforged" in line


# -- form text ---------------------------------------------------------------------------------


def test_invalid_utf8_in_a_form_field_is_400_and_nothing_is_stored(
    browser: Browse, runtime: Runtime
) -> None:
    before = rows(runtime, Case)
    b = browser("referrer")
    b.get("/referrals/new")
    response = post_raw(b, "/referrals", referral_form(b"Ren%E9e"))
    assert response.status_code == 400
    assert "the form field &#34;given_name&#34; is not valid UTF-8 text" in response.text
    assert rows(runtime, Case) == before


@pytest.mark.parametrize("raw", [b"A%00nn", b"A%1Bnn", b"A%7F%00"])
def test_a_control_character_in_a_form_field_is_400_naming_it(
    browser: Browse, runtime: Runtime, raw: bytes
) -> None:
    before = rows(runtime, Case)
    b = browser("referrer")
    b.get("/referrals/new")
    response = post_raw(b, "/referrals", referral_form(raw))
    assert response.status_code == 400
    assert "the form field &#34;given_name&#34; holds the control character U+00" in response.text
    assert rows(runtime, Case) == before


def test_a_form_in_utf8_with_line_breaks_is_stored(browser: Browse, runtime: Runtime) -> None:
    before = rows(runtime, Case)
    b = browser("referrer")
    b.get("/referrals/new")
    response = post_raw(b, "/referrals", referral_form("Renée%0D%0A".encode()))
    assert response.status_code == 303
    assert rows(runtime, Case) == before + 1


def test_a_form_sent_as_multipart_is_415(browser: Browse, runtime: Runtime) -> None:
    before = rows(runtime, Case)
    b = browser("referrer")
    b.get("/referrals/new")
    boundary = "xyz"
    body = f'--{boundary}\r\nContent-Disposition: form-data; name="given_name"\r\n\r\nA\r\n'
    response = post_raw(
        b,
        "/referrals",
        f"{body}--{boundary}--\r\n".encode(),
        f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 415
    assert "Send the form as application/x-www-form-urlencoded" in response.text
    assert rows(runtime, Case) == before
