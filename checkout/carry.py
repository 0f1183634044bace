"""Who walked off with it: the colour of a taken item, newly on one shopper and on no other.

A take whose reacher is in doubt — two people at an island's bottom shelf, no
hand seen — is decided by the reach geometry alone, often 0.75 / 0.25, and
both receipts go to review. But the item goes somewhere: into a hand, a
basket at the hip, and the ceiling cameras see the person from above. Each
frame the perception samples the colours on and around every person (within
`body_radius_m` of the head, above the knee); here the samples are kept per
track for `KEEP_S` (`LookLog`). For a take in doubt, each candidate's samples
before (`PRE_S`) and after (`POST_S`) the change are read for the taken SKU's
colour, with the person's own colours (learned as they walked in) removed:

- *new* on a candidate: shown (more than `SHOW_SHARE` of the remaining
  pixels) in at least `NEW_SHARE` of the frames after, in at most
  `BEFORE_SHARE` of the frames before;
- *absent* on a candidate: shown in at most `ABSENT_SHARE` of the frames
  after; both need `MIN_FRAMES` frames seen on each side.

The evidence counts only when it is clear-cut: one candidate's is new and
every other's absent. It is then a likelihood ratio `CARRY_LR` for that one
having taken it. Two people close together share pixels (the item shows on
both: not clear-cut); an item the colour of the person's clothes or of what
they already carry is not new on them (not clear-cut). The stack uses it to
revise the confidences of a take whose taker is in doubt — never to move an
item between carts — and, the same way with SKUs for candidates, to tell
which of two look-alikes of one weight a one-item take was (a lemon can put
back among the colas, taken again): the taker walks off with its colour.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from checkout.identification import colour_evidence

KEEP_S = 10.0  # colour samples kept per track
PRE_S = 4.0  # frames this long before the change (up to half a second before it) ...
POST_S = 4.0  # ... and after it (from half a second after) are compared
GAP_S = 0.5
SHOW_SHARE = 0.1  # a frame shows the SKU when this share of the person's other-than-own pixels match its colour
NEW_SHARE = 0.3
BEFORE_SHARE = 0.1
ABSENT_SHARE = 0.05
MIN_FRAMES = 8
CARRY_LR = 10.0


class LookLog:
    """Per track, the last `KEEP_S` of colour samples on and around the person."""

    def __init__(self) -> None:
        self.samples: dict[int, deque[tuple[float, np.ndarray]]] = {}

    def add(self, track: int, t_s: float, rgb: np.ndarray) -> None:
        rows = self.samples.setdefault(track, deque())
        rows.append((t_s, rgb))
        while rows and rows[0][0] < t_s - KEEP_S:
            rows.popleft()

    def shown(self, tracks: list[int], t0: float, t1: float, sku: str, sku_rgb: dict[str, np.ndarray],
              own: dict[int, np.ndarray | None]) -> tuple[int, int]:
        """(frames seen, frames showing the SKU's colour) over the tracks' samples in [t0, t1]."""
        n = k = 0
        for tr in tracks:
            for t, rgb in self.samples.get(tr, ()):
                if t0 <= t <= t1 and len(rgb):
                    n += 1
                    k += colour_evidence(rgb, sku_rgb, [sku], person_rgb=own.get(tr)).get(sku, 0.0) > SHOW_SHARE
        return n, k

    def prune(self, t_s: float) -> None:
        """Forget the tracks last seen more than `KEEP_S` ago (gone, or lost)."""
        for tr in [k for k, rows in self.samples.items() if not rows or rows[-1][0] < t_s - KEEP_S]:
            del self.samples[tr]


def verdict(pre: tuple[int, int], post: tuple[int, int]) -> str | None:
    """'new', 'absent' or None (not enough seen, or in between), from (frames, showing) before and after."""
    (n0, k0), (n1, k1) = pre, post
    if n1 < MIN_FRAMES:
        return None
    if k1 <= ABSENT_SHARE * n1:
        return "absent"
    if n0 >= MIN_FRAMES and k1 >= NEW_SHARE * n1 and k0 <= BEFORE_SHARE * n0:
        return "new"
    return None


def carrier(verdicts: dict[str, str | None]) -> str | None:
    """The one account the item is newly on while absent from every other; None unless that clear-cut."""
    new = [a for a, v in verdicts.items() if v == "new"]
    if len(new) == 1 and all(v == "absent" for a, v in verdicts.items() if a != new[0]):
        return new[0]
    return None


def posterior(p: dict[str, float], carried_by: str) -> dict[str, float]:
    """Attribution probabilities per account after seeing the item newly on `carried_by` alone."""
    w = {a: q * (CARRY_LR if a == carried_by else 1.0) for a, q in p.items()}
    total = sum(w.values()) or 1.0
    return {a: q / total for a, q in w.items()}
