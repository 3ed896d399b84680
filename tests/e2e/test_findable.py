"""Finding cases: references on the pages and in the API, search by reference for all and
by name for those who may read identity (and nothing, without a hint, for the others),
the queue's filters and the paged lists."""

import re
from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import Engine

from referral.demo import DemoWorld
from referral.services import referrals
from tests.conftest import TestClock
from tests.e2e.conftest import Api, Browser
from tests.e2e.test_request_path import statements_on
from tests.factories import reference_of, submit

Browse = Callable[..., Browser]
RESULTS = re.compile(r'<section aria-labelledby="results-title">.*?</section>', re.S)
CSRF = re.compile(r'(value|content)="[A-Za-z0-9_\-]{20,}"|"X-CSRF-Token": "[^"]+"')


def person(given: str, family: str, born: date, **more: object) -> dict[str, object]:
    subject = referrals.SubjectDetails(given_name=given, family_name=family, date_of_birth=born)
    return {"subject": subject, **more}


def results(html: str) -> str:
    found = RESULTS.search(html)
    assert found, "the page has no results section"
    return found.group(0)


def test_the_case_page_opens_on_its_reference_and_summary(
    browser: Browse, world: DemoWorld
) -> None:
    case_id = submit(world, **person("Robin", "Example", date(2009, 5, 17)))
    reference = reference_of(world.runtime, case_id)
    coordinator = browser("coordinator").get(f"/cases/{case_id}").text
    assert re.search(
        rf"<h1>{reference} <span class=\"initials\"[^>]*>R\. E\.</span></h1>", coordinator
    )
    for words in ("Next step", "Coordinator", "Deadline", "It moves on to"):
        assert words in coordinator
    assert coordinator.count('<details class="case-section"') >= 8  # a fold per category
    assert f"Case {case_id}" not in coordinator
    # The dpo reads the status, never who it is: the reference without initials.
    dpo = browser("dpo").get(f"/cases/{case_id}").text
    assert f"<h1>{reference}</h1>" in dpo and "R. E." not in dpo


def test_lists_and_the_api_name_cases_by_reference(
    browser: Browse, api: Api, world: DemoWorld
) -> None:
    case_id = submit(world)
    reference = reference_of(world.runtime, case_id)
    assert f">{reference}</a>" in browser("coordinator").get("/queue").text
    assert f"Referral {reference}</a>" in browser("referrer").get("/referrals").text
    listed = api.get("coordinator", "/api/cases").json()["cases"]
    assert [row["reference"] for row in listed] == [reference]
    assert api.get("coordinator", f"/api/cases/{case_id}").json()["reference"] == reference


def test_a_reference_finds_its_case_for_whoever_sees_the_case(
    browser: Browse, api: Api, world: DemoWorld
) -> None:
    case_id = submit(world)
    reference = reference_of(world.runtime, case_id)
    page = browser("referrer").get("/search", params={"q": reference.lower()})
    assert page.status_code == 200
    assert f'<a href="/cases/{case_id}">{reference}</a>' in results(page.text)
    found = api.get("screener", "/api/search", params={"q": reference}).json()
    assert found["by"] == "reference" and [c["case_id"] for c in found["cases"]] == [case_id]
    # A provider with no intervention on the case does not see it: nothing found.
    assert api.get("provider", "/api/search", params={"q": reference}).json()["cases"] == []


def test_a_name_and_birth_date_find_the_case_for_those_who_read_identity(
    browser: Browse, api: Api, world: DemoWorld
) -> None:
    wanted = submit(world, **person("Robin", "Example", date(2009, 5, 17)))
    submit(world, **person("Robin", "Other", date(2009, 5, 17)))
    params = {"q": "robin example", "born": "2009-05-17"}
    page = browser("coordinator").get("/search", params=params)
    assert f'href="/cases/{wanted}"' in results(page.text)
    assert "1 case found" in page.text
    body = api.get("coordinator", "/api/search", params=params).json()
    assert body["by"] == "name" and [c["case_id"] for c in body["cases"]] == [wanted]


@pytest.mark.parametrize("who", ["dpo", "admin"])
def test_a_name_search_finds_nothing_and_hints_nothing_for_those_who_may_not_read_identity(
    browser: Browse, api: Api, world: DemoWorld, migrated_engine: Engine, who: str
) -> None:
    submit(world, **person("Robin", "Example", date(2009, 5, 17)))
    someone = browser(who)
    pages, counts = [], []
    for name in ("Robin Example", "Nobody Known"):  # a person who is there, one who is not
        with statements_on(migrated_engine) as seen:
            response = someone.get("/search", params={"q": name, "born": "2009-05-17"})
        assert response.status_code == 200
        pages.append(results(response.text))
        counts.append(len(seen))
        body = api.get(who, "/api/search", params={"q": name, "born": "2009-05-17"}).json()
        assert body == {"by": "name", "cases": [], "more": False}
    assert pages[0] == pages[1] and "No case found" in pages[0]  # the same words
    assert counts[0] == counts[1]  # and the same work: nothing to count or time


