"""The transfer pages over HTTP: each bad input answers a clear 4xx, nothing else of the
sending network answers anything but 404, and the handover goes through end to end."""

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from referral.db.tables import TransferProposal
from referral.demo import DemoWorld
from referral.services.uow import Runtime, UnitOfWork
from tests.e2e.conftest import Api, Browser, _hash
from tests.factories import closed_no_action, submit, to_information_gathering
from tests.transfer_world import Networks, make_networks

Browse = Callable[..., Browser]
NOT_FOUND = "There is nothing at this address, or you may not see it."


@pytest.fixture
def nets(runtime: Runtime, world: DemoWorld) -> Networks:
    return make_networks(runtime, world, _hash())


def proposals(runtime: Runtime) -> int:
    with UnitOfWork(runtime) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(TransferProposal)) or 0)


def test_proposing_answers_each_bad_input_clearly_and_saves_nothing(
    browser: Browse, world: DemoWorld, nets: Networks, runtime: Runtime
) -> None:
    case_id = submit(world)
    b = browser("coordinator")
    page = b.get(f"/cases/{case_id}")
    assert "Hand over to another network" in page.text and "Harbour Prevention Network" in page.text
    assert "Practice Network" not in page.text  # a training network is not offered

    blank = b.post(f"/cases/{case_id}/transfer", {"to_network": "", "reason": ""})
    assert blank.status_code == 422 and "Nothing was saved" in blank.text
    training = b.post(f"/cases/{case_id}/transfer", {"to_network": "practice", "reason": "Moved."})
    assert training.status_code == 422 and "training network" in training.text
    unknown = b.post(f"/cases/{case_id}/transfer", {"to_network": "atlantis", "reason": "Moved."})
    assert unknown.status_code == 404
    assert proposals(runtime) == 0

    made = b.post(f"/cases/{case_id}/transfer", {"to_network": "harbour", "reason": "Moved."})
    assert (
        made.status_code == 303 and made.headers["location"] == f"/cases/{case_id}?done=hand_over"
    )
    again = b.post(f"/cases/{case_id}/transfer", {"to_network": "harbour", "reason": "Moved."})
    assert again.status_code == 409 and "already has an open transfer proposal" in again.text
    assert proposals(runtime) == 1


def test_a_closed_case_offers_no_handover_and_refuses_one(
    browser: Browse, world: DemoWorld, nets: Networks
) -> None:
    case_id = closed_no_action(world)
    b = browser("coordinator")
    assert "Hand over to another network" not in b.get(f"/cases/{case_id}").text
    refused = b.post(f"/cases/{case_id}/transfer", {"to_network": "harbour", "reason": "Moved."})
    assert refused.status_code == 409 and "cannot be handed over" in refused.text


def test_the_receiving_coordinator_previews_declines_with_a_reason_or_accepts(
    browser: Browse, world: DemoWorld, nets: Networks
) -> None:
    case_id = to_information_gathering(world)
    sender = browser("coordinator")
    sender.get(f"/cases/{case_id}")
    sender.post(f"/cases/{case_id}/transfer", {"to_network": "harbour", "reason": "Moved."})

    receiver = browser("harbour-coordinator")
    listing = receiver.get("/transfers")
    assert listing.status_code == 200 and "Demo City Prevention Network" in listing.text
    proposal_id = int(listing.text.split('href="/transfers/')[1].split('"')[0])
    preview = receiver.get(f"/transfers/{proposal_id}")
    assert preview.status_code == 200
    assert "MARK-NARRATIVE" in preview.text and "MARK-CRIMINAL" not in preview.text
    assert receiver.get(f"/cases/{case_id}").status_code == 404
    # Another network's coordinator, and the sender, find nothing at the preview's address.
    outsider = browser("practice-coordinator")
    assert outsider.get(f"/transfers/{proposal_id}").status_code == 404
    assert sender.get(f"/transfers/{proposal_id}").status_code == 404

    receiver.get(f"/transfers/{proposal_id}")
    blank = receiver.post(f"/transfers/{proposal_id}/decline", {"reason": " "})
    assert blank.status_code == 422 and "say why" in blank.text
    accepted = receiver.post(f"/transfers/{proposal_id}/accept")
    assert accepted.status_code == 303
    new_case = accepted.headers["location"]
    shown = receiver.get(new_case)
    assert shown.status_code == 200 and "MARK-NARRATIVE" in shown.text
    assert sender.get(new_case).status_code == 404
    again = receiver.post(f"/transfers/{proposal_id}/accept")
    assert again.status_code == 409


def test_the_national_page_lists_transfers_by_network_names_only(
    browser: Browse, world: DemoWorld, nets: Networks
) -> None:
    case_id = to_information_gathering(world)
    sender = browser("coordinator")
    sender.get(f"/cases/{case_id}")
    sender.post(f"/cases/{case_id}/transfer", {"to_network": "harbour", "reason": "MARK-REASON"})
    national = browser("national-lead")
    page = national.get("/transfers")
    assert page.status_code == 200 and "Transfers between networks" in page.text
    assert "Demo City Prevention Network" in page.text and "Harbour Prevention Network" in page.text
    assert "MARK" not in page.text and f"/cases/{case_id}" not in page.text
    # A referrer may not list transfers at all.
    referrer = browser("referrer")
    assert referrer.get("/transfers").status_code == 403


def test_the_json_api_proposes_previews_and_accepts_with_clear_errors(
    api: Api, world: DemoWorld, nets: Networks
) -> None:
    world.actors["harbour-coordinator"] = nets.harbour
    world.actors["national-lead"] = nets.national
    case_id = to_information_gathering(world)
    url = f"/api/cases/{case_id}/transfers"
    for network, status in (("practice", 422), ("national", 422), ("nowhere", 404)):
        refused = api.post("coordinator", url, {"to_network": network, "reason": "x"})
        assert refused.status_code == status, refused.text
    assert api.post("coordinator", url, {"to_network": "harbour"}).status_code == 400
    made = api.post("coordinator", url, {"to_network": "harbour", "reason": "Moved."})
    assert made.status_code == 201, made.text
    proposal_id = made.json()["id"]
    second = api.post("coordinator", url, {"to_network": "harbour", "reason": "Moved."})
    assert second.status_code == 409 and "open transfer proposal" in second.json()["message"]

    assert [t["id"] for t in api.get("harbour-coordinator", "/api/transfers").json()] == [
        proposal_id
    ]
    preview = api.get("harbour-coordinator", f"/api/transfers/{proposal_id}").json()
    assert "criminal" in preview["withheld"] and "narrative" in preview["fields"]
    assert api.get("coordinator", f"/api/transfers/{proposal_id}").status_code == 404
    accepted = api.post("harbour-coordinator", f"/api/transfers/{proposal_id}/accept")
    assert accepted.status_code == 200 and accepted.json()["state"] == "screening"
    new_case = accepted.json()["case_id"]
    assert api.get("harbour-coordinator", f"/api/cases/{new_case}").status_code == 200
    assert api.get("coordinator", f"/api/cases/{new_case}").status_code == 404
    rows = api.get("national-lead", "/api/transfers/national").json()
    assert [r["status"] for r in rows] == ["accepted"] and "case_id" not in rows[0]
