"""Transfer as a handover between two city networks (issue 12, deliverable 2).

City A is the demo network; city B (`harbour`), a training network and the national tier
are built by tests.transfer_world. Every test runs on the real database the migrations
built (SQLite, or PostgreSQL when REFERRAL_TEST_DATABASE_URL is set).
"""

import json

import pytest
from sqlalchemy import func, select

from referral.audit import ledger
from referral.audit.verify import verify
from referral.db.tables import (
    AuditEntry,
    Case,
    DataKey,
    Notification,
    Subject,
    TransferProposal,
    WebhookDelivery,
)
from referral.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from referral.domain.facts import ConsentScope
from referral.domain.vocabulary import Category, OrgKind, Purpose
from referral.services import lifecycle, transfers
from referral.services.referrals import read_case
from referral.services.timers import tick
from referral.services.transfers import DecideTransfer, ProposeTransfer
from referral.services.uow import Runtime, UnitOfWork
from referral.services.webhooks import (
    CASE_TRANSFER_PROPOSED,
    CASE_TRANSFERRED,
    RegisterEndpoint,
    register_endpoint,
)
from tests.conftest import TestClock
from tests.factories import (
    closed_no_action,
    make_world,
    schedule,
    submit,
    to_information_gathering,
    to_support,
)
from tests.transfer_world import Networks, make_networks

REASON = "The family moved to Harbour last month."


@pytest.fixture
def nets(runtime: Runtime) -> Networks:
    return make_networks(runtime, make_world(runtime))


def propose(nets: Networks, case_id: int, to: str = "harbour", reason: str = REASON) -> int:
    command = ProposeTransfer(case_id, to, reason)
    return int(nets.world.run("coordinator", transfers.propose_transfer, command))


def as_harbour(runtime: Runtime, nets: Networks, service: object, command: object) -> object:
    with UnitOfWork(runtime) as uow:
        return service(uow, nets.harbour, command)  # type: ignore[operator]


def key_of(runtime: Runtime, case_id: int) -> DataKey:
    with runtime.session_factory() as session:
        subject = session.scalars(
            select(Subject).join(Case, Case.subject_id == Subject.id).where(Case.id == case_id)
        ).one()
        key = session.get(DataKey, subject.data_key_id)
        assert key is not None
        session.expunge(key)
        return key


def actions_in_chain(runtime: Runtime, network_id: int) -> list[str]:
    with runtime.session_factory() as session:
        return list(
            session.scalars(
                select(AuditEntry.action).where(AuditEntry.network_id == network_id)
            ).all()
        )


# -- the whole handover -------------------------------------------------------------------


def test_an_accepted_transfer_continues_in_the_receiving_network_with_what_the_policy_moves(
    runtime: Runtime, nets: Networks
) -> None:
    case_id = to_information_gathering(nets.world)  # criminal, assessment, special filled
    a_key = key_of(runtime, case_id)
    proposal_id = propose(nets, case_id)

    preview = as_harbour(runtime, nets, transfers.preview_transfer, proposal_id)
    assert isinstance(preview, transfers.Preview)
    assert preview.reason == REASON and preview.continues_at == "Screening"
    shown = {name: value for pairs in preview.fields.values() for name, value in pairs}
    assert shown["given_name"] == "Testy" and shown["narrative"] == "MARK-NARRATIVE"
    assert shown["screening_notes"] == "MARK-ASSESSMENT"
    # Police intelligence and the panel stay behind; special data without consent too.
    assert {"criminal", "deliberation", "special", "support"} <= set(preview.withheld)
    assert "criminal_information" not in shown and "health" not in shown
    assert "MARK-CRIMINAL" not in repr(preview) and "MARK-SPECIAL" not in repr(preview)

    accepted = as_harbour(runtime, nets, transfers.accept_transfer, DecideTransfer(proposal_id))
    assert isinstance(accepted, transfers.Accepted)
    assert accepted.state == "screening"
    assert set(accepted.moved) == {
        "status", "identity", "contact", "concern", "narrative", "assessment", "consent"
    }  # fmt: skip

    # B reads the case it received, sealed under its own subject's key.
    with UnitOfWork(runtime) as uow:
        view = read_case(uow, nets.harbour, accepted.case_id)
    assert view.state == "screening"
    assert view.fields["given_name"].value == "Testy"
    assert view.fields["narrative"].value == "MARK-NARRATIVE"
    assert view.fields["screening_notes"].value == "MARK-ASSESSMENT"
    assert view.fields["criminal_information"].value == ""
    assert view.fields["health"].value == ""
    b_key = key_of(runtime, accepted.case_id)
    assert b_key.wrapped is not None and b_key.destroyed_at is None

    # A keeps the skeleton: states and dates, and nothing of the person it can open.
    skeleton = nets.world.run("coordinator", read_case, case_id)
    assert skeleton.state == "transferred"
    assert skeleton.fields["closed_at"].value is not None
    assert skeleton.fields["given_name"].value == "erased"
    assert skeleton.fields["criminal_information"].value == "erased"
    destroyed = key_of(runtime, case_id)
    assert destroyed.id == a_key.id and destroyed.wrapped is None

    # Both networks' chains record the handover, and both verify.
    a_actions = actions_in_chain(runtime, nets.world.actors["coordinator"].network_id)
    b_actions = actions_in_chain(runtime, nets.harbour.network_id)
    assert {"transfer:propose", "transfer:disclosed", "transfer:hand_over"} <= set(a_actions)
    assert {"transfer:preview", "transfer:accept"} <= set(b_actions)
    with UnitOfWork(runtime) as uow:
        result = verify(uow.session)
        uow.session.commit()
    assert result.ok, result
    with runtime.session_factory() as session:
        proposal = session.get(TransferProposal, proposal_id)
        assert proposal is not None and proposal.status == "accepted"
        assert proposal.received_case_id == accepted.case_id
        # The proposal's reason was sealed with A's key: gone with it.
        assert proposal.reason == "erased"


