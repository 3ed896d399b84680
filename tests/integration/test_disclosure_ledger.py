"""Invariant 8: every disclosure is ledgered per category with the purpose and basis of the
rule that disclosed it; every category withheld, with what refused it. One read, one
entry; the subject access bundle, the access report and the case history say it in words.
"""

from pathlib import Path

import pytest
from sqlalchemy import select

from referral.audit import ledger
from referral.audit.chain import GENESIS_HASH, AuditRecord, chain_of
from referral.audit.fastwalk import fast_walk
from referral.audit.verify import verify
from referral.authz.enforcer import Authorizer
from referral.db.tables import AuditEntry
from referral.demo import DemoWorld
from referral.domain.vocabulary import OrgKind, Role
from referral.services import access_report, breakglass, timeline
from referral.services.referrals import read_case
from referral.services.subject_export import export_subject
from referral.services.uow import Runtime, UnitOfWork
from referral.web.subject_bundle import bundle_html
from referral.web.templating import state_labeller
from tests.factories import add_user, make_world, schedule, subject_of, submit, to_support

CRIMINAL_WORDS = "read criminal information for screening, legal basis: crime prevention"
IDENTITY_WORDS = "read identity information for screening, legal basis: public task"


@pytest.fixture
def world(runtime: Runtime) -> DemoWorld:
    world = make_world(runtime)
    add_user(runtime, world, "police_panel", OrgKind.POLICE, Role.PANEL_MEMBER)
    return world


def read(runtime: Runtime, world: DemoWorld, who: str, case_id: int) -> AuditEntry:
    """Read the case as `who`; the one case:read entry that read wrote."""
    with UnitOfWork(runtime) as uow:
        read_case(uow, world.actors[who], case_id)
    with runtime.session_factory() as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.case_id == case_id, AuditEntry.action == "case:read")
            .order_by(AuditEntry.id.desc())
        ).all()
    assert entries and entries[0].actor_user_id == world.actors[who].user_id
    return entries[0]


def per_category(entry: AuditEntry) -> dict[str, ledger.Disclosure]:
    found = ledger.disclosures(
        entry.categories.split(","), entry.allowed, entry.rule, entry.purpose, entry.legal_basis
    )
    assert all(len(d.categories) == 1 for d in found)
    return {d.categories[0]: d for d in found}


def policy_line(authz: Authorizer, ref: str) -> str:
    """The policy line a rule id names, read from the file it names."""
    name, number = ref.split(":")
    lines = (Path(authz.policy_dir) / name).read_text(encoding="utf-8").splitlines()
    return lines[int(number) - 1]


