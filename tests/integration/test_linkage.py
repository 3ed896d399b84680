"""Repeat-referral linkage across agencies and networks, on the real database.

Two city networks (the demo's and `harbour`), a training network and the national tier:
a referral in one city finds the same person's earlier referral in the other without any
name crossing; the confirm flow lands in both audit chains; erasure makes the match go.
"""

from datetime import date

import pytest
from sqlalchemy import select, text

from referral.audit.verify import verify
from referral.db.sealing import KEYRING_INFO
from referral.db.tables import (
    AuditEntry,
    LinkageAlert,
    LinkageToken,
    Notification,
)
from referral.demo import DemoWorld
from referral.domain.actors import Actor
from referral.domain.errors import Conflict, NotFound, PermissionDenied
from referral.domain.vocabulary import Role
from referral.keyring import Keyring
from referral.services import linkage
from referral.services.erasure import EraseSubject, erase_subject
from referral.services.referrals import SubjectDetails, SubmitReferral, submit_referral
from referral.services.uow import Runtime, UnitOfWork
from tests.conftest import TEST_MASTER_KEYS
from tests.factories import closed_no_action, make_world, subject_of, submit
from tests.networks import City, add_network

BORN = date(2009, 3, 14)


def person(given: str, family: str, born: date | None = BORN) -> SubjectDetails:
    return SubjectDetails(given_name=given, family_name=family, date_of_birth=born)


def referral(subject: SubjectDetails) -> SubmitReferral:
    return SubmitReferral(
        subject=subject,
        concern_summary="Synthetic concern.",
        concern_types=("hate_targeting_a_group",),
    )


def run(runtime: Runtime, actor: Actor, service, command):  # type: ignore[no-untyped-def]
    with UnitOfWork(runtime) as uow:
        return service(uow, actor, command)


def harbour(runtime: Runtime) -> City:
    return add_network(runtime, "harbour", coordinator=Role.COORDINATOR, referrer=Role.REFERRER)


def earlier_in_demo(world: DemoWorld) -> int:
    return submit(world, subject=person("Youssef", "Al-Shami"))


def test_a_referral_in_another_city_finds_the_earlier_one_without_names(
    runtime: Runtime,
) -> None:
    world = make_world(runtime)
    city = harbour(runtime)
    earlier = earlier_in_demo(world)
    # Arabic script, family name first: the same person, written down by another agency.
    later = run(
        runtime,
        city.actors["referrer"],
        submit_referral,
        referral(person("الشامي", "يوسف")),
    )
    links = run(runtime, city.actors["coordinator"], linkage.links_of_case, later)
    assert len(links) == 1
    link = links[0]
    assert link.direction == "earlier" and link.may_ask
    assert link.network == "Demo City Prevention Network"
    assert link.state == "submitted" and link.year == 2026
    assert link.similarity >= 0.5
    with UnitOfWork(runtime) as uow:
        alert = uow.session.scalars(select(LinkageAlert)).one()
        assert (alert.case_id, alert.other_case_id, alert.side) == (later, earlier, "later")


def test_different_people_raise_no_alert(runtime: Runtime) -> None:
    world = make_world(runtime)
    city = harbour(runtime)
    earlier_in_demo(world)
    later = run(
        runtime,
        city.actors["referrer"],
        submit_referral,
        referral(person("Youssef", "Al-Shami", date(2001, 8, 30))),
    )
    assert run(runtime, city.actors["coordinator"], linkage.links_of_case, later) == []


