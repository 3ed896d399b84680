"""The analyst's statistics through HTTP: the page and /api/statistics show aggregates
only (every count at least the threshold or suppressed), training networks never count,
and an analyst reaches no case by any page or API call."""

from collections.abc import Callable
from typing import Any

import pytest

from referral.demo import DemoWorld
from referral.domain.vocabulary import OrgKind, Role
from referral.services.uow import Runtime
from tests.e2e.conftest import Api, Browser, _hash
from tests.national import add_member, add_network, submit_as

THRESHOLD = 5  # the default setting
# What a case page would show of the fixtures' subject and narrative.
CASE_MARKS = ("Testy", "Fixture", "MARK-", "1 Fixture Lane", "2009-05-17")


@pytest.fixture
def cases(runtime: Runtime, world: DemoWorld) -> list[int]:
    """12 referrals in the demo city, 2 in harbour, 30 in a training network; an analyst."""
    harbour = add_network(runtime, "harbour")
    training = add_network(runtime, "training", kind="training")
    national = add_network(runtime, "national", kind="national")
    add_member(
        runtime, world, national, "analyst", OrgKind.NATIONAL, Role.ANALYST, password_hash=_hash()
    )
    h_ref = add_member(runtime, world, harbour, "h-ref", OrgKind.POLICE, Role.REFERRER)
    t_ref = add_member(runtime, world, training, "t-ref", OrgKind.HEALTH, Role.REFERRER)
    ids = submit_as(runtime, world.actors["referrer"], 12)
    ids += submit_as(runtime, h_ref, 2)
    ids += submit_as(runtime, t_ref, 30)
    return ids


def numbers(body: dict[str, Any]) -> list[int | None]:
    out: list[int | None] = []
    for table in body["tables"]:
        for row in table["rows"]:
            out += [*row["cells"], row["total"]]
        out += [*table["totals"], table["grand_total"]]
    return out


def test_every_count_the_api_publishes_reaches_the_threshold_or_is_null(
    api: Api, cases: list[int]
) -> None:
    response = api.get("analyst", "/api/statistics")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["threshold"] == THRESHOLD
    counts = numbers(body)
    assert None in counts  # harbour's two are suppressed
    assert all(c is None or c >= THRESHOLD for c in counts)
    quarter = next(t for t in body["tables"] if t["key"] == "quarter")
    assert [r["slug"] for r in quarter["rows"]] == ["demo-city", "harbour"]  # no training
    assert all(set(r) == {"network", "slug", "cells", "total"} for r in quarter["rows"])


def test_training_referrals_never_reach_the_published_totals(
    api: Api, runtime: Runtime, world: DemoWorld, cases: list[int]
) -> None:
    submit_as(runtime, world.actors["h-ref"], 5)  # harbour: 7 now, nothing small left
    body = api.get("analyst", "/api/statistics?table=quarter").json()
    (quarter,) = body["tables"]
    assert quarter["grand_total"] == 19  # 12 + 7, not the training network's 30


def test_an_analyst_reaches_no_case_by_page_or_api(
    browser: Callable[..., Browser], api: Api, cases: list[int]
) -> None:
    analyst = browser("analyst")
    for case_id in cases[:3] + cases[-3:]:
        for url in (f"/cases/{case_id}", f"/cases/{case_id}/history"):
            response = analyst.get(url)
            assert response.status_code in (403, 404), url
            assert not any(mark in response.text for mark in CASE_MARKS)
        for url in (f"/api/cases/{case_id}", f"/api/cases/{case_id}/fhir"):
            response = api.get("analyst", url)
            assert response.status_code in (403, 404), url
            assert not any(mark in response.text for mark in CASE_MARKS)
    listed = api.get("analyst", "/api/cases")
    assert listed.status_code == 403 or listed.json()["cases"] == []
    for url in ("/queue", "/referrals", "/meetings", "/audit", "/information-requests"):
        response = analyst.get(url)  # refused, or a list of nothing
        assert response.status_code in (200, 403, 404), url
        assert "/cases/" not in response.text and "/meetings/" not in response.text, url
    page = analyst.get("/statistics")
    assert not any(mark in page.text for mark in CASE_MARKS)
    assert "/cases/" not in page.text


def test_the_statistics_page_draws_charts_with_their_data_tables(
    browser: Callable[..., Browser], cases: list[int]
) -> None:
    analyst = browser("analyst")
    home = analyst.get("/", follow_redirects=False)
    assert home.headers["location"] == "/statistics"
    page = analyst.get("/statistics")
    assert page.status_code == 200
    assert page.text.count('<svg class="chart" role="img"') == 5
    assert '<title id="chart-quarter-title">' in page.text
    assert "<caption" in page.text and "suppressed" in page.text
    assert "style=" not in page.text.split("<main", 1)[1]  # the strict CSP: no inline style
    assert "<script" not in page.text.split("<main", 1)[1]


def test_the_page_filters_to_one_network_and_table(
    browser: Callable[..., Browser], cases: list[int]
) -> None:
    page = browser("analyst").get("/statistics?network=demo-city&table=org_kind")
    assert page.status_code == 200
    assert page.text.count('<svg class="chart"') == 1
    main = page.text.split("<main", 1)[1]
    assert "Harbour Network</th>" not in main


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=2026Q1", "Give a quarter as YYYY-Qn"),
        ("table=people", "Unknown table: people"),
        ("network=nowhere", "No such network in the statistics: nowhere"),
    ],
)
def test_bad_filters_get_a_422_that_says_what_to_fix(
    browser: Callable[..., Browser], api: Api, cases: list[int], query: str, message: str
) -> None:
    page = browser("analyst").get(f"/statistics?{query}")
    assert page.status_code == 422 and message in page.text
    response = api.get("analyst", f"/api/statistics?{query}")
    assert response.status_code == 422 and message in response.text


def test_statistics_are_refused_to_everyone_but_the_analyst(
    browser: Callable[..., Browser], api: Api, cases: list[int]
) -> None:
    for who in ("coordinator", "referrer", "dpo", "admin"):
        assert api.get(who, "/api/statistics").status_code == 403, who
        assert browser(who).get("/statistics").status_code == 403, who


def test_the_openapi_schema_documents_the_statistics_and_their_filters(
    browser: Callable[..., Browser],
) -> None:
    schema = browser().client.get("/schema/openapi.json").json()
    operation = schema["paths"]["/api/statistics"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"network", "table", "since", "until"}
