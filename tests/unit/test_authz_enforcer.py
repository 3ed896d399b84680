"""The Authorizer: loading and validating policy files, decisions and their reasons."""

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from referral.authz.enforcer import Authorizer, Permission
from referral.domain.actors import Actor
from referral.domain.errors import ConfigurationError
from referral.domain.facts import CaseFacts
from referral.domain.vocabulary import Category, LegalBasis, OrgKind, Purpose, Role

SHIPPED = Path(__file__).resolve().parents[2] / "policies"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALLOW_STATUS = "p, coordinator, *, status, read, true, screening, public_task, allow\n"


@pytest.fixture(scope="module")
def authz() -> Authorizer:
    return Authorizer(SHIPPED)


def actor(*roles: Role, kind: OrgKind = OrgKind.LOCAL_AUTHORITY, network: str = "demo") -> Actor:
    return Actor(1, 10, kind, 1, network, frozenset(roles))


def case(state: str = "screening", network_id: int = 1, **facts: object) -> CaseFacts:
    return CaseFacts(7, network_id, state, 2, **facts)  # type: ignore[arg-type]


def write_policy(root: Path, csv: str, name: str = "default.csv") -> Path:
    directory = root / "policies"
    directory.mkdir(exist_ok=True)
    shutil.copy(SHIPPED / "model.conf", directory / "model.conf")
    (directory / name).write_text(csv, encoding="utf-8")
    return directory


# -- loading ----------------------------------------------------------------------


def test_the_shipped_policy_loads(authz: Authorizer) -> None:
    assert len(authz.rules) > 100
    assert re.fullmatch(r"[0-9a-f]{64}", authz.policy_hash)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "p, coordinator, *, status, read, true, screenin, public_task, allow",
            "unknown purpose 'screenin'",
        ),
        (
            "p, coordinator, *, status, read, true, screening, public_tsk, allow",
            "unknown legal basis 'public_tsk'",
        ),
        (
            "p, coordinator, *, status, read, true, screening, public_task",
            "expected 8 fields after 'p', got 7",
        ),
        (
            "p, coordinater, *, status, read, true, screening, public_task, allow",
            "unknown role 'coordinater'",
        ),
        (
            "p, coordinator, *, statuss, read, true, screening, public_task, allow",
            "unknown category or permission 'statuss' / 'read'",
        ),
        (
            "p, coordinator, *, case, screne, true, screening, public_task, allow",
            "unknown category or permission 'case' / 'screne'",
        ),
        (
            "p, coordinator, *, status, delete, true, screening, public_task, allow",
            "a category takes read or write, not 'delete'",
        ),
        (
            "p, coordinator, *, status, read, true, screening, public_task, permit",
            "unknown effect 'permit' (allow or deny)",
        ),
        (
            "p, coordinator, *, status, read, true, -, public_task, allow",
            "an allow rule must name its purpose",
        ),
        (
            "p, coordinator, *, status, read, on_agneda, screening, public_task, allow",
            "unknown condition 'on_agneda'",
        ),
        (
            "p, coordinator, *, status, read, in_state(a, b, screening, public_task, allow",
            "unbalanced parentheses",
        ),
        (
            "p, coordinator, Demo City, status, read, true, screening, public_task, allow",
            "invalid network 'Demo City' (a network slug or *)",
        ),
        ("g, alice, coordinator, demo", "unknown line type 'g' (only p lines)"),
        (ALLOW_STATUS.strip(), "the same rule as policies/default.csv: line 2"),
    ],
)
def test_a_broken_line_names_file_line_and_fault(tmp_path: Path, line: str, message: str) -> None:
    directory = write_policy(tmp_path, f"# comment\n{ALLOW_STATUS}\n{line}\n")
    with pytest.raises(ConfigurationError) as caught:
        Authorizer(directory)
    assert caught.value.message == f"policies/default.csv: line 4: {message}"


def test_an_unknown_condition_is_refused(tmp_path: Path) -> None:
    csv = "p, provider, *, support, read, assigned & consent_coverz, support, consent, allow\n"
    with pytest.raises(ConfigurationError, match="line 1: unknown condition 'consent_coverz'"):
        Authorizer(write_policy(tmp_path, csv))


def test_a_deny_rule_needs_no_purpose_or_basis(tmp_path: Path) -> None:
    csv = ALLOW_STATUS + "p, coordinator, *, status, read, in_state(closed), -, -, deny\n"
    assert len(Authorizer(write_policy(tmp_path, csv)).rules) == 2


