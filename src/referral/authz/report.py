"""The sharing agreement in plain words, for the people who sign it.

`build_report` turns the Authorizer's rules into a structured report, grouped by
role with the data categories in the order of DESIGN.md §2; `markdown` and `html`
render it. Pure: no file, database or clock is read here. The condition words live
with the conditions (`Condition.words`), so a new condition comes with its words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from html import escape

from referral.authz.conditions import DATA_WORDS, OrgKindIn, folded, kind_words, plain
from referral.authz.enforcer import Permission, Rule
from referral.authz.expressions import AllOf, AnyOf, Call, Expr, Not
from referral.domain.vocabulary import Category, LegalBasis, Purpose, Role
from referral.i18n import Phrase

ROLE_WORDS: dict[Role, Phrase] = {
    Role.REFERRER: Phrase("Referrer"),
    Role.COORDINATOR: Phrase("Coordinator"),
    Role.SCREENER: Phrase("Screener (police gateway)"),
    Role.PANEL_MEMBER: Phrase("Panel member"),
    Role.PANEL_CHAIR: Phrase("Panel chair"),
    Role.PROVIDER: Phrase("Support provider"),
    Role.DPO: Phrase("Data protection officer"),
    Role.ADMIN: Phrase("Administrator"),
    Role.ANALYST: Phrase("Analyst"),
    Role.AGENCY_CONTACT: Phrase("Partner agency contact"),
    Role.NATIONAL_COORDINATOR: Phrase("National coordinator"),
    Role.INVITED_OFFICIAL: Phrase("Official summoned to one meeting"),
    Role.SYSTEM: Phrase("The system's own timers"),
}

# A role named inside a sentence ("a support provider sees this ..."): its own phrase,
# since a sentence's words are not a title's (and other languages do not capitalise).
ROLE_NOUNS: dict[Role, Phrase] = {
    Role.REFERRER: Phrase("referrer"),
    Role.COORDINATOR: Phrase("coordinator"),
    Role.SCREENER: Phrase("screener (police gateway)"),
    Role.PANEL_MEMBER: Phrase("panel member"),
    Role.PANEL_CHAIR: Phrase("panel chair"),
    Role.PROVIDER: Phrase("support provider"),
    Role.DPO: Phrase("data protection officer"),
    Role.ADMIN: Phrase("administrator"),
    Role.ANALYST: Phrase("analyst"),
    Role.AGENCY_CONTACT: Phrase("partner agency contact"),
    Role.NATIONAL_COORDINATOR: Phrase("national coordinator"),
    Role.INVITED_OFFICIAL: Phrase("official summoned to one meeting"),
    Role.SYSTEM: Phrase("the system's own timers"),
}

# What each category holds (DESIGN.md §2), so a reader need not look it up.
CATEGORY_WORDS: dict[Category, Phrase] = {
    Category.STATUS: Phrase(
        "status: state, dates, deadlines, referring organisation kind, coordinator"
    ),
    Category.IDENTITY: Phrase("identity: name, date of birth, address, identifiers"),
    Category.CONTACT: Phrase("contact: phone, e-mail, guardian or parent details"),
    Category.CONCERN: Phrase("concern: concern summary and concern types"),
    Category.NARRATIVE: Phrase(
        "narrative: the referrer's detailed account and supporting information"
    ),
    Category.SPECIAL: Phrase(
        "special category data: health, religion, ethnicity, sexual orientation"
    ),
    Category.CRIMINAL: Phrase("criminal: offences, police intelligence, deconfliction results"),
    Category.ASSESSMENT: Phrase("assessment: vulnerability assessment and risk rating"),
    Category.DELIBERATION: Phrase("deliberation: panel minutes, agency contributions, decisions"),
    Category.SUPPORT: Phrase("support: support plan, interventions, progress notes"),
    Category.CONSENT: Phrase("consent: consent records (who, when, how, scope, withdrawal)"),
}

PERMISSION_WORDS: dict[Permission, Phrase] = {
    Permission.CASE_SUBMIT: Phrase("submit a referral"),
    Permission.CASE_SCREEN: Phrase("screen a referral"),
    Permission.CASE_DECONFLICT: Phrase("run police deconfliction on a referral"),
    Permission.CASE_MANAGE: Phrase("move a case on through its workflow"),
    Permission.CASE_SCHEDULE: Phrase("put a case forward for a panel meeting"),
    Permission.CASE_DECIDE: Phrase("record a panel decision"),
    Permission.CASE_CONSENT: Phrase("move a case on once consent is answered"),
    Permission.CASE_ERASE: Phrase("erase a case when its retention period ends"),
    Permission.CASE_BREAKGLASS: Phrase(
        "break glass: open one hidden category of a case for a short time, with a written"
        " justification, logged and reviewed by the data protection officer"
    ),
    Permission.INFORMATION_REQUEST_SEND: Phrase("ask a partner agency for information"),
    Permission.INFORMATION_REQUEST_ANSWER: Phrase("answer a request for information"),
    Permission.CONSENT_REQUEST: Phrase("ask the person for consent"),
    Permission.CONSENT_RECORD: Phrase("record the person's consent or refusal"),
    Permission.CONSENT_WITHDRAW: Phrase("record that the person withdrew consent"),
    Permission.MEETING_SCHEDULE: Phrase("schedule a panel meeting"),
    Permission.MEETING_SET_AGENDA: Phrase("set a panel meeting's agenda"),
    Permission.MEETING_CANCEL: Phrase("cancel a panel meeting"),
    Permission.MEETING_HOLD: Phrase("hold a panel meeting"),
    Permission.MEETING_APPROVE_MINUTES: Phrase("approve a panel meeting's minutes"),
    Permission.MEETING_SUMMON: Phrase("summon an official from elsewhere to one panel meeting"),
    Permission.INTERVENTION_ASSIGN: Phrase("assign an intervention to a provider"),
    Permission.INTERVENTION_WITHDRAW: Phrase("withdraw an intervention"),
    Permission.INTERVENTION_ACCEPT: Phrase("accept an intervention"),
    Permission.INTERVENTION_START: Phrase("start an intervention"),
    Permission.INTERVENTION_RECORD: Phrase("record progress on an intervention"),
    Permission.INTERVENTION_COMPLETE: Phrase("complete an intervention"),
    Permission.AUDIT_READ: Phrase("read the audit log"),
    Permission.AUDIT_VERIFY: Phrase("verify the audit log's integrity"),
    Permission.BREAKGLASS_REVIEW: Phrase(
        "review break-glass access and record whether it was justified"
    ),
    Permission.SUBJECT_EXPORT: Phrase(
        "export everything held about a person and every access to it (subject access)"
    ),
    Permission.ADMIN_MANAGE: Phrase("manage users, organisations and networks"),
    Permission.POLICY_REVIEW: Phrase("preview a proposed sharing policy's impact, and approve it"),
    Permission.WORKFLOW_MIGRATE: Phrase(
        "see how running cases would move to a new workflow version"
    ),
    Permission.STATISTICS_READ: Phrase("read aggregate statistics (no case)"),
    Permission.LINKAGE_READ: Phrase(
        "see a case's possible earlier referrals (network, year, state, similarity; never the"
        " person)"
    ),
    Permission.LINKAGE_ASK: Phrase("ask another network to confirm a possible earlier referral"),
    Permission.LINKAGE_ANSWER: Phrase("confirm or reject a link another network asks about"),
    Permission.LINKAGE_ALERTS: Phrase(
        "list repeat-referral alerts across networks, status level only"
    ),
    Permission.CASE_TRANSFER: Phrase("propose handing a case over to another network"),
    Permission.TRANSFER_RECEIVE: Phrase(
        "see, preview, accept or decline cases other networks hand over"
    ),
    Permission.TRANSFER_LIST: Phrase("list transfers between networks (names, states, dates only)"),
    Permission.HANDOVER_STATUS: Phrase("receive status data with a case handed over"),
    Permission.HANDOVER_IDENTITY: Phrase("receive identity data with a case handed over"),
    Permission.HANDOVER_CONTACT: Phrase("receive contact data with a case handed over"),
    Permission.HANDOVER_CONCERN: Phrase("receive concern data with a case handed over"),
    Permission.HANDOVER_NARRATIVE: Phrase("receive narrative data with a case handed over"),
    Permission.HANDOVER_SPECIAL: Phrase("receive special data with a case handed over"),
    Permission.HANDOVER_CRIMINAL: Phrase("receive criminal data with a case handed over"),
    Permission.HANDOVER_ASSESSMENT: Phrase("receive assessment data with a case handed over"),
    Permission.HANDOVER_DELIBERATION: Phrase("receive deliberation data with a case handed over"),
    Permission.HANDOVER_SUPPORT: Phrase("receive support data with a case handed over"),
    Permission.HANDOVER_CONSENT: Phrase("receive consent data with a case handed over"),
    Permission.NETWORK_CREATE: Phrase("create networks (from the national tier)"),
    Permission.NETWORK_OVERSEE: Phrase("see the networks of the country at status level (no case)"),
    Permission.PROTOCOL_PUBLISH: Phrase("publish a new version of the network's sharing protocol"),
}

PURPOSE_WORDS: dict[Purpose, Phrase] = {
    Purpose.SCREENING: Phrase("screening a referral"),
    Purpose.PANEL: Phrase("the multi-agency panel"),
    Purpose.SUPPORT: Phrase("giving support"),
    Purpose.AUDIT: Phrase("audit and oversight"),
    Purpose.STATISTICS: Phrase("statistics"),
}

BASIS_WORDS: dict[LegalBasis, Phrase] = {
    LegalBasis.CONSENT: Phrase("consent of the person"),
    LegalBasis.PUBLIC_TASK: Phrase("public task"),
    LegalBasis.LEGAL_OBLIGATION: Phrase("legal obligation"),
    LegalBasis.VITAL_INTERESTS: Phrase("vital interests"),
    LegalBasis.CRIME_PREVENTION: Phrase("prevention of crime"),
}

# What a row lets a role do: (act, allowed) -> words; see and change under the same terms
# make one row (`_merge`).
_MAY: dict[tuple[str, bool], Phrase] = {
    ("read", True): Phrase("see"),
    ("read", False): Phrase("never see"),
    ("write", True): Phrase("change"),
    ("write", False): Phrase("never change"),
}
_MAY_BOTH = {True: Phrase("see and change"), False: Phrase("never see or change")}
YES = Phrase("yes")
NEVER = Phrase("never")
ALWAYS = Phrase("always")


@dataclass(frozen=True, slots=True)
class Line:
    """One row of a role's table: what, who exactly, when, why and on which basis."""

    # Each a Phrase (a str in English, that reads in any language: i18n.render) or "".
    what: str  # "identity: name, …" or "screen a referral"
    may: str  # "see", "see and change", "never see"; "yes" or "never" for a permission
    who: str  # "" or "health/social care organisations only", plus a network if not every
    when: str
    purpose: str  # "" for a prohibition
    legal_basis: str
    prohibited: bool
    sources: tuple[str, ...]  # "policies/default.csv: line 12"


