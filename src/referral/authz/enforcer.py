"""The Authorizer: the sharing agreement in `policies/`, loaded once, asked many times.

A policy directory holds `model.conf` (the Casbin model) and any number of
`*.csv` files of `p` lines:

    p, role, network, object, action, condition, purpose, legal basis, allow|deny

The object is a data category (action `read` or `write`) or the resource of a
workflow permission (`case:screen` is object `case`, action `screen`).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat as stat_mode
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

import casbin

from referral.authz.conditions import Question
from referral.authz.expressions import Call, Expr, parse, requires
from referral.domain.actors import Actor
from referral.domain.errors import ConfigurationError
from referral.domain.facts import CaseFacts, RecordFacts
from referral.domain.vocabulary import Category, LegalBasis, OrgKind, Purpose, Role
from referral.logging import get_logger

log = get_logger(__name__)


class Permission(StrEnum):
    """Every workflow permission the code asks about, as `resource:action`."""

    CASE_SUBMIT = "case:submit"
    CASE_SCREEN = "case:screen"
    CASE_DECONFLICT = "case:deconflict"
    CASE_MANAGE = "case:manage"
    CASE_SCHEDULE = "case:schedule"
    CASE_DECIDE = "case:decide"
    CASE_CONSENT = "case:consent"
    CASE_ERASE = "case:erase"
    CASE_BREAKGLASS = "case:breakglass"
    INFORMATION_REQUEST_SEND = "information_request:send"
    INFORMATION_REQUEST_ANSWER = "information_request:answer"
    CONSENT_REQUEST = "consent:request"
    CONSENT_RECORD = "consent:record"
    CONSENT_WITHDRAW = "consent:withdraw"
    MEETING_SCHEDULE = "meeting:schedule"
    MEETING_SET_AGENDA = "meeting:set_agenda"
    MEETING_CANCEL = "meeting:cancel"
    MEETING_HOLD = "meeting:hold"
    MEETING_APPROVE_MINUTES = "meeting:approve_minutes"
    MEETING_SUMMON = "meeting:summon"  # an official from elsewhere, to one meeting
    INTERVENTION_ASSIGN = "intervention:assign"
    INTERVENTION_WITHDRAW = "intervention:withdraw"
    INTERVENTION_ACCEPT = "intervention:accept"
    INTERVENTION_START = "intervention:start"
    INTERVENTION_RECORD = "intervention:record"
    INTERVENTION_COMPLETE = "intervention:complete"
    AUDIT_READ = "audit:read"
    AUDIT_VERIFY = "audit:verify"
    BREAKGLASS_REVIEW = "breakglass:review"
    SUBJECT_EXPORT = "subject:export"
    ADMIN_MANAGE = "admin:manage"
    POLICY_REVIEW = "policy:review"  # a proposed policy's impact, and its approval
    WORKFLOW_MIGRATE = "workflow:migrate"  # a migration of running cases, dry-run
    STATISTICS_READ = "statistics:read"
    # Repeat-referral linkage (services.linkage): a case's possible earlier referrals, asking
    # the other network to confirm one, its answer, and the national list of alerts.
    LINKAGE_READ = "linkage:read"
    LINKAGE_ASK = "linkage:ask"
    LINKAGE_ANSWER = "linkage:answer"
    LINKAGE_ALERTS = "linkage:alerts"
    # Transfers between networks (services.transfers): proposing one, receiving one, the
    # national list, and per category what moves with a case handed over (`handover:<category>`,
    # judged for the receiving coordinator as if the case were already theirs).
    CASE_TRANSFER = "case:transfer"
    TRANSFER_RECEIVE = "transfer:receive"
    TRANSFER_LIST = "transfer:list"
    HANDOVER_STATUS = "handover:status"
    HANDOVER_IDENTITY = "handover:identity"
    HANDOVER_CONTACT = "handover:contact"
    HANDOVER_CONCERN = "handover:concern"
    HANDOVER_NARRATIVE = "handover:narrative"
    HANDOVER_SPECIAL = "handover:special"
    HANDOVER_CRIMINAL = "handover:criminal"
    HANDOVER_ASSESSMENT = "handover:assessment"
    HANDOVER_DELIBERATION = "handover:deliberation"
    HANDOVER_SUPPORT = "handover:support"
    HANDOVER_CONSENT = "handover:consent"
    NETWORK_CREATE = "network:create"  # a national admin creates networks
    NETWORK_OVERSEE = "network:oversee"  # the national tier's status-level view of networks
    PROTOCOL_PUBLISH = "protocol:publish"  # a network's information-sharing protocol


CATEGORY_ACTIONS = ("read", "write")
ALLOW, DENY = "allow", "deny"
NONE = "-"  # purpose and legal basis of a deny rule: it grants nothing, so needs neither

REQUEST_TOKENS = ["r_sub", "r_dom", "r_obj", "r_act", "r_ctx"]
POLICY_TOKENS = ["p_sub", "p_dom", "p_obj", "p_act", "p_cond", "p_purpose", "p_basis", "p_eft"]

_NETWORK = re.compile(r"\*|[a-z0-9][a-z0-9_-]*")
_ROLES = frozenset(Role)
_CATEGORIES = frozenset(Category)
_PERMISSIONS = frozenset(Permission)
_PURPOSES: dict[str, Purpose] = {str(p): p for p in Purpose}
_E = TypeVar("_E", bound=StrEnum)
_K = TypeVar("_K")
_V = TypeVar("_V")

# Entries per policy version. A decision entry is a small tuple sharing its Decision,
# so the bound keeps the cache to some tens of megabytes at most.
DECISION_CACHE_SIZE = 100_000
PLAN_CACHE_SIZE = 20_000


@dataclass(frozen=True, slots=True)
class Rule:
    """One policy line, validated, with its condition compiled."""

    role: Role
    network: str
    obj: str
    act: str
    condition: str
    purpose: Purpose | None
    legal_basis: LegalBasis | None
    effect: str
    where: str  # "policies/default.csv: line 12", for messages
    expr: Expr = field(compare=False, repr=False)
    # "default.csv:12": the line's short name in the audit log, which pins the policy
    # version beside it (policy_hash), so file and line name the rule exactly.
    ref: str = field(default="", compare=False)

    @property
    def fields(self) -> tuple[str, ...]:
        """The eight fields as Casbin holds them (and returns them from `enforce_ex`)."""
        return (
            str(self.role),
            self.network,
            self.obj,
            self.act,
            self.condition,
            str(self.purpose or NONE),
            str(self.legal_basis or NONE),
            self.effect,
        )

    @property
    def allows(self) -> bool:
        return self.effect == ALLOW

    @property
    def is_permission(self) -> bool:
        """A workflow permission (`consent:record`) rather than a category (`consent` read)."""
        return _is_permission(self.obj, self.act)


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one question, with enough to say why."""

    allowed: bool
    rule: tuple[str, ...]
    purpose: Purpose | None
    legal_basis: LegalBasis | None
    reason: str
    rule_ref: str = ""  # the matching line as "default.csv:12"; "" when none matched

    @property
    def rule_text(self) -> str:
        """The matching policy line as written in the csv, or "" if none matched."""
        return ", ".join(("p", *self.rule)) if self.rule else ""


