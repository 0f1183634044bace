"""Stage 4, attribution: which track's hand was in that bin during a shelf event.

Every frame set, each hand blob seen in a bin is given to the person it
belongs to — the nearest tracked head within arm's reach of the blob — and
logged (`HandLog`). A weight change over [t_start, t_end] is then attributed
by weighing every person tracked then (`attribute`):

- reach: how close their head came to the bin's *front edge* (a segment: bins
  are wide), free up to an arm's length, falling off beyond; nobody reaches a
  bin from behind its front plane (across the gondola);
- posture: a plate below a standing adult's hand needs a bent or crouched
  head (lower than that person's own standing height), the more surely the
  lower the plate;
- hands: a hand of theirs seen in the bin around the change multiplies the
  weight by a likelihood ratio — large, not infinite, because hands hide
  behind bodies and shelves, so an unseen hand is weaker evidence, not proof;
- elsewhere: a person who, by the same evidence, most likely moved the load of
  another bin at the same moment (`busy_elsewhere`, from the stack's other
  changes close in time: `overlap`) had their hand there, not here — a hand
  is in one bin at a time. This is what settles two people side by side at a
  shelf whose hands no camera sees (the bottom shelves of an island, behind
  their bodies): the one who took from the next bin half a second later was
  not the one who took from this one.

So two people reaching at once into neighbouring bins keep their own hands
(hand geometry, or each other's changes when no hand is seen) and two reaching
into one bin one after another are told apart by timing. When there are no
tracks at all (no cameras, an outage), the accounts inside are the candidates,
evenly — and the result says so, so the receipt is flagged rather than guessed.
"""
from __future__ import annotations

import math
import weakref
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from checkout.perception import HandBlob
from checkout.storemodel import StoreModel
from checkout.tracking import Track

ARM_REACH_M = 1.0  # shoulder-to-fingertip plus a lean, horizontally, for an adult
PRE_S = 1.0  # a hand enters the bin before the load changes
POST_S = 1.0  # and leaves it after
# A blob that has stayed put this long, within this distance, is no hand: an item just put down (or knocked askew)
# whose rim the stereo camera keeps re-reading (holes and flying pixels along its edges, each frame afresh) shows as
# a few foreground pixels that never hold still, in the same place. A hand does not stay within 4 cm of one spot for
# a second but when it rests, and then perception already drops its pixels (`hand_still_s`).
STILL_BLOB_S = 1.0
STILL_BLOB_M = 0.04
STILL_BLOB_GAP_S = 0.35  # the sightings of one resting blob come at the frame rate; a longer gap breaks the run


@dataclass(frozen=True)
class HandSighting:
    t_s: float
    bin: str
    track: int | None
    n_points: int
    centroid: tuple[float, float, float]
    rgb: np.ndarray
    still: bool = False  # the blob has lain in one spot for `STILL_BLOB_S` (see there): an item, not a hand


@dataclass(frozen=True)
class Candidate:
    track: int | None
    account: str | None
    probability: float
    evidence: str  # "hand" | "proximity" | "inside"


