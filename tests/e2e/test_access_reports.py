"""The data-protection officer's access reports per user, organisation and case, over HTTP."""

import csv
import io
import re
from collections.abc import Callable

import pytest
from sqlalchemy import select

from referral.db.tables import AuditEntry
from referral.demo import DemoWorld
from referral.domain.errors import PermissionDenied
from referral.services import referrals, screening
from referral.services.uow import Runtime
from tests.conftest import TestClock
from tests.e2e.conftest import Browser
from tests.factories import submit

ROW_SEQ = re.compile(r'<th scope="row">(\d+)</th>')
MARKERS = ("MARK-NARRATIVE", "MARK-SPECIAL", "MARK-CRIMINAL", "MARK-ASSESSMENT")


def entry_seqs(html: str) -> list[str]:
    return ROW_SEQ.findall(html.split('id="entries-title"')[1])


def summary_row(html: str, category: str) -> list[str]:
    """The cells of a category's row in the summary table: reads, changes, denied, users."""
    match = re.search(rf'<th scope="row">{category}</th>((?:<td>[^<]*</td>)+)', html)
    assert match, f"no summary row for {category}"
    return re.findall(r"<td>([^<]*)</td>", match.group(1))


def deny_screening(world: DemoWorld, case_id: int, times: int, clock: TestClock) -> None:
    """The dpo tries, and is refused, `times` times one minute apart."""
    for _ in range(times):
        with pytest.raises(PermissionDenied):
            world.run("dpo", screening.start_screening, screening.StartScreening(case_id))
        clock.advance(minutes=1)


def test_dpo_sees_the_report_chooser_with_the_networks_people(
    browser: Callable[..., Browser],
) -> None:
    response = browser("dpo").get("/audit/reports")
    assert response.status_code == 200
    assert "<h1>Access reports</h1>" in response.text
    assert "Riley Referrer (teacher)" in response.text


