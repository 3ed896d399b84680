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

from referral.authz.conditions import OrgKindIn, plain
from referral.authz.enforcer import Permission, Rule
from referral.authz.expressions import AllOf, AnyOf, Call, Expr, Not
from referral.domain.vocabulary import Category, LegalBasis, Purpose, Role

ROLE_WORDS: dict[Role, str] = {
    Role.REFERRER: "Referrer",
    Role.COORDINATOR: "Coordinator",
    Role.SCREENER: "Screener (police gateway)",
    Role.PANEL_MEMBER: "Panel member",
    Role.PANEL_CHAIR: "Panel chair",
    Role.PROVIDER: "Support provider",
    Role.DPO: "Data protection officer",
    Role.ADMIN: "Administrator",
    Role.ANALYST: "Analyst",
    Role.AGENCY_CONTACT: "Partner agency contact",
    Role.NATIONAL_COORDINATOR: "National coordinator",
    Role.INVITED_OFFICIAL: "Official summoned to one meeting",
    Role.SYSTEM: "The system's own timers",
}

# What each category holds (DESIGN.md §2), so a reader need not look it up.
CATEGORY_WORDS: dict[Category, str] = {
    Category.STATUS: "status: state, dates, deadlines, referring organisation kind, coordinator",
    Category.IDENTITY: "identity: name, date of birth, address, identifiers",
    Category.CONTACT: "contact: phone, e-mail, guardian or parent details",
    Category.CONCERN: "concern: concern summary and concern types",
    Category.NARRATIVE: "narrative: the referrer's detailed account and supporting information",
    Category.SPECIAL: "special category data: health, religion, ethnicity, sexual orientation",
    Category.CRIMINAL: "criminal: offences, police intelligence, deconfliction results",
    Category.ASSESSMENT: "assessment: vulnerability assessment and risk rating",
    Category.DELIBERATION: "deliberation: panel minutes, agency contributions, decisions",
    Category.SUPPORT: "support: support plan, interventions, progress notes",
    Category.CONSENT: "consent: consent records (who, when, how, scope, withdrawal)",
}

PERMISSION_WORDS: dict[Permission, str] = {
    Permission.CASE_SUBMIT: "submit a referral",
    Permission.CASE_SCREEN: "screen a referral",
    Permission.CASE_DECONFLICT: "run police deconfliction on a referral",
    Permission.CASE_MANAGE: "move a case on through its workflow",
    Permission.CASE_SCHEDULE: "put a case forward for a panel meeting",
    Permission.CASE_DECIDE: "record a panel decision",
    Permission.CASE_CONSENT: "move a case on once consent is answered",
    Permission.CASE_ERASE: "erase a case when its retention period ends",
    Permission.CASE_BREAKGLASS: (
        "break glass: open one hidden category of a case for a short time, with a written"
        " justification, logged and reviewed by the data protection officer"
    ),
    Permission.INFORMATION_REQUEST_SEND: "ask a partner agency for information",
    Permission.INFORMATION_REQUEST_ANSWER: "answer a request for information",
    Permission.CONSENT_REQUEST: "ask the person for consent",
    Permission.CONSENT_RECORD: "record the person's consent or refusal",
    Permission.CONSENT_WITHDRAW: "record that the person withdrew consent",
    Permission.MEETING_SCHEDULE: "schedule a panel meeting",
    Permission.MEETING_SET_AGENDA: "set a panel meeting's agenda",
    Permission.MEETING_CANCEL: "cancel a panel meeting",
    Permission.MEETING_HOLD: "hold a panel meeting",
    Permission.MEETING_APPROVE_MINUTES: "approve a panel meeting's minutes",
    Permission.MEETING_SUMMON: "summon an official from elsewhere to one panel meeting",
    Permission.INTERVENTION_ASSIGN: "assign an intervention to a provider",
    Permission.INTERVENTION_WITHDRAW: "withdraw an intervention",
    Permission.INTERVENTION_ACCEPT: "accept an intervention",
    Permission.INTERVENTION_START: "start an intervention",
    Permission.INTERVENTION_RECORD: "record progress on an intervention",
    Permission.INTERVENTION_COMPLETE: "complete an intervention",
    Permission.AUDIT_READ: "read the audit log",
    Permission.AUDIT_VERIFY: "verify the audit log's integrity",
    Permission.BREAKGLASS_REVIEW: "review break-glass access and record whether it was justified",
    Permission.SUBJECT_EXPORT: (
        "export everything held about a person and every access to it (subject access)"
    ),
    Permission.ADMIN_MANAGE: "manage users, organisations and networks",
    Permission.POLICY_REVIEW: "preview a proposed sharing policy's impact, and approve it",
    Permission.WORKFLOW_MIGRATE: "see how running cases would move to a new workflow version",
    Permission.STATISTICS_READ: "read aggregate statistics (no case)",
    Permission.LINKAGE_READ: (
        "see a case's possible earlier referrals (network, year, state, similarity; never the"
        " person)"
    ),
    Permission.LINKAGE_ASK: "ask another network to confirm a possible earlier referral",
    Permission.LINKAGE_ANSWER: "confirm or reject a link another network asks about",
    Permission.LINKAGE_ALERTS: "list repeat-referral alerts across networks, status level only",
    Permission.CASE_TRANSFER: "propose handing a case over to another network",
    Permission.TRANSFER_RECEIVE: "see, preview, accept or decline cases other networks hand over",
    Permission.TRANSFER_LIST: "list transfers between networks (names, states, dates only)",
    Permission.HANDOVER_STATUS: "receive status data with a case handed over",
    Permission.HANDOVER_IDENTITY: "receive identity data with a case handed over",
    Permission.HANDOVER_CONTACT: "receive contact data with a case handed over",
    Permission.HANDOVER_CONCERN: "receive concern data with a case handed over",
    Permission.HANDOVER_NARRATIVE: "receive narrative data with a case handed over",
    Permission.HANDOVER_SPECIAL: "receive special data with a case handed over",
    Permission.HANDOVER_CRIMINAL: "receive criminal data with a case handed over",
    Permission.HANDOVER_ASSESSMENT: "receive assessment data with a case handed over",
    Permission.HANDOVER_DELIBERATION: "receive deliberation data with a case handed over",
    Permission.HANDOVER_SUPPORT: "receive support data with a case handed over",
    Permission.HANDOVER_CONSENT: "receive consent data with a case handed over",
    Permission.NETWORK_CREATE: "create networks (from the national tier)",
    Permission.NETWORK_OVERSEE: "see the networks of the country at status level (no case)",
    Permission.PROTOCOL_PUBLISH: "publish a new version of the network's sharing protocol",
}