class HandLog:
    """Hand sightings per bin, each given to the nearest person within reach."""

    def __init__(self, store: StoreModel, keep_s: float = 60.0) -> None:
        self.store = store
        self.keep_s = keep_s
        self.by_bin: dict[str, list[HandSighting]] = defaultdict(list)

    def add(self, blobs: tuple[HandBlob, ...], tracks: list[Track]) -> list[HandSighting]:
        out = []
        pos = np.array([tr.x[:2] for tr in tracks]) if tracks else np.zeros((0, 2))
        for b in blobs:
            owner = None
            if len(pos):
                # Horizontal distance from the head to the hand; the arm runs from one to the other.
                d = np.hypot(pos[:, 0] - b.centroid[0], pos[:, 1] - b.centroid[1])
                k = int(np.argmin(d))
                if d[k] <= ARM_REACH_M:
                    owner = tracks[k].id
            s = HandSighting(b.t_s, b.bin, owner, b.n_points, b.centroid, b.rgb, self._lain_still(b))
            out.append(s)
        for s in out:
            self.by_bin[s.bin].append(s)
        return out

    def _lain_still(self, b: HandBlob) -> bool:
        """Has a blob been seen within `STILL_BLOB_M` of this one, frame after frame, for `STILL_BLOB_S`?"""
        c = np.asarray(b.centroid)
        t_run = b.t_s
        for s in reversed(self.by_bin.get(b.bin, ())):
            if s.t_s < b.t_s - STILL_BLOB_S - STILL_BLOB_GAP_S:
                break
            if s.t_s >= t_run or np.sum((np.asarray(s.centroid) - c) ** 2) > STILL_BLOB_M**2:
                continue
            if t_run - s.t_s > STILL_BLOB_GAP_S:
                return False
            t_run = s.t_s
            if b.t_s - t_run >= STILL_BLOB_S:
                return True
        return False

    def in_bin(self, bin_id: str, t_s: float, within_s: float = 0.35) -> bool:
        return any(t_s - within_s <= s.t_s <= t_s + 1e-9 and not s.still for s in reversed(self.by_bin.get(bin_id, ())[-8:]))

    def window(self, bin_id: str, t0: float, t1: float) -> list[HandSighting]:
        """The hands seen in a bin between t0 and t1 (a blob that has lain still is no hand)."""
        return [s for s in self.by_bin.get(bin_id, ()) if t0 <= s.t_s <= t1 and not s.still]

    def prune(self, t_s: float) -> None:
        for k, v in self.by_bin.items():
            if v and v[0].t_s < t_s - self.keep_s:
                self.by_bin[k] = [s for s in v if s.t_s >= t_s - self.keep_s]


class OpeningLog:
    """Frame set by frame set, the share of the space in front of each bin's opening some camera saw
    (`Percept.open_bins`): a hand that went in where none did went in unseen."""

    def __init__(self, store: StoreModel, keep_s: float = 60.0) -> None:
        self.index = store.bin_index
        self.keep_s = keep_s
        self.t: list[float] = []
        self.open: list[np.ndarray] = []

    def add(self, t_s: float, open_bins: np.ndarray | None) -> None:
        if open_bins is not None:
            self.t.append(t_s)
            self.open.append(open_bins)

    def hidden_share(self, bin_id: str, t0: float, t1: float) -> float | None:
        """The mean share of the space in front of the bin no camera saw, over the frame sets in [t0, t1]; None:
        none known."""
        k = self.index.get(bin_id)
        lo, hi = bisect_left(self.t, t0), bisect_left(self.t, t1 + 1e-9)
        if k is None or hi <= lo:
            return None
        return 1.0 - float(sum(float(self.open[i][k]) for i in range(lo, hi))) / (hi - lo)

    def prune(self, t_s: float) -> None:
        cut = bisect_left(self.t, t_s - self.keep_s)
        if cut:
            del self.t[:cut], self.open[:cut]