def test_chooser_redirects_to_the_chosen_report_keeping_the_dates(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    case_id = submit(world)
    b = browser("dpo")
    response = b.get(
        f"/audit/reports?report=case&case={case_id}&case-from=2026-03-01", follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/audit/reports/case/{case_id}?from=2026-03-01"
    bad = b.get("/audit/reports?report=case&case=twelve")
    assert bad.status_code == 422 and "A case number is a whole number" in bad.text


def test_audit_explorer_links_to_the_access_reports(browser: Callable[..., Browser]) -> None:
    assert 'href="/audit/reports"' in browser("dpo").get("/audit").text


@pytest.mark.parametrize("who", ["coordinator", "referrer"])
def test_reports_are_refused_to_other_roles(
    browser: Callable[..., Browser], world: DemoWorld, who: str
) -> None:
    case_id = submit(world)
    user_id = world.actors["referrer"].user_id
    b = browser(who)
    assert b.get("/audit/reports").status_code == 403
    assert b.get(f"/audit/reports/case/{case_id}").status_code == 403
    assert b.get(f"/audit/reports/user/{user_id}.csv").status_code == 403


def test_dpo_gets_user_organisation_and_case_reports(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    case_id = submit(world)
    referrer = world.actors["referrer"]
    b = browser("dpo")
    for path in (
        f"/audit/reports/user/{referrer.user_id}",
        f"/audit/reports/organisation/{referrer.organisation_id}",
        f"/audit/reports/case/{case_id}",
    ):
        response = b.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert "case:submit" in response.text


def test_unknown_user_case_or_report_kind_is_not_found(
    browser: Callable[..., Browser],
) -> None:
    b = browser("dpo")
    assert b.get("/audit/reports/user/999999").status_code == 404
    assert b.get("/audit/reports/case/999999").status_code == 404
    assert b.get("/audit/reports/case/999999.csv").status_code == 404
    assert b.get("/audit/reports/organisation/999999").status_code == 404
    assert b.get("/audit/reports/subject/1").status_code == 404
    assert b.get("/audit/reports/case/abc").status_code == 404


def test_case_report_lists_reads_and_changes_by_category(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    case_id = submit(world)
    other = submit(world)
    world.run("coordinator", referrals.read_case, case_id)
    world.run("screener", screening.start_screening, screening.StartScreening(case_id))
    world.run(
        "screener",
        screening.record_deconfliction,
        screening.RecordDeconfliction(case_id, "MARK-CRIMINAL", "no match"),
    )
    response = browser("dpo").get(f"/audit/reports/case/{case_id}")
    assert response.status_code == 200
    html = response.text
    changes, denied = summary_row(html, "Criminal")[1:3]
    assert int(changes) >= 1 and denied == "0"
    status_reads = summary_row(html, "Status")[0]
    assert int(status_reads) >= 1  # the coordinator's read of the case
    entries = html.split('id="entries-title"')[1]
    assert "case:read" in entries and "case:record_deconfliction" in entries
    assert f"Case {other}" not in entries
    for marker in MARKERS:
        assert marker not in html


def test_a_burst_of_denials_is_flagged(
    browser: Callable[..., Browser], world: DemoWorld, clock: TestClock
) -> None:
    case_id = submit(world)
    deny_screening(world, case_id, 5, clock)
    dpo = world.actors["dpo"]
    html = browser("dpo").get(f"/audit/reports/user/{dpo.user_id}").text
    assert "<dt>Bursts of denials</dt><dd>1</dd>" in html
    assert html.count("flag-denial-burst") == 5


def test_denials_spread_out_are_not_a_burst(
    browser: Callable[..., Browser], world: DemoWorld, clock: TestClock
) -> None:
    case_id = submit(world)
    for _ in range(5):
        deny_screening(world, case_id, 1, clock)
        clock.advance(minutes=10)
    html = browser("dpo").get(f"/audit/reports/case/{case_id}").text
    assert "<dt>Bursts of denials</dt><dd>0</dd>" in html
    assert "flag-denial-burst" not in html


def test_out_of_hours_access_is_flagged(
    browser: Callable[..., Browser], world: DemoWorld, clock: TestClock
) -> None:
    case_id = submit(world)  # Monday 09:00 in London: in hours
    clock.advance(hours=13)  # Monday 22:00
    world.run("coordinator", referrals.read_case, case_id)
    clock.advance(days=4, hours=14)  # Saturday 12:00
    world.run("coordinator", referrals.read_case, case_id)
    clock.advance(days=2)  # Monday again, back in hours for the dpo
    html = browser("dpo").get(f"/audit/reports/case/{case_id}").text
    assert "<dt>Outside the working week</dt><dd>2</dd>" in html
    assert html.count("flag-out-of-hours") == 2


def test_csv_has_a_header_the_rows_and_no_personal_data(
    browser: Callable[..., Browser], world: DemoWorld, clock: TestClock
) -> None:
    case_id = submit(world)
    clock.advance(hours=13)
    world.run("coordinator", referrals.read_case, case_id)
    deny_screening(world, case_id, 5, clock)
    response = browser("dpo").get(f"/audit/reports/case/{case_id}.csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows and {row["case_id"] for row in rows} == {str(case_id)}
    actions = [row["action"] for row in rows]
    assert "case:submit" in actions and "case:read" in actions
    assert sum(row["denial_burst"] == "yes" for row in rows) == 5
    late = [row for row in rows if row["action"] not in ("case:create", "case:submit")]
    assert late and all(row["out_of_hours"] == "yes" for row in late)
    for marker in (*MARKERS, "Testy", "Fixture"):
        assert marker not in response.text


def test_viewing_a_report_is_audited_without_personal_data(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld
) -> None:
    case_id = submit(world)
    b = browser("dpo")
    b.get(f"/audit/reports/case/{case_id}")
    b.get(f"/audit/reports/case/{case_id}.csv")
    with runtime.session_factory() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "audit:report")
        ).all()
    assert len(entries) == 2
    for entry in entries:
        assert entry.actor_user_id == world.actors["dpo"].user_id and entry.allowed
        assert entry.case_id is None and entry.categories == "" and entry.target == "case"
        assert entry.change_digest and entry.purpose == "audit"


def test_entries_are_paginated_one_hundred_a_page(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    case_id = submit(world)
    for _ in range(110):
        world.run("coordinator", referrals.read_case, case_id)
    b = browser("dpo")
    first = b.get(f"/audit/reports/case/{case_id}")
    assert len(entry_seqs(first.text)) == 100
    assert f'href="/audit/reports/case/{case_id}?page=2"' in first.text
    second = b.get(f"/audit/reports/case/{case_id}?page=2")
    assert len(entry_seqs(second.text)) == 12  # the 110 reads, the creation and the submission
    assert b.get(f"/audit/reports/case/{case_id}?page=3").status_code == 404


def test_the_report_page_and_its_csv_say_each_category_read_in_words(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    case_id = submit(world)
    world.run("coordinator", referrals.read_case, case_id)
    b = browser("dpo")
    entries = b.get(f"/audit/reports/case/{case_id}").text.split('id="entries-title"')[1]
    words = "read criminal information for screening, legal basis: crime prevention"
    assert f"<li>{words}</li>" in entries
    assert "criminal default.csv:" in entries  # the rule column: rules by file and line
    assert '{"read"' not in entries
    rows = list(csv.DictReader(io.StringIO(b.get(f"/audit/reports/case/{case_id}.csv").text)))
    (read,) = [r for r in rows if r["action"] == "case:read"]
    assert words in read["in_words"].split("; ")
    assert read["rule"].startswith('{"read":{')  # the CSV holds the entry as stored