class _Bounded(Generic[_K, _V]):
    """A dict that forgets its oldest entry past `limit`.

    Reads take no lock (a dict lookup is atomic in CPython); writes take one, so two
    threads storing at once cannot evict past the bound or break the iteration.
    """

    __slots__ = ("_items", "_limit", "_lock")

    def __init__(self, limit: int) -> None:
        self._items: dict[_K, _V] = {}
        self._limit = max(limit, 1)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: _K) -> _V | None:
        return self._items.get(key)

    def put(self, key: _K, value: _V) -> _V:
        with self._lock:
            if key not in self._items and len(self._items) >= self._limit:
                del self._items[next(iter(self._items))]
            return self._items.setdefault(key, value)


class DecisionTally:
    """How many decisions this process made, by outcome and by what the decision cache
    did, for the operators' metrics (web.metrics takes and exports them).

    Plain counts in a list, with no lock: a page asks a dozen questions, and a Prometheus
    counter in multiprocess mode takes a lock and writes a shared file on every
    increment. `counts[i] += 1` on a list of ints calls no Python code, so CPython never
    switches threads inside it; `take` swaps the list whole and hands the counts over.
    """

    # The cache did not answer at all: no rule names one of the actor's roles here.
    UNCACHED, HIT, MISS = 0, 1, 2
    CACHE = ("none", "hit", "miss")

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts = [0] * 6  # denied x (none, hit, miss), then allowed x the same

    def add(self, allowed: bool, cache: int) -> None:
        self.counts[3 * allowed + cache] += 1

    def take(self) -> list[tuple[bool, str, int]]:
        """(allowed, cache, count) for each count above zero since the last take."""
        counts, self.counts = self.counts, [0] * 6
        return [(i >= 3, self.CACHE[i % 3], n) for i, n in enumerate(counts) if n]


