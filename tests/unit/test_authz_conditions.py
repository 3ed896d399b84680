"""Named conditions, Python face: each one small and tested on its own."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.dialects import sqlite

from referral.authz.conditions import CONDITIONS, MEETING_WINDOW, Question
from referral.domain.actors import Actor
from referral.domain.facts import CaseFacts, ConsentScope, MeetingSlot, RecordFacts
from referral.domain.vocabulary import Category, OrgKind, Purpose, Role

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ME, SOMEONE_ELSE = 1, 2
MY_ORG, OTHER_ORG = 10, 20


def ask(
    name: str,
    *args: str,
    kind: OrgKind = OrgKind.CIVIL_SOCIETY,
    obj: str = "status",
    purpose: Purpose | None = Purpose.SUPPORT,
    record: RecordFacts | None = None,
    **facts: object,
) -> bool:
    actor = Actor(ME, MY_ORG, kind, 1, "demo", frozenset({Role.PROVIDER}))
    values: dict[str, object] = {"case_id": 7, "network_id": 1, "state": "screening"}
    values["referrer_user_id"] = SOMEONE_ELSE
    values.update(facts)
    case = CaseFacts(**values)  # type: ignore[arg-type]
    question = Question(actor, case, obj, "read", NOW, record)
    return CONDITIONS[name].holds_under(purpose, question, *args)


def meeting(days_after: float, invited: bool = True) -> tuple[MeetingSlot, ...]:
    """A meeting `now` is `days_after` days after."""
    return (MeetingSlot(3, NOW - timedelta(days=days_after), invited),)


def test_true_always_holds() -> None:
    assert ask("true")


def test_own_referral_holds_for_the_referrer_only() -> None:
    assert ask("own_referral", referrer_user_id=ME)
    assert not ask("own_referral", referrer_user_id=SOMEONE_ELSE)


def test_coordinates_holds_for_the_assigned_coordinator_only() -> None:
    assert ask("coordinates", coordinator_user_id=ME)
    assert not ask("coordinates", coordinator_user_id=SOMEONE_ELSE)
    assert not ask("coordinates", coordinator_user_id=None)


@pytest.mark.parametrize("days_after", [-7, -3, 0, 3, 7])
def test_on_agenda_holds_within_seven_days_of_the_meeting(days_after: float) -> None:
    assert ask("on_agenda", meetings=meeting(days_after))


@pytest.mark.parametrize("days_after", [-8, -7.01, 7.01, 8, 30])
def test_on_agenda_fails_outside_the_window(days_after: float) -> None:
    assert not ask("on_agenda", meetings=meeting(days_after))


def test_the_window_is_a_week() -> None:
    assert timedelta(days=7) == MEETING_WINDOW


def test_on_agenda_needs_an_invitation() -> None:
    assert not ask("on_agenda", meetings=meeting(0, invited=False))


def test_on_agenda_any_meeting_will_do() -> None:
    assert ask("on_agenda", meetings=meeting(30) + meeting(1))


def test_assigned_holds_for_the_providers_organisation() -> None:
    assert ask("assigned", provider_org_ids=frozenset({OTHER_ORG, MY_ORG}))
    assert not ask("assigned", provider_org_ids=frozenset({OTHER_ORG}))


def intervention(provider_org: int | None, live: bool = True) -> RecordFacts:
    return RecordFacts("intervention", 5, provider_org, live)


def test_assigned_about_one_intervention_asks_whose_it_is_not_whose_the_case_is() -> None:
    both = frozenset({OTHER_ORG, MY_ORG})
    assert ask("assigned", provider_org_ids=both, record=intervention(MY_ORG))
    assert not ask("assigned", provider_org_ids=both, record=intervention(OTHER_ORG))


def test_assigned_about_a_withdrawn_intervention_does_not_hold() -> None:
    mine = frozenset({MY_ORG})
    assert not ask("assigned", provider_org_ids=mine, record=intervention(MY_ORG, live=False))


def test_assigned_about_a_record_without_a_provider_asks_about_the_case() -> None:
    review = RecordFacts("review", 9)
    assert ask("assigned", provider_org_ids=frozenset({MY_ORG}), record=review)
    assert not ask("assigned", provider_org_ids=frozenset({OTHER_ORG}), record=review)


def test_asked_holds_while_a_request_to_the_actors_organisation_is_open() -> None:
    assert ask("asked", asked_org_ids=frozenset({OTHER_ORG, MY_ORG}))
    assert not ask("asked", asked_org_ids=frozenset({OTHER_ORG}))
    assert not ask("asked")


@pytest.mark.parametrize(
    ("organisation", "state", "holds"),
    [
        (MY_ORG, "requested", True),
        (MY_ORG, "overdue", True),  # a late answer is still welcome
        (MY_ORG, "answered", False),
        (MY_ORG, "declined", False),
        (OTHER_ORG, "requested", False),
    ],
)
def test_asked_about_one_request_judges_that_request_alone(
    organisation: int, state: str, holds: bool
) -> None:
    """The case has open requests to both organisations; the question is about one."""
    case = CaseFacts(7, 1, "information_gathering", SOMEONE_ELSE)
    both = replace(case, asked_org_ids=frozenset({MY_ORG, OTHER_ORG}))
    facts = both.about_request(organisation, state)
    actor = Actor(ME, MY_ORG, OrgKind.HEALTH, 1, "demo", frozenset({Role.AGENCY_CONTACT}))
    question = Question(actor, facts, "information_request", "answer", NOW)
    assert CONDITIONS["asked"].holds(question) is holds


@pytest.mark.parametrize(
    ("state", "holds"),
    [("given", True), ("requested", False), ("withdrawn", False), ("not_sought", False)],
)
def test_consent_given_only_in_state_given(state: str, holds: bool) -> None:
    assert ask("consent_given", consent_state=state) is holds


def scope(category: Category, kind: OrgKind) -> frozenset[ConsentScope]:
    return frozenset({ConsentScope(category, kind, Purpose.SUPPORT)})


def test_consent_covers_the_category_asked_for_the_actors_kind_of_organisation() -> None:
    covered = scope(Category.SPECIAL, OrgKind.CIVIL_SOCIETY)
    assert ask("consent_covers", obj="special", consent_state="given", consent_scope=covered)
    assert not ask("consent_covers", obj="identity", consent_state="given", consent_scope=covered)
    assert not ask(
        "consent_covers",
        obj="special",
        kind=OrgKind.HEALTH,
        consent_state="given",
        consent_scope=covered,
    )


def test_consent_covers_only_for_the_purpose_of_the_rule() -> None:
    covered = scope(Category.SPECIAL, OrgKind.CIVIL_SOCIETY)  # for support
    given = {"consent_state": "given", "consent_scope": covered}
    assert ask("consent_covers", obj="special", purpose=Purpose.SUPPORT, **given)
    assert not ask("consent_covers", obj="special", purpose=Purpose.PANEL, **given)


def test_consent_covers_in_a_rule_without_a_purpose_takes_any_purpose() -> None:
    covered = scope(Category.SPECIAL, OrgKind.CIVIL_SOCIETY)
    given = {"consent_state": "given", "consent_scope": covered}
    assert ask("consent_covers", obj="special", purpose=None, **given)
    assert not ask("consent_covers", obj="identity", purpose=None, **given)


def test_consent_covers_a_named_category_for_a_permission() -> None:
    covered = scope(Category.SUPPORT, OrgKind.CIVIL_SOCIETY)
    given = {"consent_state": "given", "consent_scope": covered}
    assert ask("consent_covers", "support", obj="intervention", **given)
    assert not ask("consent_covers", "special", obj="intervention", **given)
    assert not ask("consent_covers", obj="intervention", **given)


def test_consent_covers_any_needs_some_grant_to_their_kind_for_the_purpose() -> None:
    covered = scope(Category.SUPPORT, OrgKind.CIVIL_SOCIETY)
    given = {"consent_state": "given", "consent_scope": covered}
    assert ask("consent_covers_any", obj="status", **given)
    assert not ask("consent_covers_any", obj="status", kind=OrgKind.HEALTH, **given)
    assert not ask("consent_covers_any", obj="status", purpose=Purpose.PANEL, **given)
    withdrawn = {"consent_state": "withdrawn", "consent_scope": covered}
    assert not ask("consent_covers_any", obj="status", **withdrawn)


def test_consent_covers_needs_the_consent_given() -> None:
    covered = scope(Category.SPECIAL, OrgKind.CIVIL_SOCIETY)
    assert not ask(
        "consent_covers", obj="special", consent_state="withdrawn", consent_scope=covered
    )


def test_org_kind_in_reads_the_actors_organisation() -> None:
    assert ask("org_kind_in", "health", "social_care", kind=OrgKind.SOCIAL_CARE)
    assert not ask("org_kind_in", "health", "social_care", kind=OrgKind.POLICE)


def test_in_state_reads_the_case_state() -> None:
    assert ask("in_state", "support", "review", state="review")
    assert not ask("in_state", "support", "review", state="screening")


@pytest.mark.parametrize(
    ("name", "args", "holds"),
    [
        ("true", (), True),
        ("org_kind_in", ("civil_society",), True),
        ("own_referral", (), False),
        ("coordinates", (), False),
        ("on_agenda", (), False),
        ("assigned", (), False),
        ("consent_given", (), False),
        ("consent_covers", (), False),
        ("consent_covers_any", (), False),
        ("in_state", ("screening",), False),
    ],
)
def test_without_a_case_only_true_and_org_kind_in_can_hold(
    name: str, args: tuple[str, ...], holds: bool
) -> None:
    actor = Actor(ME, MY_ORG, OrgKind.CIVIL_SOCIETY, 1, "demo", frozenset({Role.PROVIDER}))
    assert CONDITIONS[name].holds(Question(actor, None, "meeting", "hold", NOW), *args) is holds


def sql_text(name: str, *args: str, kind: OrgKind = OrgKind.HEALTH) -> str:
    actor = Actor(ME, MY_ORG, kind, 1, "demo", frozenset({Role.PROVIDER}))
    clause = CONDITIONS[name].sql(actor, "special", NOW, *args)
    return str(clause.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def test_org_kind_in_is_a_literal_in_sql() -> None:
    assert sql_text("org_kind_in", "health") == "1"
    assert sql_text("org_kind_in", "police") == "0"


def test_every_condition_has_a_sql_face() -> None:
    args = {"org_kind_in": ("health",), "in_state": ("support",)}
    for name in CONDITIONS:
        assert sql_text(name, *args.get(name, ()))


def test_coordinates_sql_is_null_safe() -> None:
    # `!coordinates` must keep rows without a coordinator, as the Python face does:
    # `IS` (IS NOT DISTINCT FROM) is never NULL, where `=` would be.
    assert sql_text("coordinates").startswith("cases.coordinator_user_id IS ")
