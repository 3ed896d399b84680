"""SQL filters, compiled without a database (the database test proves they select right)."""

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.dialects import sqlite

from referral.authz.enforcer import Authorizer
from referral.authz.filters import case_filter
from referral.domain.actors import Actor
from referral.domain.vocabulary import OrgKind, Role

SHIPPED = Path(__file__).resolve().parents[2] / "policies"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOTHING = ("0", "0 = 1")  # how SQLite spells false() alone, and inside a conjunction


@pytest.fixture(scope="module")
def authz() -> Authorizer:
    return Authorizer(SHIPPED)


def where(
    authz: Authorizer, category: str, act: str, *roles: Role, kind: OrgKind = OrgKind.HEALTH
) -> str:
    actor = Actor(1, 10, kind, 4, "demo", frozenset(roles))
    clause = case_filter(authz, actor, category, act, NOW)
    return str(clause.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def test_no_allow_rule_selects_nothing(authz: Authorizer) -> None:
    assert where(authz, "identity", "read", Role.ANALYST) in NOTHING


def test_coordinator_selects_every_case_of_the_network_but_drafts(authz: Authorizer) -> None:
    sql = where(authz, "status", "read", Role.COORDINATOR)
    assert sql == "cases.network_id = 4 AND cases.state != 'draft'"


def test_own_referral_compares_the_referrer(authz: Authorizer) -> None:
    sql = where(authz, "status", "read", Role.REFERRER)
    assert sql == "cases.network_id = 4 AND cases.referrer_user_id = 1"


def test_rules_of_several_roles_are_ored(authz: Authorizer) -> None:
    sql = where(authz, "status", "read", Role.REFERRER, Role.PANEL_MEMBER)
    assert "cases.referrer_user_id = 1 OR cases.id IN (SELECT agenda_items.case_id" in sql


def test_an_unconditional_deny_selects_nothing(authz: Authorizer) -> None:
    assert where(authz, "criminal", "read", Role.COORDINATOR, Role.PROVIDER) in NOTHING


def test_a_conditional_deny_is_anded_out(tmp_path: Path) -> None:
    directory = tmp_path / "policies"
    directory.mkdir()
    shutil.copy(SHIPPED / "model.conf", directory)
    (directory / "local.csv").write_text(
        "p, dpo, *, status, read, true, audit, legal_obligation, allow\n"
        "p, dpo, *, status, read, in_state(erased), -, -, deny\n"
    )
    sql = where(Authorizer(directory), "status", "read", Role.DPO)
    assert sql == "cases.network_id = 4 AND 1 = 1 AND cases.state != 'erased'"


def test_a_condition_on_the_org_kind_drops_out_in_sql(authz: Authorizer) -> None:
    assert "agenda_items" in where(authz, "special", "read", Role.PANEL_MEMBER, kind=OrgKind.HEALTH)
    assert "agenda_items" not in where(
        authz, "special", "read", Role.PANEL_MEMBER, kind=OrgKind.YOUTH
    )