# (obj, act, network): a network's questions about one pair. Network "*" stands for
# every network without rules of its own for the pair.
_Scope = tuple[str, str, str]
# (roles, org kind, network, obj, act, same network, values of the conditions read)
_Key = tuple[frozenset[Role], OrgKind, str, str, str, bool, tuple[bool, ...]]
# A condition as a rule reads it: with the rule's purpose, which `consent_covers` asks about.
_Read = tuple[Call, Purpose | None]


@dataclass(frozen=True, slots=True)
class _Plan:
    """What all questions of one (roles, network, obj, act) share."""

    scope: _Scope
    candidates: tuple[Rule, ...]  # the rules Casbin can match, in file order
    calls: tuple[_Read, ...]  # the conditions they read: the rest of the decision's key
    refusal: str  # "no rule lets analyst read identity"
    only_when: str  # " (allowed only when on_agenda)", or ""

    def refused(self, q: Question) -> Decision:
        """The per-case face of "no rule matched": it names the case, so is never cached."""
        hint = self.only_when if _same_network(q) else ""
        return Decision(False, (), None, None, f"{self.refusal} {_here(q)}{hint}")


@dataclass(frozen=True, slots=True)
class _Policy:
    """One loaded version of the policy directory; `reload` swaps it whole, caches included."""

    hash: str
    model_text: str
    rules: tuple[Rule, ...]
    by_fields: dict[tuple[str, ...], Rule]
    # The matcher only ever matches rules of the asked (obj, act) and network (or `*`),
    # so each scope gets its own Casbin enforcer, built on first use: a decision walks a
    # handful of rules, not the whole file, and loading builds no enforcer it won't use.
    by_scope: dict[_Scope, tuple[Rule, ...]]
    shards: dict[_Scope, Any]
    plans: _Bounded[tuple[frozenset[Role], str, str, str], _Plan]
    decisions: _Bounded[_Key, Decision]


