"""Importing organisations, users and roles from a CSV file: all or nothing, every problem
named by line and column, audited as the administrator's own changes are."""

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from referral.db.tables import AuditEntry, Organisation, RoleAssignment, User
from referral.demo import DemoWorld
from referral.domain.errors import PermissionDenied
from referral.services import admin, auth
from referral.services.uow import Runtime, UnitOfWork
from referral.services.user_import import ImportUsers, import_as_admin
from tests.factories import make_world
from tests.integration.test_worker import database, run, url_of

__all__ = ["database"]  # a fixture: a database of its own, with real commits

HEADER = "network,organisation,organisation_kind,username,display_name,email,roles\n"
GOOD = HEADER + (
    "demo-city,Demo education,education,tess.teacher,Tess Teacher,tess@school.example,referrer\n"
    "demo-city,Riverside Mentoring,civil_society,max.mentor,Max Mentor,,provider;panel_member\n"
    "demo-city,riverside mentoring,civil_society,mo.mentor,Mo Mentor,,provider\n"
)


def counts(runtime: Runtime) -> tuple[int, int, int, int]:
    with runtime.session_factory() as session:
        return (
            session.scalar(select(func.count()).select_from(User)) or 0,
            session.scalar(select(func.count()).select_from(Organisation)) or 0,
            session.scalar(select(func.count()).select_from(RoleAssignment)) or 0,
            session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
        )


def as_admin(world: DemoWorld, runtime: Runtime, text: str, apply: bool):  # type: ignore[no-untyped-def]
    with UnitOfWork(runtime) as uow:
        return import_as_admin(uow, world.actors["admin"], ImportUsers(text.encode(), apply))


@pytest.fixture
def world(runtime: Runtime) -> DemoWorld:
    return make_world(runtime)


def test_a_dry_run_checks_everything_and_writes_nothing(runtime: Runtime, world: DemoWorld) -> None:
    before = counts(runtime)
    report = as_admin(world, runtime, GOOD, apply=False)
    assert report.valid and not report.applied
    assert [u.username for u in report.users] == ["tess.teacher", "max.mentor", "mo.mentor"]
    assert report.new_organisations == [("demo-city", "Riverside Mentoring", "civil_society")]
    assert counts(runtime) == before


def test_an_applied_file_creates_organisations_users_roles_and_their_audit(
    runtime: Runtime, world: DemoWorld
) -> None:
    report = as_admin(world, runtime, GOOD, apply=True)
    assert report.applied
    with runtime.session_factory() as session:
        mentors = session.scalars(select(Organisation).where(Organisation.name.like("River%")))
        assert [(o.name, o.kind) for o in mentors] == [("Riverside Mentoring", "civil_society")]
        max_id = session.scalars(select(User.id).where(User.username == "max.mentor")).one()
        roles = set(
            session.scalars(select(RoleAssignment.role).where(RoleAssignment.user_id == max_id))
        )
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("admin:%")).order_by(AuditEntry.id)
        ).all()
    assert roles == {"provider", "panel_member"}
    actions = [e.action for e in entries]
    assert actions.count("admin:user_create") == 3
    assert actions.count("admin:organisation_create") == 1
    assert actions[-1] == "admin:users_import"
    assert {e.actor_user_id for e in entries} == {world.actors["admin"].user_id}
    assert entries[-1].target == f"network:{world.actors['admin'].network_id}"


def test_an_imported_account_signs_in_only_once_an_administrator_sets_its_password(
    runtime: Runtime, world: DemoWorld
) -> None:
    as_admin(world, runtime, GOOD, apply=True)
    sign_in = auth.SignIn("tess.teacher", "", client="test")
    with UnitOfWork(runtime) as uow, pytest.raises(PermissionDenied):
        auth.sign_in(uow, sign_in, admin_settings())
    with runtime.session_factory() as session:
        tess = session.scalars(select(User.id).where(User.username == "tess.teacher")).one()
    with UnitOfWork(runtime) as uow:
        admin.set_password(uow, world.actors["admin"], admin.SetPassword(tess, "a-first-password"))
    with UnitOfWork(runtime) as uow:
        signed = auth.sign_in(
            uow, auth.SignIn("tess.teacher", "a-first-password", "test"), admin_settings()
        )
    assert signed.user_id == tess


