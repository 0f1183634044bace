"""Which checkout stack a name means: a built-in mode of `checkout.stack`, or an outside stack `MODULE:FACTORY`.

Place in the data path: where the episode driver gets its stacks. Any object that consumes the stream
and issues receipts can be scored the way the built-in stacks are (README, "Outside stacks"):

- `consume(msg) -> list[receipt]` for each stream message in order (the first is `StoreInfo`), and
  `finish() -> list[receipt]` once the stream has ended; a receipt has `account` and `items` {sku: qty},
  and may have `confidence`, `flagged`, `total` and `reasons` (`checkout.receipts.Receipt` has them all);
- optional: `tracks()` (objects with `id`, `x`, `y`) for the tracking figures, `events` (a list of
  `checkout.receipts.ShelfEvent`-like objects) for the shelf-event figures, `stage_s` {stage: wall seconds}.
  A stack without `tracks` or `events` has those figures reported as absent (null), never as zero.

`FACTORY` is called with no arguments, once per episode, in the process that runs it; the stack's name in
reports and bench rows is the `MODULE:FACTORY` text itself, so a bench resumes it like a mode.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

from checkout.stack import MODES
from sim.errors import InputError, Where


def make_stack(name: str, shared_perception: Any = None) -> Any:
    """A fresh stack for `name`: `CheckoutStack(mode=name)` (sharing `shared_perception` with the other built-in
    stacks on the stream) for a built-in mode, else what the outside factory `MODULE:FACTORY` returns."""
    if is_builtin(name):
        from checkout.stack import CheckoutStack

        return CheckoutStack(mode=name, shared_perception=shared_perception)
    return stack_factory(name)()


def is_builtin(name: str) -> bool:
    return name in MODES


def stack_factory(name: str) -> Callable[[], Any]:
    """The factory `MODULE:FACTORY` names, or `InputError` saying what is wrong with the name (one line)."""
    where = Where(Path("--stack"))
    module_name, colon, attr = name.partition(":")
    if not colon or not module_name or not attr:
        raise InputError(where, f"expected one of {', '.join(MODES)} or MODULE:FACTORY, not {name[:80]!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(where, f"cannot import {module_name!r} ({type(exc).__name__}: {exc})") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise InputError(where, f"{module_name!r} has no callable {attr!r}")
    return factory


def check_stack_name(name: str) -> str:
    """`name` if it is a built-in mode or an importable `MODULE:FACTORY`, else `InputError`."""
    if not is_builtin(name):
        stack_factory(name)
    return name
