"""What the clock leaves on the pages: overdue requests and drift alerts in the queue."""

from collections.abc import Callable

from referral.demo import DemoWorld
from referral.domain.vocabulary import OrgKind
from referral.services import information, screening
from referral.services.timers import ClockRules, tick
from referral.services.uow import Runtime
from tests.conftest import TestClock
from tests.e2e.conftest import Browser
from tests.factories import submit


def test_queue_marks_a_case_idle_since_its_last_change_after_a_drift_alert(
    browser: Callable[..., Browser], world: DemoWorld, runtime: Runtime, clock: TestClock
) -> None:
    case_id = submit(world)  # Monday 2 March 2026
    clock.advance(days=31)
    assert "No activity since" not in browser("coordinator").get("/queue").text
    assert tick(runtime, ClockRules(drift_days=30)).alerts == 1
    page = browser("coordinator").get("/queue").text
    row = page[page.index(f'href="/cases/{case_id}"') :]
    assert '<span class="tag tag-idle">No activity since 2 Mar 2026</span>' in row


def test_queue_counts_a_cases_overdue_information_requests(
    browser: Callable[..., Browser], world: DemoWorld, runtime: Runtime, clock: TestClock
) -> None:
    case_id = submit(world)
    world.run("screener", screening.start_screening, screening.StartScreening(case_id))
    world.run(
        "coordinator",
        screening.record_screening_outcome,
        screening.RecordScreeningOutcome(case_id, "gather_information"),
    )
    agencies = (world.org_ids[OrgKind.HEALTH], world.org_ids[OrgKind.EDUCATION])
    command = information.SendInformationRequests(case_id, agencies, "Known?")
    world.run("coordinator", information.send_information_requests, command)
    clock.advance(days=14)
    assert "information requests overdue" not in browser("coordinator").get("/queue").text
    assert tick(runtime, ClockRules(drift_days=0)).fired == 2
    page = browser("coordinator").get("/queue").text
    row = page[page.index(f'href="/cases/{case_id}"') :]
    assert '<span class="tag tag-overdue">2 information requests overdue</span>' in row
