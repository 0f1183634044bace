"""Attribution on hand-built tracks and hand sightings in the tiny store (A-1-1 below A-2-1, A-1-2 beside A-1-1)."""
from __future__ import annotations

import numpy as np
import pytest

from checkout.attribution import HandLog, attribute, busy_elsewhere, overlap
from checkout.perception import HandBlob
from checkout.storemodel import StoreModel
from checkout.tracking import Track
from tests.checkout_synth import tiny_store_info

T0, T1 = 10.0, 10.4  # the load change


@pytest.fixture(scope="module")
def store() -> StoreModel:
    return StoreModel(tiny_store_info())


def _track(track_id: int, account: str, x: float, y: float, stand_h: float = 1.75, head_h: float | None = None) -> Track:
    """Standing still at (x, y) from 5 s to 15 s, head at `head_h` (nan: unseen) sampled every 0.1 s."""
    ts = [5.0 + 0.1 * k for k in range(101)]
    h = stand_h if head_h is None else head_h
    return Track(track_id, account, np.array([x, y, 0.0, 0.0]), np.eye(4) * 0.01, 15.0, 5.0, hist_t=ts,
                 hist_xy=[(x, y)] * len(ts), hist_h=[h] * len(ts), stand_h=stand_h)


def _sightings(log: HandLog, bin_id: str, track: Track, times: list[float], n_points: int, at: tuple[float, float, float]) -> None:
    for t in times:
        log.add((HandBlob(bin_id, t, at, n_points, np.zeros((n_points, 3), dtype=np.uint8)),), [track])


def _p(cands, account: str) -> float:
    return sum(c.probability for c in cands if c.account == account)


def test_an_arm_seen_only_in_the_bin_above_still_tells_the_reacher_from_a_bystander(store):
    # A-1-1's front edge is at x = 2.55. The reacher stands 0.3 m out, the bystander 0.65 m out (within a lean);
    # both bent to the bottom shelf (heads 0.5 m below standing), so posture alone cannot tell them apart.
    reacher, bystander = _track(1, "acct-r", 2.25, 3.8, head_h=1.25), _track(2, "acct-b", 1.9, 3.8, head_h=1.25)
    tracks = {1: reacher, 2: bystander}
    alone = attribute(store, HandLog(store), tracks, "A-1-1", T0, T1, ["acct-r", "acct-b"])
    log = HandLog(store)
    # The shelf above hides the hand in the bottom bin; its forearm shows in front of A-2-1 (same column).
    _sightings(log, "A-2-1", reacher, [9.9, 10.0, 10.1, 10.2, 10.3, 10.4], 8, (2.5, 3.8, 1.05))
    seen = attribute(store, log, tracks, "A-1-1", T0, T1, ["acct-r", "acct-b"])
    assert _p(seen, "acct-r") > 0.9
    assert _p(seen, "acct-r") > _p(alone, "acct-r") + 0.1


def test_an_arm_in_the_next_bin_along_is_no_evidence_for_this_one(store):
    reacher, bystander = _track(1, "acct-r", 2.25, 3.8), _track(2, "acct-b", 1.9, 3.8)
    tracks = {1: reacher, 2: bystander}
    alone = attribute(store, HandLog(store), tracks, "A-1-1", T0, T1, ["acct-r", "acct-b"])
    log = HandLog(store)
    _sightings(log, "A-1-2", reacher, [9.9, 10.0, 10.1, 10.2, 10.3, 10.4], 20, (2.5, 3.3, 0.3))
    beside = attribute(store, log, tracks, "A-1-1", T0, T1, ["acct-r", "acct-b"])
    assert _p(beside, "acct-r") < _p(alone, "acct-r") - 0.1
    # A knee or hip grazing a low bin nearby is a few points, not a busy hand: no evidence either way.
    graze = HandLog(store)
    _sightings(graze, "A-1-2", reacher, [9.9, 10.0, 10.1, 10.2, 10.3, 10.4], 6, (2.5, 3.3, 0.1))
    assert _p(attribute(store, graze, tracks, "A-1-1", T0, T1, ["acct-r", "acct-b"]), "acct-r") == pytest.approx(_p(alone, "acct-r"))