@dataclass(frozen=True, slots=True)
class RoleSection:
    role: Role
    title: str
    data: tuple[Line, ...]
    permissions: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class PolicyReport:
    policy_hash: str
    files: tuple[str, ...]
    sections: tuple[RoleSection, ...]


def build_report(
    rules: Iterable[Rule],
    *,
    policy_hash: str,
    files: Sequence[str],
    state_label: Callable[[str], str] = plain,
) -> PolicyReport:
    """Group the rules by role; categories in DESIGN.md order, then permissions."""
    rules = tuple(rules)
    sections = []
    for role in Role:
        own = [r for r in rules if r.role == role]
        if own:
            data = [r for r in own if not r.is_permission]
            data.sort(key=lambda r: (list(Category).index(Category(r.obj)), r.act))
            perms = sorted((r for r in own if r.is_permission), key=_permission_order)
            sections.append(
                RoleSection(
                    role=role,
                    title=ROLE_WORDS.get(role, plain(role).capitalize()),
                    data=tuple(_merge(_line(r, state_label) for r in data)),
                    permissions=tuple(_line(r, state_label) for r in perms),
                )
            )
    return PolicyReport(policy_hash, tuple(files), tuple(sections))


def describe(
    expr: Expr,
    state_label: Callable[[str], str] = plain,
    *,
    purpose: Phrase | None = None,
    one_record: bool = True,
) -> Phrase:
    """A condition expression in plain words: `!`, `&`, `|` become not, and, or.
    `purpose` and `one_record` as for `Condition.describe`."""
    if isinstance(expr, Call):
        return expr.condition.describe(
            *expr.args, state_label=state_label, purpose=purpose, one_record=one_record
        )

    def nested(part: Expr) -> Phrase:
        words = describe(part, state_label, purpose=purpose, one_record=one_record)
        return Phrase("(%(words)s)", words=words) if isinstance(part, AllOf | AnyOf) else words

    if isinstance(expr, Not):
        return Phrase("not %(condition)s", condition=nested(expr.operand))
    if isinstance(expr, AllOf):
        return _joined(
            [nested(o) for o in expr.operands],
            lambda a, b: Phrase("%(first)s and %(then)s", first=a, then=b),
        )
    if isinstance(expr, AnyOf):
        return _joined(
            [nested(o) for o in expr.operands],
            lambda a, b: Phrase("%(first)s, or %(then)s", first=a, then=b),
        )
    raise TypeError(f"no words for {type(expr).__name__}")


