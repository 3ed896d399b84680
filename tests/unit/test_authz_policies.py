"""The default sharing agreement (DESIGN.md §2): the tables, and its sensitive cells spelled out."""

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from referral.authz.enforcer import Authorizer
from referral.authz.policy_tests import run_policy_tests
from referral.domain.actors import Actor
from referral.domain.errors import ConfigurationError
from referral.domain.facts import CaseFacts, ConsentScope, MeetingSlot, RecordFacts
from referral.domain.vocabulary import PERSONAL_CATEGORIES, Category, OrgKind, Purpose, Role

SHIPPED = Path(__file__).resolve().parents[2] / "policies"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ME, OTHER, MY_ORG, OTHER_ORG = 1, 2, 10, 20


@pytest.fixture(scope="module")
def authz() -> Authorizer:
    return Authorizer(SHIPPED)


def actor(role: Role, kind: OrgKind = OrgKind.CIVIL_SOCIETY) -> Actor:
    return Actor(ME, MY_ORG, kind, 1, "demo", frozenset({role}))


def on_agenda(days_after: float) -> CaseFacts:
    meeting = MeetingSlot(3, NOW - timedelta(days=days_after), actor_invited=True)
    return CaseFacts(7, 1, "panel_review", OTHER, meetings=(meeting,))


def assigned(consent: str = "given", covers: tuple[Category, ...] = ()) -> CaseFacts:
    scope = frozenset(ConsentScope(c, OrgKind.CIVIL_SOCIETY, Purpose.SUPPORT) for c in covers)
    return CaseFacts(
        7, 1, "support", OTHER, provider_org_ids=frozenset({MY_ORG}),
        consent_state=consent, consent_scope=scope,
    )  # fmt: skip


def readable(authz: Authorizer, who: Actor, facts: CaseFacts) -> set[Category]:
    return set(authz.readable_categories(who, facts, NOW))


def test_the_shipped_tables_hold() -> None:
    assert run_policy_tests(SHIPPED) == []


def test_provider_never_sees_criminal_category(authz: Authorizer) -> None:
    facts = assigned(covers=(Category.CRIMINAL, Category.SPECIAL))
    for act in ("read", "write"):
        decision = authz.decide(actor(Role.PROVIDER), Category.CRIMINAL, act, facts, NOW)
        assert not decision.allowed
        assert decision.rule[-1] == "deny"


def test_provider_sees_concern_but_never_the_narrative(authz: Authorizer) -> None:
    # Not even when the consent's scope lists the narrative.
    covered = assigned(covers=(Category.CONCERN, Category.NARRATIVE))
    seen = readable(authz, actor(Role.PROVIDER), covered)
    assert Category.CONCERN in seen
    assert Category.NARRATIVE not in seen


def test_provider_with_a_support_only_consent_reads_only_support_and_status(
    authz: Authorizer,
) -> None:
    seen = readable(authz, actor(Role.PROVIDER), assigned(covers=(Category.SUPPORT,)))
    assert seen == {Category.STATUS, Category.SUPPORT}


def test_a_consent_given_with_nothing_for_the_provider_opens_nothing(authz: Authorizer) -> None:
    assert readable(authz, actor(Role.PROVIDER), assigned()) == set()


def test_consent_covers_only_for_the_purpose_of_the_rule(authz: Authorizer) -> None:
    """The provider's rules are for support: a grant for the panel opens nothing to them."""
    panel_only = frozenset(
        ConsentScope(c, OrgKind.CIVIL_SOCIETY, Purpose.PANEL)
        for c in (Category.IDENTITY, Category.SUPPORT)
    )
    facts = CaseFacts(
        7, 1, "support", OTHER, provider_org_ids=frozenset({MY_ORG}),
        consent_state="given", consent_scope=panel_only,
    )  # fmt: skip
    assert readable(authz, actor(Role.PROVIDER), facts) == set()
    decision = authz.decide(actor(Role.PROVIDER), Category.IDENTITY, "read", facts, NOW)
    assert "consent_covers" in decision.reason


def intervention(provider_org: int, live: bool = True) -> RecordFacts:
    return RecordFacts("intervention", 5, provider_org, live)