def test_a_shopper_whose_hands_are_busy_in_the_next_bin_is_not_the_taker(store):
    # Both bend at the shelf, between A-1-1 and A-1-2; a small hand of one is seen in A-1-1, while the other leans
    # both hands on A-1-2 through the whole change.
    taker, leaner = _track(1, "acct-t", 2.3, 3.55, head_h=1.3), _track(2, "acct-l", 2.3, 3.3, head_h=1.3)
    tracks = {1: taker, 2: leaner}
    log = HandLog(store)
    _sightings(log, "A-1-1", taker, [10.1, 10.2, 10.3], 5, (2.45, 3.6, 0.3))
    quiet = attribute(store, log, tracks, "A-1-1", T0, T1, ["acct-t", "acct-l"])
    for t in np.arange(9.8, 10.7, 0.1):
        _sightings(log, "A-1-2", leaner, [float(t)], 40, (2.45, 3.2, 0.3))
        _sightings(log, "A-1-2", leaner, [float(t)], 40, (2.45, 2.8, 0.3))
    busy = attribute(store, log, tracks, "A-1-1", T0, T1, ["acct-t", "acct-l"])
    assert _p(busy, "acct-t") > 0.97
    assert _p(busy, "acct-t") > _p(quiet, "acct-t")


def test_a_head_unseen_through_a_low_reach_is_not_taken_as_standing_straight(store):
    # A-1-1 is a bottom bin: a standing head is evidence against a reach, an unseen head is not.
    reacher, other = _track(1, "acct-r", 2.3, 3.8, stand_h=1.2), _track(2, "acct-o", 2.3, 3.6, stand_h=1.75, head_h=1.3)
    up = attribute(store, HandLog(store), {1: reacher, 2: other}, "A-1-1", T0, T1, ["acct-r", "acct-o"])
    hidden = _track(1, "acct-r", 2.3, 3.8, stand_h=1.2)
    hidden.hist_h = [1.2 if abs(t - 10.2) > 0.9 else float("nan") for t in hidden.hist_t]
    unseen = attribute(store, HandLog(store), {1: hidden, 2: other}, "A-1-1", T0, T1, ["acct-r", "acct-o"])
    assert _p(up, "acct-r") < 0.3  # seen standing straight throughout: hardly the reacher
    assert _p(unseen, "acct-r") > _p(up, "acct-r") + 0.15


def test_a_crouched_reachers_knees_in_front_of_the_shelf_two_below_are_not_a_hand_busy_elsewhere():
    # The market's east wall has four shelves: a reach into E-3-1 from a crouch shows the knees and hips in front
    # of E-1-1, two shelves down the same column, as hand-sized blobs through the whole change.
    from sim.layout import load_store
    from sim.simulation import describe_store
    from tests.conftest import STORES

    market = StoreModel(describe_store(load_store(STORES / "market_store.yaml"), ()))
    front = market.bin_front("E-3-1")
    out = np.array(market.bins["E-3-1"].facing, dtype=float)
    along = np.array(market.bins["E-3-1"].right, dtype=float)
    head = front + 0.3 * out
    reacher = _track(1, "acct-r", *head)
    bystander = _track(2, "acct-b", *(front + 0.6 * out - 0.5 * along))
    tracks = {1: reacher, 2: bystander}
    log = HandLog(market)
    _sightings(log, "E-3-1", reacher, [9.9, 10.0], 10, (*(front - 0.05 * out), 1.1))
    plain = attribute(market, log, tracks, "E-3-1", T0, T1, ["acct-r", "acct-b"])
    for t in np.arange(9.8, 10.7, 0.1):
        _sightings(log, "E-1-1", reacher, [float(t)], 40, (*(front + 0.05 * out), 0.35))
    crouched = attribute(market, log, tracks, "E-3-1", T0, T1, ["acct-r", "acct-b"])
    assert _p(crouched, "acct-r") >= _p(plain, "acct-r") - 1e-9
    # The same blobs just inside the next column along (E-1-2, bins are 1 m wide) are a hand busy there.
    far = HandLog(market)
    _sightings(far, "E-3-1", reacher, [9.9, 10.0], 10, (*(front - 0.05 * out), 1.1))
    for t in np.arange(9.8, 10.7, 0.1):
        _sightings(far, "E-1-2", reacher, [float(t)], 40, (*(front + 0.6 * along + 0.05 * out), 0.35))
    assert _p(attribute(market, far, tracks, "E-3-1", T0, T1, ["acct-r", "acct-b"]), "acct-r") < _p(plain, "acct-r") - 0.05