class Authorizer:
    """Decisions over one policy directory (`model.conf` + every `*.csv`)."""

    def __init__(self, policy_dir: Path | str, *, cache_size: int = DECISION_CACHE_SIZE) -> None:
        self.policy_dir = Path(policy_dir)
        self.cache_size = cache_size
        self._stamp = _stamp(self.policy_dir)
        self._policy = _load(self.policy_dir, cache_size)
        self.tally = DecisionTally()

    @property
    def policy_hash(self) -> str:
        """sha256 over the model and csv files (name and content, by file name)."""
        return self._policy.hash

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._policy.rules

    @property
    def cached_decisions(self) -> int:
        """How many decisions the policy in force holds cached (at most `cache_size`)."""
        return len(self._policy.decisions)

    def reload(self) -> None:
        """Read the directory again; a broken file raises and leaves the old policy in place.

        The decision cache belongs to the policy version, so it goes with it: the next
        question is judged by the new rules.
        """
        stamp = _stamp(self.policy_dir)
        self._policy = _load(self.policy_dir, self.cache_size)
        self._stamp = stamp

    def refresh_if_changed(self) -> bool:
        """Reload when a policy file was added, removed or changed since it was read.

        Called at the start of every unit of work, so an edited file is in force on the
        next request of every process. A broken edit is logged and ignored until the
        files change again: the policy in force stays in force, the service stays up.
        """
        stamp = _stamp(self.policy_dir)
        if stamp == self._stamp:
            return False
        try:
            self.reload()
        except ConfigurationError as exc:
            self._stamp = stamp
            log.error("policy_reload_failed", problem=exc.message)
            return False
        log.info("policy_reloaded", policy_hash=self.policy_hash)
        return True

    def decide(
        self,
        actor: Actor,
        obj: str,
        act: str,
        facts: CaseFacts | None,
        now: datetime,
        *,
        record: RecordFacts | None = None,
    ) -> Decision:
        """May `actor` `act` on `obj` (a category, or a permission's resource) of this case,
        and, when `record` is given, of that record of the case (an intervention)?"""
        if now.tzinfo is None:
            raise ValueError("decide() needs an aware datetime for now")
        policy = self._policy  # one snapshot, even if reload() runs meanwhile
        q = Question(actor, facts, str(obj), str(act), now, record)
        plan = _plan(policy, actor, q.obj, q.act)
        if not plan.candidates:
            # No rule names one of the actor's roles here: Casbin would walk the shard
            # and match nothing. Most questions in a table of cells are like this one.
            self.tally.add(False, DecisionTally.UNCACHED)
            return plan.refused(q)
        # Casbin's answer is a function of the key: the matcher reads the roles, network,
        # obj and act, and each rule's condition is a function of the conditions it names,
        # each read with that rule's purpose. A case of another network fails every
        # condition (see `_holds`), whatever they say.
        same = _same_network(q)
        values = tuple(c.holds(q, purpose) for c, purpose in plan.calls) if same else ()
        key = (actor.roles, actor.org_kind, actor.network, q.obj, q.act, same, values)
        decision = policy.decisions.get(key)
        cache = DecisionTally.HIT
        if decision is None:
            decision = policy.decisions.put(key, _judge(policy, plan, q))
            cache = DecisionTally.MISS
        self.tally.add(decision.allowed, cache)
        return decision if decision.rule else plan.refused(q)

    def permission(
        self,
        actor: Actor,
        permission: str,
        facts: CaseFacts | None,
        now: datetime,
        *,
        record: RecordFacts | None = None,
    ) -> Decision:
        """Decide a workflow permission given as `resource:action`, e.g. `case:screen`."""
        obj, sep, act = permission.partition(":")
        if not sep:
            raise ValueError(f"a permission reads resource:action, got {permission!r}")
        return self.decide(actor, obj, act, facts, now, record=record)

    def category_decisions(
        self, actor: Actor, facts: CaseFacts | None, now: datetime, act: str = "read"
    ) -> dict[Category, Decision]:
        """The decision for every category: what to show, and why the rest is hidden."""
        return {c: self.decide(actor, c, act, facts, now) for c in Category}

    def readable_categories(
        self, actor: Actor, facts: CaseFacts | None, now: datetime
    ) -> dict[Category, Decision]:
        """Only the categories the actor may read here, each with the decision allowing it."""
        decisions = self.category_decisions(actor, facts, now)
        return {c: d for c, d in decisions.items() if d.allowed}

    def permission_holders(self) -> dict[str, set[str]]:
        """Permission (`resource:action`) -> roles holding an allow rule for it."""
        holders: dict[str, set[str]] = defaultdict(set)
        for rule in self._policy.rules:
            if rule.allows and rule.is_permission:
                holders[f"{rule.obj}:{rule.act}"].add(str(rule.role))
        return dict(holders)

    def rules_for(self, actor: Actor, obj: str, act: str) -> tuple[Rule, ...]:
        """The rules that can match this actor's questions about (obj, act), in file order."""
        return _plan(self._policy, actor, str(obj), str(act)).candidates


