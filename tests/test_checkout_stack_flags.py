"""Receipt flags the stack raises from consistency between gates, tracks and load changes (hand-built streams)."""
from __future__ import annotations

import functools
from dataclasses import replace

import pytest

from checkout.perception import Perception
from checkout.stack import CheckoutStack
from sim.stream import GatePassage, GateScan
from tests.checkout_synth import CellScript, Person, down_camera, path, stream, tiny_store_info

# The lemon-take renderings are cached for the module's tests (`_lemon_take_stream`): one worker renders them once.
pytestmark = pytest.mark.xdist_group("tests.test_checkout_stack_flags")

CAMS = (down_camera("c1", 1.5, 1.8, width=120, height=90, fps=5.0), down_camera("c2", 1.5, 3.4, width=120, height=90, fps=5.0))
SEEN = tiny_store_info(CAMS)
BLIND = tiny_store_info()  # no cameras


def _lemon_shopper(t: float) -> list[Person]:
    walk = path([(0.0, 1.0, -0.3), (1.0, 1.0, 0.3), (3.0, 2.05, 2.8), (5.5, 2.05, 2.8), (7.0, 1.8, 1.0), (9.0, 5.0, 0.6), (10.0, 5.0, -0.4)])
    if t < 0.6 or t > 9.8:
        return []
    x, y = walk(t)
    hand = (2.52, 3.0, 0.55) if 3.4 <= t <= 4.8 else None
    return [Person(x, y, hand=hand, hand_rgb=(240, 210, 30) if t > 4.2 else (220, 180, 150))]


def test_a_scan_nobody_walked_in_on_flags_the_account_whose_shopper_was_at_that_gate():
    # Two accounts scan at in-1 a moment apart and one person walks in: the tracker gives them to the first scan,
    # but they may be the second's shopper — the receipt is right only if the first guess was.
    gates = [GateScan(0.5, "in-1", "acct-9"), GateScan(0.7, "in-1", "acct-8"), GatePassage(9.6, "out-1")]
    msgs = stream(SEEN, 12.0, {"A-1-2": CellScript(2100.0, steps=[(4.1, -351.0)])}, gates, _lemon_shopper, seed=3)
    receipts = {r.account: r for r in CheckoutStack("fused").run(msgs)}
    r = receipts["acct-9"]
    assert r.items == {"lemon-330": 1}
    assert r.flagged and any("acct-8" in why for why in r.reasons)


def test_a_take_with_the_only_shopper_inside_far_from_the_bin_is_flagged():
    # The one tracked shopper stands on the far side of the island when A-1-2 loses a can: someone the cameras
    # do not track took it (or it fell), so charging the shopper inside is a guess.
    walk = path([(0.0, 1.0, -0.3), (1.0, 1.0, 0.3), (3.0, 4.2, 1.5), (6.0, 4.2, 1.5), (8.0, 5.0, 0.6), (9.0, 5.0, -0.4)])

    def people(t: float) -> list[Person]:
        return [] if t < 0.6 or t > 8.8 else [Person(*walk(t))]

    gates = [GateScan(0.5, "in-1", "acct-9"), GatePassage(8.6, "out-1")]
    msgs = stream(SEEN, 11.0, {"A-1-2": CellScript(2100.0, steps=[(4.1, -351.0)])}, gates, people, seed=4)
    stack = CheckoutStack("fused")
    (r,) = stack.run(msgs)
    assert [e.track for e in stack.events] == [None]
    assert r.flagged and any("nobody tracked was near A-1-2" in why for why in r.reasons)


@functools.lru_cache(maxsize=2)
def _lemon_take_stream(hand: bool) -> tuple:
    """The shopper by the lemons while A-1-2 loses a can at 4.1 s, a hand seen in the bin or never (one rendering
    for the tests that judge it differently)."""
    gates = [GateScan(0.5, "in-1", "acct-9"), GatePassage(9.6, "out-1")]
    cells = {"A-1-2": CellScript(2100.0, steps=[(4.1, -351.0)])}
    return tuple(stream(SEEN, 12.0, cells, gates, _stands_by_the_lemons(hand), seed=3))


def _stands_by_the_lemons(hand: bool):
    def people(t: float) -> list[Person]:
        people = _lemon_shopper(t)
        return people if hand else [Person(p.x, p.y) for p in people]  # the same walk, no hand ever in a bin
    return people


