"""YAML loading that remembers where every key was written, so errors can name the line.

`load_yaml(path)` returns the plain data and a `LineMap` from key paths
(('gondolas', 2, 'at') and so on) to 1-based line numbers.

The loader is PyYAML's safe loader with limits, because a layout or scenario
file is input from anyone and must fail fast and clearly, never hang, blow up
memory or recurse out of the interpreter:
- an alias may be used, but the document it expands to may hold at most
  `MAX_NODES` nodes (a 300-byte "billion laughs" file expands to 10^9 nodes;
  it is refused after counting, before anything is built);
- an alias to its own anchor (a self-referencing structure) is refused;
- nesting deeper than `MAX_DEPTH` is refused (the composer is recursive);
- a key written twice in one mapping is refused (YAML says keys are unique;
  PyYAML would silently keep the last, so a duplicated planogram bin would
  lose its first entry's stock);
- anything but a regular file (a FIFO, /dev/zero) and files larger than
  `MAX_BYTES` are refused unread.
Each refusal is an `InputError` naming the file and the line.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from sim.errors import InputError, Where, format_key

MAX_DEPTH = 64  # nesting levels; the deepest shipped file uses 6
MAX_NODES = 200_000  # nodes after alias expansion; the largest shipped store has about 4,000
MAX_BYTES = 2 * 2**20  # a store with thousands of bins is well under 1 MB; the largest shipped file is 20 kB


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


class _Refused(Exception):
    """A limit of the loader was hit at `line` (1-based)."""

    def __init__(self, line: int, message: str, key: str = "") -> None:
        super().__init__(message)
        self.line, self.message, self.key = line, message, key


class _LimitedLoader(yaml.SafeLoader):
    """SafeLoader that counts expanded nodes, bounds depth, and refuses cyclic aliases and duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._expanded = 0
        self._sizes: dict[int, int] = {}  # id(node) -> nodes it stands for, aliases expanded
        self._open: set[str] = set()  # anchors whose node is still being composed

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            if event.anchor in self._open:
                raise _Refused(event.start_mark.line + 1, f"alias *{event.anchor} refers to its own anchor (a structure containing itself)")
            node = super().compose_node(parent, index)
            self._count(self._sizes.get(id(node), 1), event.start_mark)
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(self.peek_event().start_mark.line + 1, f"nested more than {MAX_DEPTH} levels deep")
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open.add(anchor)
        before = self._expanded
        node = super().compose_node(parent, index)
        if anchor is not None:
            self._open.discard(anchor)
        self._count(1, event.start_mark)
        self._sizes[id(node)] = self._expanded - before
        self._depth -= 1
        return node

    def _count(self, n: int, mark: yaml.Mark) -> None:
        self._expanded += n
        if self._expanded > MAX_NODES:
            raise _Refused(mark.line + 1, f"the document expands to more than {MAX_NODES:,} nodes (aliases of aliases?)")

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else id(key_node)
            if key in seen:
                raise _Refused(key_node.start_mark.line + 1,
                               f"key '{key_node.value}' appears twice in one mapping (first on line {seen[key]})", str(key))
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


# YAML 1.2 floats: PyYAML (YAML 1.1) reads `1e-3` and `5e2` (an exponent without a dot) as strings.
_LimitedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(path: Path | str) -> tuple[Any, LineMap]:
    """Parse a YAML file within the loader's limits; every problem raises `InputError`."""
    path = Path(path)
    try:
        if path.is_dir():
            raise InputError(Where(path), "is a folder, not a file")
        if not path.is_file():  # a FIFO would block, /dev/zero never end
            raise InputError(Where(path), "no such file" if not path.exists() else "not a regular file")
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise InputError(Where(path), f"file larger than {MAX_BYTES // 2**20} MB")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise InputError(Where(path), "no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise InputError(Where(path), f"cannot read file ({exc.__class__.__name__})") from None
    loader = None
    try:
        loader = _LimitedLoader(text)  # the reader refuses control characters here already
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except _Refused as exc:
        raise InputError(Where(path, exc.line, exc.key), exc.message) from None
    except yaml.reader.ReaderError as exc:  # a control character or bad encoding: it knows the position, not the line
        line = text.count("\n", 0, max(0, exc.position)) + 1
        raise InputError(Where(path, line), f"character {exc.character!r} is not allowed in YAML") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(Where(path, line), f"YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise InputError(Where(path), f"YAML error: {' '.join(str(exc).split())}") from None
    except (RecursionError, MemoryError) as exc:  # limits above should make these unreachable; never a traceback
        raise InputError(Where(path), f"YAML too complex to load ({exc.__class__.__name__})") from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[tuple, int] = {}
    if node is not None:
        _walk(node, (), lines)  # bounded: the loader refused cycles and documents over MAX_NODES
    return data, LineMap(path, lines)


def _walk(node: yaml.Node, loc: tuple, lines: dict[tuple, int]) -> None:
    """Record the line of every key path (an alias's paths get the lines where its anchor was written)."""
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
