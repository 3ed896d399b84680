"""API tokens: each person lists and revokes their own, an administrator anyone's in the
network; a revoked token answers 401 on its very next request, and each revocation is
audited."""

from collections.abc import Callable

from sqlalchemy import select

from referral.db.tables import ApiToken, AuditEntry
from referral.demo import DemoWorld
from referral.services.uow import Runtime
from tests.e2e.conftest import Api, Browser


def token_id(runtime: Runtime, label: str) -> int:
    with runtime.session_factory() as session:
        return session.scalars(select(ApiToken.id).where(ApiToken.label == label)).one()


def audited(runtime: Runtime, action: str) -> list[tuple[int | None, str]]:
    with runtime.session_factory() as session:
        rows = session.execute(
            select(AuditEntry.actor_user_id, AuditEntry.target).where(AuditEntry.action == action)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_a_person_revokes_their_own_token_and_it_is_refused_at_once(
    browser: Callable[..., Browser], api: Api, runtime: Runtime, world: DemoWorld
) -> None:
    assert api.get("coordinator", "/api/cases").status_code == 200
    coordinator = browser("coordinator")
    page = coordinator.get("/account")
    assert "test coordinator" in page.text and "Active" in page.text
    revoked = token_id(runtime, "test coordinator")
    answer = coordinator.post(f"/account/tokens/{revoked}/revoke")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/account?done=revoked"
    refused = api.get("coordinator", "/api/cases")
    assert refused.status_code == 401
    assert "revoked" in refused.text
    assert "Revoked" in coordinator.get("/account?done=revoked").text
    user_id = world.actors["coordinator"].user_id
    assert audited(runtime, "auth:token_revoke") == [(user_id, f"token:{revoked}")]
    # Again: nothing changes, nothing more is audited.
    again = coordinator.post(f"/account/tokens/{revoked}/revoke")
    assert again.headers["location"] == "/account?done=unchanged"
    assert len(audited(runtime, "auth:token_revoke")) == 1


def test_nobody_revokes_or_sees_another_persons_token_on_their_account(
    browser: Callable[..., Browser], api: Api, runtime: Runtime
) -> None:
    api.get("screener", "/api/cases")  # issues the screener's token
    theirs = token_id(runtime, "test screener")
    coordinator = browser("coordinator")
    assert "test screener" not in coordinator.get("/account").text
    assert coordinator.post(f"/account/tokens/{theirs}/revoke").status_code == 404
    assert api.get("screener", "/api/cases").status_code == 200
    assert audited(runtime, "auth:token_revoke") == []


def test_an_administrator_lists_and_revokes_anyones_token_in_the_network(
    browser: Callable[..., Browser], api: Api, runtime: Runtime, world: DemoWorld
) -> None:
    api.get("screener", "/api/cases")
    theirs = token_id(runtime, "test screener")
    admin = browser("admin")
    page = admin.get("/admin/tokens")
    assert page.status_code == 200
    assert "test screener" in page.text and "Sam Screener" in page.text
    answer = admin.post(f"/admin/tokens/{theirs}/revoke")
    assert answer.headers["location"] == "/admin/tokens?done=revoked"
    assert api.get("screener", "/api/cases").status_code == 401
    admin_id = world.actors["admin"].user_id
    assert audited(runtime, "admin:token_revoke") == [(admin_id, f"token:{theirs}")]
    assert admin.post("/admin/tokens/999999/revoke").status_code == 404


def test_only_an_administrator_may_revoke_someone_elses_token(
    browser: Callable[..., Browser], api: Api, runtime: Runtime
) -> None:
    api.get("screener", "/api/cases")
    theirs = token_id(runtime, "test screener")
    dpo = browser("dpo")
    assert dpo.get("/admin/tokens").status_code == 403
    assert dpo.post(f"/admin/tokens/{theirs}/revoke").status_code == 403
    assert api.get("screener", "/api/cases").status_code == 200
