"""Issue 13: an error a person reads is shown in their language.

An error keeps its English text (`message`: logs, the CLI and tests read it) and the
template and values it was made from, so the outer layer can show it in the reader's
language; its template is extracted into the catalogues by the error class's name.
"""

import ast
import io
from pathlib import Path

import pytest
from babel.messages.extract import extract

from referral.domain.errors import Conflict, InvalidInput, NotFound, ReferralError
from referral.domain.vocabulary import ERROR_WORDS
from referral.i18n_extract import ERROR_CLASSES, KEYWORDS

SOURCE = Path(__file__).resolve().parents[2] / "src" / "referral"

FRENCH = {
    "case {case} not found": "dossier {case} introuvable",
    "The case is {state}: it cannot be {action}.": (
        "Le dossier est {state} : il ne peut pas être {action}."
    ),
    "this record was changed by someone else": (
        "cet enregistrement a été modifié par quelqu'un d'autre"
    ),
    "Fill this in.": "Remplissez ce champ.",
    "Choose a network.": "Choisissez un réseau.",
}


def french(message: str) -> str:
    return FRENCH.get(message, message)


def test_the_message_stays_english_and_keeps_its_template_and_values() -> None:
    error = NotFound("case {case} not found", case=42)
    assert error.message == str(error) == "case 42 not found"
    assert error.template == "case {case} not found"
    assert error.params == {"case": 42}


def test_in_language_translates_the_template_then_fills_in_the_values() -> None:
    error = Conflict("The case is {state}: it cannot be {action}.", state="Closed", action="moved")
    assert error.in_language(french) == "Le dossier est Closed : il ne peut pas être moved."
    assert error.message == "The case is Closed: it cannot be moved."
    # A language without the entry reads the English text.
    assert error.in_language(lambda message: message) == error.message


def test_a_message_without_values_is_read_as_written() -> None:
    error = Conflict("this record was changed by someone else")
    assert error.in_language(french) == "cet enregistrement a été modifié par quelqu'un d'autre"
    # A brace in a message without values is text, not a placeholder.
    assert ReferralError("expected {json}").message == "expected {json}"
    assert ReferralError("expected {json}").in_language(str.upper) == "EXPECTED {JSON}"


@pytest.mark.parametrize(
    "broken",
    [
        "dossier {dossier} introuvable",  # a placeholder the error does not have: KeyError
        "dossier {0} introuvable",  # a positional one: IndexError
        "dossier {case introuvable",  # not a format string: ValueError
    ],
)
def test_a_translation_whose_placeholders_do_not_fit_falls_back_to_english(broken: str) -> None:
    error = NotFound("case {case} not found", case=7)
    assert error.in_language(lambda message: broken) == "case 7 not found"


def test_field_errors_are_translated_codes_put_in_words_first() -> None:
    error = InvalidInput("choose a network", {"network": "Choose a network.", "reason": "required"})
    assert error.errors == {"network": "Choose a network.", "reason": "required"}
    assert error.errors_in_language(french) == {
        "network": "Choisissez un réseau.",
        "reason": "Remplissez ce champ.",
    }
    assert error.errors_in_language(lambda message: message)["reason"] == ERROR_WORDS["required"]


def test_invalid_input_takes_values_beside_its_field_errors() -> None:
    error = InvalidInput("cannot {trigger}: fill in {fields} first", {"a": "required"},
                         trigger="submit", fields="a")  # fmt: skip
    assert error.message == "cannot submit: fill in a first"
    assert error.errors == {"a": "required"}


def _extracted(source: str) -> set[str]:
    found = extract("python", io.BytesIO(source.encode()), keywords=KEYWORDS)
    return {message for _, message, _, _ in found if isinstance(message, str)}


def test_extraction_finds_an_error_constructors_template_and_n_marks() -> None:
    source = (
        'raise Conflict("The case is {state}: it cannot be {action}.", state=s, action=a)\n'
        'raise InvalidInput("choose a network", {"network": N_("Choose a network.")})\n'
        'raise UnreadableInput("the body is not JSON")\n'
        'raise NotFound(f"case {case_id} not found")\n'  # an f-string cannot be extracted
        'print("not a message")\n'
    )
    assert _extracted(source) == {
        "The case is {state}: it cannot be {action}.",
        "choose a network",
        "Choose a network.",
        "the body is not JSON",
    }


def test_extraction_finds_the_messages_of_the_services() -> None:
    flow = _extracted((SOURCE / "services" / "flow.py").read_text(encoding="utf-8"))
    assert "case {case} not found" in flow
    uow = _extracted((SOURCE / "services" / "uow.py").read_text(encoding="utf-8"))
    assert any(message.startswith("this record was changed by someone else") for message in uow)
    words = _extracted((SOURCE / "domain" / "vocabulary.py").read_text(encoding="utf-8"))
    assert set(ERROR_WORDS.values()) <= words


def test_every_error_class_of_the_project_is_an_extraction_keyword() -> None:
    """A new subclass of a domain error is a keyword too, or its messages go unextracted."""
    classes: dict[str, list[str]] = {}
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = [b.id for b in node.bases if isinstance(b, ast.Name)]
                classes[node.name] = bases
    errors = {"ReferralError"}
    while True:
        more = {name for name, bases in classes.items() if errors & set(bases)} - errors
        if not more:
            break
        errors |= more
    assert errors == set(ERROR_CLASSES)
    assert all(KEYWORDS[name] == (1,) for name in ERROR_CLASSES)
    assert KEYWORDS["N_"] is None and KEYWORDS["_"] is None