def test_a_name_search_does_the_same_work_for_one_match_or_many(
    browser: Browse, world: DemoWorld, migrated_engine: Engine
) -> None:
    """The index answers in SQL: no statement per matching person (no subject opened)."""
    submit(world, **person("Ada", "Single", date(2001, 1, 1)))
    for _ in range(6):
        submit(world, **person("Sam", "Many", date(2002, 2, 2)))
    coordinator = browser("coordinator")
    counts = []
    for name in ("Ada Single", "Sam Many"):
        with statements_on(migrated_engine) as seen:
            page = coordinator.get("/search", params={"q": name})
        assert page.status_code == 200
        counts.append(len(seen))
    assert "6 cases found" in page.text
    assert counts[0] == counts[1]


def test_a_search_that_is_too_long_or_has_a_bad_date_says_so(
    browser: Browse, api: Api, world: DemoWorld
) -> None:
    coordinator = browser("coordinator")
    long = coordinator.get("/search", params={"q": "x" * 300})
    assert long.status_code == 422 and "under 200 characters" in long.text
    bad = coordinator.get("/search", params={"q": "Robin", "born": "17/05/2009"})
    assert bad.status_code == 422 and "for example 2009-05-17" in bad.text
    assert api.get("coordinator", "/api/search", params={"q": "a", "born": "nope"}).status_code in (
        400,
        422,
    )


def _references(html: str) -> set[str]:
    return set(re.findall(r">([A-Z]{1,4}-\d{4}-\d{4})</a>", html))


def test_the_queue_filters_by_deadline_concern_and_coordinator(
    browser: Browse, world: DemoWorld, clock: TestClock
) -> None:
    late = submit(world, concern_types=("islamist",))
    clock.advance(days=10)
    fresh = submit(world)
    late_ref, fresh_ref = reference_of(world.runtime, late), reference_of(world.runtime, fresh)
    coordinator = browser("coordinator")
    assert _references(coordinator.get("/queue").text) == {late_ref, fresh_ref}
    assert _references(coordinator.get("/queue?deadline=overdue").text) == {late_ref}
    assert _references(coordinator.get("/queue?deadline=week").text) == {fresh_ref}
    assert _references(coordinator.get("/queue?concern=islamist").text) == {late_ref}
    assert _references(coordinator.get("/queue?assignee=none").text) == {late_ref, fresh_ref}
    assert _references(coordinator.get("/queue?assignee=me").text) == set()
    both = coordinator.get("/queue?deadline=overdue&concern=hate_targeting_a_group").text
    assert _references(both) == set() and "No open cases match the filters" in both
    for bad in ("deadline=soonish", "assignee=7", "concern=gossip"):
        answer = coordinator.get(f"/queue?{bad}")
        assert answer.status_code in (400, 422) and "from the list" in answer.text


def test_the_queue_pages_keep_their_filters(browser: Browse, world: DemoWorld) -> None:
    made = {reference_of(world.runtime, submit(world)) for _ in range(3)}
    coordinator = browser("coordinator")
    seen: set[str] = set()
    url = "/queue?concern=hate_targeting_a_group&limit=1"
    page = coordinator.get("/queue?concern=hate_targeting_a_group").text
    seen |= _references(page)
    assert seen == made  # one page holds them all at the usual size
    assert 'rel="next"' not in page and url  # and says there is no next page


def test_my_referrals_come_a_page_at_a_time(browser: Browse, world: DemoWorld) -> None:
    made = {reference_of(world.runtime, submit(world)) for _ in range(27)}
    referrer = browser("referrer")
    first = referrer.get("/referrals").text
    on_first = set(re.findall(r"Referral ([A-Z]+-\d{4}-\d{4})</a>", first))
    assert len(on_first) == 25
    following = re.search(r'href="(/referrals\?after=[^"]+)" rel="next"', first)
    assert following
    second = referrer.get(following.group(1).replace("&amp;", "&")).text
    on_second = set(re.findall(r"Referral ([A-Z]+-\d{4}-\d{4})</a>", second))
    assert on_first | on_second == made and not on_first & on_second
    assert 'rel="next"' not in second


def test_the_history_loads_older_entries_in_place(browser: Browse, world: DemoWorld) -> None:
    case_id = submit(world)
    coordinator = browser("coordinator")
    for _ in range(30):  # reads by others: enough entries for more than one page
        browser("referrer").get(f"/cases/{case_id}")
    page = coordinator.get(f"/cases/{case_id}").text
    older = re.search(rf'hx-get="(/cases/{case_id}/history\?before=\d+)"', page)
    assert older, "the case page offers older entries"
    plain = re.search(rf'<a href="(/cases/{case_id}/history\?before=\d+)" rel="next"', page)
    assert plain and plain.group(1) == older.group(1)  # the same page without JavaScript
    fragment = coordinator.get(older.group(1), headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "timeline-table" in fragment.text
    whole = coordinator.get(older.group(1))
    assert "<html" in whole.text and "timeline-table" in whole.text
