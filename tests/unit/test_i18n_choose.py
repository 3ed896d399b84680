"""Which language a request reads in (referral.i18n): the user's choice, else the
browser's best shipped match, else the network's default, else English."""

import pytest

from referral import i18n


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr", "fr"),
        ("fr-CA", "fr"),
        ("FR-ca", "fr"),
        ("fr_CA", None),  # not a language tag (an underscore): skipped
        ("de, ar;q=0.8, fr;q=0.9", "fr"),  # the highest q that ships, not the first
        ("ur;q=0.2, ar;q=0.2", "ur"),  # a tie: the first named
        ("ar;q=0, fr;q=0.1", "fr"),  # q=0 means "not this one"
        ("en-GB,en;q=0.9,fr;q=0.8", "en"),
        ("de, es", None),  # none ships
        ("*", None),  # any language: no preference of its own
        ("de, *;q=0.5", None),
        ("*, ur;q=0.5", "ur"),
        ("", None),
        (None, None),
        ("fr;q=abc, ar", "ar"),  # a malformed part is skipped, never an error
        ("fr;q=1.2.3, ur", "ur"),
        (";;;,,,", None),
        ("fr-, ar", "ar"),
        ("x" * 5000, None),
        (",".join(["de"] * 40 + ["fr"]), None),  # only the first 32 parts are read
    ],
)
def test_accept_language(header: str | None, expected: str | None) -> None:
    assert i18n.from_accept_language(header) == expected


def test_the_users_choice_comes_first() -> None:
    assert i18n.choose("ar", "fr", "ur,en").language == "ar"


def test_an_unknown_choice_falls_back_to_the_browser() -> None:
    assert i18n.choose("xx", "fr-CA", "ur").language == "fr"


def test_then_the_networks_default_then_english() -> None:
    assert i18n.choose(None, None, "ur,en").language == "ur"
    assert i18n.choose(None, "de", "de,fr").language == "fr"  # its first shipped language
    assert i18n.choose(None, "*", "fr").language == "fr"
    assert i18n.choose(None, None, None).language == "en"
    assert i18n.choose(None, "de", "de").language == "en"


def test_direction_and_zone() -> None:
    assert i18n.choose("ar", None, None).direction == "rtl"
    assert i18n.choose("ur", None, None).direction == "rtl"
    assert i18n.choose("fr", None, None).direction == "ltr"
    assert i18n.choose(None, None, None, "Europe/Paris").zone.key == "Europe/Paris"
    assert i18n.choose(None, None, None, "Not/AZone").zone.key == i18n.DEFAULT_ZONE


def test_a_marked_constant_is_itself() -> None:
    assert i18n.N_("Fill this in.") == "Fill this in."