def test_a_take_no_hand_on_camera_supports_is_never_charged_unflagged():
    # The shopper stands at the lemon bin while it loses a can. With a hand seen in the bin the take is theirs,
    # clean; with the cameras on that bin, none out and no hand ever seen there, nothing on camera supports the
    # take (a plate's fault, a can knocked down from behind): charged, but flagged.
    (seen,) = CheckoutStack("fused").run(list(_lemon_take_stream(True)))
    assert seen.items == {"lemon-330": 1} and not seen.flagged
    (unseen,) = CheckoutStack("fused").run(list(_lemon_take_stream(False)))
    assert unseen.items == {"lemon-330": 1} and unseen.flagged
    assert any("no hand seen in the bin, nothing on camera supports it" in why for why in unseen.reasons)
    # Weight alone has no cameras to ask: the same stream is charged clean, as before.
    (weight,) = CheckoutStack("weight").run(list(_lemon_take_stream(False)))
    assert weight.items == {"lemon-330": 1} and not weight.flagged


def test_an_impossible_load_reading_flags_and_never_charges():
    # Blind (no camera watches the bins): a plate that reads far below an empty plate for seconds while a shopper
    # is inside may have hidden a take; a drop heavier than everything the bin held is no item. Both flag; neither
    # charges anything.
    gates = [GateScan(1.0, "in-1", "acct-1"), GatePassage(20.0, "out-1")]
    for cell, why in [(CellScript(2100.0, bumps=[(3.0, 6.0, -2600.0)]), "load cell A-1-1 gave no reading from 3.0 s"),
                      (CellScript(2100.0, steps=[(3.0, -2600.0)]), "load cell A-1-1 gave no reading from 3.0 s"),
                      (CellScript(4100.0, steps=[(3.0, -3000.0)]), "unexplained load change -3000 g at A-1-1")]:
        stack = CheckoutStack("weight")
        (r,) = stack.run(stream(BLIND, 24.0, {"A-1-1": cell}, gates))
        assert r.items == {} and r.flagged and any(why in reason for reason in r.reasons), (why, r.reasons)
        assert not [e for e in stack.events if e.kind == "take"]


def test_a_take_while_the_bins_camera_is_silent_is_flagged_for_the_outage_not_for_a_missing_hand():
    # The camera over the lemon bin stops sending at 3 s and is still silent when the take is judged: no hand
    # could have been seen, so the flag says the camera was out — not that nothing on camera supports the take.
    gates = [GateScan(0.5, "in-1", "acct-9"), GatePassage(9.6, "out-1")]
    cells = {"A-1-2": CellScript(2100.0, steps=[(4.1, -351.0)])}
    msgs = stream(SEEN, 12.0, cells, gates, _stands_by_the_lemons(False), seed=3, camera_off={"c2": (3.0, 12.0)})
    (r,) = CheckoutStack("fused").run(msgs)
    assert r.items == {"lemon-330": 1} and r.flagged
    assert any("camera c2 out during the event at A-1-2" in why for why in r.reasons), r.reasons
    assert not any("no hand seen" in why for why in r.reasons), r.reasons



class _BinHidden:
    """The stack's perception, but reporting that no camera saw the space in front of `bin_id` (as for a bin whose
    front faces away from every camera, or one a shopper's body is bent over)."""

    def __init__(self, bin_id: str) -> None:
        self.bin_id = bin_id

    def open(self, store):
        self.perception = Perception(store)
        self.k = store.bin_index[self.bin_id]
        return self

    def process(self, t_s, frames):
        p = self.perception.process(t_s, frames)
        open_bins = p.open_bins.copy()
        open_bins[self.k] = 0.0
        return replace(p, open_bins=open_bins)


def test_a_quick_take_from_a_bin_no_camera_could_see_into_needs_no_hand_on_camera_but_a_slow_creep_there_does():
    # The shopper stands by the lemons, no hand seen, as in the test above; but now no camera saw the space in
    # front of the bin: that no hand was seen says nothing, and the take is charged clean. A load that crept away
    # over seconds is no hand's quick take: with no hand seen it stays unsupported however hidden the bin.
    stack = CheckoutStack("fused", shared_perception=_BinHidden("A-1-2"))
    (r,) = stack.run(list(_lemon_take_stream(False)))
    assert r.items == {"lemon-330": 1} and not r.flagged, r.reasons
    assert stack.attribution.hidden_share("A-1-2", 3.0, 5.5) == 1.0 and not stack.attribution.window("A-1-2", 3.0, 5.5)
    creep = {"A-1-2": CellScript(2100.0, steps=[(3.1 + 0.1 * i, -351.0 / 25) for i in range(25)])}
    gates = [GateScan(0.5, "in-1", "acct-9"), GatePassage(9.6, "out-1")]
    msgs = stream(SEEN, 12.0, creep, gates, _stands_by_the_lemons(False), seed=3)
    (slow,) = CheckoutStack("fused", shared_perception=_BinHidden("A-1-2")).run(msgs)
    assert slow.items == {"lemon-330": 1} and slow.flagged
    assert any("no hand seen in the bin, nothing on camera supports it" in why for why in slow.reasons), slow.reasons