def _joined(parts: Sequence[Phrase], join: Callable[[Phrase, Phrase], Phrase]) -> Phrase:
    """`a and b and c` as `(a and b) and c`: the same words, one message to translate."""
    result = parts[0]
    for part in parts[1:]:
        result = join(result, part)
    return result


def subject_words(obj: str, act: str) -> str:
    """What a rule is about in words: a permission ("screen a referral"), or seeing or
    changing a category's data ("see support data"); else as it is written."""
    try:
        return PERMISSION_WORDS[Permission(f"{obj}:{act}")]
    except (ValueError, KeyError):
        pass
    if obj in set(Category) and act in ("read", "write"):
        data = DATA_WORDS[Category(obj)]
        if act == "read":
            return Phrase("see %(data)s", data=data)
        return Phrase("change %(data)s", data=data)
    return f"{obj} ({act})"


def _permission_order(rule: Rule) -> int:
    return list(Permission).index(Permission(f"{rule.obj}:{rule.act}"))


def _line(rule: Rule, state_label: Callable[[str], str]) -> Line:
    kinds, rest = _org_kinds(rule.expr)
    named = folded(
        (kind_words(k) for k in kinds),
        lambda a, b: Phrase("%(first)s/%(then)s", first=a, then=b),
    )
    who: str = Phrase("%(kinds)s organisations only", kinds=named) if kinds else ""
    if rule.network != "*" and who:
        who = Phrase(
            "%(kinds)s organisations only, network %(network)s only",
            kinds=named,
            network=rule.network,
        )
    elif rule.network != "*":
        who = Phrase("network %(network)s only", network=rule.network)
    when = describe(AllOf(rest) if len(rest) > 1 else rest[0], state_label) if rest else ALWAYS
    what: str
    if rule.is_permission:
        what = PERMISSION_WORDS.get(Permission(f"{rule.obj}:{rule.act}"), rule.obj)
        may = YES if rule.allows else NEVER
    else:
        what = CATEGORY_WORDS.get(Category(rule.obj), rule.obj)
        may = _MAY[rule.act, rule.allows]
    return Line(
        what=what,
        may=may,
        who=who,
        when=when,
        purpose=PURPOSE_WORDS[rule.purpose] if rule.purpose else "",
        legal_basis=BASIS_WORDS[rule.legal_basis] if rule.legal_basis else "",
        prohibited=not rule.allows,
        sources=(rule.where,),
    )