@pytest.mark.parametrize(
    "permission",
    ["intervention:accept", "intervention:start", "intervention:complete", "intervention:record"],
)
def test_provider_may_not_move_or_annotate_another_organisations_intervention(
    authz: Authorizer, permission: str
) -> None:
    """The case is the provider's (an intervention of theirs is live on it); this
    intervention is not: `assigned` is judged on the intervention acted on."""
    facts = assigned(covers=(Category.SUPPORT,))
    who = actor(Role.PROVIDER)
    assert authz.permission(who, permission, facts, NOW, record=intervention(MY_ORG)).allowed
    theirs = authz.permission(who, permission, facts, NOW, record=intervention(OTHER_ORG))
    assert not theirs.allowed
    assert "assigned" in theirs.reason


def test_provider_reads_neither_another_organisations_nor_a_withdrawn_intervention(
    authz: Authorizer,
) -> None:
    facts = assigned(covers=(Category.SUPPORT,))
    who = actor(Role.PROVIDER)
    for record in (intervention(OTHER_ORG), intervention(MY_ORG, live=False)):
        assert not authz.decide(who, Category.SUPPORT, "read", facts, NOW, record=record).allowed
    mine = intervention(MY_ORG)
    assert authz.decide(who, Category.SUPPORT, "read", facts, NOW, record=mine).allowed


def test_a_coordinator_reads_every_intervention_of_the_case(authz: Authorizer) -> None:
    facts = assigned()
    for record in (intervention(MY_ORG), intervention(OTHER_ORG)):
        decision = authz.decide(
            actor(Role.COORDINATOR), Category.SUPPORT, "read", facts, NOW, record=record
        )
        assert decision.allowed


def test_provider_sees_nothing_before_consent(authz: Authorizer) -> None:
    assert readable(authz, actor(Role.PROVIDER), assigned(consent="requested")) == set()


def test_provider_sees_special_only_as_far_as_consent_covers_it(authz: Authorizer) -> None:
    assert Category.SPECIAL not in readable(authz, actor(Role.PROVIDER), assigned())
    covered = assigned(covers=(Category.SPECIAL,))
    assert Category.SPECIAL in readable(authz, actor(Role.PROVIDER), covered)


@pytest.mark.parametrize("kind", list(OrgKind))
def test_special_only_to_health_and_social_care_panel_members(
    authz: Authorizer, kind: OrgKind
) -> None:
    decision = authz.decide(
        actor(Role.PANEL_MEMBER, kind), Category.SPECIAL, "read", on_agenda(0), NOW
    )
    assert decision.allowed is (kind in {OrgKind.HEALTH, OrgKind.SOCIAL_CARE})


@pytest.mark.parametrize("kind", list(OrgKind))
def test_criminal_only_to_police_panel_members(authz: Authorizer, kind: OrgKind) -> None:
    decision = authz.decide(
        actor(Role.PANEL_MEMBER, kind), Category.CRIMINAL, "read", on_agenda(0), NOW
    )
    assert decision.allowed is (kind is OrgKind.POLICE)


@pytest.mark.parametrize("days_after", [-8, 8])
def test_panel_member_outside_the_seven_day_window_is_denied(
    authz: Authorizer, days_after: float
) -> None:
    assert readable(authz, actor(Role.PANEL_MEMBER), on_agenda(days_after)) == set()
    assert Category.STATUS in readable(authz, actor(Role.PANEL_MEMBER), on_agenda(days_after / 2))


def test_dpo_sees_no_case_content(authz: Authorizer) -> None:
    facts = CaseFacts(7, 1, "support", OTHER, consent_state="given")
    assert readable(authz, actor(Role.DPO), facts) == {Category.STATUS, Category.CONSENT}


@pytest.mark.parametrize("role", [Role.ADMIN, Role.ANALYST, Role.SYSTEM])
def test_admin_analyst_and_system_see_no_case_category(authz: Authorizer, role: Role) -> None:
    facts = CaseFacts(7, 1, "support", ME, coordinator_user_id=ME, consent_state="given")
    assert readable(authz, actor(role), facts) == set()