# -- the functions the matcher calls ----------------------------------------------


def _has_role(actor: Actor, role: str) -> bool:
    return role in actor.roles


def _holds(condition: str, purpose: str, q: Question) -> bool:
    # A case of another network is outside every rule, allow or deny alike;
    # the SQL filter mirrors this with `cases.network_id = :actor_network`.
    if q.facts is not None and q.facts.network_id != q.actor.network_id:
        return False
    # The rule's purpose ("-" for a deny rule: none) goes with its condition.
    return parse(condition).holds(q, _PURPOSES.get(purpose))


# -- plans and judgements ---------------------------------------------------------


def _plan(policy: _Policy, actor: Actor, obj: str, act: str) -> _Plan:
    key = (actor.roles, actor.network, obj, act)
    plan = policy.plans.get(key)
    if plan is None:
        plan = policy.plans.put(key, _make_plan(policy, actor, obj, act))
    return plan


def _make_plan(policy: _Policy, actor: Actor, obj: str, act: str) -> _Plan:
    scope = (obj, act, actor.network)
    if scope not in policy.by_scope:
        scope = (obj, act, "*")
    candidates = tuple(r for r in policy.by_scope.get(scope, ()) if r.role in actor.roles)
    calls = (
        (c, r.purpose) for r in candidates for c in r.expr.calls() if c.condition.name != "true"
    )
    roles = " or ".join(sorted(actor.roles)) or "someone without a role"
    conditions = [r.condition for r in candidates if r.allows]
    only_when = f" (allowed only when {', or when '.join(dict.fromkeys(conditions))})"
    return _Plan(
        scope=scope,
        candidates=candidates,
        calls=tuple(dict.fromkeys(calls)),
        refusal=f"no rule lets {roles} {_doing(obj, act)}",
        only_when=only_when if conditions else "",
    )


def _judge(policy: _Policy, plan: _Plan, q: Question) -> Decision:
    """Ask Casbin. The Decision holds nothing of the case, so it can serve the next one."""
    shard = policy.shards.get(plan.scope)
    if shard is None:  # two threads may both build it: the same enforcer, one is kept
        shard = policy.shards.setdefault(
            plan.scope, _shard(policy.model_text, policy.by_scope[plan.scope])
        )
    allowed, fields = shard.enforce_ex(q.actor, q.actor.network, q.obj, q.act, q)
    rule = policy.by_fields.get(tuple(fields))
    if allowed and rule is not None:
        return Decision(
            True,
            rule.fields,
            rule.purpose,
            rule.legal_basis,
            f"{rule.role} may {_doing(q.obj, q.act)}{_when(rule)}, for {rule.purpose},"
            f" on the legal basis of {rule.legal_basis}",
            rule.ref,
        )
    if rule is not None:
        reason = f"a deny rule says {rule.role} may not {_doing(q.obj, q.act)}{_when(rule)}"
        return Decision(False, rule.fields, None, None, reason, rule.ref)
    return _NO_RULE  # decide() words it for the case at hand


_NO_RULE = Decision(False, (), None, None, "no rule matched")


# -- reasons ----------------------------------------------------------------------


def _is_permission(obj: str, act: str) -> bool:
    # `consent` is a category and a resource: consent:record is a permission, read is not.
    return f"{obj}:{act}" in _PERMISSIONS


