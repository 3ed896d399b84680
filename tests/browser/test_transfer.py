"""A transfer between two city networks in a real browser (issue 12's proof): a
coordinator in city A proposes a handover; the coordinator in city B sees only what the
policy allows and accepts; the case continues in B, A keeps the skeleton, and both
networks' audit chains verify. Every page is checked with axe-core."""

import re

import pytest
from playwright.sync_api import Browser, expect

from referral.audit.chain import chain_of
from referral.audit.verify import verify
from referral.demo import DEMO_PASSWORD, DemoWorld
from referral.security import hash_password
from referral.services.uow import UnitOfWork
from tests.browser.conftest import Visit, new_page, sign_in
from tests.factories import submit, to_information_gathering
from tests.transfer_world import make_networks

pytestmark = pytest.mark.browser


def test_a_case_is_handed_over_to_another_city_and_continues_there(
    live_world: tuple[str, DemoWorld], chromium: Browser, visit: Visit
) -> None:
    base_url, world = live_world
    nets = make_networks(world.runtime, world, hash_password(DEMO_PASSWORD))
    other_case = submit(world)
    case_id = to_information_gathering(world)  # criminal, special, assessment filled

    # City A's coordinator proposes the handover from the case page.
    sender = new_page(chromium, base_url)
    sign_in(sender, "coordinator")
    sender.goto(f"/cases/{case_id}")
    form = sender.locator("#form-hand_over")
    expect(form.get_by_role("heading", name="Hand over to another network")).to_be_visible()
    form.get_by_role("button", name="Propose the handover").click()
    expect(sender.locator("#form-hand_over .error-summary")).to_be_visible()
    visit.check(sender)
    form = sender.locator("#form-hand_over")
    form.get_by_label("Receiving network").select_option(label="Harbour Prevention Network")
    form.get_by_label("Reason").fill("The family moved to Harbour.")
    form.get_by_role("button", name="Propose the handover").click()
    expect(sender).to_have_url(re.compile(rf"/cases/{case_id}(\?done=\w+)?$"))
    visit.check(sender)

    # City B's coordinator finds it among incoming transfers and previews it.
    receiver = new_page(chromium, base_url)
    sign_in(receiver, "harbour-coordinator")
    receiver.goto("/transfers")
    expect(receiver.get_by_role("heading", name="Incoming transfers")).to_be_visible()
    visit.check(receiver)
    receiver.get_by_role("link", name=re.compile(r"Transfer \d+")).click()
    body = receiver.locator("main")
    expect(body).to_contain_text("Testy")
    expect(body).to_contain_text("MARK-NARRATIVE")
    expect(body).to_contain_text("MARK-ASSESSMENT")
    expect(receiver.locator("#transfer-reason")).to_have_text("The family moved to Harbour.")
    # Police intelligence and, without consent, special category data stay behind.
    assert "MARK-CRIMINAL" not in body.inner_text()
    assert "MARK-SPECIAL" not in body.inner_text()
    expect(receiver.locator("#withheld")).to_contain_text("Criminal")
    expect(receiver.locator("#withheld")).to_contain_text("Special")
    visit.check(receiver)
    # Nothing else of city A: its cases answer 404, the proposed one included.
    for case in (other_case, case_id):
        response = receiver.goto(f"/cases/{case}")
        assert response is not None and response.status == 404
    receiver.go_back()
    receiver.goto("/transfers")
    receiver.get_by_role("link", name=re.compile(r"Transfer \d+")).click()
    receiver.get_by_role("button", name="Accept the transfer").click()

    # The case continues in B at the state the workflow maps, with what moved.
    expect(receiver).to_have_url(re.compile(r"/cases/\d+(\?done=\w+)?$"))
    new_case = int(receiver.url.rsplit("/", 1)[1])
    assert new_case != case_id
    expect(receiver.locator("main")).to_contain_text("Screening")
    expect(receiver.locator("main")).to_contain_text("Testy")
    assert "MARK-CRIMINAL" not in receiver.locator("main").inner_text()
    visit.check(receiver)

    # A keeps the skeleton: transferred, dates kept, the person's data no longer readable.
    sender.goto(f"/cases/{case_id}")
    main = sender.locator("main")
    expect(main).to_contain_text("Transferred")
    assert "Testy" not in main.inner_text() and "MARK-NARRATIVE" not in main.inner_text()
    visit.check(sender)
    response = sender.goto(f"/cases/{new_case}")
    assert response is not None and response.status == 404

    # Both networks' chains hold the handover, and verify.
    with UnitOfWork(world.runtime) as uow:
        result = verify(uow.session)
        uow.session.commit()
    assert result.ok, result
    a_chain = chain_of(world.actors["coordinator"].network_id)
    b_chain = chain_of(nets.harbour.network_id)
    assert result.head(a_chain).seq > 0 and result.head(b_chain).seq > 0
    assert not sender.console_errors and not receiver.console_errors  # type: ignore[attr-defined]