def test_the_token_table_holds_no_personal_data(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = submit(world, subject=person("Quillon", "Vantablack"))
    with UnitOfWork(runtime) as uow:
        rows = uow.session.execute(
            text("SELECT * FROM linkage_tokens WHERE case_id = :c"), {"c": case_id}
        ).all()
    assert len(rows) > 10
    tokens = " ".join(row.token for row in rows).lower()
    for clear in ("quillon", "vantablack", "2009-03-14", "qln", "fntblk", "0314"):
        assert clear not in tokens, clear
    columns = set(rows[0]._mapping)
    assert columns == {"id", "network_id", "case_id", "token", "year", "created_at"}


def test_the_confirm_flow_is_recorded_on_both_sides_and_in_both_audits(
    runtime: Runtime,
) -> None:
    world = make_world(runtime)
    city = harbour(runtime)
    earlier = earlier_in_demo(world)
    later = run(
        runtime, city.actors["referrer"], submit_referral, referral(person("Yusuf", "Shami"))
    )
    alert_id = run(runtime, city.actors["coordinator"], linkage.links_of_case, later)[0].alert_id
    # Before it is asked about, the earlier network sees nothing of the later case.
    assert run(runtime, world.actors["coordinator"], linkage.links_of_case, earlier) == []
    run(runtime, city.actors["coordinator"], linkage.ask_to_confirm, linkage.AskToConfirm(alert_id))
    with pytest.raises(Conflict):
        run(
            runtime,
            city.actors["coordinator"],
            linkage.ask_to_confirm,
            linkage.AskToConfirm(alert_id),
        )
    asked = run(runtime, world.actors["coordinator"], linkage.links_of_case, earlier)
    assert [(v.direction, v.status, v.may_answer) for v in asked] == [("later", "asked", True)]
    assert asked[0].network == "Harbour Prevention Network"
    status = run(
        runtime,
        world.actors["coordinator"],
        linkage.answer_link,
        linkage.AnswerLink(asked[0].alert_id, confirm=True),
    )
    assert status == "confirmed"
    later_side = run(runtime, city.actors["coordinator"], linkage.links_of_case, later)
    earlier_side = run(runtime, world.actors["coordinator"], linkage.links_of_case, earlier)
    assert later_side[0].status == earlier_side[0].status == "confirmed"
    with UnitOfWork(runtime) as uow:
        entries = uow.session.execute(
            select(AuditEntry.action, AuditEntry.network_id, AuditEntry.case_id).where(
                AuditEntry.action.in_(("linkage:ask", "linkage:confirm"))
            )
        ).all()
        demo_network = world.actors["coordinator"].network_id
        assert sorted(entries) == sorted(
            [
                ("linkage:ask", city.network_id, later),
                ("linkage:ask", demo_network, earlier),
                ("linkage:confirm", demo_network, earlier),
                ("linkage:confirm", city.network_id, later),
            ]
        )
        told = uow.session.execute(
            select(Notification.user_id, Notification.event, Notification.case_id).where(
                Notification.event.like("linkage:%")
            )
        ).all()
        assert sorted(told) == sorted(
            [
                (world.actors["coordinator"].user_id, "linkage:ask", earlier),
                (city.actors["coordinator"].user_id, "linkage:confirm", later),
            ]
        )
        reads = uow.session.execute(
            select(AuditEntry.network_id, AuditEntry.case_id).where(
                AuditEntry.action == "linkage:read"
            )
        ).all()
        assert (city.network_id, later) in reads and (demo_network, earlier) in reads
        assert verify(uow.session).ok


def test_only_the_earlier_network_answers_and_only_once_asked(runtime: Runtime) -> None:
    world = make_world(runtime)
    city = harbour(runtime)
    earlier = earlier_in_demo(world)
    later = run(
        runtime, city.actors["referrer"], submit_referral, referral(person("Youssef", "Shami"))
    )
    alert_id = run(runtime, city.actors["coordinator"], linkage.links_of_case, later)[0].alert_id
    answer = linkage.AnswerLink(alert_id, confirm=True)
    with pytest.raises(NotFound):  # the earlier network holds no side of it yet
        run(runtime, world.actors["coordinator"], linkage.answer_link, answer)
    run(runtime, city.actors["coordinator"], linkage.ask_to_confirm, linkage.AskToConfirm(alert_id))
    with pytest.raises(NotFound):  # the asking network cannot answer its own question
        run(runtime, city.actors["coordinator"], linkage.answer_link, answer)
    earlier_side = run(runtime, world.actors["coordinator"], linkage.links_of_case, earlier)
    question = linkage.AnswerLink(earlier_side[0].alert_id, confirm=False)
    with pytest.raises(PermissionDenied):  # the referrer sees their case, may not answer
        run(runtime, world.actors["referrer"], linkage.answer_link, question)
    assert run(runtime, world.actors["coordinator"], linkage.answer_link, question) == ("rejected")
    later_side = run(runtime, city.actors["coordinator"], linkage.links_of_case, later)
    assert later_side[0].status == "rejected"


def test_a_coordinator_asking_about_a_case_outside_their_network_gets_404(
    runtime: Runtime,
) -> None:
    world = make_world(runtime)
    city = harbour(runtime)
    earlier = earlier_in_demo(world)
    later = run(
        runtime, city.actors["referrer"], submit_referral, referral(person("Youssef", "Shami"))
    )
    with pytest.raises(NotFound):
        run(runtime, city.actors["coordinator"], linkage.links_of_case, earlier)
    with pytest.raises(NotFound):
        run(runtime, world.actors["coordinator"], linkage.links_of_case, later)
    alert_id = run(runtime, city.actors["coordinator"], linkage.links_of_case, later)[0].alert_id
    with pytest.raises(NotFound):  # the alert is the later network's to ask
        run(
            runtime,
            world.actors["coordinator"],
            linkage.ask_to_confirm,
            linkage.AskToConfirm(alert_id),
        )


def test_a_training_network_is_never_tokenised_nor_matched(runtime: Runtime) -> None:
    world = make_world(runtime)
    training = add_network(
        runtime, "practice", kind="training", referrer=Role.REFERRER, coordinator=Role.COORDINATOR
    )
    practice = run(
        runtime, training.actors["referrer"], submit_referral, referral(person("Youssef", "Shami"))
    )
    later = earlier_in_demo(world)
    with UnitOfWork(runtime) as uow:
        assert not uow.session.scalars(
            select(LinkageToken).where(LinkageToken.case_id == practice)
        ).all()
    assert run(runtime, world.actors["coordinator"], linkage.links_of_case, later) == []


def test_erasing_a_subject_removes_their_tokens_and_the_match_disappears(
    runtime: Runtime,
) -> None:
    world = make_world(runtime)
    city = harbour(runtime)
    earlier = closed_no_action(world, subject=person("Youssef", "Al-Shami"))
    with UnitOfWork(runtime) as uow:
        secret = linkage._secret(uow)
        assert secret is not None
        probe = linkage.subject_tokens(secret, "Yusuf", "Al-Shami", BORN)
        assert earlier in linkage.match(uow, probe)
    erase_subject(
        UnitOfWork(runtime).__enter__(), None, EraseSubject(subject_of(runtime, earlier), "asked")
    )
    with UnitOfWork(runtime) as uow:
        assert not uow.session.scalars(
            select(LinkageToken).where(LinkageToken.case_id == earlier)
        ).all()
        assert linkage.match(uow, probe) == {}
    later = run(
        runtime, city.actors["referrer"], submit_referral, referral(person("Yusuf", "Al-Shami"))
    )
    assert run(runtime, city.actors["coordinator"], linkage.links_of_case, later) == []


def test_the_national_coordinator_lists_alerts_at_status_level(runtime: Runtime) -> None:
    world = make_world(runtime)
    city = harbour(runtime)
    national = add_network(runtime, "national", kind="national", lead=Role.NATIONAL_COORDINATOR)
    earlier_in_demo(world)
    run(runtime, city.actors["referrer"], submit_referral, referral(person("Youssef", "Shami")))
    alerts = run(runtime, national.actors["lead"], linkage.national_alerts, 50)
    assert [(a.network, a.earlier_network, a.state, a.status) for a in alerts] == [
        ("Harbour Prevention Network", "Demo City Prevention Network", "submitted", "possible")
    ]
    with pytest.raises(PermissionDenied):
        run(runtime, city.actors["coordinator"], linkage.national_alerts, 50)


def test_a_new_linkage_key_takes_effect_once_the_tokens_are_rebuilt(runtime: Runtime) -> None:
    world = make_world(runtime)
    earlier = earlier_in_demo(world)
    info = runtime.session_factory.kw["info"]
    old = info[KEYRING_INFO]
    info[KEYRING_INFO] = Keyring.from_config(
        TEST_MASTER_KEYS, None, linkage_key=f"rotated:{'A' * 43}="
    )
    try:
        with UnitOfWork(runtime) as uow:
            secret = linkage._secret(uow)
            assert secret is not None
            probe = linkage.subject_tokens(secret, "Yusuf", "Al-Shami", BORN)
            assert linkage.match(uow, probe) == {}  # the old tokens mean nothing now
        with UnitOfWork(runtime) as uow:
            assert linkage.rebuild(uow) == 1
        with UnitOfWork(runtime) as uow:
            assert earlier in linkage.match(uow, probe)
            assert uow.session.scalars(
                select(AuditEntry.action).where(AuditEntry.action == "linkage:rebuild")
            ).all() == ["linkage:rebuild"]
    finally:
        info[KEYRING_INFO] = old


def test_a_shared_identifier_links_referrals_whose_names_differ(runtime: Runtime) -> None:
    world = make_world(runtime)
    city = harbour(runtime)
    earlier = submit(
        world,
        subject=SubjectDetails(
            given_name="Quillon", family_name="Vantablack", identifiers="NHS 943 476 5919"
        ),
    )
    known_as = SubjectDetails(given_name="Q", family_name="V", identifiers="nhs 9434765919")
    later = run(runtime, city.actors["referrer"], submit_referral, referral(known_as))
    with UnitOfWork(runtime) as uow:
        alert = uow.session.scalars(select(LinkageAlert).where(LinkageAlert.case_id == later)).one()
        assert alert.other_case_id == earlier


def test_a_case_handed_over_takes_its_tokens_to_the_receiving_network(runtime: Runtime) -> None:
    from referral.services import transfers
    from referral.services.transfers import DecideTransfer, ProposeTransfer
    from tests.transfer_world import make_networks

    world = make_world(runtime)
    nets = make_networks(runtime, world)
    sent = earlier_in_demo(world)
    with UnitOfWork(runtime) as uow:
        proposal = transfers.propose_transfer(
            uow, world.actors["coordinator"], ProposeTransfer(sent, "harbour", "They moved.")
        )
    with UnitOfWork(runtime) as uow:
        accepted = transfers.accept_transfer(uow, nets.harbour, DecideTransfer(proposal))
    with UnitOfWork(runtime) as uow:
        held = uow.session.execute(
            select(LinkageToken.case_id, LinkageToken.network_id).distinct()
        ).all()
        assert held == [(accepted.case_id, nets.harbour.network_id)]
        secret = linkage._secret(uow)
        assert secret is not None
        probe = linkage.subject_tokens(secret, "Yusuf", "Al-Shami", BORN)
        assert list(linkage.match(uow, probe)) == [accepted.case_id]