def admin_settings():  # type: ignore[no-untyped-def]
    from referral.config import Settings

    return Settings()


def test_every_problem_is_named_by_line_and_column_and_nothing_is_written(
    runtime: Runtime, world: DemoWorld
) -> None:
    bad = HEADER + (
        "demo-city,Demo education,education,tess.teacher,Tess Teacher,,referrer\n"  # fine
        "demo-city,Demo education,police,pat,Pat,,referrer\n"  # kind of an existing org
        "demo-city,New Org,youth,coordinator,Coco,,wizard\n"  # taken, no such role
        "other-city,New Org,health,x.y,X Y,not-an-address,referrer\n"  # network, e-mail
        "demo-city,Demo education,education,TESS.teacher,Tess Again,,referrer\n"  # repeated
        "demo-city,New Org,health,nia,Nia,,referrer\n"  # New Org's kind, two lines up
        "demo-city,Demo education,education\n"  # short line
    )
    before = counts(runtime)
    report = as_admin(world, runtime, bad, apply=True)
    assert not report.applied
    assert [str(p) for p in report.problems] == [
        "line 3, column organisation_kind: 'Demo education' is of kind education, not police",
        "line 4, column roles: 'wizard' is not a role (one of: "
        + ", ".join(admin.ASSIGNABLE_ROLES)
        + ")",
        "line 4, column username: 'coordinator' is taken already",
        "line 5, column email: 'not-an-address' is no e-mail address (or leave it empty)",
        "line 5, column network: 'other-city' is not a network you may import into",
        "line 6, column username: 'TESS.teacher' is also on line 2",
        "line 7, column organisation_kind: line 4 gives 'New Org' kind youth",
        "line 8: has 3 fields where the header has 7",
    ]
    assert counts(runtime) == before


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "line 1: the file is empty: the first line names the columns"),
        (HEADER.encode(), "line 2: the file names no user"),
        (b"network,organisation,username,nickname\n", "line 1, column nickname: is not a column"),
        (HEADER.encode() + b"demo-city,\xff\n", "line 2: is not UTF-8 text"),
    ],
)
def test_a_file_that_cannot_be_read_says_why(
    runtime: Runtime, world: DemoWorld, content: bytes, problem: str
) -> None:
    with UnitOfWork(runtime) as uow:
        report = import_as_admin(uow, world.actors["admin"], ImportUsers(content, True))
    assert any(str(p).startswith(problem) for p in report.problems), report.problems
    assert not report.applied


def test_only_an_administrator_may_import(runtime: Runtime, world: DemoWorld) -> None:
    before = counts(runtime)
    with UnitOfWork(runtime) as uow, pytest.raises(PermissionDenied):
        import_as_admin(uow, world.actors["coordinator"], ImportUsers(GOOD.encode(), True))
    assert counts(runtime)[:3] == before[:3]


def test_the_command_imports_names_file_and_line_and_dry_runs(
    database: tuple[Engine, Runtime], tmp_path: Path
) -> None:
    engine, runtime = database
    make_world(runtime)
    url = url_of(engine)
    users = tmp_path / "users.csv"
    users.write_text(HEADER + "demo-city,Demo police,police,dee.desk,Dee Desk,,screener\n"
                     "nowhere,Demo police,police,ed,Ed,,screener\n")  # fmt: skip
    refused = run(url, "users", "import", str(users))
    assert refused.returncode == 1
    assert f"{users}: line 3, column network: 'nowhere' is not a network" in refused.stderr
    assert "nothing was imported" in refused.stderr
    users.write_text(HEADER + "demo-city,Demo police,police,dee.desk,Dee Desk,,screener\n")
    dry = run(url, "users", "import", str(users), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would import (dry run, nothing written) 1 users" in dry.stdout
    done = run(url, "users", "import", str(users))
    assert done.returncode == 0, done.stderr
    with runtime.session_factory() as session:
        assert session.scalars(select(User.username).where(User.username == "dee.desk")).all() == [
            "dee.desk"
        ]
        entries = session.scalars(
            select(AuditEntry.actor_role).where(AuditEntry.action == "admin:users_import")
        ).all()
    assert entries == ["system"]