def test_the_referrer_is_told_in_words_that_the_case_moved_but_not_where(
    runtime: Runtime, nets: Networks
) -> None:
    case_id = to_information_gathering(nets.world)
    proposal_id = propose(nets, case_id)
    as_harbour(runtime, nets, transfers.accept_transfer, DecideTransfer(proposal_id))
    referrer = nets.world.actors["referrer"].user_id
    with runtime.session_factory() as session:
        told = session.scalars(
            select(Notification.message).where(
                Notification.user_id == referrer, Notification.case_id == case_id
            )
        ).all()
    moved = [m for m in told if "another network's care" in m]
    assert moved, told
    assert not any("arbour" in m for m in told)


def test_consent_bound_categories_move_only_as_far_as_the_consent_covers(
    runtime: Runtime, nets: Networks
) -> None:
    meeting_id = schedule(nets.world, runtime)
    # The person consented to their support plan reaching a local authority for support,
    # and nothing about their health.
    scope = (ConsentScope(Category.SUPPORT, OrgKind.LOCAL_AUTHORITY, Purpose.SUPPORT),)
    case_id, _ = to_support(nets.world, meeting_id, scope, started=False)
    proposal_id = propose(nets, case_id)
    preview = as_harbour(runtime, nets, transfers.preview_transfer, proposal_id)
    assert isinstance(preview, transfers.Preview)
    assert "support" in preview.fields and "special" in preview.withheld
    accepted = as_harbour(runtime, nets, transfers.accept_transfer, DecideTransfer(proposal_id))
    assert isinstance(accepted, transfers.Accepted)
    assert "support" in accepted.moved and "special" not in accepted.moved
    with UnitOfWork(runtime) as uow:
        view = read_case(uow, nets.harbour, accepted.case_id)
        consent = uow.repo.current_consent(accepted.case_id)
        # The consent went with the case, its scope intact.
        assert consent is not None and consent.state == "given"
        scopes = {(s.category, s.org_kind) for s in consent.scopes}
    assert scopes == {("support", "local_authority")}
    assert view.fields["health"].value == ""  # MARK-SPECIAL stayed behind, and went with A's key


# -- the case stays where it was ----------------------------------------------------------


def test_a_declined_transfer_leaves_the_case_where_it_was(runtime: Runtime, nets: Networks) -> None:
    case_id = to_information_gathering(nets.world)
    proposal_id = propose(nets, case_id)
    with pytest.raises(InvalidInput, match="say why"):
        as_harbour(runtime, nets, transfers.decline_transfer, DecideTransfer(proposal_id, "  "))
    as_harbour(
        runtime, nets, transfers.decline_transfer, DecideTransfer(proposal_id, "No capacity.")
    )
    view = nets.world.run("coordinator", read_case, case_id)
    assert view.state == "information_gathering"
    assert view.fields["given_name"].value == "Testy"
    assert key_of(runtime, case_id).wrapped is not None
    with pytest.raises(Conflict, match="already declined"):
        as_harbour(runtime, nets, transfers.accept_transfer, DecideTransfer(proposal_id))
    # The proposer heard, and may propose again.
    with runtime.session_factory() as session:
        proposer = nets.world.actors["coordinator"].user_id
        events = session.scalars(
            select(Notification.event).where(Notification.user_id == proposer)
        ).all()
    assert "transfer:declined" in events
    assert propose(nets, case_id) != proposal_id


