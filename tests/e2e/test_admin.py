"""The administrator's pages: users, roles, organisations; never case content."""

from collections.abc import Callable

import pytest
from sqlalchemy import select

from referral.db.tables import AuditEntry, Organisation, RoleAssignment, User
from referral.demo import DemoWorld
from referral.domain.errors import NotFound
from referral.domain.vocabulary import OrgKind
from referral.services import referrals
from referral.services.uow import Runtime
from tests.e2e.conftest import Browser
from tests.factories import submit

PAGES = ("/admin/users", "/admin/organisations", "/admin/tokens", "/admin/import")
MARKERS = ("MARK-NARRATIVE", "MARK-SPECIAL", "Testy", "Fixture")


def new_user_form(world: DemoWorld, **overrides: str) -> dict[str, object]:
    values: dict[str, object] = {
        "username": "new.worker",
        "display_name": "Nia New (youth work)",
        "email": "nia@example.org",
        "organisation_id": str(world.org_ids[OrgKind.YOUTH]),
        "roles": ["referrer", "panel_member"],
        "password": "a-long-initial-password",
    }
    values.update(overrides)
    return values


def user_row(runtime: Runtime, username: str) -> User:
    with runtime.session_factory() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        session.expunge(user)
        return user


def roles_of(runtime: Runtime, user_id: int) -> set[str]:
    with runtime.session_factory() as session:
        return set(
            session.scalars(select(RoleAssignment.role).where(RoleAssignment.user_id == user_id))
        )


def audit_entries(runtime: Runtime, action: str) -> list[AuditEntry]:
    with runtime.session_factory() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


@pytest.mark.parametrize("url", PAGES)
def test_admin_pages_answer_an_admin(browser: Callable[..., Browser], url: str) -> None:
    response = browser("admin").get(url)
    assert response.status_code == 200
    assert "Administration shows no case information" in response.text or "Organisations" in (
        response.text
    )


def test_users_page_lists_the_network_with_organisation_and_roles(
    browser: Callable[..., Browser],
) -> None:
    text = browser("admin").get("/admin/users").text
    assert "Riley Referrer (teacher)" in text and "Demo education" in text
    assert "Panel chair" in text and "Active" in text


@pytest.mark.parametrize("who", ["dpo", "coordinator", "referrer"])
def test_admin_pages_are_refused_to_other_roles(browser: Callable[..., Browser], who: str) -> None:
    b = browser(who)
    for url in PAGES:
        assert b.get(url).status_code == 403
    b.get("/account")
    assert b.post("/admin/users", {"username": "someone", "roles": ["admin"]}).status_code == 403
    assert b.post("/admin/organisations", {"name": "X", "kind": "police"}).status_code == 403


def test_admin_creates_a_user_who_can_then_sign_in(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld
) -> None:
    b = browser("admin")
    b.get("/admin/users")
    response = b.post("/admin/users", new_user_form(world))
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/users?done=created"
    page = b.get("/admin/users?done=created").text
    assert "The user was added." in page and "Nia New (youth work)" in page
    user = user_row(runtime, "new.worker")
    assert user.password_hash.startswith("$argon2id$") and user.active
    assert roles_of(runtime, user.id) == {"referrer", "panel_member"}
    [entry] = audit_entries(runtime, "admin:user_create")
    assert entry.target == f"user:{user.id}" and entry.change_digest
    assert entry.actor_user_id == world.actors["admin"].user_id
    b.post("/logout")
    assert b.login("new.worker", "a-long-initial-password").status_code == 303


