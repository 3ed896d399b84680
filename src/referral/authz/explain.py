"""Why a person sees a category of a case, or does not, in the sharing agreement's words.

Every field a page or the API shows or hides carries one short sentence built from the
policy itself: the role the rule is for, its purpose and its legal basis for what is
shown; for what is hidden, what keeps it hidden and, where something could change that
(a consent, an agenda, an assignment, break-glass), what would. No rule syntax, file
names, user names or internal identifiers: the words are those of the readable
agreement (`referral policy report`, referral.authz.report). Pure: the caller passes
the decisions and the rules it already has.

Each sentence is an `i18n.Phrase`: English as a `str` (the API, the audit, tests), and
a template of fixed phrases that a page renders in the reader's language (the web's
`translate` and `phrase` filters).
"""

from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime

from referral.authz.conditions import either, folded, plain
from referral.authz.enforcer import Decision, Rule
from referral.authz.report import BASIS_WORDS, PURPOSE_WORDS, ROLE_NOUNS, describe
from referral.domain.vocabulary import Category, Role
from referral.i18n import N_, Phrase

# A hidden category's sentence, when the viewer may break glass for it; BREAK_GLASS, the
# words it adds in English.
WITH_BREAK_GLASS = N_(
    "%(reason)s You may break glass to open it for a short time, with a reason the data"
    " protection officer reviews."
)
BREAK_GLASS = WITH_BREAK_GLASS.removeprefix("%(reason)s")


def _role(role: str) -> str:
    try:
        return ROLE_NOUNS[Role(role)]
    except (ValueError, KeyError):
        return plain(role)


def shown(decision: Decision) -> Phrase:
    """Why a category is shown: the role, purpose and legal basis of the rule that allowed it."""
    role = _role(decision.rule[0]) if decision.rule else Phrase("your role")
    purpose = PURPOSE_WORDS.get(decision.purpose) if decision.purpose else None
    basis = BASIS_WORDS.get(decision.legal_basis) if decision.legal_basis else None
    if purpose and basis:
        return Phrase(
            "Shared with you as %(role)s, for %(purpose)s; legal basis: %(basis)s.",
            role=role,
            purpose=purpose,
            basis=basis,
        )
    if purpose:
        return Phrase("Shared with you as %(role)s, for %(purpose)s.", role=role, purpose=purpose)
    if basis:
        return Phrase(
            "Shared with you as %(role)s; legal basis: %(basis)s.", role=role, basis=basis
        )
    return Phrase("Shared with you as %(role)s.", role=role)


def hidden(
    decision: Decision,
    roles: Iterable[str],
    allows: Iterable[Rule],
    *,
    may_break_glass: bool,
    state_label: Callable[[str], str] = plain,
) -> Phrase:
    """Why a category is hidden: a deny rule of the agreement; or the conditions under
    which the actor's roles would see it, which do not hold now; or that the agreement
    shows it to none of them. Then whether break-glass could open it."""
    if decision.rule:  # a deny rule matched: nothing the case does changes that
        return Phrase(
            "The sharing agreement keeps this from a %(role)s.", role=_role(decision.rule[0])
        )
    whens = [
        Phrase(
            "a %(role)s sees this %(condition)s",
            role=_role(str(rule.role)),
            condition=_condition(rule, state_label),
        )
        for rule in allows
        if rule.allows
    ]
    sentence: Phrase
    if whens:
        ways = folded(
            dict.fromkeys(whens),  # the same words once (a Phrase is equal to its English)
            lambda a, b: Phrase("%(first)s; or %(then)s", first=a, then=b),
        )
        sentence = Phrase("Not shown now: %(ways)s.", ways=ways)
    elif named := either(sorted(_role(r) for r in roles)):
        sentence = Phrase(
            "The sharing agreement does not share this with a %(roles)s.", roles=named
        )
    else:
        sentence = Phrase(
            "The sharing agreement does not share this with a %(roles)s.",
            roles=Phrase("someone without a role"),
        )
    if may_break_glass:
        return Phrase(WITH_BREAK_GLASS, reason=sentence)
    return sentence


def _condition(rule: Rule, state_label: Callable[[str], str]) -> Phrase:
    """The rule's condition as the readable agreement says it, told to the person it is
    about: the purpose it names is this rule's, and the aside for a single record (how a
    condition reads when an operation touches one intervention) does not apply to a read."""
    purpose = PURPOSE_WORDS.get(rule.purpose) if rule.purpose else None
    return describe(rule.expr, state_label, purpose=purpose, one_record=False)


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
    the actor may break glass for. Each sentence is a Phrase (English as a str)."""
    roles = tuple(roles)
    opened = opened or {}
    words: dict[Category, str] = {}  # each a Phrase
    for category, decision in decisions.items():
        if decision.allowed:
            words[category] = shown(decision)
        elif category in opened:
            words[category] = Phrase(
                "Open to you under your break-glass grant until %(until)s.",
                until=opened[category],  # a moment: the reader's form and the network's zone
            )
        else:
            words[category] = hidden(
                decision,
                roles,
                allows_for(category),
                may_break_glass=category in openable,
                state_label=state_label,
            )
    return words
