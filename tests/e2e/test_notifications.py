"""Notices over HTTP: the bell's count on every page, the list, mark read (CSRF-protected),
and someone else's notice answering 404."""

import re
from collections.abc import Callable

from sqlalchemy import select

from referral.db.tables import Notification
from referral.demo import DemoWorld
from referral.services import screening
from referral.services.uow import Runtime
from tests.e2e.conftest import Browser
from tests.factories import reference_of, submit

Browse = Callable[..., Browser]
BELL = re.compile(
    r'<a href="/notifications" class="bell"[^>]*>.*?Notifications '
    r'<span class="bell-count[^"]*">\((\d+) unread\)</span></a>',
    re.S,
)


def bell(html: str) -> int:
    match = BELL.search(html)
    assert match, "page has no notifications link"
    return int(match.group(1))


def notice_ids(runtime: Runtime, username_id: int) -> list[int]:
    with runtime.session_factory() as session:
        return list(
            session.scalars(
                select(Notification.id)
                .where(Notification.user_id == username_id)
                .order_by(Notification.id)
            )
        )


def test_the_bell_shows_the_unread_count_on_every_page(browser: Browse, world: DemoWorld) -> None:
    coordinator = browser("coordinator")
    assert bell(coordinator.get("/queue").text) == 0
    first, second = submit(world), submit(world)
    for path in ("/queue", "/account", f"/cases/{first}", "/meetings", "/notifications"):
        response = coordinator.get(path)
        assert response.status_code == 200, path
        assert bell(response.text) == 2, path
    # The referrer's own receipts, and nothing of the coordinator's.
    referrer = browser("referrer")
    assert bell(referrer.get("/referrals").text) == 2
    world.run("screener", screening.start_screening, screening.StartScreening(second))
    assert bell(referrer.get("/referrals").text) == 3
    assert bell(coordinator.get("/queue").text) == 2


def test_signed_out_pages_have_no_bell_and_the_list_needs_sign_in(browser: Browse) -> None:
    anonymous = browser()
    assert 'href="/notifications"' not in anonymous.get("/login").text
    response = anonymous.get("/notifications", follow_redirects=False)
    assert response.status_code in (302, 303, 307)
    assert response.headers["location"].endswith("/login")


def test_the_list_shows_each_notice_with_its_link_and_state_in_words(
    browser: Browse, world: DemoWorld
) -> None:
    case_id = submit(world)
    page = browser("referrer").get("/notifications").text
    assert f"Referral {reference_of(world.runtime, case_id)}: received" in page
    assert f'<a href="/cases/{case_id}"' in page
    assert '<span class="tag">Unread</span>' in page
    assert "Mark all read" in page
    assert 'aria-current="page"' in page
    assert "Testy" not in page
    assert "MARK-NARRATIVE" not in page


def test_mark_read_needs_the_csrf_token_and_lowers_the_count(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    submit(world)
    submit(world)
    coordinator = browser("coordinator")
    coordinator.get("/notifications")
    first, _ = notice_ids(runtime, world.actors["coordinator"].user_id)
    forged = coordinator.client.post(
        f"/notifications/{first}/read", data={"_csrf": "forged"}, follow_redirects=False
    )
    assert forged.status_code == 403
    assert bell(coordinator.get("/notifications").text) == 2
    response = coordinator.post(f"/notifications/{first}/read")
    assert response.status_code == 303
    assert response.headers["location"] == "/notifications"
    page = coordinator.get("/notifications").text
    assert bell(page) == 1
    assert '<span class="tag">Read</span>' in page
    assert coordinator.post("/notifications/read").status_code == 303
    page = coordinator.get("/notifications").text
    assert bell(page) == 0
    assert "Mark all read" not in page
    assert "Mark read" not in page


def test_someone_elses_notice_answers_404_and_stays_unread(
    browser: Browse, world: DemoWorld, runtime: Runtime
) -> None:
    submit(world)
    theirs = notice_ids(runtime, world.actors["coordinator"].user_id)[0]
    referrer = browser("referrer")
    referrer.get("/notifications")
    assert referrer.post(f"/notifications/{theirs}/read").status_code == 404
    assert referrer.post("/notifications/999999/read").status_code == 404
    assert bell(browser("coordinator").get("/queue").text) == 1
