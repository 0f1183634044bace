"""Who walks off with a taken item's colour: per-track colour samples, verdicts, and the clear-cut rule."""
from __future__ import annotations

import numpy as np

from checkout import carry
from checkout.carry import LookLog, carrier, posterior, verdict

SKU_RGB = {"lemon-330": np.array([242.0, 210.0, 27.0]), "cola-330": np.array([200.0, 16.0, 46.0])}
SHIRT = np.array([[60, 90, 140]] * 40, dtype=np.uint8)
LEMON = np.array([[242, 210, 27]] * 10, dtype=np.uint8)


def _log(track: int, carrying_from: float | None, t_end: float = 10.0) -> LookLog:
    log = LookLog()
    for k in range(int(t_end * 5)):
        t = 0.2 * k
        rgb = np.concatenate([SHIRT, LEMON]) if carrying_from is not None and t >= carrying_from else SHIRT
        log.add(track, t, rgb)
    return log


def test_the_items_colour_arriving_on_a_person_is_new_and_never_showing_is_absent():
    own = {1: SHIRT}
    log = _log(1, carrying_from=5.5)
    pre, post = log.shown([1], 1.0, 4.5, "lemon-330", SKU_RGB, own), log.shown([1], 5.5, 9.0, "lemon-330", SKU_RGB, own)
    assert verdict(pre, post) == "new"
    log = _log(1, carrying_from=None)
    assert verdict(log.shown([1], 1.0, 4.5, "lemon-330", SKU_RGB, own), log.shown([1], 5.5, 9.0, "lemon-330", SKU_RGB, own)) == "absent"
    # Carried before the take too (an earlier lemon, or a yellow shirt not learned as theirs): not new.
    log = _log(1, carrying_from=0.0)
    assert verdict(log.shown([1], 1.0, 4.5, "lemon-330", SKU_RGB, own), log.shown([1], 5.5, 9.0, "lemon-330", SKU_RGB, own)) is None
    # ... unless it is their own colour, learned as they came in: then it is no evidence of anything carried.
    assert verdict(*(log.shown([1], a, b, "lemon-330", SKU_RGB, {1: np.concatenate([SHIRT, LEMON])}) for a, b in ((1.0, 4.5), (5.5, 9.0)))) == "absent"


def test_too_few_frames_say_nothing():
    assert verdict((20, 0), (carry.MIN_FRAMES - 1, carry.MIN_FRAMES - 1)) is None
    assert verdict((carry.MIN_FRAMES - 1, 0), (20, 20)) is None  # new needs a look before as well


def test_only_a_clear_cut_verdict_names_a_carrier_and_it_shifts_the_odds_by_the_ratio():
    assert carrier({"a": "new", "b": "absent"}) == "a"
    assert carrier({"a": "new", "b": "new"}) is None  # side by side, one's pixels on the other's sample
    assert carrier({"a": "new", "b": None}) is None
    assert carrier({"a": "absent", "b": "absent"}) is None
    p = posterior({"a": 0.75, "b": 0.25}, "a")
    assert abs(p["a"] - 0.75 * carry.CARRY_LR / (0.75 * carry.CARRY_LR + 0.25)) < 1e-12 and abs(sum(p.values()) - 1) < 1e-12
    assert posterior({"a": 0.75, "b": 0.25}, "b")["a"] < 0.75


def test_samples_older_than_the_kept_span_are_dropped_and_gone_tracks_forgotten():
    log = _log(1, None, t_end=30.0)
    assert min(t for t, _ in log.samples[1]) >= 29.8 - carry.KEEP_S - 1e-9
    log.prune(29.8 + carry.KEEP_S + 0.1)
    assert 1 not in log.samples