def _doing(obj: str, act: str) -> str:
    return f"use {obj}:{act}" if _is_permission(obj, act) else f"{act} {obj}"


def _when(rule: Rule) -> str:
    return "" if rule.condition == "true" else f" when {rule.condition}"


def _here(q: Question) -> str:
    if q.facts is None:
        return f"in network {q.actor.network}"
    if not _same_network(q):
        return f"on case {q.facts.case_id}, which belongs to another network"
    return f"on case {q.facts.case_id}"


def _same_network(q: Question) -> bool:
    return q.facts is None or q.facts.network_id == q.actor.network_id


# -- loading ----------------------------------------------------------------------


# A directory's listing, by the directory's modification time: adding, removing or
# renaming a file (as editors save) changes that time, so the listing is read again
# only then. Each request then costs a few stat calls, not a directory walk.
_LISTINGS: dict[str, tuple[int, tuple[str, ...]]] = {}


def _stamp(policy_dir: Path) -> tuple[int, tuple[tuple[str, int, int], ...]]:
    """The directory's modification time, and the name, modification time and size of
    each policy file: cheap to compare per request."""
    directory = str(policy_dir)
    try:
        listed_at = os.stat(directory).st_mtime_ns
    except FileNotFoundError:
        return (0, ())
    known = _LISTINGS.get(directory)
    if known is None or known[0] != listed_at:
        names = ("model.conf", *sorted(path.name for path in policy_dir.glob("*.csv")))
        known = _LISTINGS[directory] = (listed_at, names)
    files = []
    for name in known[1]:
        try:
            found = os.stat(os.path.join(directory, name))
        except FileNotFoundError:
            continue
        if stat_mode.S_ISREG(found.st_mode):
            files.append((name, found.st_mtime_ns, found.st_size))
    return (listed_at, tuple(files))


def _load(policy_dir: Path, cache_size: int) -> _Policy:
    model_path = policy_dir / "model.conf"
    csv_paths = sorted(policy_dir.glob("*.csv"))
    if not model_path.is_file():
        raise ConfigurationError("{file}: missing", file=_label(model_path))
    if not csv_paths:
        raise ConfigurationError("{folder}: no *.csv policy files", folder=_label(policy_dir))
    contents = {path: path.read_bytes() for path in [model_path, *csv_paths]}
    model_text = _decode(model_path, contents[model_path])
    _check_model(model_path, model_text)

    rules: list[Rule] = []
    by_fields: dict[tuple[str, ...], Rule] = {}
    for path in csv_paths:
        overlay_of = _overlay_network(path)
        for rule in _read_rules(path, _decode(path, contents[path])):
            if overlay_of is not None and rule.network != overlay_of:
                raise ConfigurationError(
                    "{where}: {name} is network {overlay_of!r}'s overlay, so each of its lines "
                    "names that network (this one names {network!r})",
                    where=rule.where,
                    name=path.name,
                    overlay_of=overlay_of,
                    network=rule.network,
                )
            if rule.fields in by_fields:
                raise ConfigurationError(
                    "{where}: the same rule as {other}",
                    where=rule.where,
                    other=by_fields[rule.fields].where,
                )
            by_fields[rule.fields] = rule
            rules.append(rule)
    _check_consent_binds_whole(rules)

    policy = _Policy(
        hash=_hash(contents),
        model_text=model_text,
        rules=tuple(rules),
        by_fields=by_fields,
        by_scope=_scopes(rules),
        shards={},
        plans=_Bounded(PLAN_CACHE_SIZE),
        decisions=_Bounded(cache_size),
    )
    _smoke_test(model_path, policy)
    return policy


# The conditions that hold only as far as the current consent's scope covers the data.
CONSENT_SCOPE_CONDITIONS = frozenset({"consent_covers", "consent_covers_any"})