def test_referrer_sees_only_their_own_referral(authz: Authorizer) -> None:
    own = CaseFacts(7, 1, "screening", ME)
    expected = {Category.STATUS, Category.IDENTITY, Category.CONTACT, Category.CONCERN,
                Category.NARRATIVE}  # fmt: skip
    assert readable(authz, actor(Role.REFERRER), own) == expected
    assert readable(authz, actor(Role.REFERRER), CaseFacts(7, 1, "screening", OTHER)) == set()


def test_coordinator_reads_everything_but_writes_no_criminal_data(authz: Authorizer) -> None:
    facts = CaseFacts(7, 1, "screening", OTHER)
    assert readable(authz, actor(Role.COORDINATOR), facts) == set(Category)
    assert not authz.decide(actor(Role.COORDINATOR), Category.CRIMINAL, "write", facts, NOW).allowed


def test_every_allow_names_purpose_and_legal_basis(authz: Authorizer) -> None:
    for rule in authz.rules:
        if rule.allows:
            assert rule.purpose is not None, rule.where
            assert rule.legal_basis is not None, rule.where


def test_only_coordinator_screener_and_dpo_read_personal_data_unconditionally(
    authz: Authorizer,
) -> None:
    for rule in authz.rules:
        personal = not rule.is_permission and rule.obj in PERSONAL_CATEGORIES
        if rule.allows and personal and rule.condition == "true":
            assert rule.role in {Role.COORDINATOR, Role.SCREENER, Role.DPO}, rule.where


# -- consent binds whole, by construction ----------------------------------------


@pytest.mark.parametrize(
    ("line", "why"),
    [
        # A network lets the provider read the narrative on consent given, whatever it covers.
        (
            "p, provider, demo-city, narrative, read, assigned & consent_given, support,"
            " consent, allow",
            "a rule on the legal basis of consent must require consent_covers",
        ),
        # ... or on another legal basis, around the consent altogether.
        (
            "p, provider, demo-city, concern, read, assigned, support, public_task, allow",
            "provider reads only as far as consent covers",
        ),
        # A network marks the panel consent-bound for identity, but forgets the scope.
        (
            "p, panel_member, demo-city, identity, read, on_agenda | consent_covers, panel,"
            " consent, allow",
            "a rule on the legal basis of consent must require consent_covers",
        ),
    ],
)
def test_a_rule_that_reads_around_the_consent_is_refused_at_load(
    tmp_path: Path, line: str, why: str
) -> None:
    directory = copy_policies(tmp_path)
    (directory / "demo_city.csv").write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=f"demo_city.csv: line 1: {why}"):
        Authorizer(directory)


def test_a_network_may_mark_a_role_consent_bound_in_its_own_rules(tmp_path: Path) -> None:
    directory = copy_policies(tmp_path)
    line = (
        "p, panel_member, demo-city, special, read, on_agenda & consent_covers, panel,"
        " consent, allow\n"
    )
    (directory / "demo_city.csv").write_text(line, encoding="utf-8")
    authz = Authorizer(directory)
    who = Actor(ME, MY_ORG, OrgKind.YOUTH, 1, "demo-city", frozenset({Role.PANEL_MEMBER}))
    meeting = (MeetingSlot(3, NOW, actor_invited=True),)

    def facts(purpose: Purpose) -> CaseFacts:
        grant = frozenset({ConsentScope(Category.SPECIAL, OrgKind.YOUTH, purpose)})
        return CaseFacts(7, 1, "panel_review", OTHER, meetings=meeting,
                         consent_state="given", consent_scope=grant)  # fmt: skip

    assert authz.decide(who, Category.SPECIAL, "read", facts(Purpose.PANEL), NOW).allowed
    assert not authz.decide(who, Category.SPECIAL, "read", facts(Purpose.SUPPORT), NOW).allowed


# -- the runner -------------------------------------------------------------------


def copy_policies(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SHIPPED, tmp_path / "policies"))


