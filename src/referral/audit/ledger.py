"""The disclosure ledger: what a read disclosed, category by category, and why.

A read is one audit entry. Each category it decided is ledgered with the rule that
disclosed it, that rule's purpose and legal basis, or with what refused it: a deny
rule, or no rule at all. The entry's `rule` column holds these decisions as canonical
JSON (docs/audit-format.md, "A read's categories"), hashed like every other column:

    {"read":{"criminal":["default.csv:32","screening","crime_prevention"],...},
     "refused":{"narrative":"default.csv:118","special":""}}

A rule is named by file and line ("default.csv:32"); the entry's `policy_hash` pins the
version of the file. Entries of one decision, and reads written before the ledger was
kept per category, hold the policy line itself in `rule` and the one purpose and basis
in their columns: `disclosures` reads both kinds, and `sentences` says them in words,
never in rule syntax.
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from referral.domain.vocabulary import Category
from referral.i18n import Phrase

READ, REFUSED = "read", "refused"
# Actions that record what a person was shown: their categories are said as "read ...".
READ_ACTIONS = frozenset(
    {
        "case:read",
        "case:timeline",
        "breakglass:read",
        "intervention:list",
        "meeting:read_minutes",
        "transfer:preview",
        "transfer:disclosed",
    }
)
_ORDER = {str(c): i for i, c in enumerate(Category)}


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One decision of an entry: the categories it covers, allowed or refused, and why."""

    categories: tuple[str, ...]  # one; or every category of an entry of one decision
    allowed: bool
    rule: str  # "default.csv:32", an older entry's policy line, or "" when no rule matched
    purpose: str = ""
    legal_basis: str = ""


def encode(read: Mapping[str, Sequence[str]], refused: Mapping[str, str]) -> str:
    """The `rule` column of a read, as canonical JSON: each category shown -> (rule,
    purpose, legal basis), each category withheld -> the rule that refused it, or ""."""
    body = {READ: read, REFUSED: refused}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def shared(values: Iterable[str]) -> str:
    """The one value all disclosed categories share (a read's purpose column), or ""."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else ""


def _per_category(rule: str) -> tuple[Disclosure, ...] | None:
    """The decisions of a per-category entry, or None if `rule` is not one (a policy line)."""
    if not rule.startswith("{"):
        return None
    try:
        body = json.loads(rule)
        read = {str(c): (str(r), str(p), str(b)) for c, (r, p, b) in body[READ].items()}
        refused = {str(c): str(r) for c, r in body[REFUSED].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    found = [Disclosure((c,), True, *why) for c, why in read.items()]
    found += [Disclosure((c,), False, r) for c, r in refused.items()]
    found.sort(key=lambda d: (not d.allowed, _ORDER.get(d.categories[0], len(_ORDER))))
    return tuple(found)


def disclosures(
    categories: Iterable[str], allowed: bool, rule: str, purpose: str, legal_basis: str
) -> tuple[Disclosure, ...]:
    """An entry's decisions: per category where it was ledgered so, otherwise the entry's
    one decision covering all its categories (older entries stay readable)."""
    per_category = _per_category(rule)
    if per_category is not None:
        return per_category
    names = tuple(sorted(categories, key=lambda c: _ORDER.get(c, len(_ORDER))))
    return (Disclosure(names, allowed, rule, purpose, legal_basis),) if names else ()


def rules_named(rule: str) -> str:
    """The `rule` column as a page shows it: a per-category entry's rules by file and
    line ("identity default.csv:19; special refused, no rule"), any other as stored."""
    per_category = _per_category(rule)
    if per_category is None:
        return rule
    parts = []
    for d in per_category:
        category = d.categories[0]
        if d.allowed:
            parts.append(f"{category} {d.rule}")
        else:
            parts.append(
                f"{category} refused by {d.rule}" if d.rule else f"{category} refused, no rule"
            )
    return "; ".join(parts)


# The codes as a sentence says them, lowercase ("read criminal information for
# screening, legal basis: crime prevention"): each a fixed phrase, translated where the
# sentence is shown (i18n.Phrase). A code none of them knows (a category, purpose or
# basis since removed, in an old entry) reads as its name, as it is.
CATEGORY_WORDS: dict[str, Phrase] = {
    "status": Phrase("status"),
    "identity": Phrase("identity"),
    "contact": Phrase("contact"),
    "concern": Phrase("concern"),
    "narrative": Phrase("narrative"),
    "special": Phrase("special"),
    "criminal": Phrase("criminal"),
    "assessment": Phrase("assessment"),
    "deliberation": Phrase("deliberation"),
    "support": Phrase("support"),
    "consent": Phrase("consent"),
}
PURPOSE_WORDS: dict[str, Phrase] = {
    "screening": Phrase("screening"),
    "panel": Phrase("panel"),
    "support": Phrase("support"),
    "audit": Phrase("audit"),
    "statistics": Phrase("statistics"),
}
BASIS_WORDS: dict[str, Phrase] = {
    "consent": Phrase("consent"),
    "public_task": Phrase("public task"),
    "legal_obligation": Phrase("legal obligation"),
    "vital_interests": Phrase("vital interests"),
    "crime_prevention": Phrase("crime prevention"),
}


def _words(words: Mapping[str, Phrase], value: str) -> str:
    return words.get(value) or value.replace("_", " ")


def _listed(categories: tuple[str, ...]) -> str:
    """ "status", "status and identity", "status, identity and contact"."""
    names = [_words(CATEGORY_WORDS, c) for c in categories]
    listed = names[-1]
    if len(names) > 1:
        listed = Phrase("%(first)s and %(last)s", first=names[-2], last=listed)
    for name in reversed(names[:-2]):
        listed = Phrase("%(first)s, %(rest)s", first=name, rest=listed)
    return listed


def sentence(d: Disclosure) -> Phrase:
    """One decision in words, e.g. "read criminal information for screening, legal basis:
    crime prevention", or "refused special information: no rule allows it here". A
    Phrase: English as a string, in the reader's language on a page."""
    what = _listed(d.categories)
    if not d.allowed:
        if d.rule:
            return Phrase(
                "refused %(categories)s information: a rule of the sharing agreement refuses it",
                categories=what,
            )
        return Phrase("refused %(categories)s information: no rule allows it here", categories=what)
    purpose = _words(PURPOSE_WORDS, d.purpose)
    basis = _words(BASIS_WORDS, d.legal_basis)
    if purpose and basis:
        return Phrase(
            "read %(categories)s information for %(purpose)s, legal basis: %(basis)s",
            categories=what,
            purpose=purpose,
            basis=basis,
        )
    if purpose:
        return Phrase(
            "read %(categories)s information for %(purpose)s", categories=what, purpose=purpose
        )
    if basis:
        return Phrase(
            "read %(categories)s information, legal basis: %(basis)s", categories=what, basis=basis
        )
    return Phrase("read %(categories)s information", categories=what)


def sentences(
    action: str,
    categories: Iterable[str],
    allowed: bool,
    rule: str,
    purpose: str,
    legal_basis: str,
) -> tuple[Phrase, ...]:
    """What a read showed and refused, per category, in words; nothing for other actions
    (a change says what it changed through its action and categories)."""
    if action not in READ_ACTIONS and not rule.startswith("{"):
        return ()
    return tuple(sentence(d) for d in disclosures(categories, allowed, rule, purpose, legal_basis))
