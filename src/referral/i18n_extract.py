"""Babel extraction of the words people read in workflow and policy files.

`babel.cfg` names this function for `workflows/**.yaml` and `policies/labels.yaml`, so
`make messages` puts a state's label, a button's words, a move's description and its
notices (`tell:`) into the catalogues beside the templates' strings, each with its file
and line.
"""

from collections.abc import Iterator
from typing import IO, Any

import yaml

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
