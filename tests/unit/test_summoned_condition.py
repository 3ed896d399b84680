"""The `summoned` condition: a summons opens a case only on its own meeting's page, within
its window, for the organisation kind the official was summoned as; its SQL face opens
nothing (a list is never a meeting's page)."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.dialects import sqlite

from referral.authz.conditions import CONDITIONS, Question
from referral.domain.actors import Actor
from referral.domain.facts import CaseFacts, MeetingSlot, Summons
from referral.domain.vocabulary import OrgKind, Role

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OFFICIAL = Actor(7, 70, OrgKind.POLICE, 1, "demo", frozenset({Role.INVITED_OFFICIAL}))
SUMMONED = CONDITIONS["summoned"]


def facts(*, at: int | None = 1, kind: OrgKind = OrgKind.POLICE, ends: float = 1) -> CaseFacts:
    summons = Summons(NOW - timedelta(hours=1), NOW + timedelta(hours=ends), kind)
    slot = MeetingSlot(1, NOW + timedelta(days=1), False, summons)
    return CaseFacts(1, 1, "panel_review", 2, meetings=(slot,), at_meeting=at)


def holds(case: CaseFacts, now: datetime = NOW) -> bool:
    return SUMMONED.holds(Question(OFFICIAL, case, "status", "read", now))


def test_it_holds_on_its_meetings_page_within_the_window() -> None:
    assert holds(facts())
    assert holds(facts(), NOW + timedelta(hours=1))  # the window's last moment


@pytest.mark.parametrize(
    ("case", "why"),
    [
        (facts(at=None), "the case page, a list or the API"),
        (facts(at=2), "another meeting's page"),
        (facts(ends=-0.5), "the window has passed"),
        (facts(kind=OrgKind.HEALTH), "summoned as another kind of organisation"),
    ],
)
def test_it_does_not_hold_elsewhere(case: CaseFacts, why: str) -> None:
    assert not holds(case), why


def test_a_meeting_without_a_summons_opens_nothing() -> None:
    slot = MeetingSlot(1, NOW, True)  # invited as a panel member is another condition's
    assert not holds(CaseFacts(1, 1, "panel_review", 2, meetings=(slot,), at_meeting=1))


def test_its_sql_face_selects_no_case() -> None:
    clause = SUMMONED.sql(OFFICIAL, "status", NOW)
    assert str(clause.compile(dialect=sqlite.dialect())) in {"0", "false"}