def attribute(
    store: StoreModel,
    log: HandLog,
    tracks: dict[int, Track],
    bin_id: str,
    t_start_s: float,
    t_end_s: float,
    accounts_inside: list[str],
) -> list[Candidate]:
    """Who moved the load of `bin_id` between t_start and t_end: candidates, most likely first.

    Each person tracked then is weighed by three pieces of evidence, multiplied:
    reach — how close they came to the bin's front edge (a segment, not its
    centre: bins are wide) during the change; and hands — whether a hand of
    theirs was seen in the bin around it (a likelihood ratio `HAND_LR`: a hand
    can be hidden, by the reacher's own body on a low shelf, so an unseen hand
    is weaker evidence, not proof, that it was not them); and grasp — how much
    larger their blob in the bin was at the change than before or after it
    (`_grasp_growth`: hand and item together, not a body part resting there).
    The weights are normalised over everyone who could have reached.
    """
    # A hand only gets into a low bin with a bend (`_posture`): in front of one, a person standing upright shows
    # their shins and knees, and in front of the bin above it a hand hanging at their side — not a hand reaching
    # in. A sighting given to someone whose head was up at that moment is no evidence that they reached into a
    # bin whose plate is below their hanging fingertips (`_low_shelf_m`), in it or in the bins of its column.
    plate_z = store.bins[bin_id].center[2]

    def reaching(s: HandSighting) -> bool:
        if s.track is None:
            return False
        tr = tracks.get(s.track)
        return tr is None or plate_z >= _low_shelf_m(tr) or not _upright_at(tr, s.t_s)

    seen = [s for s in log.window(bin_id, t_start_s - PRE_S, t_end_s + POST_S) if reaching(s)]
    hand: dict[int, float] = defaultdict(float)
    s_any = {s.track: True for s in seen}
    for s in seen:
        hand[s.track] += _hand_score(s, t_start_s, t_end_s)  # type: ignore[index]
    grasp = _grasp_growth([s for s in seen if not _owner_in_doubt(s, tracks)], t_start_s, t_end_s)
    # The shelf above hides a hand inside a lower bin from ceiling cameras: what shows is the arm in front of the
    # bin, and of a crouch the knees in front of the shelf below — both sorted into the bin above or below by
    # their height. Such sightings count, at a discount, as the reach they most likely are.
    column = _column_neighbours(store, bin_id)
    for b in column:
        for s in log.window(b, t_start_s - PRE_S, t_end_s + POST_S):
            if reaching(s):
                hand[s.track] += COLUMN_DISCOUNT * _hand_score(s, t_start_s, t_end_s)
    # A hand of theirs busy in another bin while the load changed here is evidence they were not reaching here.
    # Not the bins straight above or below it at any distance: a crouched reacher's arm, knees and hips show in
    # front of the lower shelves of the very column they reach into.
    busy: dict[int, float] = defaultdict(float)
    own_column = _same_column(store, bin_id)
    for b, rows in log.by_bin.items():
        if b == bin_id or b in own_column:
            continue
        for s in rows:
            if s.track is not None and t_start_s - BUSY_PAD_S <= s.t_s <= t_end_s + BUSY_PAD_S:
                busy[s.track] += math.log1p(max(0, s.n_points - BUSY_MIN_POINTS))
    rows = []
    for tr in tracks.values():
        if tr.born_s > t_end_s + POST_S or (tr.ended_s is not None and tr.ended_s < t_start_s - PRE_S):
            continue
        d = _closest_approach(store, tr, bin_id, t_start_s - PRE_S, t_end_s + POST_S)
        reach = _reach(d) * _posture(store, tr, bin_id, t_start_s - PRE_S, t_end_s + POST_S)
        h = hand.get(tr.id, 0.0)
        seen_hand = s_any.get(tr.id, False)
        if reach < 1e-3 and not seen_hand:
            continue
        w = max(reach, 0.02 if seen_hand else 0.0) * (1.0 + (HAND_LR - 1.0) * (1.0 - math.exp(-h / HAND_SCALE)))
        w *= 1.0 + grasp.get(tr.id, 0.0) / GRASP_POINTS
        w /= 1.0 + (BUSY_LR - 1.0) * (1.0 - math.exp(-busy.get(tr.id, 0.0) / HAND_SCALE))
        rows.append((tr.id, tr.account, w, "hand" if seen_hand else "proximity"))
    if rows:
        return _normalise(rows)
    if accounts_inside:
        p = 1.0 / len(accounts_inside) * (0.95 if len(accounts_inside) == 1 else 1.0)
        return [Candidate(None, a, p, "inside") for a in accounts_inside]
    return [Candidate(None, None, 0.0, "nobody")]


