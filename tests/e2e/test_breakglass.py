"""Break-glass over HTTP: the form on the case page, the marks it leaves there, and the
dpo's review page."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from referral.db.tables import BreakGlassGrant
from referral.demo import DemoWorld
from referral.domain.vocabulary import Category
from referral.services import breakglass
from referral.services.uow import Runtime
from tests.conftest import TestClock
from tests.e2e.conftest import Browser
from tests.factories import hide_from_coordinator, to_awaiting_panel

Browse = Callable[..., Browser]
WHY = "Imminent risk reported this morning; the health context decides who acts."
FORM = 'action="/cases/{case_id}/break-glass"'


def options(html: str) -> set[str]:
    """The categories the break-glass form offers."""
    form = html.split('id="form-break_glass"')[1].split("</form>")[0]
    return set(re.findall(r'<option value="([a-z_]+)"', form))


def grants(runtime: Runtime) -> list[BreakGlassGrant]:
    with runtime.session_factory() as session:
        return list(session.scalars(select(BreakGlassGrant).order_by(BreakGlassGrant.id)))


def test_dpo_breaks_glass_from_the_case_page_and_sees_the_marked_category(
    browser: Browse, world: DemoWorld, runtime: Runtime, clock: TestClock
) -> None:
    case_id = to_awaiting_panel(world)
    b = browser("dpo")
    page = b.get(f"/cases/{case_id}")
    assert FORM.format(case_id=case_id) in page.text
    assert "reviewed by the data protection officer" in page.text
    assert {"special", "criminal", "narrative"} <= options(page.text)
    assert "consent" not in options(page.text)  # already visible to the dpo
    assert "MARK-SPECIAL" not in page.text

    response = b.post(
        f"/cases/{case_id}/break-glass", {"category": "special", "justification": WHY}
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/cases/{case_id}?done=break_glass"

    page = b.get(f"/cases/{case_id}")
    assert "MARK-SPECIAL" in page.text
    assert "MARK-CRIMINAL" not in page.text
    assert "Shown under break-glass" in page.text
    # opened 09:00, lasts 60 minutes; in the network's zone (London: UTC in March)
    assert "Break-glass until 10:00" in page.text
    assert "special" not in options(page.text)

    clock.advance(minutes=61)
    page = b.get(f"/cases/{case_id}")
    assert "MARK-SPECIAL" not in page.text
    assert "Shown under break-glass" not in page.text


def test_a_short_justification_re_renders_the_form_with_its_error(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = to_awaiting_panel(world)
    b = browser("dpo")
    b.get(f"/cases/{case_id}")
    response = b.post(
        f"/cases/{case_id}/break-glass", {"category": "special", "justification": "urgent"}
    )
    assert response.status_code == 422
    assert "at least 20 characters" in response.text
    assert 'id="break_glass-justification"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert "urgent</textarea>" in response.text  # what was typed is kept
    assert grants(runtime) == []


def test_breaking_glass_without_the_csrf_token_is_refused(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = to_awaiting_panel(world)
    b = browser("dpo")
    form = {"category": "special", "justification": WHY}
    assert b.client.post(f"/cases/{case_id}/break-glass", data=form).status_code == 403
    forged = {**form, "_csrf": "forged"}
    assert b.client.post(f"/cases/{case_id}/break-glass", data=forged).status_code == 403
    assert grants(runtime) == []


@pytest.mark.parametrize("who", ["screener", "coordinator"])
def test_the_form_is_offered_only_to_holders_with_something_hidden(
    browser: Browse, world: DemoWorld, who: str
) -> None:
    # The screener may not break glass; the shipped policy hides nothing from a coordinator.
    case_id = to_awaiting_panel(world)
    page = browser(who).get(f"/cases/{case_id}")
    assert page.status_code == 200
    assert FORM.format(case_id=case_id) not in page.text


def test_coordinator_breaks_glass_where_the_network_hides_a_category(
    browser: Browse, world: DemoWorld, runtime: Runtime, tmp_path: Path
) -> None:
    case_id = to_awaiting_panel(world)
    hide_from_coordinator(runtime, tmp_path / "policies", Category.CRIMINAL)
    b = browser("coordinator")
    page = b.get(f"/cases/{case_id}")
    assert options(page.text) == {"criminal"}
    response = b.post(
        f"/cases/{case_id}/break-glass", {"category": "criminal", "justification": WHY}
    )
    assert response.status_code == 303
    assert "MARK-CRIMINAL" in b.get(f"/cases/{case_id}").text


def test_a_screener_posting_the_form_anyway_is_refused(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = to_awaiting_panel(world)
    b = browser("screener")
    b.get(f"/cases/{case_id}")
    response = b.post(
        f"/cases/{case_id}/break-glass", {"category": "special", "justification": WHY}
    )
    assert response.status_code == 403
    assert "may not break glass" in response.text
    assert grants(runtime) == []


# -- the dpo's review page ----------------------------------------------------------------


def test_dpo_reviews_a_grant_and_it_leaves_the_queue(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = to_awaiting_panel(world)
    grant_id = world.run(
        "dpo", breakglass.open_break_glass, breakglass.OpenBreakGlass(case_id, "special", WHY, 60)
    )
    b = browser("dpo")
    page = b.get("/audit/break-glass")
    assert page.status_code == 200
    assert 'href="/audit/break-glass"' in page.text  # in the dpo's navigation
    assert f"Grant {grant_id}: Special on" in page.text
    assert WHY in page.text
    assert "Dana DPO" in page.text

    bad = b.post(f"/audit/break-glass/{grant_id}/outcome", {"outcome": "fine"})
    assert bad.status_code == 422
    assert f'id="grant-{grant_id}-outcome-error"' in bad.text

    done = b.post(
        f"/audit/break-glass/{grant_id}/outcome", {"outcome": "justified", "notes": "Checked."}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/audit/break-glass"
    page = b.get("/audit/break-glass")
    assert f"Grant {grant_id}:" not in page.text
    assert "No break-glass access is waiting for review." in page.text
    (grant,) = grants(runtime)
    assert grant.outcome == "justified"


def test_recording_an_outcome_without_the_csrf_token_is_refused(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = to_awaiting_panel(world)
    grant_id = world.run(
        "dpo", breakglass.open_break_glass, breakglass.OpenBreakGlass(case_id, "special", WHY, 60)
    )
    b = browser("dpo")
    url = f"/audit/break-glass/{grant_id}/outcome"
    assert b.client.post(url, data={"outcome": "justified"}).status_code == 403
    assert grants(runtime)[0].outcome == ""


@pytest.mark.parametrize("who", ["coordinator", "screener", "referrer", "admin"])
def test_the_review_page_is_the_dpos_alone(browser: Browse, world: DemoWorld, who: str) -> None:
    case_id = to_awaiting_panel(world)
    grant_id = world.run(
        "dpo", breakglass.open_break_glass, breakglass.OpenBreakGlass(case_id, "special", WHY, 60)
    )
    b = browser(who)
    page = b.get("/audit/break-glass")
    assert page.status_code in (403, 404)
    assert WHY not in page.text
    assert 'href="/audit/break-glass"' not in b.get("/account").text
    response = b.post(f"/audit/break-glass/{grant_id}/outcome", {"outcome": "justified"})
    assert response.status_code in (403, 404)


# -- the JSON API -------------------------------------------------------------------------


def test_the_api_opens_shows_queues_and_reviews_break_glass(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = to_awaiting_panel(world)
    b = browser("dpo")
    headers = {"X-CSRF-Token": b.csrf}
    short = {"category": "special", "justification": "urgent"}
    refused = b.client.post(f"/api/cases/{case_id}/break-glass", json=short, headers=headers)
    assert refused.status_code == 422
    assert "justification" in refused.json()["errors"]

    body = {"category": "special", "justification": WHY}
    opened = b.client.post(f"/api/cases/{case_id}/break-glass", json=body, headers=headers)
    assert opened.status_code == 201, opened.text
    grant_id = opened.json()["id"]
    case = b.client.get(f"/api/cases/{case_id}").json()
    assert case["fields"]["health"]["value"] == "MARK-SPECIAL"
    assert set(case["break_glass"]) == {"special"}

    queued = b.client.get("/api/break-glass/reviews").json()["grants"]
    assert [(g["grant_id"], g["justification"]) for g in queued] == [(grant_id, WHY)]
    url = f"/api/break-glass/{grant_id}/outcome"
    done = b.client.post(url, json={"outcome": "justified"}, headers=headers)
    assert done.status_code == 204, done.text
    assert b.client.post(url, json={"outcome": "justified"}, headers=headers).status_code == 409
    assert b.client.get("/api/break-glass/reviews").json()["grants"] == []


def test_the_api_refuses_break_glass_to_a_screener_and_reviews_to_a_coordinator(
    browser: Browse, world: DemoWorld
) -> None:
    case_id = to_awaiting_panel(world)
    screener = browser("screener")
    body = {"category": "special", "justification": WHY}
    response = screener.client.post(
        f"/api/cases/{case_id}/break-glass", json=body, headers={"X-CSRF-Token": screener.csrf}
    )
    assert response.status_code == 403
    assert browser("coordinator").client.get("/api/break-glass/reviews").status_code == 403
