"""Issue 13 (in their language): every string people read is in every catalogue.

Three checks, each naming the file and line to mend:

- no template shows words outside `{% trans %}` or `_()` (so none escapes extraction);
- `messages.pot` holds exactly what `make messages` extracts now (none forgotten);
- every shipped language translates every entry, with the same placeholders.
"""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from jinja2 import Environment

from referral import i18n
from referral.i18n_extract import KEYWORDS

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "src" / "referral" / "web" / "templates"
TRANSLATED = [language for language in i18n.LANGUAGES if language != i18n.SOURCE_LANGUAGE]

# What a page may show without a catalogue: the product's name, punctuation, numbers.
NOT_WORDS = {"referral"}
# Attributes people read (a screen reader says aria-label; a tooltip shows title).
READ_ATTRIBUTES = re.compile(
    r"""\b(?:aria-label|title|placeholder|alt)\s*=\s*(["'])(.*?)\1""", re.S | re.I
)
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w+)\}")


def _words_outside_trans(source: str) -> Iterator[tuple[int, str]]:
    """Text a template shows that no `{% trans %}` block or `_()` holds.

    The page's skeleton is its raw text outside trans blocks, every expression and tag
    of Jinja's replaced by a neutral mark, so that an HTML tag an expression splits is
    still one tag. Tags, comments, scripts and styles are then removed, keeping the
    attributes people read (aria-label, title, placeholder, alt)."""
    env = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    skeleton: list[str] = []
    lines: list[int] = []  # the template line of each character of the skeleton
    inside_trans = False
    previous = ""
    for lineno, kind, value in env.lex(source):
        if kind == "name" and previous == "block_begin":
            inside_trans = value == "trans" or (inside_trans and value != "endtrans")
        if kind != "whitespace":
            previous = kind
        piece = value if kind == "data" and not inside_trans else "\x00"
        if kind in ("data", "variable_begin", "block_begin") or piece == "\x00":
            piece = value if kind == "data" and not inside_trans else "\x00"
        skeleton.append(piece)
        lines.extend([lineno + value[:i].count("\n") for i in range(len(piece))])
    text = "".join(skeleton)

    def blank(match: re.Match[str]) -> str:
        return " " * len(match.group(0))

    read = [(m.start(2), m.group(2)) for m in READ_ATTRIBUTES.finditer(text)]
    text = re.sub(r"<(script|style)\b.*?</\1>|<!--.*?-->", blank, text, flags=re.S)
    text = re.sub(r"<[^>]*>", blank, text, flags=re.S)
    # An attribute a macro writes into a tag opened elsewhere (` aria-invalid="true"`).
    text = re.sub(r"""[\w:-]+=(?:"[^"]*"|'[^']*')""", blank, text)
    text = re.sub(r"&[a-z]+;|&#\d+;", blank, text)
    found = [(m.start(), m.group(0)) for m in re.finditer(r"[^\W\d_]{2,}", text)]
    for start, value in read:
        found += [(start + m.start(), m.group(0)) for m in re.finditer(r"[^\W\d_]{2,}", value)]
    for start, word in sorted(found):
        if word not in NOT_WORDS:
            yield lines[start], word


def test_every_word_a_template_shows_is_marked_for_translation() -> None:
    unmarked = [
        f"{path.relative_to(ROOT)}:{lineno}: {word}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for lineno, word in _words_outside_trans(path.read_text(encoding="utf-8"))
    ]
    assert not unmarked, "words outside {% trans %} or _():\n" + "\n".join(unmarked[:80])


def _extracted() -> set[str]:
    """What `make messages` extracts: its keywords too (`-k N_`, the constants' mark)."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    return {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS
        )
    }


def _catalogue(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as po:
        return read_po(po, locale=language)


def test_the_template_holds_every_string_extracted_now() -> None:
    template = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalogue(
        i18n.LOCALE_DIR / "messages.pot") if m.id}  # fmt: skip
    extracted = _extracted()
    assert not extracted - template, "run `make messages`: new strings " + repr(
        sorted(extracted - template)[:20]
    )
    assert not template - extracted, "run `make messages`: gone strings " + repr(
        sorted(template - extracted)[:20]
    )


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_entry_is_translated(language: str) -> None:
    template = _catalogue(i18n.LOCALE_DIR / "messages.pot")
    catalogue = _catalogue(i18n.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po", language)
    missing, mismatched = [], []
    for entry in template:
        if not entry.id:
            continue
        found = catalogue.get(entry.id)
        strings = found.string if found is not None else None
        translations = list(strings) if isinstance(strings, tuple | list) else [strings]
        if found is None or found.fuzzy or not all(translations):
            missing.append(entry.id)
            continue
        sources = entry.id if isinstance(entry.id, tuple | list) else (entry.id,)
        wanted = {name for pair in PLACEHOLDER.findall(sources[0]) for name in pair if name}
        for text in translations:
            given = {name for pair in PLACEHOLDER.findall(str(text)) for name in pair if name}
            if given != wanted:
                mismatched.append(f"{sources[0]!r}: {text!r}")
    assert not missing, f"{language}: {len(missing)} untranslated, first: {missing[:15]}"
    assert not mismatched, f"{language}: placeholders differ: {mismatched[:10]}"


def test_a_missing_entry_is_caught() -> None:
    """The check above is not vacuous: an entry dropped from a catalogue is reported."""
    catalogue = _catalogue(i18n.LOCALE_DIR / "fr" / "LC_MESSAGES" / "messages.po", "fr")
    some = next(entry for entry in catalogue if entry.id)
    catalogue.delete(some.id)
    assert catalogue.get(some.id) is None
    assert list(_words_outside_trans("<p>Not marked</p>")) == [(1, "Not"), (1, "marked")]
    assert list(_words_outside_trans("<p>{% trans %}Marked{% endtrans %}</p>")) == []
    assert list(_words_outside_trans('<a aria-label="Main">{{ _("x") }}</a>')) == [(1, "Main")]
