"""Linkage keys (domain.linkage): normalisation, tokens and scoring, without a database."""

from datetime import date

import pytest

from referral.domain import linkage

SECRET = b"s" * 32
OTHER_SECRET = b"t" * 32
BORN = date(2008, 4, 9)


def similarity(a: tuple[str, str, date | None], b: tuple[str, str, date | None]) -> float:
    return linkage.similarity(linkage.tokens(SECRET, *a) & linkage.tokens(SECRET, *b))


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (("Müller", "Zoë"), ["muller", "zoe"]),
        (("Abdul Rahman", "al-Hassan"), ["abdrahman", "hassan"]),
        (("عبد الرحمن", "الحسن"), ["`bdrhmn", "hsn"]),  # ` is 'ayn: a skeleton's "a"
        (("Abd Allah", "van Dijk"), ["abdlah", "dijk"]),
        (("Bill", "O'Neil"), ["william", "o'neil"]),
        (("  ", ""), []),
    ],
)
def test_names_are_transliterated_stripped_of_particles_and_nicknames_expanded(
    written: tuple[str, str], expected: list[str]
) -> None:
    assert linkage.name_tokens(*written) == expected


@pytest.mark.parametrize(
    "spellings",
    [
        ("mohammed", "muhammad", "mohamed", "mhmd"),
        ("omar", "umar", "`mr"),
        ("othman", "uthman", "osman", "`thmn"),
        ("sharif", "cherif"),
        ("djamila", "jamila"),
        ("youssef", "yusuf", "ywsf"),
    ],
)
def test_transliterations_of_one_name_share_a_skeleton(spellings: tuple[str, ...]) -> None:
    assert len({linkage.skeleton(s) for s in spellings}) == 1


def test_different_names_keep_different_skeletons() -> None:
    names = ("mohammed", "ahmed", "omar", "youssef", "khalid", "fatima", "smith", "jones")
    assert len({linkage.skeleton(n) for n in names}) == len(names)


def test_a_swappable_date_gives_both_readings_and_an_unswappable_one_only_itself() -> None:
    assert linkage.dob_variants(date(2008, 4, 9)) == ["2008-04-09", "2008-09-04"]
    assert linkage.dob_variants(date(2008, 4, 13)) == ["2008-04-13"]
    assert linkage.dob_variants(date(2008, 4, 4)) == ["2008-04-04"]
    assert linkage.dob_variants(None) == []


def test_tokens_depend_on_the_secret_and_carry_no_name_or_date() -> None:
    mine = linkage.tokens(SECRET, "Quillon", "Vantablack", BORN)
    theirs = linkage.tokens(OTHER_SECRET, "Quillon", "Vantablack", BORN)
    assert mine and not mine & theirs
    text = " ".join(mine)
    for clear in ("quillon", "vantablack", "2008", "qln"):
        assert clear not in text
    assert all(len(t) == linkage.TOKEN_HEX and t[0] in linkage.KINDS for t in mine)


def test_the_same_record_is_certain_and_a_stranger_scores_nothing() -> None:
    same = ("Youssef", "Haddad", BORN)
    assert similarity(same, same) == 1.0
    assert similarity(same, ("Emma", "Smith", date(1999, 1, 30))) == 0.0


@pytest.mark.parametrize(
    "again",
    [
        ("Haddad", "Youssef", BORN),  # family name first
        ("يوسف", "حداد", BORN),  # Arabic script
        ("Yusuf", "Hadad", BORN),  # another transliteration
        ("Youssef", "Hadadd", BORN),  # a typo
        ("Youssef", "Haddad", date(2008, 9, 4)),  # day and month swapped
        ("Youssef", "Haddad", date(2008, 4, 10)),  # a day off
        ("Youssef", "Haddad", date(2009, 4, 9)),  # the year a digit off
        ("Youssef Karim", "Haddad", BORN),  # a middle name added
    ],
)
def test_a_re_referral_written_differently_reaches_the_threshold(
    again: tuple[str, str, date],
) -> None:
    assert similarity(("Youssef", "Haddad", BORN), again) >= linkage.THRESHOLD


def test_a_nickname_matches_its_full_name() -> None:
    assert similarity(("William", "Jones", BORN), ("Bill", "Jones", BORN)) == 1.0


@pytest.mark.parametrize(
    "other",
    [
        ("Youssef", "Haddad", date(2008, 7, 21)),  # same names, another birthday
        ("Youssef", "Mansour", BORN),  # same given name and birthday
        ("Hassan", "Haddad", date(2003, 4, 9)),  # same family name and day, other year
        ("Youssef", "Haddad", None),  # no date at all: names alone are not enough
    ],
)
def test_other_people_stay_below_the_threshold(other: tuple[str, str, date | None]) -> None:
    assert similarity(("Youssef", "Haddad", BORN), other) < linkage.THRESHOLD


def test_one_name_counts_once_however_many_date_readings_share_it() -> None:
    # Swappable dates give two readings; a part shared in both counts as one.
    shared = linkage.tokens(SECRET, "Nour", "Lopez", BORN) & linkage.tokens(
        SECRET, "Nour", "Garcia", BORN
    )
    parts = [t for t in shared if t[0] == linkage.PART.code]
    assert len(parts) == 1
    assert linkage.similarity(shared) == pytest.approx(linkage.PART.points / linkage.CERTAIN)


def test_weak_kinds_cannot_reach_the_threshold_together() -> None:
    weak = sum(linkage.KINDS[code].points for code in linkage.WEAK)
    assert weak / linkage.CERTAIN < linkage.THRESHOLD


def test_identifier_numbers_are_read_from_free_text_and_short_numbers_left_out() -> None:
    assert linkage.identifier_numbers("NHS 123 456 7890; UPN A1234567") == {
        "1234567890",
        "1234567",
    }
    assert linkage.identifier_numbers("NHS number: 123-456-7890") == {"1234567890"}
    assert linkage.identifier_numbers("flat 12, born 2009, school Hill Road") == set()


def test_a_shared_identifier_reaches_the_threshold_whatever_the_names() -> None:
    first = linkage.tokens(SECRET, "Youssef", "Haddad", BORN, "NHS 123 456 7890")
    again = linkage.tokens(SECRET, "Jo", "Smith", None, "nhs no. 1234567890")
    assert linkage.similarity(first & again) >= linkage.THRESHOLD
