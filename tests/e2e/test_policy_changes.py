"""The dpo's preview and approval of a proposed policy, and the migration dry run, through
the pages (issue 14). The live policy is a copy: applying it changes that copy only."""

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from referral.db.tables import AuditEntry
from referral.demo import DemoWorld
from referral.services.uow import Runtime
from tests.e2e.conftest import Browser
from tests.factories import submit
from tests.integration.test_workflow_migration import CURRENT, NEXT, load_current_and_next

CRIMINAL = "p, coordinator, *, criminal, read, !in_state(draft), screening, crime_prevention, allow"


def test_a_dpo_previews_who_loses_what_then_approves_it(
    browser: Callable[..., Browser], world: DemoWorld, runtime: Runtime, live: Path
) -> None:
    case_id = submit(world)
    dpo = browser("dpo")
    form = dpo.get("/policy/impact")
    assert form.status_code == 200 and CRIMINAL in form.text  # the policy in force, to edit
    proposal = (live / "default.csv").read_text(encoding="utf-8").replace(CRIMINAL + "\n", "")

    preview = dpo.post("/policy/impact", {"policy": proposal})
    assert preview.status_code == 200, preview.text
    gained, lost = preview.text.split("Who would gain access</h3>")[1].split("Who would lose", 1)
    assert "criminal (read)" in lost and f'href="/cases/{case_id}"' in lost
    assert "<p>Nobody.</p>" in gained
    assert (live / "default.csv").read_text(encoding="utf-8").count(CRIMINAL) == 1  # unchanged

    expected = preview.text.split('name="expected_hash" value="')[1].split('"')[0]
    applied = dpo.post("/policy/apply", {"policy": proposal, "expected_hash": expected})
    assert (
        applied.status_code == 303 and applied.headers["location"] == "/policy/impact?done=applied"
    )
    assert CRIMINAL not in (live / "default.csv").read_text(encoding="utf-8")
    assert runtime.authz.policy_hash == expected
    with runtime.session_factory() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "policy:apply")).one()
    assert entry.actor_role == "dpo" and entry.allowed


def test_a_broken_proposal_names_its_line_and_only_a_dpo_may_see_or_apply(
    browser: Callable[..., Browser], live: Path
) -> None:
    dpo = browser("dpo")
    dpo.get("/policy/impact")
    broken = dpo.post("/policy/impact", {"policy": "p, provider, *, support, read\n"})
    assert broken.status_code == 422
    assert "default.csv: line 1:" in broken.text and str(live) not in broken.text
    before = (live / "default.csv").read_bytes()
    stale = dpo.post("/policy/apply", {"policy": "# nothing\n", "expected_hash": "0" * 64})
    assert stale.status_code == 409 and (live / "default.csv").read_bytes() == before
    coordinator = browser("coordinator")
    assert coordinator.get("/policy/impact").status_code == 403
    refused = coordinator.post("/policy/impact", {"policy": "# nothing\n"})
    assert refused.status_code == 403


def test_a_coordinator_sees_the_migration_dry_run_of_their_network(
    browser: Callable[..., Browser], world: DemoWorld, runtime: Runtime, tmp_path: Path
) -> None:
    case_id = submit(world)
    load_current_and_next(runtime, tmp_path)
    coordinator = browser("coordinator")
    page = coordinator.get("/workflows/migrate")
    assert page.status_code == 200 and f"{CURRENT}, {NEXT}" in page.text
    versions = f"workflow=referral&from={CURRENT}&to={NEXT}"
    dry = coordinator.get(f"/workflows/migrate?{versions}&map=support%3Dsupport_planned")
    assert dry.status_code == 200, dry.text
    assert (
        "1 case(s) would move, 0 would stay" in dry.text and f'href="/cases/{case_id}"' in dry.text
    )
    bad = coordinator.get(f"/workflows/migrate?{versions}&map=nowhere%3Dnothing")
    assert bad.status_code == 422 and f"version {NEXT} has no state" in bad.text
    assert browser("referrer").get(f"/workflows/migrate?{versions}").status_code == 403