GRASP_S = 0.3  # a hand grasping the item that moved is in the bin within this of the load's change
GRASP_POINTS = 10.0  # a blob this many points larger at the change than the person's own before or after doubles the
# odds that it was their hand (a hand with a can or a pack in it, from the store's cameras, shows tens of points)
OWNER_REACH_M = 0.7  # a hand this far (horizontally) from a head is in that person's reach without a lean: the head
# stands up to REACH_FREE_M from the bin's front edge and the hand goes 0.1-0.25 m past it into the slab and the bin
COLUMN_DISCOUNT = 0.5  # a sighting in the bin just above or below counts half (arm or knees, not the hand itself)
BUSY_PAD_S = 0.3  # a hand elsewhere this close to the change's start or end was busy then
BUSY_MIN_POINTS = 12  # a hand busy elsewhere is a hand-sized blob; knees and hips grazing low shelves are a few points
BUSY_LR = 6.0  # a hand seen in another bin during the change vs none seen there, for someone who did reach here
SAME_MOMENT_S = 0.3  # two load changes this close are one moment (a batch's 0.2 s, the settle's own timing)
ONE_HAND_CYCLE_S = 1.2  # a hand out of one bin and into another, grasping again: a reach-and-grasp takes ~1 s
HAND_LR = 40.0  # a seen hand in the bin vs none seen (hands hide behind bodies and shelves)
HAND_SCALE = 4.0  # hand score (frames x log points) at which the evidence is ~63 % of its full weight
EDGE_POINTS = 3  # a blob's first points count nothing: the least a perception blob has (a body part grazing the bin)
REACH_FREE_M = 0.45  # from the head's floor point to the bin's front edge: standing at the shelf, arm's length
REACH_SD_M = 0.15  # leaning in: the hand must reach ~0.1 m past the front edge and an adult arm spans ~0.75 m from
# the shoulder, so from 0.75 m a reach is ~14 % as likely, from 0.9 m ~1 %
LOW_SHELF_M = 0.6  # a plate below this is out of a standing adult's hand (shoulder ~1.4 m, arm ~0.65 m): one bends
# Fingertip height of a person standing with arms hanging, as a share of stature (0.377 H: Drillis & Contini's
# segment proportions, as tabled in Winter, "Biomechanics and Motor Control of Human Movement", fig. 4.1); the
# tracker's standing head-top height stands for stature. A 1.57 m adult's fingertips hang at LOW_SHELF_M, a 1.2 m
# child's at 0.45 m: a plate between is out of the adult's hand unbent and in the child's.
FINGERTIP_SHARE = 0.377
BEND_M = 0.15  # the head drops at least this much below the person's standing height when they bend or crouch
NOT_BENT = 0.15  # likelihood of a reach to a plate at LOW_SHELF_M while the head stayed up (a child, a long arm, a
# stoop missed); lower plates in proportion to their height: the hand falls further short of them
UPRIGHT_GAP_S = 0.2  # a head height within this of a hand sighting is the posture at that sighting (frames at 10 fps)
BEHIND_TOL_M = 0.1  # head-position scatter across the front plane


def busy_elsewhere(cands: list[Candidate], elsewhere: dict[int, float]) -> list[Candidate]:
    """The candidates again, each track's weight divided as for a hand seen busy in another bin, in proportion to
    `elsewhere[track]`: how likely (0-1) their hand was moving another bin's load at the time (the other changes'
    own attribution, weighted by `overlap`). Candidates without a track (the accounts inside) are unchanged."""
    if not elsewhere or not any(c.track in elsewhere for c in cands):
        return cands
    rows = [(c.track, c.account, c.probability / (1.0 + (BUSY_LR - 1.0) * min(1.0, elsewhere.get(c.track, 0.0)))
             if c.track is not None else c.probability, c.evidence) for c in cands]
    return _normalise(rows)


def overlap(a_start_s: float, a_end_s: float, b_start_s: float, b_end_s: float) -> float:
    """How surely one hand could not have moved both loads: 1 when the two changes overlap or lie within
    `SAME_MOMENT_S`, falling to 0 at `ONE_HAND_CYCLE_S` apart (out of one bin and into the next takes a hand
    about that long)."""
    gap = max(0.0, max(a_start_s, b_start_s) - min(a_end_s, b_end_s))
    if gap <= SAME_MOMENT_S:
        return 1.0
    return max(0.0, 1.0 - (gap - SAME_MOMENT_S) / (ONE_HAND_CYCLE_S - SAME_MOMENT_S))


