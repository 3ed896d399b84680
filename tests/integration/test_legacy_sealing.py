"""A database from before encryption: `referral db upgrade` migrates it and seals every
personal value with a new data key per subject; nothing is lost and nothing is left in
clear."""

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, select, text

from referral.db.engine import make_engine, make_session_factory
from referral.db.legacy import clear_field_count, seal_clear_fields
from referral.db.migrate import upgrade
from referral.db.tables import Case, Review, Subject
from referral.domain.errors import ConfigurationError
from referral.keyring import Keyring
from tests.conftest import PG_URL, TEST_KEYRING, create_schema, drop_schema

ROWS = [
    "INSERT INTO networks (id, slug, name) VALUES (1, 'old-city', 'Old City')",
    "INSERT INTO organisations (id, network_id, name, kind) VALUES (1, 1, 'School', 'education')",
    "INSERT INTO users (id, username, display_name, email, organisation_id, password_hash,"
    " active, created_at) VALUES (1, 'teacher', 'T', '', 1, 'x', :yes, :at)",
    "INSERT INTO subjects (id, network_id, given_name, family_name, date_of_birth, address,"
    " identifiers, phone, email, guardian_details, health, religion, ethnicity, other_special,"
    " created_at) VALUES (1, 1, 'Orrin', 'Ledgerwood', :born, '', '', '', '', '', 'asthma',"
    " '', '', '', :at)",
    "INSERT INTO cases (id, network_id, subject_id, state, workflow_name, workflow_version,"
    " workflow_hash, version, referrer_user_id, referring_org_kind, created_at,"
    " state_entered_at, outcome_for_referrer, concern_summary, concern_types, narrative,"
    " consent_discussed, criminal_information, deconfliction_result, screening_notes,"
    " vulnerability_assessment, risk_rating, support_plan) VALUES (1, 1, 1, 'submitted',"
    " 'referral', 1, 'h', 1, 1, 'education', :at, :at, '', 'worried', :types, 'story',"
    " :yes, '', '', '', '', 'low', '')",
    "INSERT INTO reviews (id, case_id, kind, notes, recorded_by, recorded_at)"
    " VALUES (1, 1, 'review', 'went well', 1, :at)",
]


@pytest.fixture
def old_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A database at migration 0003 (before encryption), on the backend under test."""
    if PG_URL:
        engine, schema = create_schema(PG_URL, revision="0003")
    else:
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('legacy') / 'old.sqlite3'}")
        upgrade(engine, "0003")
    with engine.begin() as connection:
        params = {"yes": True, "at": "2025-01-06 10:00:00+00:00", "born": date(2010, 7, 1)}
        for statement in ROWS:
            connection.execute(text(statement), {**params, "types": '["far_right"]'})
    yield engine
    engine.dispose()
    if PG_URL:
        drop_schema(PG_URL, schema)


def test_upgrade_seals_what_was_written_in_clear(old_database: Engine) -> None:
    upgrade(old_database)
    with old_database.connect() as connection:
        assert clear_field_count(connection) > 10
    with pytest.raises(ConfigurationError, match="REFERRAL_MASTER_KEYS"):
        seal_clear_fields(old_database, Keyring())

    sealed = seal_clear_fields(old_database, TEST_KEYRING)
    assert sealed > 10
    with old_database.connect() as connection:
        assert clear_field_count(connection) == 0
        stored = connection.execute(text("SELECT given_name, date_of_birth FROM subjects")).one()
    assert all(value.startswith("s1.") for value in stored)

    with make_session_factory(old_database, TEST_KEYRING)() as session:
        subject = session.scalars(select(Subject)).one()
        case = session.scalars(select(Case)).one()
        review = session.scalars(select(Review)).one()
        assert (subject.given_name, subject.family_name) == ("Orrin", "Ledgerwood")
        assert subject.date_of_birth == date(2010, 7, 1) and subject.health == "asthma"
        assert case.concern_types == ["far_right"] and case.consent_discussed is True
        assert (case.narrative, case.risk_rating, review.notes) == ("story", "low", "went well")
    assert seal_clear_fields(old_database, TEST_KEYRING) == 0  # a second run changes nothing


def test_upgrade_gives_existing_cases_references_in_their_networks_sequence(
    old_database: Engine,
) -> None:
    with old_database.begin() as connection:  # a second case, later the same year
        connection.execute(
            text(ROWS[-2].replace("VALUES (1, 1, 1,", "VALUES (2, 1, 1,")),
            {"yes": True, "at": "2025-03-01 10:00:00+00:00", "types": "[]"},
        )
    upgrade(old_database)
    with old_database.connect() as connection:
        references = connection.execute(text("SELECT id, reference FROM cases ORDER BY id")).all()
        last = connection.execute(text("SELECT network_id, year, last FROM case_references")).all()
    assert [tuple(r) for r in references] == [(1, "OLDC-2025-0001"), (2, "OLDC-2025-0002")]
    assert [tuple(r) for r in last] == [(1, 2025, 2)]  # the next case of 2025 is the third
