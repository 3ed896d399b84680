"""The data-protection officer's audit explorer, CSV export and chain check over HTTP."""

import csv
import io
import re
from collections.abc import Callable

import pytest
from sqlalchemy import select

from referral.audit import chain
from referral.audit.chain import AuditRecord
from referral.db.tables import AuditEntry
from referral.demo import DemoWorld, walk_demo_cases
from referral.domain.errors import PermissionDenied
from referral.services import referrals, screening
from referral.services.uow import Runtime
from tests.e2e.conftest import Browser
from tests.factories import submit

MARKERS = ("MARK-NARRATIVE", "MARK-SPECIAL", "MARK-CRIMINAL", "MARK-ASSESSMENT")
ROW_SEQ = re.compile(r'<th scope="row">(\d+)</th>')


def seqs(html: str) -> list[int]:
    return [int(s) for s in ROW_SEQ.findall(html)]


def provoke_denial(world: DemoWorld) -> int:
    """A case the dpo then tries to screen: refused, and the refusal is audited."""
    case_id = submit(world)
    with pytest.raises(PermissionDenied):
        world.run("dpo", screening.start_screening, screening.StartScreening(case_id))
    return case_id


def add_entries(runtime: Runtime, world: DemoWorld, count: int) -> None:
    with runtime.session_factory() as session, session.begin():
        for _ in range(count):
            record = AuditRecord("test:filler", True, world.actors["coordinator"])
            chain.append(session, record, now=runtime.clock(), request_id="t", policy_hash="")


def test_dpo_sees_the_audit_explorer(browser: Callable[..., Browser], world: DemoWorld) -> None:
    case_id = submit(world)
    response = browser("dpo").get("/audit")
    assert response.status_code == 200
    assert "<h1>Audit log</h1>" in response.text
    assert f'href="/cases/{case_id}"' in response.text
    assert "Riley Referrer (teacher)" in response.text  # user's display name, not an id
    assert "Submit referral" in response.text  # the action in words, not `case:submit`


@pytest.mark.parametrize("who", ["coordinator", "referrer", "admin"])
def test_explorer_and_export_are_refused_to_other_roles(
    browser: Callable[..., Browser], who: str
) -> None:
    b = browser(who)
    assert b.get("/audit").status_code == 403
    assert b.get("/audit/export.csv").status_code == 403
    assert b.get("/audit?case=abc").status_code == 403