def test_a_mismatch_is_reported_as_a_sentence(tmp_path: Path) -> None:
    directory = copy_policies(tmp_path)
    csv = directory / "default.csv"
    leak = (
        "p, provider, *, criminal, read, assigned & consent_covers_any, support, consent, allow\n"
    )
    text = csv.read_text().replace("p, provider, *, criminal, read, true, -, -, deny\n", "")
    csv.write_text(text + leak)
    mismatches = run_policy_tests(directory)
    assert (
        "policies/tests/default.yaml: provider (civil_society) in assigned_support_only:"
        " read criminal: expected deny, got allow (rule p, provider, *, criminal, read,"
        " assigned & consent_covers_any, support, consent, allow)"
    ) in mismatches
    assert all("read criminal" in m and m.startswith("policies/tests/default.yaml: provider")
               for m in mismatches)  # fmt: skip


def test_a_missing_allow_is_reported_with_the_reason(tmp_path: Path) -> None:
    directory = copy_policies(tmp_path)
    csv = directory / "default.csv"
    csv.write_text(csv.read_text().replace("p, dpo, *, case, erase,", "# p, dpo, *, case, erase,"))
    mismatches = run_policy_tests(directory)
    assert (
        "policies/tests/default.yaml: dpo (police) in no_case: case:erase: expected allow,"
        " got deny (no rule lets dpo use case:erase in network policy-tests)"
    ) in mismatches


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "{role: refferer, org_kind: '*', situation: own_referral, action: read,"
            " categories: [status], expect: allow}",
            "expect row 1: unknown role 'refferer'",
        ),
        (
            "{role: referrer, org_kind: '*', situation: own_referal, action: read,"
            " categories: [status], expect: allow}",
            "expect row 1: unknown situation 'own_referal'",
        ),
        (
            "{role: referrer, org_kind: education, situation: own_referral, action: read,"
            " categories: [status], expect: allow}",
            "expect row 1: organisation kind 'education' is not in the table's org_kinds",
        ),
        (
            "{role: referrer, org_kind: '*', situation: own_referral, action: read,"
            " categories: [statu], expect: allow}",
            "expect row 1: unknown category 'statu'",
        ),
        (
            "{role: referrer, org_kind: '*', situation: own_referral, action: case:sumbit,"
            " expect: allow}",
            "expect row 1: unknown action 'case:sumbit'",
        ),
        (
            "{role: referrer, org_kind: '*', situation: own_referral, action: read,"
            " categories: [status], expect: deny}",
            "expect row 1: list only what must be allowed",
        ),
        (
            "{role: referrer, org_kind: '*', situation: own_referral, action: read, expect: allow}",
            "expect row 1: missing key 'categories'",
        ),
    ],
)
def test_a_broken_table_row_is_refused(tmp_path: Path, row: str, message: str) -> None:
    directory = copy_policies(tmp_path)
    (directory / "tests" / "default.yaml").write_text(
        "org_kinds: [police]\nsituations:\n  own_referral: {referrer: actor, state: screening}\n"
        f"expect:\n  - {row}\n"
    )
    with pytest.raises(ConfigurationError, match=f"^policies/tests/default.yaml: {message}"):
        run_policy_tests(directory)


def test_an_unknown_situation_fact_is_refused(tmp_path: Path) -> None:
    directory = copy_policies(tmp_path)
    (directory / "tests" / "default.yaml").write_text(
        "org_kinds: [police]\nsituations:\n  odd: {refferer: actor}\nexpect: []\n"
    )
    with pytest.raises(ConfigurationError, match=r"situation odd: unknown facts \['refferer'\]"):
        run_policy_tests(directory)


def test_a_situation_about_a_case_names_its_state_or_the_table_gives_one(
    tmp_path: Path,
) -> None:
    # The code knows no state of its own to assume: a network names its own.
    directory = copy_policies(tmp_path)
    table = directory / "tests" / "default.yaml"
    table.write_text("org_kinds: [police]\nsituations:\n  mine: {referrer: actor}\nexpect: []\n")
    with pytest.raises(ConfigurationError, match="situation mine: name its case's state"):
        run_policy_tests(directory)
    table.write_text(
        "org_kinds: [police]\ndefault_state: screening\n"
        "situations:\n  mine: {referrer: actor}\n  nocase: {case: false}\nexpect: []\n"
    )
    assert run_policy_tests(directory)  # a table with nothing allowed: every allow a mismatch
