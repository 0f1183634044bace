"""The command lines' argument types and their one-line errors, for `run_sim.py` and `python -m bench` alike.

Place in the data path: the edge where a person's typing comes in. They sit in `bench`, the lowest layer with
a command line, so that `run_sim.py` (above it) and `bench.command` (in it) share them without an upward import.
A bad argument ends with one line on stderr and exit status 2 (README, "Bad input").
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Callable


class Parser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line, exit 2, no usage dump, under the name people typed."""

    error_name = "run_sim.py"

    def error(self, message: str) -> None:
        print(f"{self.error_name}: {message}", file=sys.stderr)
        raise SystemExit(2)


def run_for_people(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """`command(args)`, with a bad input or a refusal of the machine as one line and exit 2, never a traceback."""
    from sim.errors import InputError

    try:
        return command(args)
    except InputError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except OSError as exc:  # the machine refused (permissions, a full disk, a path that changed under us)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"run_sim.py: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def bounded(cast: type, lo: float, hi: float, what: str):
    """An argparse type: `cast(text)`, finite, within [lo, hi]; `what` says what was expected."""

    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, not {text[:40]!r}") from None
        if isinstance(value, float) and not math.isfinite(value) or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected {what}, not {text[:40]}")
        return value

    return parse


# A seed: numpy's SeedSequence takes no negatives. Sim seconds: above 0 and at most a week.
seed = bounded(int, 0, 2**63 - 1, "a whole number from 0 to 2**63 - 1")
sim_seconds = bounded(float, 1e-6, 7 * 24 * 3600, "seconds above 0 and at most a week")
workers = bounded(int, 1, 1024, "1 to 1024 workers")
every_nth = bounded(int, 1, 10_000, "a whole number from 1 to 10000")


def camera_ids(text: str) -> tuple[str, ...]:
    """Camera ids joined by commas (whether the store has them is checked when the command runs)."""
    ids = tuple(p.strip() for p in text.split(","))
    if not text or any(not p or len(p) > 64 for p in ids):
        raise argparse.ArgumentTypeError(f"expected camera ids joined by commas, not {text[:60]!r}")
    return ids


def path(text: str) -> str:
    """A path as the operating system can take it: no NUL byte, no name over 255 bytes, at most 4096 bytes."""
    raw = text.encode("utf-8", "surrogateescape")
    if "\x00" in text or len(raw) > 4096 or any(len(part) > 255 for part in raw.split(b"/")):
        raise argparse.ArgumentTypeError(f"not a usable path: {text[:60]!r}{'...' if len(text) > 60 else ''}")
    return text


def new_file(text: str) -> str:
    """A file to write: not a folder, and the nearest existing folder above it really is one."""
    p = Path(path(text))
    if not text or p.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; name a file to write")
    _check_under_a_folder(p.parent, text)
    return text


def out_dir(text: str) -> str:
    """A folder to write into: not an existing file, nor under one."""
    p = Path(path(text))
    if not text or (p.exists() and not p.is_dir()):
        raise argparse.ArgumentTypeError(f"{text!r} is a file; name a folder to write into")
    _check_under_a_folder(p, text)
    return text


def stack_name(text: str) -> str:
    """An outside checkout stack, `MODULE:FACTORY` (whether it imports is checked when the command runs)."""
    module, colon, factory = text.partition(":")
    if not colon or not module.strip() or not factory.strip() or len(text) > 300:
        raise argparse.ArgumentTypeError(f"expected MODULE:FACTORY, not {text[:60]!r}")
    return text


# --- helpers -------------------------------------------------------------------------------------------------------


def _check_under_a_folder(p: Path, text: str) -> None:
    """The nearest existing path at or above `p` must be a folder (else nothing can be made below it)."""
    for above in (p, *p.parents):
        if above.exists():
            if not above.is_dir():
                raise argparse.ArgumentTypeError(f"{text!r} lies under {str(above)!r}, which is a file")
            return
