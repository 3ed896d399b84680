"""Issue 13 (words people use): no page shows an internal identifier, a raw enum value
or rule syntax, whoever reads it. Walks the main pages as each demo role, over a case
carried into support with a review recorded, and reads only the text a person sees."""

import html
import re
from collections.abc import Callable

import pytest

from referral.demo import DemoWorld
from referral.services import lifecycle
from referral.services.uow import Runtime
from tests.e2e.conftest import Browser
from tests.factories import schedule, to_support

Browse = Callable[..., Browser]

# What must never reach a page: column names, enum values, rule syntax, roles as code.
RAW = (
    "Meeting id",
    "Case id",
    "in_person",
    "follow_up_6m",
    "follow_up_12m",
    "civil_society",
    "local_authority",
    "panel_member",
    "panel_chair",
    " -> ",
    "Dpo",
    "not_sought",
)
ROLES = ("referrer", "screener", "coordinator", "panel", "chair", "provider", "dpo", "admin")


def visible_text(page: str) -> str:
    """The words a person reads: no tags, scripts, styles or attribute values. Text set
    as <code> is evidence quoted as written (the audit's matched policy line, for the
    data-protection officer), not a word the page uses."""
    page = re.sub(r"<(script|style|code)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.fixture
def pages(world: DemoWorld, runtime: Runtime) -> list[str]:
    meeting_id = schedule(world, runtime)
    case_id, intervention_id = to_support(world, meeting_id)
    world.run(
        "coordinator",
        lifecycle.record_review,
        lifecycle.RecordReview(case_id, "follow_up_6m", "Doing well."),
    )
    return [
        "/",
        "/queue",
        "/referrals",
        f"/cases/{case_id}",
        "/meetings",
        f"/meetings/{meeting_id}",
        "/interventions",
        f"/interventions/{intervention_id}",
        "/notifications",
        "/account",
        "/admin/users",
    ]


@pytest.mark.parametrize("role", ROLES)
def test_no_page_shows_internal_words(browser: Browse, pages: list[str], role: str) -> None:
    b = browser(role)
    read = 0
    for path in pages:
        response = b.get(path)
        if response.status_code != 200:  # not this role's page: refused, never shown
            continue
        read += 1
        text = visible_text(response.text)
        found = [raw for raw in RAW if raw in text]
        context = [text[max(0, text.index(r) - 80) : text.index(r) + 40] for r in found]
        assert not found, f"{role} reads {found} on {path}: {context}"
    assert read >= 2, f"{role} could open too few pages for the walk to mean anything"


def test_the_words_replace_the_codes(browser: Browse, pages: list[str]) -> None:
    case_page = visible_text(browser("coordinator").get(pages[3]).text)
    assert "6-month follow-up" in case_page  # the review's kind
    assert "In person" in case_page  # how consent was asked
    assert "Identity to civil society, for support" in case_page  # the consent's scope
    users = visible_text(browser("admin").get("/admin/users").text)
    assert "Data-protection officer" in users
