"""Read the configuration file and secret files into plain data, refusing what could hurt.

A configuration is small: the file is read up to 1 MiB, a secret file up to 64 KiB, both as
UTF-8. The YAML is read by a ``SafeLoader`` that also refuses duplicate keys (the last would win
silently), anchors and aliases (a 674-byte "billion laughs" file expands to gigabytes once
``${VAR}`` interpolation copies every alias) and nesting deeper than 32 levels (PyYAML's
composer recurses and would raise ``RecursionError``). Every refusal is one line naming the file
and line, or the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from bridge.config.fields import clip, cut, dotted
from bridge.errors import ConfigProblems

MAX_CONFIG_BYTES = 1 << 20
MAX_SECRET_BYTES = 64 << 10
MAX_DEPTH = 32
_MERGE = "tag:yaml.org,2002:merge"


def read_text(path: Path, limit: int) -> str:
    """The file's text; ``OSError``, or ``ValueError`` saying what is wrong with its content."""
    with path.open("rb") as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"is larger than {limit >> 10} KiB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(
            f"is not UTF-8 text (byte {data[exc.start]:#04x} on line {line})"
        ) from None


def parse(file: Path) -> object:
    """The configuration file as plain data, or ``ConfigProblems`` with one line."""
    shown = cut(str(file))
    try:
        text = read_text(file, MAX_CONFIG_BYTES)
    except OSError as exc:
        raise ConfigProblems([f"config: cannot read {shown}: {exc.strerror or exc}"]) from None
    except ValueError as exc:
        raise ConfigProblems([f"config: {shown} {exc}"]) from None
    try:
        return _load(text)
    except _Refused as exc:
        raise ConfigProblems([f"config: {shown}:{exc}"]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{shown}:{mark.line + 1}:{mark.column + 1}" if mark else shown
        problem = ", ".join(p for p in (exc.context, exc.problem) if p) or type(exc).__name__
        raise ConfigProblems([f"config: {where}: invalid YAML: {cut(problem)}"]) from None
    except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
        position = getattr(exc, "position", None)
        line = f":{text.count(chr(10), 0, position) + 1}" if position is not None else ""
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigProblems([f"config: {shown}{line}: invalid YAML: {cut(reason)}"]) from None


def _load(text: str) -> object:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_keys(loader, node, ())
        return loader.construct_document(node)
    finally:
        loader.dispose()


class _Refused(Exception):
    """What the loader refuses on purpose; ``str()`` is ``LINE:COLUMN: why``."""

    def __init__(self, mark: Any, why: str) -> None:
        super().__init__(f"{mark.line + 1}:{mark.column + 1}: {why}" if mark else f" {why}")


class _Loader(yaml.SafeLoader):
    """``SafeLoader`` without anchors, aliases or deep nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        mark = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(mark, "YAML aliases (*name) are not supported")
        if getattr(event, "anchor", None) is not None:
            raise _Refused(mark, "YAML anchors (&name) are not supported")
        if self.depth >= MAX_DEPTH:
            raise _Refused(mark, f"nested deeper than {MAX_DEPTH} levels")
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _check_keys(loader: _Loader, node: Node, loc: tuple[int | str, ...]) -> None:
    """Keys are text and given once per mapping: YAML would keep the last of two silently."""
    if isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _check_keys(loader, item, (*loc, index))
    if not isinstance(node, MappingNode):
        return
    seen: dict[str, int] = {}
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE:  # '<<': its keys may be overridden, as YAML says
            _check_keys(loader, value_node, loc)
            continue
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            where = f"{dotted(loc)}: " if loc else ""
            raise _Refused(key_node.start_mark, f"{where}key {clip(key)} is not text")
        if key in seen:
            where = dotted((*loc, key))
            raise _Refused(
                key_node.start_mark, f"{where}: duplicate key (first on line {seen[key]})"
            )
        seen[key] = key_node.start_mark.line + 1
        _check_keys(loader, value_node, (*loc, key))