PURPOSE_WORDS: dict[Purpose, str] = {
    Purpose.SCREENING: "screening a referral",
    Purpose.PANEL: "the multi-agency panel",
    Purpose.SUPPORT: "giving support",
    Purpose.AUDIT: "audit and oversight",
    Purpose.STATISTICS: "statistics",
}

BASIS_WORDS: dict[LegalBasis, str] = {
    LegalBasis.CONSENT: "consent of the person",
    LegalBasis.PUBLIC_TASK: "public task",
    LegalBasis.LEGAL_OBLIGATION: "legal obligation",
    LegalBasis.VITAL_INTERESTS: "vital interests",
    LegalBasis.CRIME_PREVENTION: "prevention of crime",
}

_ACTION_WORDS = {"read": "see", "write": "change"}
NEVER = "never"


@dataclass(frozen=True, slots=True)
class Line:
    """One row of a role's table: what, who exactly, when, why and on which basis."""

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


def describe(expr: Expr, state_label: Callable[[str], str] = plain) -> str:
    """A condition expression in plain words: `!`, `&`, `|` become not, and, or."""
    if isinstance(expr, Call):
        return expr.condition.describe(*expr.args, state_label=state_label)
    if isinstance(expr, Not):
        return f"not {_nested(expr.operand, state_label)}"
    if isinstance(expr, AllOf):
        return " and ".join(_nested(o, state_label) for o in expr.operands)
    if isinstance(expr, AnyOf):
        return ", or ".join(_nested(o, state_label) for o in expr.operands)
    raise TypeError(f"no words for {type(expr).__name__}")


def _nested(expr: Expr, state_label: Callable[[str], str]) -> str:
    words = describe(expr, state_label)
    return f"({words})" if isinstance(expr, AllOf | AnyOf) else words


def _permission_order(rule: Rule) -> int:
    return list(Permission).index(Permission(f"{rule.obj}:{rule.act}"))


def _line(rule: Rule, state_label: Callable[[str], str]) -> Line:
    kinds, rest = _org_kinds(rule.expr)
    who = f"{'/'.join(plain(k) for k in kinds)} organisations only" if kinds else ""
    if rule.network != "*":
        who = ", ".join(filter(None, [who, f"network {rule.network} only"]))
    when = describe(AllOf(rest) if len(rest) > 1 else rest[0], state_label) if rest else "always"
    if rule.is_permission:
        what = PERMISSION_WORDS.get(Permission(f"{rule.obj}:{rule.act}"), rule.obj)
        may = "yes" if rule.allows else NEVER
    else:
        what = CATEGORY_WORDS.get(Category(rule.obj), rule.obj)
        action = _ACTION_WORDS[rule.act]
        may = action if rule.allows else f"{NEVER} {action}"
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
            may = f"{last.may} or change" if line.prohibited else f"{last.may} and change"
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
