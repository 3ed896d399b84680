"""A policy impact (services.policy_impact) in words: Markdown, or a standalone HTML page."""

from collections.abc import Callable, Sequence
from html import escape

from referral.services.policy_impact import GAINS, ImpactLine, PolicyImpact

TITLE = "Impact of the proposed sharing policy"
HEADERS = ("Who", "Organisation kind", "Network", "What", "Case state", "Pairs", "People", "Cases",
           "Sample cases")  # fmt: skip
_INTRO = (
    "Each line counts the (person, case) pairs whose answer would change: a person of the"
    " group named, a case in the state named. People and cases are counts; sample cases"
    " are case numbers. No personal data is shown."
)


def summary(impact: PolicyImpact) -> list[str]:
    return [
        f"Policy in force: {impact.current_hash}",
        f"Proposed policy: {impact.proposed_hash}",
        f"Checked: {impact.users_checked} people in {impact.groups_checked} groups,"
        f" {impact.cases_checked} cases",
        f"Rules added: {len(impact.added_rules)}; rules removed: {len(impact.removed_rules)}",
    ]


def _cells(line: ImpactLine) -> tuple[str, ...]:
    return (
        line.roles, line.org_kind.replace("_", " "), line.network, line.subject,
        line.state.replace("_", " "), str(line.pairs), str(line.users), str(line.cases),
        ", ".join(map(str, line.sample)),
    )  # fmt: skip


def _sections(impact: PolicyImpact) -> list[tuple[str, list[ImpactLine]]]:
    gains = [line for line in impact.lines if line.direction == GAINS]
    losses = [line for line in impact.lines if line.direction != GAINS]
    return [("Who would gain access", gains), ("Who would lose access", losses)]


def _rules(impact: PolicyImpact) -> tuple[tuple[str, list[str]], ...]:
    return (("Rules added", impact.added_rules), ("Rules removed", impact.removed_rules))


def markdown(impact: PolicyImpact) -> str:
    out = [f"# {TITLE}", "", _INTRO, ""]
    out += [f"- {line}" for line in summary(impact)]
    for heading, rules in (
        ("Rules added", impact.added_rules),
        ("Rules removed", impact.removed_rules),
    ):
        if rules:
            out += ["", f"## {heading}", "", *(f"- `{rule}`" for rule in rules)]
    for heading, lines in _sections(impact):
        out += ["", f"## {heading}", ""]
        if not lines:
            out.append("Nobody.")
            continue
        out += [_row(HEADERS), _row(["---"] * len(HEADERS))]
        out += [_row(_cells(line)) for line in lines]
    return "\n".join(out) + "\n"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def html(impact: PolicyImpact) -> str:
    """A complete standalone page: plain semantic HTML, no script, no style."""
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{TITLE}</title>", "</head>", "<body>", "<main>", f"<h1>{TITLE}</h1>",
           f"<p>{escape(_INTRO)}</p>", "<ul>"]  # fmt: skip
    out += [f"<li>{escape(line)}</li>" for line in summary(impact)]
    out.append("</ul>")
    for heading, rules in (
        ("Rules added", impact.added_rules),
        ("Rules removed", impact.removed_rules),
    ):
        if rules:
            out += [f"<h2>{heading}</h2>", "<ul>"]
            out += [f"<li><code>{escape(rule)}</code></li>" for rule in rules]
            out.append("</ul>")
    for heading, lines in _sections(impact):
        out.append(f"<h2>{heading}</h2>")
        if not lines:
            out.append("<p>Nobody.</p>")
            continue
        out += ["<table>", f"<caption>{heading}</caption>", "<thead>", "<tr>"]
        out += [f'<th scope="col">{escape(h)}</th>' for h in HEADERS]
        out += ["</tr>", "</thead>", "<tbody>"]
        for line in lines:
            who, *rest = (escape(c) for c in _cells(line))
            out += [
                "<tr>",
                f'<th scope="row">{who}</th>',
                *(f"<td>{c}</td>" for c in rest),
                "</tr>",
            ]
        out += ["</tbody>", "</table>"]
    out += ["</main>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


RENDERERS: dict[str, Callable[[PolicyImpact], str]] = {"markdown": markdown, "html": html}