def _check_consent_binds_whole(rules: list[Rule]) -> None:
    """Refuse a sharing agreement in which consent does not bind whole (DESIGN.md §4).

    A rule that shows a category on the legal basis of consent must hold only as far as
    the consent's scope covers it: that is how a network marks a role as consent-bound
    in its own rules. A role that the shared rules (`*`) let read on that basis (the
    provider) is consent-bound everywhere: none of its rules, in any file, may show a
    category on another footing.
    """
    bound = {
        r.role
        for r in rules
        if r.allows
        and not r.is_permission
        and r.network == "*"
        and r.legal_basis is LegalBasis.CONSENT
    }
    for rule in rules:
        if not rule.allows or rule.is_permission or requires(rule.expr, CONSENT_SCOPE_CONDITIONS):
            continue
        if rule.legal_basis is LegalBasis.CONSENT:
            raise ConfigurationError(
                "{where}: a rule on the legal basis of consent must require consent_covers (or "
                "consent_covers_any): consent binds whole",
                where=rule.where,
            )
        if rule.role in bound:
            raise ConfigurationError(
                "{where}: {role} reads only as far as consent covers, so this rule must require "
                "consent_covers (or consent_covers_any): consent binds whole",
                where=rule.where,
                role=rule.role,
            )


def _scopes(rules: list[Rule]) -> dict[_Scope, tuple[Rule, ...]]:
    """Each network's rules plus the shared `*` ones, per (obj, act), in file order.

    File order matters: `enforce_ex` names the last matching rule before it stops,
    so a shard must list its rules in the order the whole file does.
    """
    networks: dict[tuple[str, str], set[str]] = defaultdict(lambda: {"*"})
    for rule in rules:
        networks[rule.obj, rule.act].add(rule.network)
    scopes: dict[_Scope, list[Rule]] = defaultdict(list)
    for rule in rules:
        pair = (rule.obj, rule.act)
        for network in networks[pair] if rule.network == "*" else (rule.network,):
            scopes[(*pair, network)].append(rule)
    return {scope: tuple(group) for scope, group in scopes.items()}


def _label(path: Path) -> str:
    """How messages name a file: `policies/default.csv`."""
    return f"{path.parent.name}/{path.name}"


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            "{file}: not UTF-8 ({reason})", file=_label(path), reason=exc.reason
        ) from None


def _hash(contents: dict[Path, bytes]) -> str:
    digest = hashlib.sha256()
    for path in sorted(contents, key=lambda p: p.name):
        digest.update(path.name.encode() + b"\0" + contents[path] + b"\0")
    return digest.hexdigest()


def _check_model(path: Path, text: str) -> None:
    try:
        model = casbin.Enforcer.new_model(text=text)
        casbin.Enforcer(model)  # builds the effector: an unsupported effect fails here
        request, policy = model["r"]["r"].tokens, model["p"]["p"].tokens
    except Exception as exc:  # Casbin raises bare RuntimeError/KeyError for bad models
        raise ConfigurationError("{file}: {exc!r}", file=_label(path), exc=exc) from None
    if request != REQUEST_TOKENS or policy != POLICY_TOKENS:
        raise ConfigurationError(
            "{file}: expected r = sub, dom, obj, act, ctx and p = sub, dom, obj, act, cond, "
            "purpose, basis, eft",
            file=_label(path),
        )


def _shard(model_text: str, rules: tuple[Rule, ...]) -> Any:
    enforcer = casbin.Enforcer(casbin.Enforcer.new_model(text=model_text))
    enforcer.add_function("has_role", _has_role)
    enforcer.add_function("holds", _holds)
    enforcer.add_named_policies("p", [list(rule.fields) for rule in rules])
    return enforcer


