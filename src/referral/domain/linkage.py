"""Linkage keys: how two referrals of one person are recognised without sharing who they are.

A referral's subject becomes a set of keyed tokens: HMAC-SHA-256, under a deployment secret,
of normalised variants of the name and date of birth. Two referrals of one person share
many of their tokens even when one spells the name differently, writes it in Arabic script,
uses a nickname, puts the family name first, makes a typo or swaps day and month; two
different people share few. Only the tokens are stored, and without the secret a token
says nothing about the name it came from (no dictionary attack on names and birthdays).

Normalisation, in order:
1. Arabic script loses its article (ال) and is transliterated with `anyascii`, as is any
   other script or accent (Müller -> muller).
2. Lower case, letters only; particles (al, el, bin, van, de...) go; "abd"/"abdul" joins
   the name it belongs to (Abd al-Rahman is one name).
3. A nickname becomes its full name (Bill -> william, Mo -> mohammed).
Each name token then gives two codes: its consonant skeleton (`skeleton`, which makes
"mohammed", "muhammad" and "mhmd" one code) and its metaphone (English sound).

The tokens are variants of (names, date of birth) at several strengths; `similarity`
weighs the kinds two referrals share. `bench/linkage.py` measures what this finds and what
it mistakes, beside exact matching.
"""

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import combinations

import jellyfish
from anyascii import anyascii

# Tokens are truncated: 128 bits keep collisions out of reach and the index small.
TOKEN_HEX = 32

PARTICLES = frozenset(
    {"al", "el", "ul", "bin", "ibn", "bint", "van", "von", "der", "den", "de", "da",
     "di", "du", "la", "le", "mc", "st"}
)  # fmt: skip
# Prefixes that belong to the next name: "Abd al-Rahman" and "Abdul Rahman" are one name.
JOINS = frozenset({"abd", "abdul", "abdel", "abdal", "abu", "abou"})

# Nickname -> the name it stands for. Deliberately short: the common English diminutives
# and the Arabic names' usual short forms that the phonetic codes would not bring together.
NICKNAMES: dict[str, str] = {
    "bill": "william", "billy": "william", "will": "william", "liam": "william",
    "bob": "robert", "bobby": "robert", "rob": "robert", "robbie": "robert",
    "jim": "james", "jimmy": "james", "jamie": "james", "mike": "michael", "mick": "michael",
    "tom": "thomas", "tommy": "thomas", "alex": "alexander", "sasha": "alexander",
    "kate": "katherine", "katie": "katherine", "kathy": "katherine", "cathy": "katherine",
    "liz": "elizabeth", "lizzie": "elizabeth", "beth": "elizabeth", "betty": "elizabeth",
    "jen": "jennifer", "jenny": "jennifer", "dan": "daniel", "danny": "daniel",
    "dave": "david", "davy": "david", "joe": "joseph", "joey": "joseph", "sam": "samuel",
    "sammy": "samuel", "ben": "benjamin", "benny": "benjamin", "nick": "nicholas",
    "chris": "christopher", "matt": "matthew", "tony": "anthony", "steve": "stephen",
    "andy": "andrew", "drew": "andrew", "ed": "edward", "eddie": "edward", "ted": "edward",
    "maggie": "margaret", "meg": "margaret", "peggy": "margaret", "sue": "susan",
    "susie": "susan", "abby": "abigail", "becky": "rebecca", "vicky": "victoria",
    "charlie": "charles", "chuck": "charles", "harry": "henry", "jack": "john",
    "johnny": "john", "kim": "kimberly", "nate": "nathan", "pat": "patrick",
    "rick": "richard", "dick": "richard", "rich": "richard", "zach": "zachary",
    "mo": "mohammed", "moe": "mohammed", "hamoudi": "mohammed", "hamada": "mohammed",
    "abdo": "abdullah", "aboud": "abdullah", "fatty": "fatima", "fafa": "fatima",
    "aisha": "aisha", "ahmad": "ahmed", "yousef": "youssef", "joseph": "joseph",
    "ibrahim": "ibrahim", "brahim": "ibrahim", "mustafa": "mustafa", "moustafa": "mustafa",
    "zizou": "zinedine", "hassoun": "hassan", "hussein": "hussein", "hessen": "hussein",
}  # fmt: skip

ARABIC_ARTICLE = re.compile(r"(^|\s)ال")
LETTERS = re.compile(r"[^a-z'`]+")
# Consonant classes of `skeleton`: letters that transliterations trade for one another.
# Digraphs that transliterations of one letter write differently: th/s/t (Othman, Osman),
# sh/ch/s (Sharif, Cherif), kh/k, dh/z, dj/j (Djamila, Jamila), gh/g.
DIGRAPHS = (("th", "s"), ("sh", "s"), ("ch", "s"), ("kh", "k"), ("dh", "z"), ("dj", "j"),
            ("gh", "g"), ("ph", "f"), ("ck", "k"))  # fmt: skip
