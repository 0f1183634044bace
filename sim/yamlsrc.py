"""YAML loading that remembers where every key was written, so errors can name the line.

`load_yaml(path)` returns the plain data and a `LineMap` from key paths
(('gondolas', 2, 'at') and so on) to 1-based line numbers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sim.errors import InputError, Where, format_key


class LineMap:
    """Key path -> line; an unknown path falls back to its nearest known parent."""

    def __init__(self, path: Path, lines: dict[tuple, int]) -> None:
        self.path = path
        self._lines = lines

    def line(self, loc: tuple) -> int:
        loc = tuple(loc)
        while loc:
            if loc in self._lines:
                return self._lines[loc]
            loc = loc[:-1]
        return self._lines.get((), 1)

    def where(self, loc: tuple) -> Where:
        return Where(self.path, self.line(loc), format_key(loc))

    def error(self, loc: tuple, message: str) -> InputError:
        return InputError(self.where(loc), message)


def load_yaml(path: Path | str) -> tuple[Any, LineMap]:
    """Parse a YAML file; syntax errors and unreadable files raise `InputError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(Where(path), "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(Where(path), f"cannot read file ({exc.__class__.__name__})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(Where(path, line), f"YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise InputError(Where(path), f"YAML error: {exc}") from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, LineMap(path, lines)


def _walk(node: yaml.Node, loc: tuple, lines: dict[tuple, int]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            child = loc + (key,)
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines)
            lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, loc + (i,), lines)