def test_a_missing_model_is_refused(tmp_path: Path) -> None:
    directory = write_policy(tmp_path, ALLOW_STATUS)
    (directory / "model.conf").unlink()
    with pytest.raises(ConfigurationError, match=r"policies/model.conf: missing"):
        Authorizer(directory)


def test_a_model_with_other_fields_is_refused(tmp_path: Path) -> None:
    directory = write_policy(tmp_path, ALLOW_STATUS)
    model = (directory / "model.conf").read_text()
    (directory / "model.conf").write_text(model.replace("cond, purpose,", "cond,"))
    with pytest.raises(ConfigurationError, match=r"policies/model.conf: expected r = sub"):
        Authorizer(directory)


def test_a_directory_without_rules_is_refused(tmp_path: Path) -> None:
    directory = write_policy(tmp_path, ALLOW_STATUS)
    (directory / "default.csv").unlink()
    with pytest.raises(ConfigurationError, match=r"no \*\.csv policy files"):
        Authorizer(directory)


def test_every_csv_in_the_directory_is_loaded(tmp_path: Path) -> None:
    directory = write_policy(tmp_path, ALLOW_STATUS)
    extra = "p, dpo, *, status, read, true, audit, legal_obligation, allow\n"
    (directory / "local.csv").write_text(extra)
    authz = Authorizer(directory)
    assert authz.decide(actor(Role.DPO), "status", "read", case(), NOW).allowed


# -- decisions --------------------------------------------------------------------


def test_an_allow_names_its_rule_purpose_and_basis(authz: Authorizer) -> None:
    decision = authz.decide(actor(Role.COORDINATOR), Category.CRIMINAL, "read", case(), NOW)
    assert decision.allowed
    expected = (
        "coordinator", "*", "criminal", "read", "!in_state(draft)", "screening", "crime_prevention"
    )  # fmt: skip
    assert decision.rule == (*expected, "allow")
    assert decision.purpose is Purpose.SCREENING
    assert decision.legal_basis is LegalBasis.CRIME_PREVENTION
    assert decision.rule_text == "p, " + ", ".join(decision.rule)
    assert decision.reason == (
        "coordinator may read criminal when !in_state(draft), for screening, "
        "on the legal basis of crime_prevention"
    )


def test_deny_wins_over_allow(tmp_path: Path) -> None:
    csv = ALLOW_STATUS + "p, coordinator, *, status, read, in_state(closed), -, -, deny\n"
    authz = Authorizer(write_policy(tmp_path, csv))
    assert authz.decide(actor(Role.COORDINATOR), "status", "read", case("support"), NOW).allowed
    denied = authz.decide(actor(Role.COORDINATOR), "status", "read", case("closed"), NOW)
    assert not denied.allowed
    assert denied.rule[-1] == "deny"
    assert denied.purpose is None
    assert denied.reason == "a deny rule says coordinator may not read status when in_state(closed)"


def test_a_deny_for_one_role_outweighs_an_allow_for_another(authz: Authorizer) -> None:
    both = actor(Role.COORDINATOR, Role.PROVIDER)
    decision = authz.decide(both, "criminal", "read", case(), NOW)
    assert not decision.allowed
    assert decision.rule == ("provider", "*", "criminal", "read", "true", "-", "-", "deny")


def test_no_rule_says_who_what_and_where(authz: Authorizer) -> None:
    decision = authz.decide(actor(Role.ANALYST), "identity", "read", case(), NOW)
    assert not decision.allowed
    assert decision.rule == ()
    assert decision.reason == "no rule lets analyst read identity on case 7"


def test_no_rule_says_which_condition_was_missing(authz: Authorizer) -> None:
    decision = authz.decide(actor(Role.PANEL_MEMBER), "status", "read", case(), NOW)
    assert decision.reason == (
        "no rule lets panel_member read status on case 7 (allowed only when on_agenda)"
    )


def test_a_case_of_another_network_is_outside_every_rule(authz: Authorizer) -> None:
    decision = authz.decide(actor(Role.COORDINATOR), "status", "read", case(network_id=2), NOW)
    assert not decision.allowed
    assert decision.reason == (
        "no rule lets coordinator read status on case 7, which belongs to another network"
    )