def test_an_unanswered_proposal_expires_on_the_clock_and_the_case_stays(
    runtime: Runtime, nets: Networks, clock: TestClock
) -> None:
    case_id = to_information_gathering(nets.world)
    proposal_id = propose(nets, case_id)
    assert transfers.expire_transfers(runtime) == 0
    clock.advance(days=30)
    report = tick(runtime)
    assert report.transfers_expired == 1
    with runtime.session_factory() as session:
        proposal = session.get(TransferProposal, proposal_id)
        assert proposal is not None and proposal.status == "expired"
    with pytest.raises(Conflict, match="already expired"):
        as_harbour(runtime, nets, transfers.accept_transfer, DecideTransfer(proposal_id))
    with UnitOfWork(runtime) as uow:
        assert transfers.incoming_transfers(uow, nets.harbour) == []
    assert nets.world.run("coordinator", read_case, case_id).state == "information_gathering"


def test_the_sender_may_withdraw_an_open_proposal(runtime: Runtime, nets: Networks) -> None:
    case_id = submit(nets.world)
    proposal_id = propose(nets, case_id)
    nets.world.run("coordinator", transfers.withdraw_transfer, DecideTransfer(proposal_id))
    with UnitOfWork(runtime) as uow:
        assert transfers.incoming_transfers(uow, nets.harbour) == []
    with pytest.raises(Conflict, match="already withdrawn"):
        as_harbour(runtime, nets, transfers.preview_transfer, proposal_id)
    assert nets.world.run("coordinator", read_case, case_id).state == "submitted"


# -- bad input and scope ------------------------------------------------------------------


def test_a_second_open_proposal_for_a_case_is_a_conflict(runtime: Runtime, nets: Networks) -> None:
    case_id = submit(nets.world)
    propose(nets, case_id)
    with pytest.raises(Conflict, match="already has an open transfer proposal") as raised:
        propose(nets, case_id)
    assert raised.value.status_code == 409


def test_transfers_go_only_to_another_known_city_network_with_a_reason(
    runtime: Runtime, nets: Networks
) -> None:
    case_id = submit(nets.world)
    with pytest.raises(InvalidInput, match="training network") as training:
        propose(nets, case_id, to="practice")
    assert training.value.status_code == 422
    with pytest.raises(InvalidInput, match="national network"):
        propose(nets, case_id, to="national")
    with pytest.raises(NotFound, match="'atlantis' not found") as unknown:
        propose(nets, case_id, to="atlantis")
    assert unknown.value.status_code == 404
    with pytest.raises(InvalidInput, match="not its own"):
        propose(nets, case_id, to="demo-city")
    with pytest.raises(InvalidInput, match="say why"):
        propose(nets, case_id, reason=" ")
    with UnitOfWork(runtime) as uow:
        count = uow.session.scalars(select(TransferProposal)).all()
    assert count == []


def test_a_closed_case_is_not_offered_a_handover(runtime: Runtime, nets: Networks) -> None:
    case_id = closed_no_action(nets.world)
    with pytest.raises(Conflict, match="cannot be handed over to another network"):
        propose(nets, case_id)


def test_the_receiving_network_sees_nothing_else_of_the_sending_one(
    runtime: Runtime, nets: Networks
) -> None:
    other_case = submit(nets.world)
    case_id = to_information_gathering(nets.world)
    proposal_id = propose(nets, case_id)
    for case in (other_case, case_id):
        with pytest.raises(NotFound), UnitOfWork(runtime) as uow:
            read_case(uow, nets.harbour, case)
    with pytest.raises(NotFound), UnitOfWork(runtime) as uow:
        transfers.preview_transfer(uow, nets.practice, proposal_id)
    # The sender cannot accept its own proposal: it is not theirs to receive.
    with pytest.raises(NotFound):
        nets.world.run("coordinator", transfers.accept_transfer, DecideTransfer(proposal_id))
    # A referrer of B may not receive cases.
    with pytest.raises(PermissionDenied), UnitOfWork(runtime) as uow:
        transfers.incoming_transfers(uow, nets.harbour_referrer)
    with UnitOfWork(runtime) as uow:
        incoming = transfers.incoming_transfers(uow, nets.harbour)
    assert [i.id for i in incoming] == [proposal_id]
    assert incoming[0].from_network == "Demo City Prevention Network"
    # After the handover, A's other cases still answer 404 to B.
    accepted = as_harbour(runtime, nets, transfers.accept_transfer, DecideTransfer(proposal_id))
    assert isinstance(accepted, transfers.Accepted)
    for case in (other_case, case_id):
        with pytest.raises(NotFound), UnitOfWork(runtime) as uow:
            read_case(uow, nets.harbour, case)
    with pytest.raises(NotFound):
        nets.world.run("coordinator", read_case, accepted.case_id)


