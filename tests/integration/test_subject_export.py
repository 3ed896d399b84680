"""Subject access export: everything held about a person, and every access to it."""

import json
from dataclasses import asdict

import pytest
from sqlalchemy import select

from referral.db.tables import (
    AuditEntry,
    Network,
    Organisation,
    RoleAssignment,
    Subject,
    User,
)
from referral.demo import DemoWorld
from referral.domain.actors import SYSTEM_USER_ID, Actor
from referral.domain.errors import NotFound, PermissionDenied
from referral.domain.vocabulary import OrgKind, Role
from referral.services import erasure, referrals
from referral.services.subject_export import (
    OPERATOR_RULE,
    SubjectBundle,
    bundle_json,
    export_subject,
)
from referral.services.uow import Runtime, UnitOfWork
from referral.web.subject_bundle import bundle_html
from referral.web.templating import state_labeller
from tests.factories import FAKE_HASH, make_world, subject_of, submit, to_awaiting_panel


@pytest.fixture
def world(runtime: Runtime) -> DemoWorld:
    return make_world(runtime)


def export(runtime: Runtime, actor: Actor | None, subject_id: int) -> SubjectBundle:
    with UnitOfWork(runtime, request_id="test") as uow:
        return export_subject(uow, actor, subject_id)


def case_seqs(runtime: Runtime, *case_ids: int) -> set[int]:
    with runtime.session_factory() as session:
        return set(session.scalars(select(AuditEntry.id).where(AuditEntry.case_id.in_(case_ids))))


def last_entry(runtime: Runtime) -> AuditEntry:
    with runtime.session_factory() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert entry is not None
        return entry