# "Abdul-", "Abdel-", "Abd al-": one Arabic prefix, written many ways.
ABD = re.compile(r"^abd(?:ul|el|al|ol|u|e|a)?(?=[a-z]{2})")
SOUND_CLASSES = str.maketrans(
    {"p": "b", "v": "f", "c": "k", "q": "k", "g": "k", "d": "t", "z": "s", "x": "s"}
)
DROPPED = frozenset("aeiouywh'`")


def transliterate(text: str) -> str:
    """Any script to plain lower-case ASCII; Arabic without its article."""
    text = unicodedata.normalize("NFKC", text)
    text = ARABIC_ARTICLE.sub(r"\1", text)
    return anyascii(text).lower()


def name_tokens(given: str, family: str, *, nicknames: bool = True) -> list[str]:
    """The normalised name parts of a person, given names first, nicknames expanded."""
    raw = LETTERS.sub(" ", transliterate(f"{given} {family}").replace("-", " ")).split()
    tokens: list[str] = []
    pending = ""
    for token in raw:
        bare = token.strip("'`")
        if bare in PARTICLES:
            continue
        if bare in JOINS or skeleton(token) == "abt":
            pending += token
            continue
        name = ABD.sub("abd", pending + token)
        tokens.append(NICKNAMES.get(name, name) if nicknames else name)
        pending = ""
    if pending:
        tokens.append(pending)
    return tokens


def skeleton(token: str) -> str:
    """A name's consonant skeleton: a leading vowel (or Arabic 'ayn/hamza) as "a", then
    its consonants without h, w, y, in classes (d/t, s/z...), doubles collapsed. Brings
    transliterations together: mohammed, muhammad, mhmd -> "mt"; omar, umar, `mr -> "amr"."""
    if not token:
        return ""
    head = "a" if token[0] in "aeiou'`" else ""
    out: list[str] = [head] if head else []
    body = token[1:] if head else token
    for digraph, letter in DIGRAPHS:
        body = body.replace(digraph, letter)
    for letter in body.translate(SOUND_CLASSES):
        if letter in DROPPED:
            continue
        if out and out[-1] == letter:
            continue
        out.append(letter)
    return "".join(out)


def sound(token: str) -> str:
    """The English metaphone code of a name token (typos that keep the sound)."""
    return jellyfish.metaphone(token.strip("'`")) or token


def deletions(token: str) -> set[str]:
    """The token and every string one letter shorter: two tokens one typo apart share one."""
    return {token, *(token[:i] + token[i + 1 :] for i in range(len(token)))}


def typo_neighbours(tokens: list[str]) -> set[str]:
    """Each name within one typo, beside the other names' skeletons (order-free)."""
    out: set[str] = set()
    for i, name in enumerate(tokens):
        others = " ".join(sorted(skeleton(t) for j, t in enumerate(tokens) if j != i))
        out.update(f"{others}/{near}" for near in deletions(name))
    return out


def dob_variants(dob: date | None) -> list[str]:
    """The date, and the date with day and month swapped when that is a date too."""
    if dob is None:
        return []
    variants = [dob.isoformat()]
    if dob.day <= 12 and dob.day != dob.month:
        variants.append(date(dob.year, dob.day, dob.month).isoformat())
    return variants


@dataclass(frozen=True)
class Kind:
    """One kind of linkage key, and the evidence (points) that two referrals share one."""

    code: str
    points: float
    most: int = 1  # how many different keys of the kind may count


# The kinds a person's tokens come in. Points: how strongly sharing a key of that kind says
# "one person" (chosen on bench/linkage.py's synthetic people; two points is certain).
EXACT = Kind("x", 1.0)  # the names as written (normalised), sorted, and the date of birth
SKELETON = Kind("s", 1.0)  # name skeletons, sorted, and the date (or its day/month swap)
SOUND = Kind("m", 0.8)  # metaphone codes, sorted, and the date (or its day/month swap)
# One name within one typo (a letter dropped, added, changed or two swapped: its deletion
# neighbourhood), the other names' skeletons, and the date.
TYPO = Kind("e", 1.0)
PART = Kind("p", 0.3, most=2)  # one name's skeleton and the date (another name differs)
# Two of the names' skeletons and the date: a middle name left out, or one name changed.
PAIR = Kind("t", 0.8)
# The names as written (not their skeletons: Hassan and Hussein share one) and the date
# give or take a day; and with month and day, the year give or take one (a wrong digit).
ADJACENT = Kind("a", 0.6)
MONTH_DAY = Kind("d", 0.8)
YEAR = Kind("y", 0.3)  # name skeletons and the year only
NAMES = Kind("n", 0.2)  # name skeletons without any date
# An identifier (a health, school or case number) written in the subject's identifiers:
# its digits, when there are at least six. Alone, one point: as strong as a whole name and
# date, since two people do not share a number, but a mistyped one does not hide a match.
IDENTIFIER = Kind("i", 1.0)
ALL_KINDS = (
    EXACT, SKELETON, SOUND, TYPO, PART, PAIR, ADJACENT, MONTH_DAY, YEAR, NAMES, IDENTIFIER
)  # fmt: skip
KINDS = {k.code: k for k in ALL_KINDS}
CERTAIN = 2.0  # points at which similarity is 1
# Kinds too weak to reach the threshold even together (0.5 points): matching looks them up
# only for cases another kind found (services.linkage.match).
WEAK = frozenset({NAMES.code, YEAR.code})


