"""The case page's history looks back a bounded window: however often the viewer has read
a case themselves, drawing its page costs the same, and older entries stay in the full
history."""

from referral.audit import chain
from referral.audit.chain import AuditRecord
from referral.services import timeline
from referral.services.uow import Runtime, UnitOfWork
from tests.factories import make_world, submit


def _queue(uow: UnitOfWork, records: list[AuditRecord]) -> None:
    rows = [
        chain.queued_row(record, now=uow.now, request_id="t", policy_hash="p") for record in records
    ]
    chain.queue(uow.session, rows)


def test_the_case_page_history_reads_a_bounded_window(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = submit(world)
    coordinator, referrer = world.actors["coordinator"], world.actors["referrer"]
    own_read = AuditRecord(action="case:read", allowed=True, actor=coordinator, case_id=case_id)
    others_read = AuditRecord(action="case:read", allowed=True, actor=referrer, case_id=case_id)
    with UnitOfWork(runtime) as uow:
        # The referrer's read, then more of the coordinator's own reads than the window.
        _queue(uow, [others_read, *[own_read] * (timeline.RECENT_WINDOW + 5)])
        uow.commit()
    with UnitOfWork(runtime) as uow:
        case = uow.scoped(coordinator).repo.case(case_id)
        assert case is not None
        recent = timeline.entries_for(uow, case, coordinator)
        everything = timeline.entries_for(uow, case, coordinator, everything=True, limit=10_000)
    # Every entry of the window is the coordinator's own read: the page shows none of
    # them, and nothing older than the window (the submission, the referrer's read).
    assert recent.entries == []
    actions = [(e.action, e.actor_role) for e in everything.entries]
    assert ("case:read", "referrer") in actions
    assert ("case:submit", "referrer") in actions
    assert len(everything.entries) >= timeline.RECENT_WINDOW + 7


def test_within_the_window_only_the_viewers_own_reads_are_left_out(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = submit(world)
    coordinator, referrer = world.actors["coordinator"], world.actors["referrer"]
    records = [
        AuditRecord(action="case:read", allowed=True, actor=coordinator, case_id=case_id),
        AuditRecord(action="case:read", allowed=True, actor=referrer, case_id=case_id),
        AuditRecord(action="case:read", allowed=True, actor=coordinator, case_id=case_id),
    ]
    with UnitOfWork(runtime) as uow:
        _queue(uow, records)
        uow.commit()
    with UnitOfWork(runtime) as uow:
        case = uow.scoped(coordinator).repo.case(case_id)
        assert case is not None
        page = timeline.entries_for(uow, case, coordinator)
    actions = [(e.action, e.actor_role) for e in page.entries]
    assert actions[0] == ("case:read", "referrer")  # newest first, own reads skipped
    assert ("case:submit", "referrer") in actions
    assert all(role != "coordinator" or a != "case:read" for a, role in actions)
