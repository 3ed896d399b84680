"""Human references of cases, and the normal forms the search index compares.

A reference is `PREFIX-YEAR-NNNN`: the network's prefix (its slug's first letters), the
year the case was created and its number that year in that network. Names are compared
as tokens with case and accents folded, so "Zoë O'Neil" is found as "zoe oneil".
"""

import re
import unicodedata
from datetime import date

REFERENCE_PATTERN = re.compile(r"^\s*([A-Za-z0-9]{1,4})-(\d{4})-(\d{1,9})\s*$")


def network_prefix(slug: str) -> str:
    letters = re.sub(r"[^A-Za-z0-9]", "", slug).upper()
    return letters[:4] or "NET"


def format_reference(prefix: str, year: int, number: int) -> str:
    return f"{prefix}-{year}-{number:04d}"


def normal_reference(text: str) -> str | None:
    """The reference a person typed, in its stored form; None when it is not one."""
    found = REFERENCE_PATTERN.match(text)
    if found is None:
        return None
    prefix, year, number = found.groups()
    return format_reference(prefix.upper(), int(year), int(number))


def name_tokens(text: str) -> set[str]:
    """The words of a name, case and accents folded, apostrophes and hyphens dropped."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    plain = re.sub(r"['\u2019`]", "", plain)
    return {token for token in re.split(r"[^\w]+", plain) if token}


def initials(given_name: str | None, family_name: str | None) -> str:
    """ "A. B." from a name, for beside a reference; empty when there is no name."""
    letters = [part.strip()[:1].upper() for part in (given_name, family_name) if part]
    return " ".join(f"{letter}." for letter in letters if letter)


def search_values(given_name: str, family_name: str, born: date | None) -> set[str]:
    """What the blind index keeps of a person, before keying: name tokens and birth date."""
    values = {f"name:{token}" for token in name_tokens(f"{given_name} {family_name}")}
    if born is not None:
        values.add(f"born:{born.isoformat()}")
    return values
