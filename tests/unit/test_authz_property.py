"""The cached, sharded Authorizer decides as plain Casbin does over the whole policy.

Plain Casbin here is one `casbin.Enforcer` over the same model and every rule, in
file order, with no sharding and no cache: the judge the Authorizer must agree with.
"""

import random
import shutil
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import casbin
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from referral.authz.conditions import Question
from referral.authz.enforcer import CATEGORY_ACTIONS, Authorizer, Decision, Permission
from referral.authz.enforcer import _has_role as has_role
from referral.authz.enforcer import _holds as holds
from referral.domain.actors import Actor
from referral.domain.facts import CaseFacts, ConsentScope, MeetingSlot, RecordFacts
from referral.domain.vocabulary import Category, OrgKind, Purpose, Role

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "policies"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ME, OTHER, MY_ORG, OTHER_ORG = 1, 2, 10, 11
NETWORK_IDS = {"north": 1, "south": 2, "elsewhere": 3}
WORKFLOW = yaml.safe_load((ROOT / "workflows/referral.yaml").read_text(encoding="utf-8"))
STATES = tuple(state["name"] for state in WORKFLOW["states"])
CONSENT_STATES = ("not_sought", "requested", "given", "refused", "withdrawn", "expired")
ACTIONS = (
    *((str(c), act) for c in Category for act in CATEGORY_ACTIONS),
    *(tuple(str(p).split(":")) for p in Permission),
)
BATCH, EXAMPLES = 100, 100  # 10,000 questions, each asked twice of the Authorizer
BOOLS = (False, True)

# Rules of two networks over the shipped `*` rules: allows, denies, an allow that a
# shared deny outweighs, and every condition, so sharding by network has work to do.
NETWORK_RULES = """\
p, dpo, north, identity, read, in_state(support, review), audit, legal_obligation, allow
p, provider, north, narrative, read, assigned & consent_covers, support, consent, allow
p, referrer, north, case, submit, in_state(draft) & own_referral, screening, public_task, allow
p, analyst, north, statistics, read, in_state(draft), -, -, deny
p, coordinator, south, criminal, read, in_state(closed, exited) | coordinates, -, -, deny
p, panel_member, south, special, read, on_agenda | coordinates, panel, public_task, allow
p, screener, south, intervention, assign, !consent_given & org_kind_in(police), screening, \
crime_prevention, allow
p, provider, south, support, read, !assigned, -, -, deny
p, panel_member, north, identity, read, on_agenda & consent_covers_any, panel, consent, allow
p, panel_member, north, concern, read, consent_covers(support), panel, consent, allow
p, provider, north, status, read, !consent_covers, -, -, deny
"""  # fmt: skip


