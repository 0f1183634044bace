"""Label placement for the floor map: every name is drawn where it overprints no other name.

Place in the data path: pixels only. The floor map hands over this frame's labels (text, anchor point,
priority) and the marks they must not cover (shopper dots, the legend); `place_labels` tries a few
positions around each anchor, best first, and keeps the first whose rectangle is clear. Labels are placed
in priority order (shoppers before tracks before the store's static names), ties in the order given, so a
frame's layout depends only on its inputs. A label with no clear position is tried in its short form,
then left out: a missing camera name is better than an unreadable pair of names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import pygame

# Candidate positions, best first: which side of the anchor the label sits on, as (dx, dy) in units of
# (half the label's width + the gap, half its height + the gap). (0, 0) is centred on the anchor.
SIDES_AROUND = ((0, -1), (1, 0), (-1, 0), (0, 1), (1, -1), (-1, -1), (1, 1), (-1, 1), (0, -2), (0, 2),
                (2, -1), (-2, -1), (2, 1), (-2, 1), (0, -3), (0, 3), (2, -2), (-2, -2), (2, 2), (-2, 2))  # a farther ring
SIDES_CENTRED = ((0, 0),) + SIDES_AROUND  # on the anchor if it is clear (a camera's footprint centre), else around it
SIDES_CORNERS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))  # off a mark drawn under a name


@dataclass(frozen=True)
class Label:
    text: str
    anchor: tuple[int, int]  # pixels
    priority: int  # higher is placed first
    colour: tuple[int, int, int]
    size: int = 15
    gap_px: int = 2  # clearance from the anchor (a marker's radius)
    sides: tuple[tuple[int, int], ...] = SIDES_AROUND
    short: str | None = None  # tried when the full text fits nowhere


@dataclass(frozen=True)
class Placed:
    label: Label
    text: str  # the full text or its short form
    rect: pygame.Rect


def place_labels(labels: Sequence[Label], measure: Callable[[str, int], tuple[int, int]], bounds: pygame.Rect,
                 blocked: Sequence[pygame.Rect] = ()) -> tuple[list[Placed], list[Label]]:
    """(placed, left out): each label at its first candidate that lies inside `bounds` and clears the
    labels placed before it and the `blocked` marks. `measure(text, size)` gives a text's (w, h) in pixels."""
    order = sorted(range(len(labels)), key=lambda k: (-labels[k].priority, k))
    taken: list[pygame.Rect] = list(blocked)
    placed: list[Placed] = []
    left_out: list[Label] = []
    for k in order:
        label = labels[k]
        spot = _first_clear(label, measure, bounds, taken)
        if spot is None:
            left_out.append(label)
            continue
        text, rect = spot
        taken.append(rect)
        placed.append(Placed(label, text, rect))
    return placed, left_out


def _first_clear(label: Label, measure, bounds: pygame.Rect, taken: list[pygame.Rect]) -> tuple[str, pygame.Rect] | None:
    texts = [label.text] + ([label.short] if label.short and label.short != label.text else [])
    for text in texts:
        w, h = measure(text, label.size)
        for rect in candidate_rects(label.anchor, (w, h), label.gap_px, label.sides):
            if not bounds.contains(rect):
                continue
            if rect.collidelist(taken) == -1:
                return text, rect
    return None


def candidate_rects(anchor: tuple[int, int], size: tuple[int, int], gap_px: int,
                    sides: Sequence[tuple[int, int]]) -> list[pygame.Rect]:
    """The label's rectangle at each candidate side of `anchor`, in the order given."""
    w, h = size
    out = []
    for sx, sy in sides:
        rect = pygame.Rect(0, 0, w, h)
        rect.center = (anchor[0] + sx * (w // 2 + gap_px), anchor[1] + sy * (h // 2 + gap_px))
        out.append(rect)
    return out


def overlapping_pairs(rects: Sequence[pygame.Rect]) -> list[tuple[int, int]]:
    """Index pairs of rectangles that intersect (what a placement must never produce)."""
    return [(i, j) for i in range(len(rects)) for j in range(i + 1, len(rects)) if rects[i].colliderect(rects[j])]
