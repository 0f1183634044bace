"""Vision-only shelf events on hand-built hand sightings (tiny store): a short visit colour cannot judge is reported."""
from __future__ import annotations

import numpy as np

from checkout.attribution import HandSighting
from checkout.stack import VISION_VISIT
from checkout.receipts import REVIEW_THRESHOLD
from checkout.storemodel import StoreModel
from checkout.vision_events import VisionEventDetector
from tests.checkout_synth import tiny_store_info

STORE = StoreModel(tiny_store_info())
SKIN = np.tile(np.array([[220, 180, 150]], dtype=np.uint8), (20, 1))
YELLOW = np.tile(np.array([[230, 205, 30]], dtype=np.uint8), (20, 1))


def _visit(det: VisionEventDetector, times: list[float], rgbs: list[np.ndarray], bin_id: str = "A-1-2") -> list:
    out = []
    for t, rgb in zip(times, rgbs):
        out += det.add(t, [HandSighting(t, bin_id, 1, len(rgb), (2.5, 3.0, 0.3), rgb)])
    return out + det.add(times[-1] + 2.0, [])


def test_a_brief_hand_visit_colour_cannot_judge_is_reported_as_undecided():
    det = VisionEventDetector(STORE, person_rgb=lambda track, t: SKIN)
    events = _visit(det, [10.0, 10.1, 10.2], [SKIN, SKIN, SKIN])
    assert [(e.kind, e.bin, e.track) for e in events] == [("visit", "A-1-2", 1)]
    # An undecided visit alone sends the visitor's receipt to review: colour alone cannot rule out a take.
    assert VISION_VISIT < REVIEW_THRESHOLD


def test_one_glimpse_of_a_sleeve_is_no_visit():
    det = VisionEventDetector(STORE, person_rgb=lambda track, t: SKIN)
    assert _visit(det, [10.0], [SKIN]) == []


def test_a_lemon_colour_leaving_with_the_hand_is_a_take():
    det = VisionEventDetector(STORE, person_rgb=lambda track, t: SKIN)
    events = _visit(det, [10.0, 10.1, 10.2, 10.3, 10.4, 10.5], [SKIN, SKIN, SKIN, np.vstack([SKIN, YELLOW]), np.vstack([SKIN, YELLOW]), YELLOW])
    assert [(e.kind, e.sku) for e in events] == [("take", "lemon-330")]