def test_filter_by_case_shows_only_that_case(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    first, second = submit(world), submit(world)
    response = browser("dpo").get(f"/audit?case={first}")
    assert response.status_code == 200
    assert f'href="/cases/{first}"' in response.text
    assert f'href="/cases/{second}"' not in response.text
    assert f'value="{first}"' in response.text  # the filter stays in the form


def test_filter_by_denied_finds_the_refused_screening(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    case_id = provoke_denial(world)
    b = browser("dpo")
    denied = b.get(f"/audit?decision=denied&case={case_id}")
    assert denied.status_code == 200
    assert "Screen the case" in denied.text and "Denied</span>" in denied.text
    assert "Allowed</span>" not in denied.text
    allowed = b.get(f"/audit?decision=allowed&case={case_id}&action=case:")
    assert "Submit referral" in allowed.text and "Screen the case" not in allowed.text


def test_filters_by_user_organisation_and_dates(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    submit(world)
    referrer = world.actors["referrer"]
    b = browser("dpo")
    by_user = b.get(f"/audit?user={referrer.user_id}")
    assert (
        "Submit referral" in by_user.text
        and "Casey Coordinator" not in by_user.text.split("<tbody>")[-1]
    )
    by_org = b.get(f"/audit?organisation={referrer.organisation_id}")
    assert "Submit referral" in by_org.text
    today = b.get("/audit?from=2026-03-02&to=2026-03-02&action=case:submit")
    assert len(seqs(today.text)) == 1
    later = b.get("/audit?from=2026-03-03&action=case:submit")
    assert seqs(later.text) == [] and "No entries match" in later.text


def test_pages_of_fifty_with_links_that_keep_the_filters(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld
) -> None:
    add_entries(runtime, world, 60)
    b = browser("dpo")
    first = b.get("/audit?action=test:")
    rows = seqs(first.text)
    assert len(rows) == 50 and rows == sorted(rows, reverse=True)
    older = re.search(r'href="(/audit\?action=test%3A&amp;before=\d+)"', first.text)
    assert older, "no link to older entries that keeps the filter"
    second = b.get(older.group(1).replace("&amp;", "&"))
    rest = seqs(second.text)
    assert len(rest) == 10 and max(rest) < min(rows)
    newer = re.search(r'href="(/audit\?action=test%3A&amp;after=\d+)"', second.text)
    assert newer
    assert seqs(b.get(newer.group(1).replace("&amp;", "&")).text) == rows


def test_htmx_request_gets_the_results_fragment_only(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    submit(world)
    response = browser("dpo").get("/audit?action=case:", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="audit-results"')
    assert "<h1>" not in response.text


def test_bad_filters_get_422_with_messages(browser: Callable[..., Browser]) -> None:
    b = browser("dpo")
    response = b.get("/audit?case=twelve&from=2026-03-05&to=2026-03-01")
    assert response.status_code == 422
    assert "A case number is a whole number" in response.text
    assert "The end date must be on or after the start date" in response.text
    assert b.get("/audit?decision=maybe").status_code == 422
    assert b.get("/audit/export.csv?case=x").status_code == 422


def test_viewing_the_log_is_itself_audited(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld
) -> None:
    browser("dpo").get("/audit?decision=denied")
    with runtime.session_factory() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "audit:read")).one()
    assert entry.actor_user_id == world.actors["dpo"].user_id
    assert entry.allowed and entry.case_id is None and entry.categories == ""
    assert entry.change_digest and entry.purpose == "audit"


def test_csv_export_has_a_header_and_the_filtered_rows_only(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld
) -> None:
    case_id = provoke_denial(world)
    other = submit(world)
    response = browser("dpo").get(f"/audit/export.csv?case={case_id}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:3] == ["seq", "time_utc", "user_id"]
    body = rows[1:]
    assert body and {row[8] for row in body} == {str(case_id)}
    assert any(row[7] == "case:screen" and row[11] == "denied" for row in body)
    assert str(other) not in {row[8] for row in body}
    for marker in (*MARKERS, "Testy", "Fixture"):
        assert marker not in response.text
    with runtime.session_factory() as session:
        exported = session.scalars(select(AuditEntry).where(AuditEntry.action == "audit:export"))
        assert len(exported.all()) == 1


def test_csv_export_walks_every_batch(
    browser: Callable[..., Browser],
    runtime: Runtime,
    world: DemoWorld,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from referral.services import audit_view

    monkeypatch.setattr(audit_view, "EXPORT_BATCH", 7)
    add_entries(runtime, world, 20)
    response = browser("dpo").get("/audit/export.csv?action=test:filler")
    rows = list(csv.reader(io.StringIO(response.text)))[1:]
    assert len(rows) == 20 and len({row[0] for row in rows}) == 20


def test_chain_page_shows_the_count_and_verify_checks_it(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    submit(world)
    b = browser("dpo")
    status = b.get("/audit/chain")
    assert status.status_code == 200
    count = int(re.search(r"<dt>Entries</dt><dd>(\d+)</dd>", status.text).group(1))  # type: ignore[union-attr]
    assert count > 0
    verified = b.post("/audit/chain/verify")
    assert verified.status_code == 200
    assert f"Chain verified: {count} entries." in verified.text


def test_verify_without_a_csrf_token_is_refused(browser: Callable[..., Browser]) -> None:
    dpo = browser("dpo")
    assert dpo.client.post("/audit/chain/verify", data={"x": "1"}).status_code == 403
    assert dpo.client.post("/audit/chain/verify", data={"_csrf": "forged"}).status_code == 403


def test_chain_pages_are_refused_to_a_coordinator(browser: Callable[..., Browser]) -> None:
    coordinator = browser("coordinator")
    assert coordinator.get("/audit/chain").status_code == 403
    assert coordinator.post("/audit/chain/verify").status_code == 403


def test_the_explorer_says_what_a_read_showed_and_refused_per_category(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    case_id = submit(world)
    world.run("referrer", referrals.read_case, case_id)
    html = browser("dpo").get(f"/audit?case={case_id}&action=case:read").text
    assert "<li>read identity information for screening, legal basis: public task</li>" in html
    assert "<li>refused special information: no rule allows it here</li>" in html
    assert "special refused, no rule" in html  # the rule column, by category


RAW_CODE = re.compile(r"\b[a-z_]+:[a-z_]+\b")
ACTION_CELL = re.compile(r'<td data-label="Action">(.*?)(?: <span class="muted">|</td>)')
OLDER = re.compile(r'href="(/audit\?before=\d+)"[^>]*rel="next"')


def test_the_explorer_shows_every_action_of_the_demo_in_words(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    walk_demo_cases(world)  # the demo city's cases, every state
    b = browser("dpo")
    html, seen = b.get("/audit").text, set()
    for _ in range(200):  # every page of entries, newest first
        actions = ACTION_CELL.findall(html)
        assert actions, "a page of the explorer without actions"
        seen.update(actions)
        older = OLDER.search(html)
        if older is None:
            break
        html = b.get(older.group(1).replace("&amp;", "&")).text
    raw = sorted(a for a in seen if RAW_CODE.search(a))
    assert raw == [], f"raw action codes on the explorer: {raw}"
    assert "Submit referral" in seen and len(seen) > 10
