"""The administrator's import page: upload, a dry-run preview, then apply; and the first
password of an imported account."""

import html
import re
from collections.abc import Callable

from sqlalchemy import func, select

from referral.db.tables import User
from referral.services.uow import Runtime
from tests.e2e.conftest import Browser

HEADER = "network,organisation,organisation_kind,username,display_name,email,roles\n"
GOOD = HEADER + "demo-city,Demo youth,youth,yan.youth,Yan Youth,,referrer;provider\n"
CONTENT = re.compile(r'name="content" value="([^"]*)"')


def upload(b: Browser, text: str | bytes, **extra: str):  # type: ignore[no-untyped-def]
    content = text.encode() if isinstance(text, str) else text
    return b.client.post(
        "/admin/import",
        data={"_csrf": b.csrf, **extra},
        files={"file": ("users.csv", content, "text/csv")},
    )


def users(runtime: Runtime) -> int:
    with runtime.session_factory() as session:
        return session.scalar(select(func.count()).select_from(User)) or 0


def test_the_preview_writes_nothing_and_apply_imports_the_checked_file(
    browser: Callable[..., Browser], runtime: Runtime
) -> None:
    admin = browser("admin")
    assert "Import users into" in admin.get("/admin/import").text
    before = users(runtime)
    preview = upload(admin, GOOD)
    assert preview.status_code == 200, preview.text
    assert "The file is ready to import" in preview.text and "Yan Youth" in preview.text
    assert users(runtime) == before
    content = html.unescape(CONTENT.search(preview.text).group(1))  # type: ignore[union-attr]
    applied = admin.post("/admin/import/apply", {"content": content})
    assert applied.status_code == 303
    assert applied.headers["location"] == "/admin/users?done=imported"
    assert users(runtime) == before + 1
    listed = admin.get("/admin/users?done=imported").text
    assert "Yan Youth" in listed and "No password yet" in listed


def test_a_file_with_problems_answers_422_naming_each_and_offers_no_apply(
    browser: Callable[..., Browser], runtime: Runtime
) -> None:
    admin = browser("admin")
    admin.get("/admin/import")
    before = users(runtime)
    bad = HEADER + "demo-city,Demo youth,youth,admin,Ad Min,,overlord\n"
    answer = upload(admin, bad)
    assert answer.status_code == 422
    assert "&#39;admin&#39; is taken already" in answer.text
    assert "&#39;overlord&#39; is not a role" in answer.text
    assert 'action="/admin/import/apply"' not in answer.text
    # Applying a file that was never checked (or changed since) is checked again.
    again = admin.post("/admin/import/apply", {"content": bad})
    assert again.status_code == 422
    assert users(runtime) == before


def test_an_upload_without_the_csrf_token_or_by_another_role_is_refused(
    browser: Callable[..., Browser],
) -> None:
    admin = browser("admin")
    admin.get("/admin/import")
    admin.csrf = "not-the-token"
    assert upload(admin, GOOD).status_code == 403
    coordinator = browser("coordinator")
    assert coordinator.get("/admin/import").status_code == 403
    coordinator.get("/account")
    assert upload(coordinator, GOOD).status_code == 403


def test_an_administrator_sets_an_imported_accounts_first_password(
    browser: Callable[..., Browser], runtime: Runtime
) -> None:
    admin = browser("admin")
    admin.get("/admin/import")
    preview = upload(admin, GOOD)
    content = html.unescape(CONTENT.search(preview.text).group(1))  # type: ignore[union-attr]
    admin.post("/admin/import/apply", {"content": content})
    with runtime.session_factory() as session:
        yan = session.scalars(select(User.id).where(User.username == "yan.youth")).one()
    admin.get("/admin/users")
    short = admin.post(f"/admin/users/{yan}/password", {f"password-{yan}": "short"})
    assert short.status_code == 422
    assert "The password needs at least 12 characters." in short.text
    done = admin.post(f"/admin/users/{yan}/password", {f"password-{yan}": "demo-password"})
    assert done.headers["location"] == "/admin/users?done=password"
    assert browser().login("yan.youth").status_code == 303