def write_policy(root: Path, extra: str = NETWORK_RULES) -> Path:
    directory = root / "policies"
    directory.mkdir(exist_ok=True)
    shutil.copy(SHIPPED / "model.conf", directory / "model.conf")
    shutil.copy(SHIPPED / "default.csv", directory / "default.csv")
    (directory / "networks.csv").write_text(extra, encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_policy(tmp_path_factory.mktemp("property"))


def plain_casbin(authz: Authorizer, policy_dir: Path) -> Any:
    """One enforcer over every rule of `authz`, in file order: no shards, no cache."""
    model = casbin.Enforcer.new_model(text=(policy_dir / "model.conf").read_text())
    enforcer = casbin.Enforcer(model)
    enforcer.add_function("has_role", has_role)
    enforcer.add_function("holds", holds)
    enforcer.add_named_policies("p", [list(rule.fields) for rule in authz.rules])
    return enforcer


# One description of the question space, read by two choosers: Hypothesis draws one
# question per example (shrinkable), a seeded Random the rest of the batch (fast).
Pick = Callable[[Sequence[Any]], Any]
DAYS_AFTER_MEETING = (-9.0, -7.0, -3.0, 0.0, 2.5, 7.0, 8.0)
ROLE_OR_NONE = (None, *Role)


def make_question(pick: Pick) -> Question:
    network = pick(sorted(NETWORK_IDS))
    roles = frozenset(r for r in (pick(ROLE_OR_NONE) for _ in range(3)) if r is not None)
    actor = Actor(ME, MY_ORG, pick(tuple(OrgKind)), NETWORK_IDS[network], network, roles)
    obj, act = pick(ACTIONS)
    return Question(actor, make_facts(pick, actor), obj, act, NOW, pick(RECORDS))


# The record a question is about: none, an intervention of the actor's organisation
# (live or withdrawn), another organisation's, or a record without a provider.
RECORDS = (
    None,
    None,
    RecordFacts("intervention", 5, MY_ORG, True),
    RecordFacts("intervention", 5, MY_ORG, False),
    RecordFacts("intervention", 6, OTHER_ORG, True),
    RecordFacts("review", 7, None, True),
)


def make_facts(pick: Pick, actor: Actor) -> CaseFacts | None:
    if pick(range(10)) == 0:
        return None  # a question about no case
    scope_kinds = (actor.org_kind, OrgKind.POLICE, OrgKind.HEALTH)
    scope = {
        (pick(tuple(Category)), pick(scope_kinds), pick(tuple(Purpose)))
        for _ in range(pick((0, 1, 2, 3)))
    }
    slots = range(pick((0, 0, 1, 2)))
    return CaseFacts(
        case_id=pick((1, 2, 3)),
        network_id=actor.network_id if pick(range(6)) else 99,
        state=pick(STATES),
        referrer_user_id=pick((ME, OTHER)),
        coordinator_user_id=pick((None, ME, OTHER)),
        meetings=tuple(
            MeetingSlot(pick((1, 2)), NOW - timedelta(days=pick(DAYS_AFTER_MEETING)), pick(BOOLS))
            for _ in slots
        ),
        provider_org_ids=frozenset(pick(((), (MY_ORG,), (OTHER_ORG,), (MY_ORG, OTHER_ORG)))),
        consent_state=pick(CONSENT_STATES),
        consent_scope=frozenset(ConsentScope(c, k, p) for c, k, p in scope),
    )


@st.composite
def questions(draw: Callable[..., Any]) -> Question:
    return make_question(lambda seq: draw(st.sampled_from(seq)))


def decide(authz: Authorizer, q: Question) -> Decision:
    return authz.decide(q.actor, q.obj, q.act, q.facts, q.now, record=q.record)


def test_cached_decisions_agree_with_plain_casbin(policy_dir: Path) -> None:
    authz = Authorizer(policy_dir, cache_size=2_000)  # small: eviction happens too
    plain = plain_casbin(authz, policy_dir)
    asked: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(questions(), st.randoms(use_true_random=True))
    def agree(drawn: Question, rnd: random.Random) -> None:
        batch = [drawn, *(make_question(rnd.choice) for _ in range(BATCH - 1))]
        for q in batch:
            allowed, fields = plain.enforce_ex(q.actor, q.actor.network, q.obj, q.act, q)
            first, again = decide(authz, q), decide(authz, q)
            assert (first.allowed, first.rule) == (bool(allowed), tuple(fields)), q
            assert again == first, q
        asked.append(len(batch))

    agree()
    assert sum(asked) >= 10_000
    assert 0 < authz.cached_decisions <= 2_000


# -- a policy change takes effect on the next call ------------------------------------


def dpo(*roles: Role, network: str = "north") -> Actor:
    kind = OrgKind.LOCAL_AUTHORITY
    return Actor(ME, MY_ORG, kind, NETWORK_IDS[network], network, frozenset(roles))


def support_case(case_id: int = 7) -> CaseFacts:
    return CaseFacts(case_id, NETWORK_IDS["north"], "support", OTHER)


def test_a_revoked_rule_denies_on_the_very_next_call(tmp_path: Path) -> None:
    directory = write_policy(tmp_path)
    authz = Authorizer(directory)
    for _ in range(3):  # the allow is cached now
        assert authz.decide(dpo(Role.DPO), "identity", "read", support_case(), NOW).allowed
    kept = [line for line in NETWORK_RULES.splitlines() if "dpo, north, identity" not in line]
    (directory / "networks.csv").write_text("\n".join(kept) + "\n", encoding="utf-8")
    authz.reload()
    decision = authz.decide(dpo(Role.DPO), "identity", "read", support_case(), NOW)
    assert not decision.allowed
    assert decision.reason == "no rule lets dpo read identity on case 7"


def test_an_edited_policy_file_is_noticed_without_an_explicit_reload(tmp_path: Path) -> None:
    directory = write_policy(tmp_path)
    authz = Authorizer(directory)
    assert authz.decide(dpo(Role.DPO), "identity", "read", support_case(), NOW).allowed
    assert authz.refresh_if_changed() is False
    kept = [line for line in NETWORK_RULES.splitlines() if "dpo, north, identity" not in line]
    (directory / "networks.csv").write_text("\n".join(kept) + "\n", encoding="utf-8")
    assert authz.refresh_if_changed() is True
    assert not authz.decide(dpo(Role.DPO), "identity", "read", support_case(), NOW).allowed


def test_a_revoked_role_denies_on_the_very_next_call(policy_dir: Path) -> None:
    authz = Authorizer(policy_dir)
    assert authz.decide(
        dpo(Role.DPO, Role.ANALYST), "identity", "read", support_case(), NOW
    ).allowed
    assert not authz.decide(dpo(Role.ANALYST), "identity", "read", support_case(), NOW).allowed


def test_a_network_rule_binds_only_its_network(policy_dir: Path) -> None:
    authz = Authorizer(policy_dir)
    assert authz.decide(dpo(Role.DPO), "identity", "read", support_case(), NOW).allowed
    elsewhere = CaseFacts(7, NETWORK_IDS["south"], "support", OTHER)
    assert not authz.decide(
        dpo(Role.DPO, network="south"), "identity", "read", elsewhere, NOW
    ).allowed


def test_a_cached_refusal_names_the_case_asked_about(policy_dir: Path) -> None:
    authz = Authorizer(policy_dir)
    for case_id in (7, 8):
        decision = authz.decide(dpo(Role.ANALYST), "identity", "read", support_case(case_id), NOW)
        assert decision.reason == f"no rule lets analyst read identity on case {case_id}"


def test_the_cache_never_passes_its_bound(policy_dir: Path) -> None:
    authz = Authorizer(policy_dir, cache_size=10)
    for state in STATES:
        for kind in OrgKind:
            who = Actor(ME, MY_ORG, kind, 1, "north", frozenset({Role.COORDINATOR}))
            facts = CaseFacts(7, 1, state, OTHER)
            assert authz.decide(who, "status", "read", facts, NOW).allowed == (state != "draft")
    assert authz.cached_decisions == 10
