"""Babel extraction: what `make messages` extracts, and how.

`KEYWORDS` are the calls whose constant first argument is a message: gettext's own, `N_`
(a constant translated where it is shown), `Phrase` (a sentence's template, its words
translated where it is shown) and every domain error class, since an error's
first argument is the English template of what a person reads
(`raise NotFound("Case {case} not found.", case=7)`).

`extract_labels`: `babel.cfg` names this function for `workflows/**.yaml` and
`policies/labels.yaml`, so a state's label, a button's words, a move's description and
its notices (`tell:`) join the catalogues beside the templates' strings.

`python -m referral.i18n_extract` (`make messages`) extracts with `babel.cfg` and
`KEYWORDS` into `locale/messages.pot` and merges it into each language's `messages.po`.
"""

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import yaml
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import CommandLineInterface, parse_mapping_cfg
from babel.messages.pofile import write_po

from referral.i18n import LANGUAGES, LOCALE_DIR, SOURCE_LANGUAGE

ROOT = Path(__file__).resolve().parents[2]  # the repository (babel.cfg, workflows/)

# The domain error classes, and every subclass of them defined in src/referral (a unit
# test keeps this list whole): each takes its message template as its first argument.
ERROR_CLASSES = (
    "ReferralError",
    "NotFound",
    "PermissionDenied",
    "AcknowledgementRequired",
    "Conflict",
    "InvalidInput",
    "ConfigurationError",
    "UnreadableInput",
    "CheckpointRefused",
    "BackupError",
)
KEYWORDS: dict[str, Any] = {
    **DEFAULT_KEYWORDS,
    "N_": None,
    "Phrase": (1,),  # referral.i18n.Phrase: a sentence's template, translated where shown
    **dict.fromkeys(ERROR_CLASSES, (1,)),
}

# Workflow keys whose string values people read; every string of a labels file is read.
READ_KEYS = frozenset({"label", "description", "staff", "referrer"})

Extracted = tuple[int, str, str, list[str]]


def extract_labels(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: dict[str, Any]
) -> Iterator[Extracted]:
    every_value = options.get("every_value", "false") == "true"
    root = yaml.compose(fileobj.read().decode("utf-8"))
    if root is not None:
        yield from _walk(root, every_value, key=None)


def _walk(node: yaml.Node, every_value: bool, key: str | None) -> Iterator[Extracted]:
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            yield from _walk(value, every_value, str(key_node.value))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _walk(item, every_value, key)
    elif (
        isinstance(node, yaml.ScalarNode)
        and node.tag == "tag:yaml.org,2002:str"
        and node.value
        and (every_value or key in READ_KEYS)
    ):
        yield node.start_mark.line + 1, "gettext", str(node.value), []


def extracted(root: Path = ROOT) -> Catalog:
    """Every message of the repository at `root`, as `babel.cfg` and `KEYWORDS` find them."""
    with (root / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)  # type: ignore[no-untyped-call]
    catalogue = Catalog(project="referral", copyright_holder="referral contributors")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root), method_map, options_map, keywords=KEYWORDS
    ):
        catalogue.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalogue


def main() -> int:
    """`make messages`: write `messages.pot` (sorted, no locations), then merge it into
    each language's `messages.po` as `pybabel update` does (no fuzzy guesses; entries no
    longer extracted are dropped). Translators fill in the new entries."""
    template = LOCALE_DIR / "messages.pot"
    with template.open("wb") as out:
        write_po(out, extracted(), no_location=True, sort_output=True, width=76)
    for language in LANGUAGES:
        if language == SOURCE_LANGUAGE:
            continue
        command = ["pybabel", "--quiet", "update", "--no-fuzzy-matching", "--ignore-obsolete"]
        command += ["-i", str(template), "-d", str(LOCALE_DIR), "-l", language]
        status = CommandLineInterface().run(command)  # type: ignore[no-untyped-call]
        if status:
            return int(status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
