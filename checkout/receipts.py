"""What the checkout stack hands out: receipts, detected shelf events and track views (its output side).

`Receipt` is the stack's verdict for one account, issued after its last member
left; `ShelfEvent` and `TrackView` are read-only introspection for scoring and
the viewer. All frozen: nothing downstream can edit the stack's beliefs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

REVIEW_THRESHOLD = 0.85  # a receipt below this confidence asks a person to check it


@dataclass(frozen=True)
class Receipt:
    account: str
    items: dict[str, int]
    total: float
    confidence: float
    flagged: bool
    t_s: float  # stream time at which the receipt was issued
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShelfEvent:
    """A take or put-back: `qty` items of `sku` left (take) or entered (put_back) `bin`, charged to `account`.

    The stack's beliefs and, in scoring, the truth's events (one item each, confidence 1) are this one type, so
    the two are matched field for field."""

    t_s: float
    bin: str
    kind: str  # "take" | "put_back" | "drop" (a take found to be an item knocked onto the floor: on no cart)
    sku: str | None
    qty: int = 1
    account: str | None = None  # None: the stack could not tell whose hand it was
    confidence: float = 1.0
    delta_g: float = 0.0
    track: int | None = None
    source: str = "weight"  # "weight" | "vision" | "fused"
    reasons: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class TrackView:
    id: int
    account: str
    x: float
    y: float
    t: float