def test_duplicate_username_gets_a_clear_422(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    b = browser("admin")
    b.get("/admin/users")
    response = b.post("/admin/users", new_user_form(world, username="Coordinator"))
    assert response.status_code == 422
    assert "is already taken" in response.text
    assert 'value="Nia New (youth work)"' in response.text  # the form keeps what was typed
    assert "a-long-initial-password" not in response.text  # never the password


def test_bad_user_input_gets_422_with_messages_beside_the_fields(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    b = browser("admin")
    b.get("/admin/users")
    form = new_user_form(
        world, username="x", display_name=" ", email="nope", organisation_id="999999"
    )
    form.update(roles=["system"], password="short")
    response = b.post("/admin/users", form)
    assert response.status_code == 422
    for message in (
        "Enter a username of 3 to 64",
        "Enter the name other users will see",
        "Enter an email address",
        "Choose the user&#39;s organisation",
        "Choose at least one role",
        "at least 12 characters",
    ):
        assert message in response.text
    assert 'aria-invalid="true"' in response.text


def test_granting_and_revoking_a_role_is_audited(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld
) -> None:
    user_id = world.actors["referrer"].user_id
    b = browser("admin")
    b.get("/admin/users")
    granted = b.post(f"/admin/users/{user_id}/roles", {"role": "screener", "change": "grant"})
    assert granted.status_code == 303 and granted.headers["location"].endswith("done=granted")
    assert roles_of(runtime, user_id) == {"referrer", "screener"}
    again = b.post(f"/admin/users/{user_id}/roles", {"role": "screener", "change": "grant"})
    assert again.headers["location"].endswith("done=unchanged")
    revoked = b.post(f"/admin/users/{user_id}/roles", {"role": "screener", "change": "revoke"})
    assert revoked.headers["location"].endswith("done=revoked")
    assert roles_of(runtime, user_id) == {"referrer"}
    assert [e.target for e in audit_entries(runtime, "admin:role_grant")] == [f"user:{user_id}"]
    assert len(audit_entries(runtime, "admin:role_revoke")) == 1


def test_unknown_role_or_change_gets_422(browser: Callable[..., Browser], world: DemoWorld) -> None:
    user_id = world.actors["referrer"].user_id
    b = browser("admin")
    b.get("/admin/users")
    bad_role = b.post(f"/admin/users/{user_id}/roles", {"role": "emperor", "change": "grant"})
    assert bad_role.status_code == 422 and "Choose a role" in bad_role.text
    bad_change = b.post(f"/admin/users/{user_id}/roles", {"role": "dpo", "change": "maybe"})
    assert bad_change.status_code == 422
    assert b.post("/admin/users/999999/deactivate").status_code == 404


def test_deactivated_user_can_no_longer_sign_in(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld
) -> None:
    user_id = world.actors["referrer"].user_id
    b = browser("admin")
    b.get("/admin/users")
    response = b.post(f"/admin/users/{user_id}/deactivate")
    assert response.status_code == 303
    assert not user_row(runtime, "referrer").active
    assert len(audit_entries(runtime, "admin:user_deactivate")) == 1
    assert "Deactivated" in b.get("/admin/users").text
    assert b.post(f"/admin/users/{user_id}/activate").status_code == 303
    assert user_row(runtime, "referrer").active
    b.post(f"/admin/users/{user_id}/deactivate")
    b.post("/logout")
    assert b.login("referrer").status_code == 400


def test_admin_cannot_lock_themselves_out(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld
) -> None:
    me = world.actors["admin"].user_id
    b = browser("admin")
    b.get("/admin/users")
    deactivate = b.post(f"/admin/users/{me}/deactivate")
    assert deactivate.status_code == 409
    assert "cannot deactivate your own account" in deactivate.text
    revoke = b.post(f"/admin/users/{me}/roles", {"role": "admin", "change": "revoke"})
    assert revoke.status_code == 409
    assert "cannot remove your own admin role" in revoke.text
    assert user_row(runtime, "admin").active and "admin" in roles_of(runtime, me)


def test_admin_creates_an_organisation(browser: Callable[..., Browser], runtime: Runtime) -> None:
    b = browser("admin")
    b.get("/admin/organisations")
    response = b.post("/admin/organisations", {"name": "Northside Boxing Club", "kind": "youth"})
    assert response.status_code == 303
    assert "Northside Boxing Club" in b.get("/admin/organisations").text
    with runtime.session_factory() as session:
        org = session.scalars(
            select(Organisation).where(Organisation.name == "Northside Boxing Club")
        ).one()
    [entry] = audit_entries(runtime, "admin:organisation_create")
    assert entry.target == f"organisation:{org.id}"


def test_bad_organisation_gets_422_with_messages(browser: Callable[..., Browser]) -> None:
    b = browser("admin")
    b.get("/admin/organisations")
    response = b.post("/admin/organisations", {"name": "Demo police", "kind": "pirates"})
    assert response.status_code == 422
    assert "already has an organisation called" in response.text
    assert "Choose the kind of organisation" in response.text


def test_admin_posts_without_csrf_token_are_refused(
    browser: Callable[..., Browser], world: DemoWorld
) -> None:
    b = browser("admin")
    user_id = world.actors["referrer"].user_id
    assert b.client.post("/admin/users", data=new_user_form(world)).status_code == 403
    forged = {"_csrf": "forged", "role": "dpo", "change": "grant"}
    assert b.client.post(f"/admin/users/{user_id}/roles", data=forged).status_code == 403
    assert b.client.post(f"/admin/users/{user_id}/deactivate", data={"x": "1"}).status_code == 403
    assert b.client.post("/admin/organisations", data={"name": "N"}).status_code == 403


def test_admin_never_sees_case_content(browser: Callable[..., Browser], world: DemoWorld) -> None:
    case_id = submit(world)
    response = browser("admin").get(f"/cases/{case_id}")
    assert response.status_code == 404
    for marker in MARKERS:
        assert marker not in response.text
    with pytest.raises(NotFound):
        world.run("admin", referrals.read_case, case_id)
    assert world.run("admin", referrals.list_cases, referrals.ListCases()) == []