def _grasp_growth(seen: list[HandSighting], t_start_s: float, t_end_s: float) -> dict[int, float]:
    """Per track: how much larger its largest blob in the bin was around the change (within `GRASP_S`) than its
    blobs there were before or after it (the smaller of the two means, from the side(s) it was seen on; 0 points
    where it was seen only at the change).

    The hand that moves the load grasps an item at that moment: in front of the bin it shows hand and item
    together, more points than the hand coming in empty (a take) or going out empty (a put-back). A body part
    beside the bin — a hip or a shoulder of someone standing there, a hand resting on the shelf edge — shows
    about the same points before, during and after: its growth is about nothing, however large it is. Two
    people's blobs in one bin both count as hands by `HAND_LR` (the evidence saturates after a few frames); this
    tells which of them was grasping. Blobs whose owner is in doubt (`_owner_in_doubt`) are left out by the
    caller: a neighbour's grasping hand given to the person beside it would make them the taker, and sure of it."""
    by_track: dict[int, list[HandSighting]] = defaultdict(list)
    for s in seen:
        if s.track is not None:
            by_track[s.track].append(s)
    out: dict[int, float] = {}
    for tr, rows in by_track.items():
        near = [s.n_points for s in rows if t_start_s - GRASP_S <= s.t_s <= t_end_s + GRASP_S]
        if not near:
            continue
        sides = [float(np.mean(v)) for v in ([s.n_points for s in rows if s.t_s < t_start_s - GRASP_S],
                                             [s.n_points for s in rows if s.t_s > t_end_s + GRASP_S]) if v]
        out[tr] = max(0.0, max(near) - (min(sides) if sides else 0.0))
    return out


def _owner_in_doubt(s: HandSighting, tracks: dict[int, Track]) -> bool:
    """Was a second person's head (then) within `OWNER_REACH_M` of the blob? `HandLog` gives a blob to the nearest
    head, but a hand reaching across to the middle of a wide bin from its side is often nearer the head of the
    person standing in front of it than its own; with two heads that near, either arm could have put it there."""
    if s.track is None:
        return True
    xy = np.asarray(s.centroid[:2], dtype=float)
    near = sum(1 for tr in tracks.values() if tr.born_s <= s.t_s and (tr.ended_s is None or tr.ended_s >= s.t_s)
               and float(np.hypot(*(np.asarray(tr.position_at(s.t_s), dtype=float) - xy))) <= OWNER_REACH_M)
    return near >= 2


def _hand_score(s: HandSighting, t_start_s: float, t_end_s: float) -> float:
    """Frames x log points, fading with the time from the change: a blob of a few points at a bin's edge is as
    likely a sleeve or knee beside it as a hand in it."""
    gap = max(0.0, t_start_s - s.t_s, s.t_s - t_end_s)
    return math.exp(-gap / 0.5) * math.log1p(max(0, s.n_points - EDGE_POINTS))


_COLUMNS: "weakref.WeakKeyDictionary[StoreModel, dict[str, tuple[str, ...]]]" = weakref.WeakKeyDictionary()


def _column_neighbours(store: StoreModel, bin_id: str) -> tuple[str, ...]:
    """Bins directly above and below this one (same gondola and position along it, the next shelf)."""
    cache = _COLUMNS.setdefault(store, {})
    if bin_id not in cache:
        b = store.bins[bin_id]
        cache[bin_id] = tuple(
            o.id for o in store.bins.values()
            if o.gondola == b.gondola and o.index == b.index and abs(o.shelf - b.shelf) == 1
        )
    return cache[bin_id]


def _same_column(store: StoreModel, bin_id: str) -> frozenset[str]:
    """Every bin of this one's column: same gondola and position along it, any shelf."""
    cache = _STACKS.setdefault(store, {})
    if bin_id not in cache:
        b = store.bins[bin_id]
        cache[bin_id] = frozenset(o.id for o in store.bins.values() if o.gondola == b.gondola and o.index == b.index)
    return cache[bin_id]