def test_a_coordinators_read_ledgers_criminal_data_under_the_criminal_rules_basis(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id = submit(world)
    entry = read(runtime, world, "coordinator", case_id)
    decisions = per_category(entry)
    criminal, identity = decisions["criminal"], decisions["identity"]
    assert criminal.allowed and (criminal.purpose, criminal.legal_basis) == (
        "screening",
        "crime_prevention",
    )
    assert policy_line(runtime.authz, criminal.rule).startswith("p, coordinator, *, criminal, read")
    assert identity.allowed and (identity.purpose, identity.legal_basis) == (
        "screening",
        "public_task",
    )
    assert policy_line(runtime.authz, identity.rule).startswith("p, coordinator, *, identity, read")
    assert decisions["deliberation"].purpose == "panel"
    # The columns hold only what every category shown shares: here, nothing.
    assert (entry.purpose, entry.legal_basis) == ("", "")
    assert entry.allowed and set(entry.categories.split(",")) == set(decisions)


def test_one_read_is_one_entry(runtime: Runtime, world: DemoWorld) -> None:
    case_id = submit(world)
    with runtime.session_factory() as session:
        before = session.scalars(select(AuditEntry.id).where(AuditEntry.case_id == case_id)).all()
    read(runtime, world, "coordinator", case_id)
    with runtime.session_factory() as session:
        after = session.scalars(select(AuditEntry.id).where(AuditEntry.case_id == case_id)).all()
    assert len(after) == len(before) + 1


def test_a_log_of_reads_ledgered_per_category_verifies_in_both_walks(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id = submit(world)
    for who in ("coordinator", "referrer", "screener"):
        read(runtime, world, who, case_id)
    with runtime.session_factory() as session:
        result = verify(session, batch_size=3)
        assert result.ok, result.problem
        network_chain = chain_of(world.actors["coordinator"].network_id)
        head = result.head(network_chain)
        # The database renders the JSON in `rule` as the hash was computed: the fast walk
        # vouches for every entry, the per-category reads included.
        assert fast_walk(session, network_chain, 0, GENESIS_HASH, 3) == (head.seq, head.hash)


def test_a_category_refused_by_a_deny_rule_is_ledgered_with_that_rule(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id, _ = to_support(world, schedule(world, runtime, "police_panel"))
    entry = read(runtime, world, "provider", case_id)
    decisions = per_category(entry)
    narrative = decisions["narrative"]
    assert not narrative.allowed
    assert policy_line(runtime.authz, narrative.rule) == (
        "p, provider, *, narrative, read, true, -, -, deny"
    )
    assert "narrative" not in entry.categories.split(",")
    assert decisions["support"].allowed and decisions["support"].legal_basis == "consent"
    # Every category the provider was shown is shown for support, on the basis of consent.
    assert (entry.purpose, entry.legal_basis) == ("support", "consent")


def test_a_category_no_rule_allows_is_ledgered_as_refused_by_no_rule(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id = submit(world)
    decisions = per_category(read(runtime, world, "referrer", case_id))
    assert decisions["special"] == ledger.Disclosure(("special",), False, "")
    assert decisions["criminal"] == ledger.Disclosure(("criminal",), False, "")
    assert decisions["narrative"].allowed


def test_a_category_opened_by_break_glass_is_ledgered_by_its_own_entry_not_as_refused(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id = submit(world)
    command = breakglass.OpenBreakGlass(case_id, "special", "Risk to life reported by phone.", 30)
    world.run("dpo", breakglass.open_break_glass, command)
    decisions = per_category(read(runtime, world, "dpo", case_id))
    assert "special" not in decisions
    assert not decisions["criminal"].allowed  # still hidden, still ledgered as refused


def test_the_subject_access_bundle_says_each_category_read_in_words(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id = submit(world)
    read(runtime, world, "coordinator", case_id)
    read(runtime, world, "referrer", case_id)
    with UnitOfWork(runtime) as uow:
        bundle = export_subject(uow, world.actors["dpo"], subject_of(runtime, case_id))
    coordinator_read, referrer_read = [a for a in bundle.accesses if a.action == "case:read"][-2:]
    assert CRIMINAL_WORDS in coordinator_read.disclosed
    assert IDENTITY_WORDS in coordinator_read.disclosed
    assert "refused special information: no rule allows it here" in referrer_read.disclosed
    html = bundle_html(bundle, state_labeller(runtime.workflows))
    assert f"<li>{CRIMINAL_WORDS}</li>" in html
    assert "criminal default.csv:" in html  # the rule column names rules by file and line
    assert '{"read"' not in html


def test_the_access_report_says_each_category_read_in_words(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id, _ = to_support(world, schedule(world, runtime, "police_panel"))
    read(runtime, world, "coordinator", case_id)
    read(runtime, world, "provider", case_id)
    query = access_report.ReportQuery(access_report.Subject.CASE, case_id)
    with UnitOfWork(runtime) as uow:
        report = access_report.access_report(uow, world.actors["dpo"], query)
    reads = [r.entry for r in report.rows if r.entry.action == "case:read"]
    provider_read, coordinator_read = reads[:2]  # newest first
    assert CRIMINAL_WORDS in coordinator_read.disclosed
    assert (
        "refused narrative information: a rule of the sharing agreement refuses it"
        in provider_read.disclosed
    )
    assert "read support information for support, legal basis: consent" in (provider_read.disclosed)


def test_the_case_history_says_each_category_read_in_words(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id = submit(world)
    read(runtime, world, "referrer", case_id)
    with UnitOfWork(runtime) as uow:
        page = timeline.case_history(
            uow, world.actors["coordinator"], timeline.ReadHistory(case_id)
        )
    assert page is not None
    referrer_read = next(e for e in page.entries if e.action == "case:read")
    assert IDENTITY_WORDS in referrer_read.disclosed
    assert "refused criminal information: no rule allows it here" in referrer_read.disclosed
    assert not any("default.csv" in line or "p, " in line for line in referrer_read.disclosed)


def test_a_read_ledgered_before_the_change_stays_readable_with_its_one_purpose(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id = submit(world)
    older = AuditRecord(
        action="case:read",
        allowed=True,
        actor=world.actors["coordinator"],
        case_id=case_id,
        categories=("status", "criminal"),
        rule="p, coordinator, *, status, read, !in_state(draft), screening, public_task, allow",
        purpose="screening",
        legal_basis="public_task",
    )
    with UnitOfWork(runtime) as uow:
        uow.audit(older)
        uow.commit()
    with UnitOfWork(runtime) as uow:
        bundle = export_subject(uow, world.actors["dpo"], subject_of(runtime, case_id))
    (legacy,) = [a for a in bundle.accesses if a.action == "case:read"]
    assert legacy.disclosed == [
        "read status and criminal information for screening, legal basis: public task"
    ]
    assert legacy.rule.startswith("p, coordinator")
