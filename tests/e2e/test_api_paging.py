"""The API's case list pages by position (`after`, `next_after`), as the work queue does;
`offset` still works for older clients, and the schema says which to use."""

from collections.abc import Callable
from typing import Any

import pytest

from referral.demo import DemoWorld
from tests.e2e.conftest import Api, Browser
from tests.e2e.test_api import assert_error
from tests.factories import submit


def _ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [row["case_id"] for row in response.json()["cases"]]


def _walk(api: Api, who: str, limit: int, **params: Any) -> list[int]:
    """Every case, one page at a time, following `next_after` to the end."""
    seen: list[int] = []
    after = ""
    for _ in range(100):
        body = api.get(who, "/api/cases", params={"limit": limit, "after": after, **params}).json()
        seen += [row["case_id"] for row in body["cases"]]
        assert body["after"] == after
        after = body["next_after"]
        if not after:
            return seen
        assert len(body["cases"]) == limit  # only the last page is short
    raise AssertionError("the pages never ended")


@pytest.mark.parametrize("who", ["coordinator", "referrer"])
def test_pages_follow_each_other_without_gaps_or_repeats(
    api: Api, world: DemoWorld, who: str
) -> None:
    for _ in range(5):
        submit(world)
    submit(world, as_draft=True)  # the referrer's draft has no deadline: it sorts last
    submit(world, as_draft=True)
    everything = _ids(api.get(who, "/api/cases", params={"limit": 500}))
    assert len(everything) >= 5
    for limit in (1, 2, 3):
        assert _walk(api, who, limit) == everything  # same order, every case once


def test_a_position_goes_into_a_url_as_it_is(api: Api, world: DemoWorld) -> None:
    """Pasted into a query string unescaped (as with curl), a position still works."""
    for _ in range(3):
        submit(world)
    everything = _ids(api.get("coordinator", "/api/cases", params={"limit": 500}))
    after = api.get("coordinator", "/api/cases", params={"limit": 1}).json()["next_after"]
    assert after.endswith(f"~{everything[0]}")
    assert not set(after) & set("+ &%#")
    assert _ids(api.get("coordinator", f"/api/cases?limit=1&after={after}")) == everything[1:2]


def test_the_last_page_says_no_more(api: Api, world: DemoWorld) -> None:
    submit(world)
    body = api.get("coordinator", "/api/cases", params={"limit": 500}).json()
    assert body["cases"] and body["next_after"] == ""


def test_paging_keeps_the_state_filter(api: Api, world: DemoWorld) -> None:
    for _ in range(3):
        submit(world)
    submit(world, as_draft=True)
    walked = _walk(api, "referrer", 1, state="draft")
    assert walked == _ids(api.get("referrer", "/api/cases", params={"state": "draft"}))
    assert len(walked) >= 1


def test_offset_still_pages_as_before(api: Api, world: DemoWorld) -> None:
    for _ in range(4):
        submit(world)
    everything = _ids(api.get("coordinator", "/api/cases", params={"limit": 500}))
    page = api.get("coordinator", "/api/cases", params={"limit": 2, "offset": 2})
    assert _ids(page) == everything[2:4]
    assert page.json()["offset"] == 2


@pytest.mark.parametrize("after", ["nonsense", "~", "~99999999999", "x~1\x00"])
def test_a_malformed_position_is_refused_by_its_pattern(
    api: Api, world: DemoWorld, after: str
) -> None:
    assert_error(api.get("coordinator", "/api/cases", params={"after": after}), 400)


@pytest.mark.parametrize(
    "after",
    [
        "2026-13-45T00:00:00~3",
        "2026-12-01T09:00:00+25:00~3",
        "2026-12-01T09:00:00~3",  # no time zone
        "~2147483648",  # past the largest id
        "2026-12-01T09:00:00Z~9999999999",
    ],
)
def test_a_damaged_position_is_refused_with_a_plain_message(
    api: Api, world: DemoWorld, after: str
) -> None:
    body = assert_error(api.get("coordinator", "/api/cases", params={"after": after}), 422)
    assert "out of date or damaged" in body["message"]
    assert body["errors"] == {"after": "Start from the first page."}


def test_offset_and_after_together_are_refused(api: Api, world: DemoWorld) -> None:
    for _ in range(3):
        submit(world)
    after = api.get("coordinator", "/api/cases", params={"limit": 1}).json()["next_after"]
    assert after
    params = {"after": after, "offset": 1}
    body = assert_error(api.get("coordinator", "/api/cases", params=params), 422)
    assert "either offset or after" in body["message"]


def test_the_schema_documents_paging_by_position(browser: Callable[..., Browser]) -> None:
    schema = browser().client.get("/schema/openapi.json").json()
    listing = schema["paths"]["/api/cases"]["get"]
    parameters = {p["name"]: p for p in listing["parameters"]}
    assert "next_after" in parameters["after"]["description"]
    assert "after" in parameters["offset"]["description"]
    page = schema["components"]["schemas"]["CaseListOut"]
    assert {"next_after", "after", "offset", "limit", "cases"} <= set(page["properties"])
    assert "next page" in page["properties"]["next_after"]["description"]