def _org_kinds(expr: Expr) -> tuple[tuple[str, ...], tuple[Expr, ...]]:
    """Organisation kinds a rule requires (a top-level `org_kind_in`), and the rest.

    Only a conjunct restricts who the rule speaks to; under `|` or `!` it stays in the
    condition's words.
    """
    conjuncts = expr.operands if isinstance(expr, AllOf) else (expr,)
    kinds: list[str] = []
    rest: list[Expr] = []
    for part in conjuncts:
        if isinstance(part, Call) and isinstance(part.condition, OrgKindIn) and not kinds:
            kinds.extend(part.args)
        else:
            rest.append(part)
    return tuple(kinds), tuple(rest)


def _merge(lines: Iterable[Line]) -> list[Line]:
    """`see` and `change` under the same terms become one row: `see and change`."""
    merged: list[Line] = []
    for line in lines:
        last = merged[-1] if merged else None
        if last is not None and _same_terms(last, line):
            may = _MAY_BOTH[not line.prohibited]  # see, then change: never, or may, both
            merged[-1] = Line(
                last.what,
                may,
                last.who,
                last.when,
                last.purpose,
                last.legal_basis,
                last.prohibited,
                last.sources + line.sources,
            )
        else:
            merged.append(line)
    return merged


def _same_terms(a: Line, b: Line) -> bool:
    return (a.what, a.who, a.when, a.purpose, a.legal_basis, a.prohibited) == (
        b.what,
        b.who,
        b.when,
        b.purpose,
        b.legal_basis,
        b.prohibited,
    ) and not a.may.endswith("change")


