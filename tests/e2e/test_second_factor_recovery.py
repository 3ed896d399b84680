"""A lost or worn-out second factor over HTTP: a user issues new recovery codes with a
current app code, an administrator resets another user's second factor (confirming with
their own), and the operator does the same from the command line's service."""

import re
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from referral.config import Settings
from referral.db.tables import (
    AuditEntry,
    Network,
    Organisation,
    RecoveryCode,
    RoleAssignment,
    SecondFactor,
    User,
    WebSession,
)
from referral.demo import DemoWorld
from referral.domain.actors import SYSTEM_USER_ID
from referral.domain.errors import Conflict, InvalidInput, NotFound
from referral.domain.vocabulary import OrgKind, Role
from referral.services import admin, second_factor
from referral.services.uow import Runtime, UnitOfWork
from referral.web.app import create_app
from tests.conftest import TestClock
from tests.e2e.conftest import PASSWORD, Browser
from tests.factories import enrol_second_factor, totp_code

CODES = re.compile(r'<code class="token">([a-z2-9]{5}-[a-z2-9]{5})</code>')


@pytest.fixture
def obliged(runtime: Runtime, world: DemoWorld) -> Any:
    """New visitors of an app whose admin and dpo roles must have a second factor."""
    settings = Settings(cookie_secure=True, second_factor_roles=("admin", "dpo"))
    app = create_app(settings, runtime)

    def make() -> Browser:
        client = TestClient(app, base_url="https://testserver.local", raise_server_exceptions=False)
        return Browser(client)

    return make


def _sign_in(b: Browser, username: str, code: str) -> str:
    """Password, then the code; where the code step sent the browser."""
    b.get("/login")
    first = b.post("/login", {"username": username, "password": PASSWORD})
    assert first.status_code == 303, first.text
    if first.headers["location"] != "/login/code":
        return str(first.headers["location"])
    b.get("/login/code")
    second = b.post("/login/code", {"code": code})
    return str(second.headers.get("location", second.status_code))


def _actions(runtime: Runtime, action: str) -> list[tuple[int | None, str, bool]]:
    with runtime.session_factory() as session:
        rows = session.execute(
            select(AuditEntry.actor_user_id, AuditEntry.target, AuditEntry.allowed)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def _has_factor(runtime: Runtime, user_id: int) -> bool:
    with runtime.session_factory() as session:
        query = select(SecondFactor.id).where(SecondFactor.user_id == user_id)
        return session.scalar(query) is not None


def test_new_recovery_codes_want_a_current_app_code_and_retire_the_old_set(
    obliged: Any, world: DemoWorld, runtime: Runtime, clock: TestClock
) -> None:
    dpo = world.actors["dpo"].user_id
    secret, old_codes = enrol_second_factor(runtime, dpo)
    clock.advance(seconds=30)
    b = obliged()
    assert _sign_in(b, "dpo", totp_code(secret, clock.now)) == "/"
    account = b.get("/account")
    assert 'action="/account/second-factor/recovery-codes"' in account.text

    url = "/account/second-factor/recovery-codes"
    spent = b.post(url, {"second_factor_code": old_codes[1]})
    assert spent.status_code == 422 and "recovery code will not do" in spent.text
    b.get("/account")
    wrong = "000000" if totp_code(secret, clock.now, 1) != "000000" else "111111"
    refused = b.post(url, {"second_factor_code": wrong})
    assert refused.status_code == 422 and "The code is wrong" in refused.text
    b.get("/account")
    renewed = b.post(url, {"second_factor_code": totp_code(secret, clock.now, 1)})
    assert renewed.status_code == 200, renewed.text
    new_codes = CODES.findall(renewed.text)
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert "the old ones no longer work" in renewed.text
    assert _actions(runtime, "auth:recovery_codes_renewed") == [(dpo, f"user:{dpo}", True)]
    with runtime.session_factory() as session:
        unused = session.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == dpo, RecoveryCode.used_at.is_(None)
            )
        ).all()
    assert len(unused) == 10

    # An old code no longer signs in; a new one does, once.
    assert _sign_in(obliged(), "dpo", old_codes[2]) == "400"
    assert _sign_in(obliged(), "dpo", new_codes[0]) == "/"
    assert _sign_in(obliged(), "dpo", new_codes[0]) == "400"


