"""The data-protection officer's subject access pages and downloads, over HTTP."""

import json
from collections.abc import Callable

import pytest
from sqlalchemy import select

from referral.db.tables import AuditEntry
from referral.demo import DemoWorld
from referral.services.uow import Runtime
from tests.e2e.conftest import Browser
from tests.factories import subject_of, submit


def exports(runtime: Runtime) -> list[tuple[str, str, bool]]:
    with runtime.session_factory() as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.target, AuditEntry.allowed)
            .where(AuditEntry.action == "subject:export")
            .order_by(AuditEntry.id)
        )
        return [(action, target, bool(allowed)) for action, target, allowed in rows]


def test_dpo_finds_the_person_from_a_case_and_downloads_both_files(
    browser: Callable[..., Browser], world: DemoWorld, runtime: Runtime
) -> None:
    case_id = submit(world)
    subject_id = subject_of(runtime, case_id)
    b = browser("dpo")
    assert 'href="/subjects"' in b.get("/audit").text
    assert f'href="/subjects?case={case_id}"' in b.get(f"/cases/{case_id}").text
    found = b.get(f"/subjects?case={case_id}", follow_redirects=False)
    assert found.status_code == 303
    assert found.headers["location"] == f"/subjects/{subject_id}"
    page = b.get(f"/subjects/{subject_id}")
    assert page.status_code == 200
    assert f'href="/subjects/{subject_id}/export.json"' in page.text
    assert f'href="/subjects/{subject_id}/export.html"' in page.text
    assert "Testy" not in page.text  # the page itself shows ids and states only

    data = b.get(f"/subjects/{subject_id}/export.json")
    assert data.status_code == 200
    assert data.headers["content-type"].startswith("application/json")
    assert data.headers["content-disposition"] == (
        f'attachment; filename="subject-{subject_id}.json"'
    )
    bundle = json.loads(data.text)
    assert bundle["subject"]["identity"]["given_name"] == "Testy"
    assert [c["id"] for c in bundle["cases"]] == [case_id]

    readable = b.get(f"/subjects/{subject_id}/export.html")
    assert readable.status_code == 200
    assert readable.headers["content-type"].startswith("text/html")
    assert readable.headers["content-disposition"].startswith("attachment;")
    assert "style-src 'self'" in readable.headers["content-security-policy"]
    assert "Testy" in readable.text and "<script" not in readable.text
    target = f"subject:{subject_id}"
    assert exports(runtime) == [("subject:export", target, True)] * 2


@pytest.mark.parametrize("who", ["coordinator", "referrer", "provider", "admin"])
def test_subject_access_is_refused_to_other_roles(
    browser: Callable[..., Browser], world: DemoWorld, runtime: Runtime, who: str
) -> None:
    case_id = submit(world)
    subject_id = subject_of(runtime, case_id)
    b = browser(who)
    assert 'href="/subjects"' not in b.get("/account").text
    assert b.get("/subjects").status_code == 403
    assert b.get(f"/subjects?case={case_id}", follow_redirects=False).status_code == 403
    assert b.get(f"/subjects/{subject_id}").status_code == 403
    for suffix in ("json", "html"):
        response = b.get(f"/subjects/{subject_id}/export.{suffix}")
        assert response.status_code == 403
        assert "Testy" not in response.text
    assert {allowed for _, _, allowed in exports(runtime)} == {False}


def test_unknown_people_are_form_errors_or_not_found(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    b = browser("dpo")
    assert b.get("/subjects").status_code == 200
    bad = b.get("/subjects?subject=twelve")
    assert bad.status_code == 422 and "A subject number is a whole number." in bad.text
    unknown = b.get("/subjects?case=999999")
    assert unknown.status_code == 422
    assert "There is no case 999999 in your network." in unknown.text
    assert b.get("/subjects/999999").status_code == 404
    assert b.get("/subjects/999999/export.json").status_code == 404
    assert b.get("/subjects/999999/export.html").status_code == 404