def test_the_national_coordinator_lists_transfers_at_status_level_only(
    runtime: Runtime, nets: Networks
) -> None:
    case_id = to_information_gathering(nets.world)
    proposal_id = propose(nets, case_id)
    as_harbour(runtime, nets, transfers.accept_transfer, DecideTransfer(proposal_id))
    with UnitOfWork(runtime) as uow:
        rows = transfers.national_transfers(uow, nets.national)
    assert [(r.from_network, r.to_network, r.status, r.state) for r in rows] == [
        ("Demo City Prevention Network", "Harbour Prevention Network", "accepted",
         "Gathering information"),
    ]  # fmt: skip
    assert set(vars(rows[0])) == {
        "from_network", "to_network", "status", "state", "proposed_at", "decided_at"
    }  # fmt: skip
    with pytest.raises(PermissionDenied):
        nets.world.run("coordinator", transfers.national_transfers, 200)


def test_a_proposal_fires_the_transfer_proposed_webhook_with_ids_and_states_only(
    runtime: Runtime, nets: Networks
) -> None:
    nets.world.run(
        "admin",
        register_endpoint,
        RegisterEndpoint("https://partner.example/hook", (CASE_TRANSFER_PROPOSED,)),
    )
    case_id = submit(nets.world)
    proposal_id = propose(nets, case_id)
    with runtime.session_factory() as session:
        deliveries = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.event == CASE_TRANSFER_PROPOSED)
        ).all()
    assert len(deliveries) == 1
    payload = json.loads(deliveries[0].payload)
    assert payload.pop("occurred_at")
    assert payload == {
        "event": CASE_TRANSFER_PROPOSED,
        "network": "demo-city",
        "case_id": case_id,
        "transfer_proposal_id": proposal_id,
        "to_network_id": nets.harbour.network_id,
        "state": "submitted",
        "status": "proposed",
    }


def test_the_handover_move_is_no_bare_button(runtime: Runtime, nets: Networks) -> None:
    case_id = submit(nets.world)
    with pytest.raises(InvalidInput, match="use its own form"):
        nets.world.run("coordinator", lifecycle.move_case, lifecycle.MoveCase(case_id, "hand_over"))
    assert nets.world.run("coordinator", read_case, case_id).state == "submitted"


def test_a_case_closed_meanwhile_cannot_be_accepted(runtime: Runtime, nets: Networks) -> None:
    case_id = submit(nets.world)
    proposal_id = propose(nets, case_id)
    nets.world.run("coordinator", lifecycle.move_case, lifecycle.MoveCase(case_id, "transfer"))
    with pytest.raises(Conflict, match="cannot be handed over"):
        as_harbour(runtime, nets, transfers.accept_transfer, DecideTransfer(proposal_id))
    with runtime.session_factory() as session:
        proposal = session.get(TransferProposal, proposal_id)
        assert proposal is not None and proposal.status == "proposed"
        assert session.scalar(select(func.count()).select_from(Case)) == 1  # nothing in B


def test_the_preview_is_ledgered_per_category_in_both_chains(
    runtime: Runtime, nets: Networks
) -> None:
    case_id = to_information_gathering(nets.world)
    proposal_id = propose(nets, case_id)
    as_harbour(runtime, nets, transfers.preview_transfer, proposal_id)
    with runtime.session_factory() as session:
        entries = session.execute(
            select(AuditEntry.network_id, AuditEntry.categories, AuditEntry.rule).where(
                AuditEntry.action.in_(("transfer:preview", "transfer:disclosed"))
            )
        ).all()
    networks = {network for network, _, _ in entries}
    assert networks == {nets.harbour.network_id, nets.world.actors["coordinator"].network_id}
    for _, categories, rule in entries:
        assert set(categories.split(",")) == {
            "status", "identity", "contact", "concern", "narrative", "assessment", "consent"
        }  # fmt: skip
        body = json.loads(rule)
        assert "criminal" in body[ledger.REFUSED] and "criminal" not in body[ledger.READ]
        assert body[ledger.READ]["identity"][1:] == ["screening", "public_task"]


def test_acceptance_tells_the_senders_partners_the_case_was_transferred(
    runtime: Runtime, nets: Networks
) -> None:
    nets.world.run(
        "admin",
        register_endpoint,
        RegisterEndpoint("https://partner.example/hook", (CASE_TRANSFERRED,)),
    )
    case_id = submit(nets.world)
    proposal_id = propose(nets, case_id)
    as_harbour(runtime, nets, transfers.accept_transfer, DecideTransfer(proposal_id))
    with runtime.session_factory() as session:
        payloads = session.scalars(
            select(WebhookDelivery.payload).where(WebhookDelivery.event == CASE_TRANSFERRED)
        ).all()
    assert len(payloads) == 1
    body = json.loads(payloads[0])
    assert (body["case_id"], body["to_state"], body["trigger"]) == (
        case_id, "transferred", "hand_over"
    )  # fmt: skip
    assert "harbour" not in payloads[0]
