"""Errors for people: a bad store or scenario file names the file, the line and the key.

Every loader in the project raises `InputError`; the command line turns it into one
line on stderr and exit status 2.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Where:
    """A place in an input file: path, 1-based line (0 when unknown), dotted key."""

    path: Path
    line: int = 0
    key: str = ""

    def __str__(self) -> str:
        line = f":{self.line}" if self.line else ""
        key = f": {self.key}" if self.key else ""
        return f"{self.path}{line}{key}"


class InputError(Exception):
    """A bad input file or argument. `str(err)` is the one-line message for the user."""

    def __init__(self, where: Where, message: str) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}")


def format_key(loc: tuple) -> str:
    """('gondolas', 0, 'length_m') -> 'gondolas[0].length_m'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