# -- rendering ------------------------------------------------------------------------

TITLE = "Sharing agreement"
_INTRO = (
    "Who may see or change which data of a case, when, for which purpose and on which"
    " legal basis. Nothing is shared unless a row below allows it; a row marked"
    " \u201cnever\u201d is a prohibition and outweighs any row that would allow. A row"
    " on the legal basis of consent holds only as far as the person's current consent"
    " covers that data, for that kind of organisation and for the row's purpose."
)
_DATA_HEADERS = ("Data", "May", "Organisations", "When", "Purpose", "Legal basis")
_PERMISSION_HEADERS = ("Action", "May", "Organisations", "When", "Purpose", "Legal basis")


def _cells(line: Line) -> tuple[str, ...]:
    return (
        line.what,
        line.may,
        line.who or "any",
        line.when,
        line.purpose or "\u2014",
        line.legal_basis or "\u2014",
    )


def markdown(report: PolicyReport) -> str:
    out = [f"# {TITLE}", "", _INTRO, "", f"- Policy hash: `{report.policy_hash}`"]
    out.append(f"- Files read: {', '.join(f'`{name}`' for name in report.files)}")
    for section in report.sections:
        out += ["", f"## {section.title} (`{section.role}`)"]
        for heading, headers, lines in (
            ("Data", _DATA_HEADERS, section.data),
            ("Workflow actions", _PERMISSION_HEADERS, section.permissions),
        ):
            if lines:
                out += ["", f"### {heading}", "", _md_row(headers), _md_row(["---"] * 6)]
                out += [_md_row(_md_cells(line)) for line in lines]
    return "\n".join(out) + "\n"


def _md_cells(line: Line) -> list[str]:
    cells = list(_cells(line))
    if line.prohibited:
        cells[1] = f"**{cells[1]}**"
    return cells


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def html(report: PolicyReport) -> str:
    """A complete standalone page: plain semantic HTML, no script, no style."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{TITLE}</title>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{TITLE}</h1>",
        f"<p>{escape(_INTRO)}</p>",
        "<dl>",
        f"<dt>Policy hash</dt><dd><code>{escape(report.policy_hash)}</code></dd>",
        "<dt>Files read</dt>",
        *(f"<dd><code>{escape(name)}</code></dd>" for name in report.files),
        "</dl>",
    ]
    for section in report.sections:
        title = escape(section.title)
        out += [f'<section aria-labelledby="role-{section.role}">']
        out += [f'<h2 id="role-{section.role}">{title} (<code>{section.role}</code>)</h2>']
        for heading, headers, lines in (
            ("data", _DATA_HEADERS, section.data),
            ("workflow actions", _PERMISSION_HEADERS, section.permissions),
        ):
            if lines:
                out += _html_table(f"{title}: {heading}", headers, lines)
        out.append("</section>")
    out += ["</main>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def _html_table(caption: str, headers: Sequence[str], lines: Sequence[Line]) -> list[str]:
    out = ["<table>", f"<caption>{caption}</caption>", "<thead>", "<tr>"]
    out += [f'<th scope="col">{escape(h)}</th>' for h in headers]
    out += ["</tr>", "</thead>", "<tbody>"]
    for line in lines:
        what, may, *rest = (escape(c) for c in _cells(line))
        may = f"<strong>{may}</strong>" if line.prohibited else may
        out += ["<tr>", f'<th scope="row">{what}</th>', f"<td>{may}</td>"]
        out += [f"<td>{c}</td>" for c in rest]
        out.append("</tr>")
    out += ["</tbody>", "</table>"]
    return out


RENDERERS: dict[str, Callable[[PolicyReport], str]] = {"markdown": markdown, "html": html}
