"""Languages: the message catalogues, which language a request reads in, and dates,
times and numbers in that language and the network's time zone.

The catalogues are Babel `.po` files under `locale/` (`make messages` extracts the
English strings from templates, code, workflows and policies into `messages.pot` and
merges them into each language). They are read once per process, as text: no compiled
`.mo` files to build or keep in step.

A request reads in the first of: the user's own choice (account page), the best match
of the browser's `Accept-Language`, the network's default language, English.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
SOURCE_LANGUAGE = "en"
# The languages the product ships, each named in its own language for the chooser.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "fr": "Français",
    "ar": "العربية",
    "ur": "اردو",
}
RIGHT_TO_LEFT = frozenset({"ar", "ur"})
DEFAULT_ZONE = "Europe/London"

# "fr-CH;q=0.8" -> ("fr-ch", 0.8); a malformed part is skipped, never an error.
_ACCEPT_PART = re.compile(
    r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q=([0-9.]+))?\s*$"
)


@dataclass(frozen=True)
class Reading:
    """How one request reads: its language, direction and the network's time zone."""

    language: str
    zone: ZoneInfo

    @property
    def direction(self) -> str:
        return "rtl" if self.language in RIGHT_TO_LEFT else "ltr"

    @property
    def locale(self) -> Locale:
        return _locale(self.language)


ENGLISH = Reading(SOURCE_LANGUAGE, ZoneInfo(DEFAULT_ZONE))


@cache
def _locale(language: str) -> Locale:
    # English is written the way the networks this serves write it: "15 Apr 2008", 24 h.
    return Locale.parse("en_GB" if language == SOURCE_LANGUAGE else language)


@cache
def translations(language: str) -> NullTranslations:
    """The catalogue of one language, read from its `.po` once per process. English, or a
    language with no catalogue, reads the source strings as they are."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == SOURCE_LANGUAGE or not path.exists():
        return NullTranslations()
    with path.open("rb") as po:
        catalogue = read_po(po, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalogue, use_fuzzy=False)  # a fuzzy guess is not shown to anyone
    compiled.seek(0)
    return Translations(compiled)


def N_(message: str) -> str:  # noqa: N802 (the name extraction tools know)
    """Marks a constant for extraction (`make messages` reads `N_("...")`); it is
    translated where it is shown (`| translate` in a template, `web.language.translate`
    in code), in the reader's language, not here."""
    return message


class Phrase(str):
    """A sentence made in Python from fixed phrases, that reads in any language.

    As a `str` it is the English sentence, so the API, logs, the CLI and tests read it as
    before. `template` is its message id, with named placeholders (`%(role)s`); `params`
    fill them: a Phrase (itself translated, recursively), a datetime (a moment, written
    the reader's way), anything else data, shown as it is. A Phrase without params is a
    fixed phrase: its text is its message id. `render` writes it in a reader's language.
    `make messages` extracts the first argument of `Phrase(...)` (i18n_extract.KEYWORDS),
    so a template is always a literal: `Phrase("a %(role)s sees this", role=...)`.
    """

    template: str
    params: dict[str, object]

    def __new__(cls, template: str, /, **params: object) -> Phrase:
        english = template % {k: _english(v) for k, v in params.items()} if params else template
        self = super().__new__(cls, english)
        self.template = template
        self.params = params
        return self

    def __repr__(self) -> str:
        return f"Phrase({self.template!r}, **{self.params!r})"


def _english(value: object) -> str:
    if isinstance(value, datetime):  # the API and the logs: a moment in UTC, said so
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")
    return str(value)


def render(value: object, reading: Reading) -> str:
    """A Phrase in the reader's language: its template translated, then each param, each
    in turn (a moment in the reader's form and zone, data as it is). A translation that
    lost or misspelt a placeholder falls back to the English template, never an error."""
    if isinstance(value, Phrase):
        form = gettext(reading.language, value.template)
        if not value.params:
            return form
        values = {k: render(v, reading) for k, v in value.params.items()}
        try:
            return form % values
        except (KeyError, ValueError, TypeError):
            return value.template % values
    if isinstance(value, datetime):
        return format_datetime(value, reading)
    return str(value)


def gettext(language: str, message: str) -> str:
    return translations(language).gettext(message)


def ngettext(language: str, singular: str, plural: str, n: int) -> str:
    return translations(language).ngettext(singular, plural, n)


def supported(tag: str | None) -> str | None:
    """A shipped language for a tag ("fr-CA" -> "fr"), or None."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-")[0].lower()
    return primary if primary in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The shipped language the browser prefers most, or None when it names none of them."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:32]):  # a header of 10,000 tags: 32
        match = _ACCEPT_PART.match(part)
        if not match:
            continue
        try:
            weight = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        language = supported(match.group(1))
        if language and weight > 0:
            ranked.append((-weight, position, language))
    return min(ranked)[2] if ranked else None


def network_default(languages: str | None) -> str | None:
    """The network's default: the first of its comma-separated languages that ships."""
    for tag in (languages or "").split(","):
        if found := supported(tag):
            return found
    return None


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def choose(
    preference: str | None,
    accept_language: str | None,
    network_languages: str | None,
    time_zone: str | None = None,
) -> Reading:
    """The user's choice, else the browser's, else the network's default, else English."""
    language = (
        supported(preference)
        or from_accept_language(accept_language)
        or network_default(network_languages)
        or SOURCE_LANGUAGE
    )
    return Reading(language, zone(time_zone))


def _local(value: datetime, reading: Reading) -> datetime:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(reading.zone)


def format_datetime(value: datetime | None, reading: Reading) -> str:
    """A moment as the reader's language writes it, in the network's time zone."""
    if value is None:
        return "—"
    local = _local(value, reading)
    pattern = reading.locale.datetime_formats["medium"]  # "{1}, {0}": the day, the time
    return str(pattern).format(
        dates.format_time(local, "short", locale=reading.locale),
        dates.format_date(local.date(), "medium", locale=reading.locale),
    )


def format_day(value: datetime | date | None, reading: Reading) -> str:
    """A day as the reader's language writes it (a moment: its day in the network's zone)."""
    if value is None:
        return "—"
    day = _local(value, reading).date() if isinstance(value, datetime) else value
    return dates.format_date(day, "medium", locale=reading.locale)


def format_time(value: datetime | None, reading: Reading) -> str:
    if value is None:
        return "—"
    return dates.format_time(_local(value, reading), "short", locale=reading.locale)


def format_number(value: float | int, reading: Reading) -> str:
    return numbers.format_decimal(value, locale=reading.locale)


def zone_name(reading: Reading) -> str:
    """The network's time zone as people name it ("British Time", "heure : Paris")."""
    return dates.get_timezone_location(reading.zone, locale=reading.locale)