IDENTIFIER_RUN = re.compile(r"[A-Za-z0-9]+")
MIN_IDENTIFIER_DIGITS = 6


def identifier_numbers(identifiers: str) -> set[str]:
    """The numbers in a free-text identifiers field, spaces and dashes inside a number
    ignored and letters around it dropped: "NHS 123 456 7890; UPN A1234567" gives
    {"1234567890", "1234567"}. Shorter runs of digits (a year, a house) are left out."""
    numbers = set()
    for piece in re.split(r"[;,/\n]+", identifiers):
        squeezed = re.sub(r"[\s.\-]+", "", piece)
        for run in IDENTIFIER_RUN.findall(squeezed):
            digits = "".join(c for c in run if c.isdigit())
            if len(digits) >= MIN_IDENTIFIER_DIGITS:
                numbers.add(digits)
    return numbers


def features(
    given: str, family: str, dob: date | None, identifiers: str = ""
) -> set[tuple[str, str]]:
    """The (kind, value) pairs a person's tokens are made of: the personal data in clear.

    Never stored: `tokens` keys them with the deployment secret. Day/month swaps enter only
    the whole-name kinds, so that one name part is never counted twice."""
    out: set[tuple[str, str]] = {(IDENTIFIER.code, n) for n in identifier_numbers(identifiers)}
    return out | _name_features(given, family, dob)


def _name_features(given: str, family: str, dob: date | None) -> set[tuple[str, str]]:
    written = name_tokens(given, family, nicknames=False)
    tokens = name_tokens(given, family)
    if not tokens:
        return set()
    skeletons = sorted({skeleton(t) for t in tokens} - {""})
    sounds = " ".join(sorted({sound(t) for t in tokens}))
    names = " ".join(skeletons)
    out: set[tuple[str, str]] = {(NAMES.code, names)}
    if dob is None:
        return out
    day = dob.isoformat()
    exact = " ".join(sorted(tokens))
    out.add((EXACT.code, f"{exact}|{day}"))
    for variant in dob_variants(dob):
        out.add((SKELETON.code, f"{names}|{variant}"))
        out.add((SOUND.code, f"{sounds}|{variant}"))
    out.update((PART.code, f"{part}|{day}") for part in skeletons)
    out.update((PAIR.code, f"{a} {b}|{day}") for a, b in combinations(skeletons, 2))
    near = typo_neighbours(tokens) | typo_neighbours(written)
    out.update((TYPO.code, f"{n}|{day}") for n in near)
    out.update((ADJACENT.code, f"{names}|{dob + timedelta(days=d)}") for d in (-1, 0, 1))
    out.add((YEAR.code, f"{names}|{dob.year}"))
    out.update((MONTH_DAY.code, f"{names}|{dob.year + d}{day[4:]}") for d in (-1, 0, 1))
    return out


def token(secret: bytes, kind: str, value: str) -> str:
    """One linkage key: the kind travels inside the HMAC, so kinds never collide."""
    digest = hmac.new(secret, f"{kind}\x1f{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}{digest[: TOKEN_HEX - 1]}"


def tokens(
    secret: bytes, given: str, family: str, dob: date | None, identifiers: str = ""
) -> set[str]:
    """A person's linkage tokens under `secret`: what the linkage table stores."""
    return {token(secret, kind, value) for kind, value in features(given, family, dob, identifiers)}


def kind_of(stored: str) -> Kind:
    """The kind a token is of: its first character, in clear (it names no one)."""
    return KINDS[stored[0]]


def similarity(shared: Iterable[str]) -> float:
    """How alike two referrals are, 0..1, from the tokens they share: each kind's points
    count once (PART once per name), summed, over CERTAIN."""
    seen: dict[str, int] = {}
    points = 0.0
    for stored in shared:
        kind = kind_of(stored)
        if seen.get(kind.code, 0) < kind.most:
            seen[kind.code] = seen.get(kind.code, 0) + 1
            points += kind.points
    return min(1.0, points / CERTAIN)


# Pairs at or above this similarity are shown as possible earlier referrals: one point,
# chosen on bench/linkage.py for precision >= 0.99 at the highest recall.
THRESHOLD = 0.5