def test_an_admin_resets_a_lost_second_factor_with_their_own_fresh_code(
    obliged: Any, world: DemoWorld, runtime: Runtime, clock: TestClock
) -> None:
    admin_id, dpo = world.actors["admin"].user_id, world.actors["dpo"].user_id
    admin_secret, _ = enrol_second_factor(runtime, admin_id)
    dpo_secret, _ = enrol_second_factor(runtime, dpo)
    clock.advance(seconds=30)
    lost = obliged()
    assert _sign_in(lost, "dpo", totp_code(dpo_secret, clock.now)) == "/"
    b = obliged()
    assert _sign_in(b, "admin", totp_code(admin_secret, clock.now)) == "/"

    users = b.get("/admin/users")
    assert f'href="/admin/users/{dpo}/second-factor"' in users.text
    assert f'href="/admin/users/{world.actors["referrer"].user_id}/second-factor"' not in users.text
    clock.advance(minutes=10)  # the sign-in's code is no longer fresh
    confirm = b.get(f"/admin/users/{dpo}/second-factor")
    assert confirm.status_code == 200 and "Reset" in confirm.text
    assert 'name="second_factor_code"' in confirm.text
    stale = b.post(f"/admin/users/{dpo}/second-factor/reset")
    assert stale.status_code == 422 and "Confirm with a code" in stale.text
    assert _has_factor(runtime, dpo)

    b.get(f"/admin/users/{dpo}/second-factor")
    code = {"second_factor_code": totp_code(admin_secret, clock.now)}
    done = b.post(f"/admin/users/{dpo}/second-factor/reset", code)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/admin/users?done=second_factor_reset"
    assert not _has_factor(runtime, dpo)
    assert _actions(runtime, "admin:second_factor_reset") == [(admin_id, f"user:{dpo}", True)]
    with runtime.session_factory() as session:
        left = session.scalars(select(RecoveryCode.id).where(RecoveryCode.user_id == dpo)).all()
        sessions = session.scalars(select(WebSession.id).where(WebSession.user_id == dpo)).all()
    assert left == [] and sessions == []
    assert lost.get("/audit", follow_redirects=False).status_code != 200  # signed out

    # Nothing left to reset: a clear conflict, and nothing audited.
    b.get(f"/admin/users/{dpo}/second-factor")
    twice = b.post(f"/admin/users/{dpo}/second-factor/reset")
    assert twice.status_code == 409 and "no second factor to reset" in twice.text
    assert len(_actions(runtime, "admin:second_factor_reset")) == 1

    # The dpo must have a second factor: the next sign-in enrols anew.
    again = obliged()
    again.get("/login")
    first = again.post("/login", {"username": "dpo", "password": PASSWORD})
    assert first.headers["location"] == "/login/code"
    assert again.get("/login/code", follow_redirects=False).headers["location"] == "/login/enrol"


def test_an_obliged_admin_without_a_second_factor_may_not_reset_anyone(
    world: DemoWorld, runtime: Runtime
) -> None:
    dpo = world.actors["dpo"].user_id
    enrol_second_factor(runtime, dpo)
    settings = Settings(second_factor_roles=("admin",))
    offered = second_factor.Confirmation(
        required_roles=second_factor.required_roles(settings, runtime.authz)
    )
    with UnitOfWork(runtime) as uow, pytest.raises(InvalidInput, match="has none yet"):
        admin.reset_second_factor(uow, world.actors["admin"], dpo, offered)
    assert _has_factor(runtime, dpo)
    assert _actions(runtime, "auth:second_factor")[-1][2] is False


def test_only_an_admin_of_the_users_network_may_reset(
    browser: Any, world: DemoWorld, runtime: Runtime
) -> None:
    dpo = world.actors["dpo"].user_id
    enrol_second_factor(runtime, dpo)
    coordinator = browser("coordinator")
    coordinator.get("/account")
    assert coordinator.post(f"/admin/users/{dpo}/second-factor/reset").status_code == 403
    stranger = _user_of_another_network(runtime)
    b = browser("admin")  # the suite obliges no role: no code needed
    b.get("/admin/users")
    assert b.get(f"/admin/users/{stranger}/second-factor").status_code == 404
    assert b.post(f"/admin/users/{stranger}/second-factor/reset").status_code == 404
    assert _has_factor(runtime, stranger)
    assert b.post(f"/admin/users/{dpo}/second-factor/reset").status_code == 303
    assert not _has_factor(runtime, dpo)


def _user_of_another_network(runtime: Runtime) -> int:
    with runtime.session_factory() as session, session.begin():
        network = Network(slug="other-city", name="Other City")
        session.add(network)
        session.flush()
        org = Organisation(network_id=network.id, name="Other health", kind=OrgKind.HEALTH)
        session.add(org)
        session.flush()
        user = User(username="far.away", display_name="Far Away", organisation_id=org.id)
        user.password_hash = "x"
        session.add(user)
        session.flush()
        session.add(RoleAssignment(user_id=user.id, network_id=network.id, role=Role.DPO))
        user_id = user.id
    enrol_second_factor(runtime, user_id)
    return user_id


def test_the_operator_resets_by_username_and_network_as_the_system(
    world: DemoWorld, runtime: Runtime
) -> None:
    dpo = world.actors["dpo"].user_id
    enrol_second_factor(runtime, dpo)
    stranger = _user_of_another_network(runtime)
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound, match=r"no user 'far\.away'"):
        admin.reset_second_factor_as_operator(uow, "far.away", "demo-city")
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound, match="no network 'nowhere'"):
        admin.reset_second_factor_as_operator(uow, "dpo", "nowhere")
    with UnitOfWork(runtime) as uow:
        admin.reset_second_factor_as_operator(uow, "dpo", "demo-city")
    assert not _has_factor(runtime, dpo) and _has_factor(runtime, stranger)
    assert _actions(runtime, "admin:second_factor_reset") == [(SYSTEM_USER_ID, f"user:{dpo}", True)]
    with UnitOfWork(runtime) as uow, pytest.raises(Conflict, match="no second factor"):
        admin.reset_second_factor_as_operator(uow, "dpo", "demo-city")
