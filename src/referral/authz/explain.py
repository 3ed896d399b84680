"""Why a person sees a category of a case, or does not, in the sharing agreement's words.

Every field a page or the API shows or hides carries one short sentence built from the
policy itself: the role the rule is for, its purpose and its legal basis for what is
shown; for what is hidden, what keeps it hidden and, where something could change that
(a consent, an agenda, an assignment, break-glass), what would. No rule syntax, file
names, user names or internal identifiers: the words are those of the readable
agreement (`referral policy report`, referral.authz.report). Pure: the caller passes
the decisions and the rules it already has.
"""

from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime

from referral.authz.conditions import plain
from referral.authz.enforcer import Decision, Rule
from referral.authz.report import BASIS_WORDS, PURPOSE_WORDS, ROLE_WORDS, describe
from referral.domain.vocabulary import Category, Role

BREAK_GLASS = (
    " You may break glass to open it for a short time, with a reason the data protection"
    " officer reviews."
)


def _role(role: str) -> str:
    try:
        return ROLE_WORDS[Role(role)].lower()
    except ValueError:
        return plain(role)


def shown(decision: Decision) -> str:
    """Why a category is shown: the role, purpose and legal basis of the rule that allowed it."""
    role = _role(decision.rule[0]) if decision.rule else "your role"
    purpose = PURPOSE_WORDS.get(decision.purpose, "") if decision.purpose else ""
    basis = BASIS_WORDS.get(decision.legal_basis, "") if decision.legal_basis else ""
    sentence = f"Shared with you as {role}"
    if purpose:
        sentence += f", for {purpose}"
    if basis:
        sentence += f"; legal basis: {basis}"
    return sentence + "."


def hidden(
    decision: Decision,
    roles: Iterable[str],
    allows: Iterable[Rule],
    *,
    may_break_glass: bool,
    state_label: Callable[[str], str] = plain,
) -> str:
    """Why a category is hidden: a deny rule of the agreement; or the conditions under
    which the actor's roles would see it, which do not hold now; or that the agreement
    shows it to none of them. Then whether break-glass could open it."""
    if decision.rule:  # a deny rule matched: nothing the case does changes that
        return f"The sharing agreement keeps this from a {_role(decision.rule[0])}."
    whens = [
        f"a {_role(str(rule.role))} sees this {_condition(rule, state_label)}"
        for rule in allows
        if rule.allows
    ]
    if whens:
        sentence = "Not shown now: " + "; or ".join(dict.fromkeys(whens)) + "."
    else:
        named = " or ".join(sorted(_role(r) for r in roles)) or "someone without a role"
        sentence = f"The sharing agreement does not share this with a {named}."
    return sentence + (BREAK_GLASS if may_break_glass else "")


def _condition(rule: Rule, state_label: Callable[[str], str]) -> str:
    """The rule's condition as the readable agreement says it, told to the person it is
    about: the purpose it names is this rule's, and the aside for a single record (how a
    condition reads when an operation touches one intervention) does not apply to a read."""
    words = describe(rule.expr, state_label)
    words = words.replace(" (for one intervention: that intervention)", "")
    purpose = PURPOSE_WORDS.get(rule.purpose) if rule.purpose else None
    return words.replace("for the purpose named", f"for {purpose}") if purpose else words


def for_categories(
    decisions: Mapping[Category, Decision],
    roles: Iterable[str],
    allows_for: Callable[[Category], Iterable[Rule]],
    *,
    openable: Collection[Category] = (),
    opened: Mapping[Category, datetime] | None = None,
    state_label: Callable[[str], str] = plain,
) -> dict[Category, str]:
    """The sentence for each category of a read: shown (by a rule, or `opened` under a
    break-glass grant until when) or hidden, and why; `openable`: the hidden categories
    the actor may break glass for."""
    roles = tuple(roles)
    opened = opened or {}
    words: dict[Category, str] = {}
    for category, decision in decisions.items():
        if decision.allowed:
            words[category] = shown(decision)
        elif category in opened:
            until = opened[category].strftime("%d %b %Y, %H:%M UTC")
            words[category] = f"Open to you under your break-glass grant until {until}."
        else:
            words[category] = hidden(
                decision,
                roles,
                allows_for(category),
                may_break_glass=category in openable,
                state_label=state_label,
            )
    return words
