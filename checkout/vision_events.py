"""Stage 3, vision-only variant (the "vision" ablation): shelf events from what the cameras saw at the bin.

A *visit* is one person's hand seen in one bin, with gaps shorter than
`gap_s`. When it ends, the colours of the hand blob as it came in are compared
with the colours as it went out: a catalog colour that left with the hand but
did not come with it is a take of that SKU; one that came and did not leave is a
put-back. No weight, so always one item, and the confidence is the contrast, capped at
`MAX_CONFIDENCE`: colour alone cannot count a handful, nor tell the item taken
from one already carried in the same hand. A visit of several frames that shows
no contrast is not nothing either: it is reported as an undecided visit
(`kind == "visit"`), which lowers the confidence of the visitor's receipt — a take
the colours missed is exactly what vision alone gets wrong.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from checkout.attribution import HandSighting
from checkout.identification import colour_evidence
from checkout.storemodel import StoreModel


MAX_CONFIDENCE = 0.8  # a vision-only take or return is never surer than this (counts, carried look-alikes)
MIN_VISIT_FRAMES = 2  # a hand seen in this many frame sets in a bin went into it (one is a graze or a sleeve)


@dataclass(frozen=True)
class VisionEvent:
    t_s: float
    bin: str
    track: int
    kind: str  # take | put_back | visit (a hand in the bin, no decision)
    sku: str | None
    confidence: float


@dataclass
class _Visit:
    sightings: list[HandSighting] = field(default_factory=list)


class VisionEventDetector:
    def __init__(self, store: StoreModel, gap_s: float = 0.6, min_contrast: float = 0.15,
                 person_rgb: Callable[[int, float], np.ndarray | None] = lambda track, t_s: None,
                 bin_skus: Callable[[str], set[str]] | None = None,
                 cart_skus: Callable[[int], set[str]] = lambda track: set()) -> None:
        self.store = store
        self.bin_skus = bin_skus or (lambda b: set(store.planogram.get(b, {})))
        self.cart_skus = cart_skus
        self.person_rgb = person_rgb
        self.gap_s = gap_s
        self.min_contrast = min_contrast
        self._visits: dict[tuple[str, int], _Visit] = {}

    def add(self, t_s: float, sightings: list[HandSighting]) -> list[VisionEvent]:
        for s in sightings:
            if s.track is None:
                continue
            self._visits.setdefault((s.bin, s.track), _Visit()).sightings.append(s)
        return self._close(t_s, force=False)

    def flush(self, t_s: float) -> list[VisionEvent]:
        return self._close(t_s, force=True)

    def _close(self, t_s: float, force: bool) -> list[VisionEvent]:
        out = []
        for key in sorted(self._visits):
            v = self._visits[key]
            if not force and t_s - v.sightings[-1].t_s <= self.gap_s:
                continue
            del self._visits[key]
            ev = self._judge(key[0], key[1], v.sightings)
            if ev is not None:
                out.append(ev)
        return out

    def _judge(self, bin_id: str, track: int, seen: list[HandSighting]) -> VisionEvent | None:
        if len(seen) < 2:
            return None
        k = max(1, len(seen) // 3)
        skus = list(self.store.catalog)
        own = self.person_rgb(track, seen[0].t_s - 0.5)
        came = colour_evidence(np.concatenate([s.rgb for s in seen[:k]]), self.store.sku_rgb, skus, person_rgb=own)
        went = colour_evidence(np.concatenate([s.rgb for s in seen[-k:]]), self.store.sku_rgb, skus, person_rgb=own)
        undecided = VisionEvent(seen[-1].t_s, bin_id, track, "visit", None, 0.0) if len(seen) >= MIN_VISIT_FRAMES else None
        if not came and not went:
            return undecided
        came = {s: came.get(s, 0.0) for s in skus}
        went = {s: went.get(s, 0.0) for s in skus}
        diff = {s: went[s] - came[s] for s in skus}
        # A hand can only take what the bin is believed to hold, and only put back what its cart holds.
        takeable = [s for s in skus if s in self.bin_skus(bin_id)]
        returnable = [s for s in skus if s in self.cart_skus(track)]
        t = seen[-1].t_s
        best = max(takeable, key=diff.get) if takeable else None
        worst = min(returnable, key=diff.get) if returnable else None
        gain = diff[best] if best else 0.0
        loss = -diff[worst] if worst else 0.0
        if best and gain >= self.min_contrast and gain >= loss:
            return VisionEvent(t, bin_id, track, "take", best, _confidence({s: diff[s] for s in takeable}, best))
        if worst and loss >= self.min_contrast:
            return VisionEvent(t, bin_id, track, "put_back", worst, _confidence({s: -diff[s] for s in returnable}, worst))
        return undecided


def _confidence(diff: dict[str, float], chosen: str) -> float:
    rest = sorted((d for s, d in diff.items() if s != chosen), reverse=True)
    runner = max(rest[0], 0.0) if rest else 0.0
    return float(np.clip(0.5 + (diff[chosen] - runner), 0.0, MAX_CONFIDENCE))