def test_a_rule_for_one_network_binds_only_there(tmp_path: Path) -> None:
    csv = "p, dpo, demo, status, read, true, audit, legal_obligation, allow\n"
    authz = Authorizer(write_policy(tmp_path, csv))
    assert authz.decide(actor(Role.DPO, network="demo"), "status", "read", case(), NOW).allowed
    assert not authz.decide(
        actor(Role.DPO, network="elsewhere"), "status", "read", case(), NOW
    ).allowed


def test_permission_splits_resource_and_action(authz: Authorizer) -> None:
    assert authz.permission(actor(Role.SCREENER), "case:deconflict", case(), NOW).allowed
    decision = authz.permission(actor(Role.PROVIDER), "case:screen", None, NOW)
    assert decision.reason == "no rule lets provider use case:screen in network demo"


def test_a_permission_without_colon_is_a_programming_error(authz: Authorizer) -> None:
    with pytest.raises(ValueError, match="resource:action"):
        authz.permission(actor(Role.COORDINATOR), "screen", case(), NOW)


def test_now_must_be_aware(authz: Authorizer) -> None:
    with pytest.raises(ValueError, match="aware"):
        authz.decide(actor(Role.COORDINATOR), "status", "read", case(), datetime(2026, 3, 2))


def test_category_decisions_gives_every_category_with_its_decision(authz: Authorizer) -> None:
    decisions = authz.category_decisions(actor(Role.DPO), case(), NOW)
    assert set(decisions) == set(Category)
    assert decisions[Category.IDENTITY].reason == "no rule lets dpo read identity on case 7"
    writable = authz.category_decisions(actor(Role.SCREENER), case(), NOW, act="write")
    assert {c for c, d in writable.items() if d.allowed} == {Category.CRIMINAL}


def test_readable_categories_keeps_only_the_allowed(authz: Authorizer) -> None:
    decisions = authz.readable_categories(actor(Role.DPO), case(), NOW)
    assert set(decisions) == {Category.STATUS, Category.CONSENT}
    assert all(d.allowed for d in decisions.values())


def test_permission_holders_lists_roles_with_an_allow_rule(authz: Authorizer) -> None:
    holders = authz.permission_holders()
    assert holders["case:screen"] == {"screener", "coordinator"}
    assert holders["case:decide"] == {"panel_chair"}
    assert holders["audit:verify"] == {"dpo", "admin"}
    assert holders["statistics:read"] == {"analyst"}
    assert holders["network:create"] == {"admin"}
    # Every permission but the categories that never move with a handed-over case (only denied).
    never = {Permission.HANDOVER_CRIMINAL, Permission.HANDOVER_DELIBERATION}
    assert set(holders) == {str(p) for p in Permission} - never
    assert "consent:read" not in holders  # a category, not a permission


def test_rules_for_keeps_the_actors_roles_and_network(authz: Authorizer) -> None:
    rules = authz.rules_for(actor(Role.PROVIDER), "criminal", "read")
    assert [(r.role, r.effect) for r in rules] == [(Role.PROVIDER, "deny")]


# -- versions ---------------------------------------------------------------------


def test_policy_hash_changes_when_a_file_changes(tmp_path: Path) -> None:
    directory = write_policy(tmp_path, ALLOW_STATUS)
    before = Authorizer(directory).policy_hash
    assert Authorizer(directory).policy_hash == before
    (directory / "default.csv").write_text(ALLOW_STATUS + "# a comment counts too\n")
    assert Authorizer(directory).policy_hash != before


def test_reload_refuses_a_removed_rule_on_the_next_call(tmp_path: Path) -> None:
    extra = "p, dpo, *, status, read, true, audit, legal_obligation, allow\n"
    directory = write_policy(tmp_path, ALLOW_STATUS + extra)
    authz = Authorizer(directory)
    before = authz.policy_hash
    assert authz.decide(actor(Role.DPO), "status", "read", case(), NOW).allowed
    (directory / "default.csv").write_text(ALLOW_STATUS)
    authz.reload()
    assert not authz.decide(actor(Role.DPO), "status", "read", case(), NOW).allowed
    assert authz.policy_hash != before


def test_a_broken_reload_keeps_the_policy_in_force(tmp_path: Path) -> None:
    directory = write_policy(tmp_path, ALLOW_STATUS)
    authz = Authorizer(directory)
    before = authz.policy_hash
    (directory / "default.csv").write_text("p, coordinator, *, status, read\n")
    with pytest.raises(ConfigurationError):
        authz.reload()
    assert authz.policy_hash == before
    assert authz.decide(actor(Role.COORDINATOR), "status", "read", case(), NOW).allowed