def test_bundle_holds_a_live_subjects_fields_and_case_content_in_clear(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id = to_awaiting_panel(world)
    bundle = export(runtime, world.actors["dpo"], subject_of(runtime, case_id))
    assert not bundle.erased
    assert bundle.subject["identity"]["given_name"] == "Testy"
    assert bundle.subject["identity"]["family_name"] == "Fixture"
    assert bundle.subject["identity"]["date_of_birth"] == "2009-05-17"
    assert bundle.subject["special"]["health"] == "MARK-SPECIAL"
    (case,) = bundle.cases
    assert case.id == case_id
    assert case.state == "awaiting_panel"
    assert case.fields["status"]["state"] == "awaiting_panel"
    assert case.fields["narrative"]["narrative"] == "MARK-NARRATIVE"
    assert case.fields["criminal"]["criminal_information"] == "MARK-CRIMINAL"
    assert case.fields["assessment"]["screening_notes"] == "MARK-ASSESSMENT"
    assert case.fields["concern"]["concern_types"] == ["hate_targeting_a_group"]
    (request,) = case.records["information_requests"]
    assert (request["question"], request["answer"]) == ("Known?", "No.")


def test_bundle_holds_every_entry_of_the_subjects_cases_and_none_of_another(
    runtime: Runtime, world: DemoWorld
) -> None:
    mine = to_awaiting_panel(world)
    theirs = submit(world)
    world.run("coordinator", referrals.read_case, theirs)
    world.run("coordinator", referrals.read_case, mine)
    bundle = export(runtime, world.actors["dpo"], subject_of(runtime, mine))
    seqs = {a.seq for a in bundle.accesses}
    assert seqs == case_seqs(runtime, mine)
    assert not seqs & case_seqs(runtime, theirs)
    assert [a.seq for a in bundle.accesses] == sorted(seqs)
    created = next(a for a in bundle.accesses if a.action == "case:create")
    referrer = world.actors["referrer"]
    assert (created.user_id, created.username) == (referrer.user_id, "referrer")
    assert created.user_name and created.organisation_name
    assert created.organisation_id == referrer.organisation_id
    assert created.organisation_kind == referrer.org_kind
    assert created.role == "referrer"
    assert {"identity", "narrative"} <= set(created.categories)
    assert created.purpose and created.legal_basis and created.rule.startswith("p, referrer")
    assert created.allowed
    read = [a for a in bundle.accesses if a.action == "case:read"]
    assert read and read[-1].username == "coordinator"


def test_refused_attempts_appear_as_refused(runtime: Runtime, world: DemoWorld) -> None:
    case_id = submit(world)
    with pytest.raises(NotFound):
        world.run("provider", referrals.read_case, case_id)
    bundle = export(runtime, world.actors["dpo"], subject_of(runtime, case_id))
    refused = [a for a in bundle.accesses if not a.allowed]
    assert [(a.username, a.action, a.case_id) for a in refused] == [
        ("provider", "case:read", case_id)
    ]
    assert "<strong>refused</strong>" in bundle_html(bundle, state_labeller(runtime.workflows))


def test_an_erased_subjects_bundle_reads_erased_and_keeps_the_accesses(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id = to_awaiting_panel(world)
    subject_id = subject_of(runtime, case_id)
    with UnitOfWork(runtime) as uow:
        subject = uow.session.get(Subject, subject_id)
        assert subject is not None
        erasure.destroy_key(uow, None, subject, basis="request", rule="", reason="test")
        uow.commit()
    bundle = export(runtime, world.actors["dpo"], subject_id)
    assert bundle.erased and bundle.erased_at
    assert bundle.subject["identity"]["given_name"] == "erased"
    assert bundle.subject["identity"]["date_of_birth"] is None
    (case,) = bundle.cases
    assert case.fields["narrative"]["narrative"] == "erased"
    assert case.fields["concern"]["concern_types"] == []
    assert case.fields["status"]["state"] == "awaiting_panel"
    assert case.records["information_requests"][0]["question"] == "erased"
    (destruction,) = bundle.destructions
    assert destruction["subject_id"] == subject_id and destruction["basis"] == "request"
    assert case_seqs(runtime, case_id) <= {a.seq for a in bundle.accesses}
    assert "subject:erase" in {a.action for a in bundle.accesses}
    text = bundle_json(bundle) + bundle_html(bundle, state_labeller(runtime.workflows))
    assert "Testy" not in text and "MARK-NARRATIVE" not in text


def test_the_export_is_audited_and_shows_in_the_next_export(
    runtime: Runtime, world: DemoWorld
) -> None:
    subject_id = subject_of(runtime, submit(world))
    dpo = world.actors["dpo"]
    export(runtime, dpo, subject_id)
    entry = last_entry(runtime)
    assert (entry.action, entry.target, entry.case_id) == (
        "subject:export",
        f"subject:{subject_id}",
        None,
    )
    assert (entry.actor_user_id, entry.actor_role, entry.allowed) == (dpo.user_id, "dpo", True)
    assert (entry.purpose, entry.legal_basis) == ("audit", "legal_obligation")
    assert entry.rule == "p, dpo, *, subject, export, true, audit, legal_obligation, allow"
    assert entry.change_digest  # ids and counts only, digested
    again = export(runtime, dpo, subject_id)
    assert again.accesses[-1].seq == entry.id
    assert again.accesses[-1].action == "subject:export"


@pytest.mark.parametrize("who", ["coordinator", "referrer", "admin"])
def test_other_roles_are_refused_and_the_refusal_is_audited(
    runtime: Runtime, world: DemoWorld, who: str
) -> None:
    subject_id = subject_of(runtime, submit(world))
    with pytest.raises(PermissionDenied):
        export(runtime, world.actors[who], subject_id)
    entry = last_entry(runtime)
    assert (entry.action, entry.allowed, entry.actor_user_id) == (
        "subject:export",
        False,
        world.actors[who].user_id,
    )
    assert entry.target == f"subject:{subject_id}"


def other_network_dpo(runtime: Runtime) -> Actor:
    with runtime.session_factory() as session, session.begin():
        network = Network(slug="other-city", name="Other City")
        session.add(network)
        session.flush()
        org = Organisation(network_id=network.id, name="Other council", kind="local_authority")
        session.add(org)
        session.flush()
        user = User(
            username="other-dpo",
            display_name="Other",
            organisation_id=org.id,
            password_hash=FAKE_HASH,
        )
        session.add(user)
        session.flush()
        session.add(RoleAssignment(user_id=user.id, network_id=network.id, role=Role.DPO))
    return Actor(
        user.id, org.id, OrgKind.LOCAL_AUTHORITY, network.id, "other-city", frozenset({Role.DPO})
    )


def test_a_subject_of_another_network_or_unknown_is_not_found(
    runtime: Runtime, world: DemoWorld
) -> None:
    subject_id = subject_of(runtime, submit(world))
    with pytest.raises(NotFound):
        export(runtime, other_network_dpo(runtime), subject_id)
    with pytest.raises(NotFound, match="subject 999999 not found"):
        export(runtime, world.actors["dpo"], 999_999)


def test_the_operators_export_is_recorded_as_the_networks_system_actor(
    runtime: Runtime, world: DemoWorld
) -> None:
    subject_id = subject_of(runtime, submit(world))
    bundle = export(runtime, None, subject_id)
    assert bundle.generated_by["user_id"] is None
    entry = last_entry(runtime)
    assert (entry.action, entry.target, entry.case_id) == (
        "subject:export",
        f"subject:{subject_id}",
        None,
    )
    assert (entry.actor_user_id, entry.actor_role) == (SYSTEM_USER_ID, "system")
    assert entry.network_id == world.actors["dpo"].network_id
    assert entry.rule == OPERATOR_RULE


def test_json_holds_the_bundle_and_the_page_escapes_what_people_typed(
    runtime: Runtime, world: DemoWorld
) -> None:
    details = referrals.SubjectDetails(
        given_name="<script>alert(1)</script>", family_name="O'Brien & <b>Sons</b>"
    )
    subject_id = subject_of(runtime, submit(world, subject=details))
    bundle = export(runtime, world.actors["dpo"], subject_id)
    assert json.loads(bundle_json(bundle)) == json.loads(json.dumps(asdict(bundle)))
    page = bundle_html(bundle, state_labeller(runtime.workflows))
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "O&#39;Brien &amp; &lt;b&gt;Sons&lt;/b&gt;" in page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert '<html lang="en">' in page and "<caption>" in page