def test_who_moved_the_next_bins_load_at_that_moment_was_not_reaching_into_this_one(store):
    # Two crouched shoppers at the bottom shelf, no hand seen (the shelf above hides them): one in front of A-1-1,
    # one at its edge with A-1-2 — both within reach of A-1-1, only the second of A-1-2.
    one = _track(1, "acct-1", 2.25, 4.1, head_h=1.3)
    two = _track(2, "acct-2", 2.25, 3.45, head_h=1.3)
    tracks = {1: one, 2: two}
    here = attribute(store, HandLog(store), tracks, "A-1-1", T0, T1, ["acct-1", "acct-2"])
    # Half a second after A-1-1's change, A-1-2's: only the second shopper is near enough to it.
    beside = attribute(store, HandLog(store), tracks, "A-1-2", T1 + 0.5, T1 + 0.7, ["acct-1", "acct-2"])
    assert _p(beside, "acct-2") > 0.85
    k = overlap(T0, T1, T1 + 0.5, T1 + 0.7)
    assert 0.5 < k < 1.0
    elsewhere = {c.track: k * c.probability for c in beside if c.track is not None}
    joint = busy_elsewhere(here, elsewhere)
    assert _p(joint, "acct-1") > _p(here, "acct-1") + 0.2
    assert _p(joint, "acct-1") > 0.7
    assert sum(c.probability for c in joint) == pytest.approx(1.0)


def test_changes_a_reach_cycle_apart_or_more_say_nothing_about_each_other(store):
    assert overlap(T0, T1, T1 + 0.2, T1 + 0.4) == 1.0  # the same moment
    assert overlap(T0, T1, T1 + 1.3, T1 + 1.5) == 0.0  # time to take the hand out and reach again
    assert overlap(T1 + 0.5, T1 + 0.7, T0, T1) == overlap(T0, T1, T1 + 0.5, T1 + 0.7)
    tracks = {1: _track(1, "acct-1", 2.25, 3.6, head_h=1.3), 2: _track(2, "acct-2", 2.25, 3.45, head_h=1.3)}
    here = attribute(store, HandLog(store), tracks, "A-1-1", T0, T1, ["acct-1", "acct-2"])
    assert busy_elsewhere(here, {}) == here
    assert busy_elsewhere(here, {2: 0.0}) == here
    # Accounts inside with no track (no cameras, an outage) are candidates no other change can speak for.
    nobody = attribute(store, HandLog(store), {}, "A-1-1", T0, T1, ["acct-1", "acct-2"])
    assert busy_elsewhere(nobody, {1: 1.0}) == nobody


def test_a_head_seen_upright_throughout_all_but_rules_out_a_reach_to_a_bottom_bin(store):
    # A-1-1's plate is at the floor (bin centre 0.175 m): a standing adult's fingertips hang ~0.5 m above it. Two
    # shoppers equally near, one crouched at the change, one upright throughout.
    crouched = _track(1, "acct-c", 2.25, 3.7, stand_h=1.75, head_h=1.25)
    upright = _track(2, "acct-u", 2.25, 3.9, stand_h=1.75)
    cands = attribute(store, HandLog(store), {1: crouched, 2: upright}, "A-1-1", T0, T1, ["acct-c", "acct-u"])
    assert _p(cands, "acct-c") > 0.95


def test_a_blob_that_lies_in_one_spot_is_an_item_not_a_hand(store):
    # An item just put back, whose rim the stereo camera keeps re-reading, shows as a few foreground pixels in the
    # same spot frame after frame: after STILL_BLOB_S it is no hand (the shelf-event detector must not wait on it,
    # nor identification read its colours as what a hand holds). A hand that moves through the bin stays a hand.
    from checkout.attribution import STILL_BLOB_S

    tr = _track(1, "acct-r", 2.1, 2.7)
    log = HandLog(store)
    times = [10.0 + 0.1 * k for k in range(40)]
    for k, t in enumerate(times):
        jitter = 0.01 * ((-1) ** k)  # the rim's centroid wanders by a centimetre
        log.add((HandBlob("A-1-1", t, (2.62 + jitter, 2.68, 0.4), 12, np.zeros((12, 3), dtype=np.uint8)),), [tr])
    still = [s.still for s in log.by_bin["A-1-1"]]
    assert not any(still[: int(STILL_BLOB_S * 10)]) and all(still[int(STILL_BLOB_S * 10) + 1 :])
    assert not log.in_bin("A-1-1", times[-1])
    assert log.window("A-1-1", 10.0, 14.0) == [s for s in log.by_bin["A-1-1"] if not s.still] and len(still) - sum(still) <= 11
    # A hand sweeping along the bin beside it (5 cm a frame) is seen throughout; a gap in the still run restarts it.
    moving = HandLog(store)
    for k, t in enumerate(times):
        moving.add((HandBlob("A-1-2", t, (2.62, 2.4 + 0.05 * (k % 10), 0.4), 40, np.zeros((40, 3), dtype=np.uint8)),), [tr])
    assert not any(s.still for s in moving.by_bin["A-1-2"]) and moving.in_bin("A-1-2", times[-1])
    gappy = HandLog(store)
    for t in [10.0 + 0.5 * k for k in range(8)]:  # one spot, but seen only every 0.5 s: not one resting run
        gappy.add((HandBlob("A-1-1", t, (2.62, 2.68, 0.4), 12, np.zeros((12, 3), dtype=np.uint8)),), [tr])
    assert not any(s.still for s in gappy.by_bin["A-1-1"])