_STACKS: "weakref.WeakKeyDictionary[StoreModel, dict[str, frozenset[str]]]" = weakref.WeakKeyDictionary()


def _reach(d_m: float) -> float:
    """Likelihood that someone whose head came within d of the bin front reached into it."""
    if d_m <= REACH_FREE_M:
        return 1.0
    return math.exp(-0.5 * ((d_m - REACH_FREE_M) / REACH_SD_M) ** 2)


def _posture(store: StoreModel, tr: Track, bin_id: str, t0: float, t1: float) -> float:
    """Likelihood of the track's head heights around the event if this person reached into the bin."""
    low_m = _low_shelf_m(tr)
    if store.bins[bin_id].center[2] >= low_m or tr.stand_h != tr.stand_h:
        return 1.0
    i0 = bisect_left(tr.hist_t, t0)
    i1 = bisect_left(tr.hist_t, t1 + 1e-9)
    h = np.asarray(tr.hist_h[i0:i1], dtype=float)
    seen = np.isfinite(h)
    if not seen.any():
        return 1.0  # unseen then: no evidence either way
    if tr.stand_h - float(h[seen].min()) >= BEND_M:
        return 1.0
    # A head unseen for much of the reach (bent below the shelf edge, hidden by another) may have bent unseen:
    # the evidence counts in proportion to how much of the window the head was seen.
    not_bent = NOT_BENT * max(store.bins[bin_id].center[2], 0.0) / low_m
    return not_bent ** float(seen.mean())


def _low_shelf_m(tr: Track) -> float:
    """The plate height below which this person must bend to get a hand in: their fingertips' height standing
    (`FINGERTIP_SHARE` of their standing height), `LOW_SHELF_M` while that height is unknown."""
    return LOW_SHELF_M if tr.stand_h != tr.stand_h else FINGERTIP_SHARE * tr.stand_h


def _upright_at(tr: Track | None, t_s: float) -> bool:
    """Was the track's head seen within `UPRIGHT_GAP_S` of t_s, and all such sightings above its standing height
    less `BEND_M`? (Unseen, or no standing height known yet: not known to be upright.)"""
    if tr is None or tr.stand_h != tr.stand_h:
        return False
    i0 = bisect_left(tr.hist_t, t_s - UPRIGHT_GAP_S)
    i1 = bisect_left(tr.hist_t, t_s + UPRIGHT_GAP_S + 1e-9)
    h = np.asarray(tr.hist_h[i0:i1], dtype=float)
    h = h[np.isfinite(h)]
    return bool(len(h)) and float(h.min()) > tr.stand_h - BEND_M


def _closest_approach(store: StoreModel, tr: Track, bin_id: str, t0: float, t1: float) -> float:
    """Least horizontal distance from the track to the bin's front edge (a segment) within [t0, t1]."""
    b = store.bins[bin_id]
    front = store.bin_front(bin_id)
    right = np.array(b.right, dtype=float)
    i0 = bisect_left(tr.hist_t, t0)
    i1 = bisect_left(tr.hist_t, t1 + 1e-9)
    pts = tr.hist_xy[i0:i1]
    if not pts:
        pts = [tr.position_at(0.5 * (t0 + t1))]
    xy = np.asarray(pts, dtype=float) - front
    u = np.clip(xy @ right, -b.width_m / 2, b.width_m / 2)
    d = np.linalg.norm(xy - u[:, None] * right, axis=1)
    # Nobody reaches a bin from behind its front plane (the gondola's far side, or inside it): a head there is
    # across the shelf, at least a gondola's depth from this bin's items.
    out = xy @ np.array(b.facing, dtype=float)
    d = np.where(out < -BEHIND_TOL_M, np.inf, d)
    return float(d.min())


def _normalise(rows: list[tuple[int | None, str | None, float, str]]) -> list[Candidate]:
    total = sum(r[2] for r in rows) or 1.0
    out = [Candidate(t, a, s / total, e) for t, a, s, e in rows]
    out.sort(key=lambda c: -c.probability)
    return out