def _smoke_test(model_path: Path, policy: _Policy) -> None:
    """Evaluate the matcher once, so a broken matcher fails at load, not on a request.
    A policy without a rule refuses everything, without ever reaching the matcher."""
    if not policy.by_scope:
        return
    (obj, act, network), rules = next(iter(policy.by_scope.items()))
    shard = policy.shards.setdefault((obj, act, network), _shard(policy.model_text, rules))
    anyone = Actor(0, 0, OrgKind.POLICE, 0, network, frozenset(Role))
    q = Question(anyone, None, obj, act, datetime.now(UTC))
    try:
        shard.enforce_ex(anyone, anyone.network, obj, act, q)
    except Exception as exc:  # simpleeval raises many kinds for a bad matcher
        raise ConfigurationError(
            "{file}: the matcher fails: {exc!r}", file=_label(model_path), exc=exc
        ) from None


OVERLAY_PREFIX = "network-"


def _overlay_network(path: Path) -> str | None:
    """`network-harbour.csv` is the harbour network's overlay on the shared agreement: its
    lines apply to that network alone, so a network's own rules sit in one file that
    `policy diff` can show and the dpo can approve (docs/networks.md)."""
    if path.stem.startswith(OVERLAY_PREFIX) and len(path.stem) > len(OVERLAY_PREFIX):
        return path.stem[len(OVERLAY_PREFIX) :]
    return None


def overlay_rules(rules: tuple[Rule, ...], slug: str) -> tuple[Rule, ...]:
    """A network's own rules: the lines that name it (in its overlay file or elsewhere)."""
    return tuple(rule for rule in rules if rule.network == slug)


def _read_rules(path: Path, text: str) -> list[Rule]:
    rules = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            where = f"{_label(path)}: line {number}"
            try:
                rules.append(_parse_rule(line, where, f"{path.name}:{number}"))
            except ValueError as exc:  # ExpressionError included
                raise ConfigurationError("{where}: {exc}", where=where, exc=exc) from None
    return rules


def _split(line: str) -> list[str]:
    """Split at top-level commas, as Casbin does: `in_state(a, b)` stays one field."""
    fields, depth, start = [], 0, 0
    for i, char in enumerate(line):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced parentheses")
        elif char == "," and depth == 0:
            fields.append(line[start:i].strip())
            start = i + 1
    if depth:
        raise ValueError("unbalanced parentheses")
    fields.append(line[start:].strip())
    return fields


def _parse_rule(line: str, where: str, ref: str = "") -> Rule:
    kind, *fields = _split(line)
    if kind != "p":
        raise ValueError(f"unknown line type {kind!r} (only p lines)")
    if len(fields) != len(POLICY_TOKENS):
        raise ValueError(f"expected {len(POLICY_TOKENS)} fields after 'p', got {len(fields)}")
    role, network, obj, act, condition, purpose, basis, effect = fields
    if role not in _ROLES:
        raise ValueError(f"unknown role {role!r}")
    if not _NETWORK.fullmatch(network):
        raise ValueError(f"invalid network {network!r} (a network slug or *)")
    if not _is_permission(obj, act):
        if obj not in _CATEGORIES:
            raise ValueError(f"unknown category or permission {obj!r} / {act!r}")
        if act not in CATEGORY_ACTIONS:
            raise ValueError(f"a category takes read or write, not {act!r}")
    if effect not in (ALLOW, DENY):
        raise ValueError(f"unknown effect {effect!r} (allow or deny)")
    return Rule(
        role=Role(role),
        network=network,
        obj=obj,
        act=act,
        condition=condition,
        purpose=_vocabulary(Purpose, "purpose", purpose, effect),
        legal_basis=_vocabulary(LegalBasis, "legal basis", basis, effect),
        effect=effect,
        where=where,
        expr=parse(condition),
        ref=ref,
    )


def _vocabulary(enum: type[_E], what: str, value: str, effect: str) -> _E | None:
    if value == NONE and effect == DENY:
        return None
    if value == NONE:
        raise ValueError(f"an allow rule must name its {what}")
    try:
        return enum(value)
    except ValueError:
        raise ValueError(f"unknown {what} {value!r}") from None