def test_an_upright_bystanders_shins_and_hanging_hand_at_a_bottom_bin_are_not_a_reach_into_it(store):
    # Two shoppers at A-1-1 (the bottom bin): one crouches and takes (their hand hidden under the shelf above, as
    # bottom-shelf hands are), the other stands upright at the shelf. Perception sees a few points of the bystander's
    # shins in the slab in front of A-1-1 and their hanging hand in front of A-2-1 above it, both given to them
    # (the nearest head). Those are legs and a hand at rest, not a reach: the crouched shopper is the taker.
    crouched = _track(1, "acct-c", 2.25, 3.7, stand_h=1.57, head_h=1.2)
    upright = _track(2, "acct-u", 2.25, 4.0, stand_h=1.82)
    tracks = {1: crouched, 2: upright}
    log = HandLog(store)
    times = [9.4, 9.6, 10.0, 10.3, 10.4]
    _sightings(log, "A-1-1", upright, times, 5, (2.68, 4.0, 0.3))
    _sightings(log, "A-2-1", upright, times, 25, (2.68, 4.05, 0.75))
    cands = attribute(store, log, tracks, "A-1-1", T0, T1, ["acct-c", "acct-u"])
    assert _p(cands, "acct-c") > 0.9
    # The same sightings while that shopper's head is down (bent to the shelf) are their hand reaching in.
    bent = _track(2, "acct-u", 2.25, 4.0, stand_h=1.82, head_h=1.3)
    cands = attribute(store, log, {1: crouched, 2: bent}, "A-1-1", T0, T1, ["acct-c", "acct-u"])
    assert _p(cands, "acct-u") > 0.9


def test_of_two_hands_in_one_bin_the_one_that_grows_at_the_change_grasped_the_item(store):
    # Two shoppers stand at A-2-1 (a waist-high bin: no bend needed), one at each end, each with a blob in it for
    # seconds around the change, so both count in full as a hand seen there. One blob is a hand coming in empty,
    # then hand and item at the change and on the way out; the other — a hip or a hand resting on the shelf edge —
    # is the same size throughout, larger than the empty hand. The first grasped the item.
    taker, leaner = _track(1, "acct-t", 2.25, 3.55), _track(2, "acct-l", 2.25, 4.35)
    tracks = {1: taker, 2: leaner}
    before, change, after = [9.1, 9.2, 9.3, 9.4, 9.5, 9.6], [9.9, 10.0, 10.1, 10.2, 10.3, 10.4, 10.5], [10.8, 10.9, 11.0, 11.1]
    mine, theirs = (2.5, 3.62, 1.0), (2.5, 4.0, 1.0)

    def moving(log: HandLog, track: Track, times: list[float], n: int, at: tuple) -> None:
        for k, t in enumerate(times):  # hands and bodies sway (a blob lying still is an item: `HandLog`)
            _sightings(log, "A-2-1", track, [t], n, (at[0] - 0.05 * (k % 2), at[1], at[2] + 0.05 * (k % 3)))

    def p_taker(taker_blobs: list[tuple[list[float], int]], leaner_points: int, at: tuple = mine) -> float:
        log = HandLog(store)
        moving(log, leaner, before + change + after, leaner_points, theirs)
        for times, n in taker_blobs:
            moving(log, taker, times, n, at)
        cands = attribute(store, log, tracks, "A-2-1", T0, T1, ["acct-t", "acct-l"])
        assert {c.account: c.evidence for c in cands} == {"acct-t": "hand", "acct-l": "hand"}
        return _p(cands, "acct-t")

    assert p_taker([(before, 6), (change + after, 30)], 14) > 0.7
    # A put-back is the same moment backwards: hand and item coming in, the hand going out empty.
    assert p_taker([(before + change, 30), (after, 6)], 14) > 0.7
    # Blobs that keep their size tell nothing apart: a bigger resting blob is not a grasp.
    assert p_taker([(before + change + after, 14)], 30) == pytest.approx(0.5, abs=0.05)
    # A growing blob within reach of both heads is given to the nearer, but either of them could have grasped there.
    assert p_taker([(before, 6), (change + after, 30)], 14, at=(2.5, 3.95, 1.0)) == pytest.approx(0.5, abs=0.05)
