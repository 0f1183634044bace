"""The checkout stack: the message stream in, one receipt per account out (DESIGN.md section 8).

    StoreInfo ─► StoreModel (geometry, catalog, calibration)
    CameraFrame ─► perception (heads, hands) ─► tracking (tracks bound to accounts) ─► hand log
    LoadCellBatch ─► shelf events (weight changes) ─► attribution (hand log) ─► identification
                     (weight, bin beliefs, carts, colour) ─► carts and bin beliefs
    GateScan / GatePassage ─► accounts open / members leave ─► receipts (issued `settle_s` after the last exit)

Modes (ablations): "fused" — weight changes, held while a hand is still in the
bin, identified by weight, beliefs and colour; "weight" — weight changes and
beliefs only (cameras still say *who*, never *what*); "vision" — the cameras
alone: a hand that leaves a bin carrying a colour it did not bring is a take.

Faults are never guessed past: a dead load cell, a camera outage covering the
bin, a change no item explains, an exit nobody was tracked to — each adds a
reason to the receipts it may touch, and a receipt with a reason is flagged.
Fused, a dead cell's bin falls back on the cameras (the vision ablation's
colour judge, for that bin only): what they saw taken is charged, the receipt
still flagged; a second unit of a SKU already carried stays unknown.

A weight change is decided `JOINT_HOLD_S` after it settles, not at once, so
that the changes around it are known when it is attributed: someone who moved
another bin's load at that moment was not reaching into this one (a hand is in
one bin at a time; `attribution.overlap`). A receipt about to go out decides
every change still held first.

Fused, a take whose item is then seen lying on the floor in front of its bin
(`checkout.knocked`) was a knock-off: that unit comes off the cart, while the
receipt is still to go out.

Receipts go out `SETTLE_S` after the last member's exit, or by `DEADLINE_S`
flagged when a change is still undecided in a bin where a hand of theirs was
since the change began.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from checkout import carry
from checkout.attribution import PRE_S, Candidate, HandLog, attribute, busy_elsewhere, overlap
from checkout.identification import Appearance, CartedUnit, Hypothesis, colour_evidence_looks, identify, measured_unit_taken
from checkout.knocked import FloorLedger
from checkout.perception import Perception, SharedPerception
from checkout.receipts import REVIEW_THRESHOLD, Receipt, ShelfEvent, TrackView
from checkout.shelf_events import DeadCell, Interaction, ShelfEventDetector, WeightChange
from checkout.storemodel import StoreModel
from checkout.tracking import Tracker, look_histogram
from checkout.vision_events import VisionEventDetector
from sim.stream import CameraFrame, GatePassage, GateScan, LoadCellBatch, StoreInfo

MODES = ("fused", "weight", "vision")
SETTLE_S = 1.0  # after the last member's exit, a last shelf change may still be settling
DEADLINE_S = 1.9  # a receipt goes out by then, flagged if something is still undecided
OUTAGE_S = 1.0  # a camera silent this long is out (frame drops are shorter)
SPLIT_CONFIDENCE = 0.8  # a several-item change split between shoppers by their hand visits
SPLIT_OTHER_HAND = 0.02  # a hand this likely in such a change, not given a share, may have taken one too
VISIT_GAP_S = 0.4  # a hand unseen in the bin this long between sightings went out and came back in
SCAN_GRACE_S = 3.0  # a scanned shopper is through the gate and seen well within this
JOINT_HOLD_S = 2.0  # a change waits this long for its neighbours in time (one reach cycle, plus their settling)
JOINT_KEEP_S = 10.0  # decided changes are remembered this long, for the ones decided after them
CARRY_DOUBT = 0.97  # a take attributed less surely than this is watched for who carries it off (`checkout.carry`)
CARRY_MIN_P = 0.05  # ... among the accounts at least this likely to have taken it
VISION_VISIT = 0.5  # vision only: a hand went into a bin and colour could not say what it did — took or not, a coin toss


@dataclass
class _Unit:
    sku: str
    unit_g: float
    sd_g: float
    # The take's doubt over who took it: per account, the index of the factor it put on that account's
    # confidence, and the part of it that was about what (not who) was taken.
    doubt: dict[str, int] = field(default_factory=dict)
    p_what: float = 1.0


@dataclass
class _CarryWatch:
    """A take in doubt between shoppers, waiting to see who walks off with its colour."""

    t0: float  # the change's start and end
    t1: float
    sku: str
    top: str  # the account charged
    probs: dict[str, float]  # attribution per account (those at CARRY_MIN_P or more)
    tracks: dict[str, list[int]]
    unit: _Unit


@dataclass
class _WhatWatch:
    """A one-item take of look-alikes, waiting to see which colour its taker walks off with."""

    t0: float
    t1: float
    bin: str
    top: str
    probs: dict[str, float]  # identification per SKU (those at CARRY_MIN_P or more)
    tracks: list[int]  # the taker's
    unit: _Unit
    event_index: int


@dataclass
class _PutBack:
    """A put-back's part of its cart's confidence, and the other readings it was weighed against."""

    t_s: float
    account: str
    factor_index: int
    p: float
    alts: tuple[tuple[str, str | None, float], ...]  # (sku, from account, probability)
    bin: str
    sku: str  # what it was read as returning
    event_index: int  # its ShelfEvent in `CheckoutStack.events`


@dataclass
class _Account:
    id: str
    scanned_s: float
    exit_s: float | None = None
    issued: bool = False
    factors: list[float] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    blind_members_out: int = 0


class CheckoutStack:
    def __init__(self, mode: str = "fused", review_threshold: float = REVIEW_THRESHOLD,
                 shared_perception: SharedPerception | None = None) -> None:
        """`shared_perception`: several stacks on one stream (the bench's ablations) perceive each frame set once."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self._shared_perception = shared_perception
        self.review_threshold = review_threshold
        self.events: list[ShelfEvent] = []
        self.interactions: list[Interaction] = []
        self.store: StoreModel | None = None
        self.t_s = 0.0
        self.stage_s: dict[str, float] = {}  # wall seconds per stage, for the benchmark
        self._accounts: dict[str, _Account] = {}
        self._carts: dict[str, list[_Unit]] = {}
        self._bins: dict[str, dict[str, int]] = {}
        self._bin_units: dict[str, list[CartedUnit]] = {}  # per bin, items put back there with their measured weight
        self._frames: list[CameraFrame] = []
        self._frame_key: int | None = None
        self._camera_last: dict[str, float] = {}
        self._outages: dict[str, list[list[float]]] = {}
        self._dead: dict[str, float] = {}
        self._bin_cameras: dict[str, list[str]] = {}
        self._unread_hands: list[tuple[str, str, float]] = []  # (account, bin, t): a hand in a bin whose cell gave no reading
        self._put_backs: list[_PutBack] = []
        self._carry_watches: list[_CarryWatch] = []
        self._what_watches: list[_WhatWatch] = []
        self._held: list[WeightChange] = []  # settled changes waiting `JOINT_HOLD_S` for their neighbours in time
        self._first: dict[WeightChange, list[Candidate]] = {}  # per change, held or recently decided: its reachers alone
        self._settled_at: dict[WeightChange, float] = {}  # when each held change was reported: its evidence ends there

    # -- public -------------------------------------------------------------------------------------------------
    def consume(self, msg: object) -> list[Receipt]:
        if isinstance(msg, StoreInfo):
            self._open(msg)
            return []
        if self.store is None:
            raise ValueError("the stream must start with StoreInfo")
        t = float(getattr(msg, "t_s", self.t_s))
        if isinstance(msg, CameraFrame):
            self._frame(msg)
        elif isinstance(msg, LoadCellBatch):
            self._timed("shelf_events", self._load_cells, msg)
            t = msg.t_s + msg.grams.shape[0] / msg.rate_hz
        elif isinstance(msg, GateScan):
            self.tracker.scan(msg)
            self._accounts.setdefault(msg.account, _Account(msg.account, msg.t_s))
            self._carts.setdefault(msg.account, [])
        elif isinstance(msg, GatePassage):
            self._flush_frames()
            self._passage(msg)
        self.t_s = max(self.t_s, t)
        if self._held:
            self._decide_held(force=False)
        return self._due(final=False)

    def finish(self) -> list[Receipt]:
        if self.store is None:
            return []
        self._flush_frames()
        for ev in self.shelf.flush(self.t_s):
            self._shelf_result(ev)
        self._decide_held(force=True)
        if self.vision_events is not None:
            for ev in self.vision_events.flush(self.t_s):
                self._vision_event(ev)
        return self._due(final=True)

    def run(self, messages: Iterable[object]) -> list[Receipt]:
        out: list[Receipt] = []
        for m in messages:
            out.extend(self.consume(m))
        out.extend(self.finish())
        return out

    def tracks(self) -> list[TrackView]:
        if self.store is None:
            return []
        return [TrackView(tr.id, tr.account, float(tr.x[0]), float(tr.x[1]), tr.t_s) for tr in self.tracker.live()]

    def carts(self) -> dict[str, dict[str, int]]:
        out = {}
        for acct, units in self._carts.items():
            c: dict[str, int] = {}
            for u in units:
                c[u.sku] = c.get(u.sku, 0) + 1
            out[acct] = dict(sorted(c.items()))
        return out

    def bin_beliefs(self) -> dict[str, dict[str, int]]:
        return {b: {s: n for s, n in c.items() if n > 0} for b, c in self._bins.items()}

    # -- set-up -------------------------------------------------------------------------------------------------
    def _open(self, info: StoreInfo) -> None:
        self.store = store = StoreModel(info)
        self.perception = self._shared_perception.open(store) if self._shared_perception else Perception(store)
        self.tracker = Tracker(store)
        self.hands = HandLog(store)
        self.appearance = Appearance()
        self.floor = FloorLedger(store)
        self.looks = carry.LookLog()
        use_hands = self.mode == "fused"
        self.shelf = ShelfEventDetector(
            store.bin_ids,
            store.min_item_g,
            explains=self._explains,
            hand_in_bin=(lambda b, t: self.hands.in_bin(b, t)) if use_hands else (lambda b, t: False),
            neighbours=store.neighbour_pairs(),
        )
        self.vision_events = (
            VisionEventDetector(
                store,
                person_rgb=self.appearance.before,
                bin_skus=lambda b: {k for k, n in self._bins[b].items() if n > 0},
                cart_skus=self._cart_skus_of_track,
            )
            if self.mode in ("vision", "fused")
            else None
        )
        self._bins = {b: dict(store.planogram.get(b, {})) for b in store.bin_ids}
        self._camera_last = {c: info.t_s for c in store.cameras}
        self._outages = {c: [] for c in store.cameras}
        for b in info.bins:
            centre = np.array([b.center])
            self._bin_cameras[b.id] = [
                c.camera_id
                for c in info.cameras
                if _sees(c, centre)
            ]

    # -- cameras ------------------------------------------------------------------------------------------------
    def _frame(self, f: CameraFrame) -> None:
        cam = self.store.cameras.get(f.camera_id)
        if cam is None:
            return
        key = int(round(f.t_s * cam.fps))
        if self._frame_key is not None and key != self._frame_key:
            self._flush_frames()
        self._frame_key = key
        self._frames.append(f)
        last = self._camera_last.get(f.camera_id, f.t_s)
        if f.t_s - last > OUTAGE_S:
            self._outages[f.camera_id].append([last, f.t_s])
        self._camera_last[f.camera_id] = f.t_s

    def _flush_frames(self) -> None:
        if not self._frames:
            return
        frames, self._frames = self._frames, []
        t = max(f.t_s for f in frames)
        percept = self._timed("perception", self.perception.process, t, frames)
        looks = [look_histogram(rgb) for rgb in percept.head_rgb] if percept.head_rgb else None
        self._timed("tracking", self.tracker.update, t, percept.heads[:, :2], looks, percept.heads[:, 2], percept.low_heads)
        self._timed("attribution", self._appearance, t, percept)
        if self._carry_watches:
            self._timed("attribution", self._settle_carry)
        if self._what_watches:
            self._timed("identification", self._settle_what)
        if self.mode == "fused" and percept.floor:
            people = np.array([tr.x[:2] for tr in self.tracker.live()]).reshape(-1, 2)
            if self._timed("identification", self.floor.add, t, percept.floor, people):
                self._knocked_off()
        sightings = self._timed("attribution", self.hands.add, percept.hands, self.tracker.live())
        for s in sightings:
            if s.track is None or self.mode == "vision":
                continue
            if s.bin in self._dead:
                acct = self.tracker.tracks[s.track].account
                self._reason(acct, f"dead load cell {s.bin}: a hand went in, what it took is unknown")
            elif self.shelf.settler.is_unreadable(s.bin):  # judged at checkout, once the run's length is known
                self._unread_hands.append((self.tracker.tracks[s.track].account, s.bin, s.t_s))
        if self.vision_events is not None:
            # Fused: the cameras judge what a hand did only where no load cell can (a dead cell's bin).
            judged = sightings if self.mode == "vision" else [s for s in sightings if s.bin in self._dead]
            for ev in self._timed("shelf_events", self.vision_events.add, t, judged):
                self._vision_event(ev)
        self.hands.prune(t)
        self.looks.prune(t)

    def _cart_skus_of_track(self, track: int) -> set[str]:
        tr = self.tracker.tracks.get(track)
        return {u.sku for u in self._carts.get(tr.account, [])} if tr is not None else set()

    def _appearance(self, t: float, percept) -> None:
        """Colours on each tracked person, for telling an item in the hand from the sleeve holding it."""
        live = self.tracker.live()
        if not live or not len(percept.heads):
            return
        pos = np.array([tr.x[:2] for tr in live])
        for (x, y, _), rgb in zip(percept.heads, percept.head_rgb):
            d = np.hypot(pos[:, 0] - x, pos[:, 1] - y)
            k = int(np.argmin(d))
            if d[k] < 0.3:
                self.appearance.add(live[k].id, t, rgb)
                if self.mode == "fused":
                    self.looks.add(live[k].id, t, rgb)

    # -- load cells ---------------------------------------------------------------------------------------------
    def _load_cells(self, batch: LoadCellBatch) -> None:
        if self.mode == "vision":
            return
        for ev in self.shelf.process(batch):
            self._shelf_result(ev)

    def _shelf_result(self, ev: object) -> None:
        if isinstance(ev, Interaction):
            self.interactions.append(ev)
        elif isinstance(ev, DeadCell):
            self._dead[ev.bin] = ev.t_s
            if not self.store.cameras:  # nobody can say who reaches in there now: every shopper inside may be affected
                for a in self._inside():
                    self._reason(a, f"dead load cell {ev.bin}")
        elif isinstance(ev, WeightChange):
            self._held.append(ev)
            self._settled_at[ev] = self.t_s
            self._first_candidates(ev)

    def _decide_held(self, force: bool) -> None:
        """Decide the held changes that have waited `JOINT_HOLD_S` (all of them when `force`), oldest first, each
        knowing who most likely moved the loads of the other bins around it. A change that may be on a receipt
        about to go out is decided now, with every change before it."""
        cutoff = math.inf if force else self.t_s - JOINT_HOLD_S
        leaving = {a.id for a in self._accounts.values() if a.exit_s is not None and not a.issued and self.t_s >= a.exit_s + SETTLE_S}
        if leaving and not force:
            for ev in self._held:
                if any(c.account in leaving for c in self._first_candidates(ev)):
                    cutoff = max(cutoff, ev.t_end_s)
        due = sorted((ev for ev in self._held if ev.t_end_s <= cutoff), key=lambda e: e.t_end_s)
        if not due:
            return
        self._held = [ev for ev in self._held if ev.t_end_s > cutoff]
        for ev in due:
            elsewhere: dict[int, float] = {}
            for other in self._first:
                if other.bin == ev.bin:
                    continue
                k = overlap(ev.t_start_s, ev.t_end_s, other.t_start_s, other.t_end_s)
                if k <= 0.0:
                    continue
                for c in self._first_candidates(other):
                    if c.track is not None:
                        elsewhere[c.track] = elsewhere.get(c.track, 0.0) + k * c.probability
            self._timed("identification", self._weight_change, ev, elsewhere)
        horizon = self.t_s - JOINT_KEEP_S
        self._first = {e: c for e, c in self._first.items() if e.t_end_s >= horizon or e in self._held}

    def _first_candidates(self, ev: WeightChange) -> list[Candidate]:
        """Who most likely moved this change's load, judged on its own (without the changes around it), when it
        settled — as every change was judged before changes were held."""
        if ev not in self._first:
            self._first[ev] = self._timed("attribution", self._candidates, ev.bin, ev.t_start_s, ev.t_end_s)
        return self._first[ev]

    def _explains(self, bin_id: str, delta_g: float) -> bool:
        hyps = identify(delta_g, 2.0, self.store.catalog, self._bins[bin_id], self._carted(), ())
        return next(h for h in hyps if h.kind == "unexplained").probability < 0.5

    def _weight_change(self, ev: WeightChange, elsewhere: dict[int, float] | None = None) -> None:
        cands = busy_elsewhere(self._first_candidates(ev), elsewhere or {})
        by_acct = _by_account(cands)
        top = max(by_acct, key=by_acct.get) if by_acct else None
        seen_until = self._settled_at.pop(ev, self.t_s)  # decided as it would have been when it settled, but for `elsewhere`
        colour, looks = self._colour(ev.bin, ev.t_start_s, ev.t_end_s, cands, seen_until) if self.mode == "fused" else (None, 0)
        hyps = identify(ev.delta_g, ev.sd_g, self.store.catalog, self._bins[ev.bin], self._carted(), (top,) if top else (), colour,
                        tuple(self._bin_units.get(ev.bin, ())), {a: p for a, p in by_acct.items() if a is not None}, looks)
        best = hyps[0]
        reasons = self._coverage_reasons(ev.bin, ev.t_start_s, ev.t_end_s, cands)
        if best.kind == "unexplained" or not ev.explained:
            for a, p in by_acct.items():
                if a is not None and p > 0.2:
                    self._reason(a, f"unexplained load change {ev.delta_g:+.0f} g at {ev.bin}")
            return
        source = "fused" if colour else "weight"
        if best.kind == "take" and best.qty >= 2 and self._split_take(ev, best, cands, source, reasons):
            return
        self._apply(ev.t_end_s, ev.bin, best, hyps, by_acct, top, ev.delta_g, cands, source, reasons, ev.sd_g, ev.t_start_s)

    def _split_take(self, ev: WeightChange, best: Hypothesis, cands: list[Candidate], source: str, reasons: list[str]) -> bool:
        """One settled change of several items with two or more shoppers' hands in the bin: the cell saw one
        step, the hands were several. Split it by hand visits (a hand going in and coming out) when those add
        up to the count; each share is surer than a guess, not sure (`SPLIT_CONFIDENCE`), so it is reviewed."""
        tracks = {c.track: c for c in cands if c.track is not None and c.evidence == "hand" and c.probability >= 0.1}
        if len(tracks) < 2 or len({c.account for c in tracks.values()}) < 2:
            return False
        visits: dict[int, int] = {}
        for tr_id in tracks:
            times = [s.t_s for s in self.hands.window(ev.bin, ev.t_start_s - 1.0, ev.t_end_s + 1.0) if s.track == tr_id]
            visits[tr_id] = 1 + sum(1 for a, b in zip(times, times[1:]) if b - a > VISIT_GAP_S) if times else 0
        if sum(visits.values()) != best.qty or min(visits.values()) < 1:
            return False
        unit_g = ev.delta_g / best.qty
        why = f"{best.qty} x {best.sku} from {ev.bin} in one change, split between shoppers by hand visits"
        for tr_id, n in sorted(visits.items()):
            c = tracks[tr_id]
            part = Hypothesis("take", best.sku, n, best.probability * SPLIT_CONFIDENCE)
            self._apply(ev.t_end_s, ev.bin, part, [part], {c.account: SPLIT_CONFIDENCE}, c.account, unit_g * n,
                        [c], source, reasons + [why], ev.sd_g)
        # Anyone else whose hand was in the bin during that change may have taken one of them instead.
        for c in cands:
            if c.evidence == "hand" and c.account is not None and c.probability >= SPLIT_OTHER_HAND:
                self._reason(c.account, why)
        return True

    # -- vision-only events -------------------------------------------------------------------------------------
    def _vision_event(self, ev) -> None:
        by_acct = {self.tracker.tracks[ev.track].account: 1.0} if ev.track in self.tracker.tracks else {}
        top = next(iter(by_acct), None)
        reasons = []
        if self.mode == "fused":  # a dead cell's bin: the receipt keeps its flag, now with the cameras' guess on it
            reasons = [f"dead load cell {ev.bin}: what the hand did there is from the cameras alone"]
            if ev.kind == "visit":
                return  # nothing to add to the dead cell's own flag
            if ev.kind == "take" and top is not None and any(u.sku == ev.sku for u in self._carts.get(top, [])):
                return  # colour cannot tell a second one taken from the one carried: it stays unknown, flagged
        if ev.kind == "visit":  # a hand was in the bin and the colours could not say what it did
            if top is not None:
                self._factor(top, VISION_VISIT)
            return
        if ev.kind == "take":
            hyp = Hypothesis("take", ev.sku, 1, ev.confidence)
        else:
            owners = [a for a, units in self._carts.items() if any(u.sku == ev.sku for u in units)]
            src = top if top in owners else (owners[0] if owners else None)
            hyp = Hypothesis("put_back", ev.sku, 1, ev.confidence, src)
        cands = [Candidate(ev.track, top, 1.0, "hand")]
        self._apply(ev.t_s, ev.bin, hyp, [hyp], by_acct, top, 0.0, cands, "vision", reasons)

    # -- carts, beliefs, accounts -------------------------------------------------------------------------------
    def _apply(self, t_s, bin_id, best: Hypothesis, hyps, by_acct, top, delta_g, cands, source, reasons, sd_g: float = 2.0,
               t_start_s: float | None = None) -> None:
        p_attr = by_acct.get(top, 0.0) if top else 0.0
        track = next((c.track for c in cands if c.account == top), None)
        belief = self._bins[bin_id]
        self._follow_units(bin_id, best, delta_g, sd_g)
        if best.kind == "take":
            conf = best.probability * p_attr
            belief[best.sku] = max(0, belief.get(best.sku, 0) - best.qty)
            if top is not None:
                cart = self._carts.setdefault(top, [])
                unit = abs(delta_g) / best.qty if delta_g else self.store.catalog[best.sku].weight_g
                sd = math.sqrt(4.0 / best.qty + (self.store.catalog[best.sku].weight_sd_g ** 2 if best.qty > 1 else 0.0))
                doubt = {top: self._factor(top, conf)}
                doubt.update({a: self._factor(a, 1.0 - p) for a, p in by_acct.items() if a is not None and a != top})
                units = [_Unit(best.sku, unit, sd, doubt, best.probability) for _ in range(best.qty)]
                cart.extend(units)
                self._watch_carry(t_start_s, t_s, best.sku, top, by_acct, cands, units[0])
                if best.qty == 1:
                    self._watch_what(t_start_s, t_s, bin_id, best, hyps, top, cands, units[0], len(self.events))
            else:
                for a, p in by_acct.items():
                    if a is not None:
                        self._factor(a, 1.0 - p)
            charged = top
        else:
            conf = best.probability
            belief[best.sku] = belief.get(best.sku, 0) + best.qty
            charged = best.from_account
            if charged is not None:
                alone = sum(u.sku == best.sku for u in self._carts.get(charged, [])) == best.qty
                for u in self._remove(charged, best.sku, best.qty, abs(delta_g) / best.qty if delta_g else None):
                    if alone:
                        self._returned(charged, u)
                alts = tuple((h.sku, h.from_account, h.probability) for h in hyps if h is not best and h.kind == "put_back")
                k = self._factor(charged, conf)
                self._put_backs.append(_PutBack(t_s, charged, k, conf, alts, bin_id, best.sku, len(self.events)))
            elif top is not None:
                self._reason(top, f"put-back at {bin_id} of {best.sku} that no cart held")
        # The accounts that were not charged for a take are right only if it really was not theirs (above). A
        # put-back touches only the cart it returns to, whoever's hand did it (a hand-over changes no receipt): the
        # identification's posterior over carts, which already weighed who put it back, says that here.
        for h in hyps[1:]:
            if h.kind == "put_back" and h.from_account not in (None, charged):
                self._factor(h.from_account, 1.0 - h.probability)
        for r in reasons:
            for a in {top, charged} - {None}:
                self._reason(a, r)
        self.events.append(
            ShelfEvent(t_s, bin_id, best.kind, best.sku, best.qty, charged if best.kind == "put_back" else top, conf, delta_g, track, source, tuple(reasons))
        )
        if best.kind == "take" and top is not None and self.mode == "fused":
            self._knocked_off()

    def _watch_carry(self, t0: float | None, t1: float, sku: str, top: str, by_acct: dict, cands: list[Candidate], unit: _Unit) -> None:
        """A take in doubt between shoppers the cameras track: watch who walks off with its colour (`checkout.carry`)."""
        if self.mode != "fused" or t0 is None or by_acct.get(top, 0.0) >= CARRY_DOUBT:
            return
        probs = {a: p for a, p in by_acct.items() if a is not None and p >= CARRY_MIN_P}
        tracks = {a: [c.track for c in cands if c.account == a and c.track is not None] for a in probs}
        if len(probs) >= 2 and all(tracks.values()):
            self._carry_watches.append(_CarryWatch(t0, t1, sku, top, probs, tracks, unit))

    def _watch_what(self, t0: float | None, t1: float, bin_id: str, best: Hypothesis, hyps, top: str, cands: list[Candidate],
                    unit: _Unit, event_index: int) -> None:
        """A one-item take whose SKU is in doubt (look-alikes of one weight): watch which colour the taker walks
        off with (`checkout.carry`)."""
        if self.mode != "fused" or t0 is None or best.probability >= CARRY_DOUBT:
            return
        probs = {h.sku: h.probability for h in hyps if h.kind == "take" and h.qty == 1 and h.probability >= CARRY_MIN_P}
        tracks = [c.track for c in cands if c.account == top and c.track is not None]
        if len(probs) >= 2 and tracks:
            self._what_watches.append(_WhatWatch(t0, t1, bin_id, top, probs, tracks, unit, event_index))

    def _settle_what(self, leaving: str | None = None) -> None:
        """Judge the watched look-alike takes whose after-window has passed (or whose receipt is going out): where
        one SKU's colour went newly to the taker and none of the others', that SKU it was — the cart's unit, the
        bin's belief and the event follow, and the confidence is revised."""
        keep = []
        for w in self._what_watches:
            if self.t_s < w.t1 + carry.POST_S and leaving != w.top:
                keep.append(w)
                continue
            if not any(u is w.unit for u in self._carts.get(w.top, [])):
                continue
            own = {tr: self.appearance.before(tr, math.inf) for tr in w.tracks}
            verdicts = {}
            for sku in w.probs:
                pre = self.looks.shown(w.tracks, w.t0 - carry.PRE_S, w.t0 - carry.GAP_S, sku, self.store.sku_rgb, own)
                post = self.looks.shown(w.tracks, w.t1 + carry.GAP_S, w.t1 + carry.POST_S, sku, self.store.sku_rgb, own)
                verdicts[sku] = carry.verdict(pre, post)
            sku = carry.carrier(verdicts)
            if sku is None:
                continue
            post = carry.posterior(w.probs, sku)
            sku = max(post, key=post.get)  # the colour's SKU if it outweighs the counts and weights, else the same
            k = w.unit.doubt.get(w.top)
            acct = self._accounts.get(w.top)
            if k is None or acct is None or acct.issued:
                continue
            who = acct.factors[k] / w.unit.p_what if w.unit.p_what > 0 else 1.0
            if sku != w.unit.sku:
                belief = self._bins[w.bin]
                belief[w.unit.sku] = belief.get(w.unit.sku, 0) + 1
                belief[sku] = max(0, belief.get(sku, 0) - 1)
                w.unit.sku = sku
            w.unit.p_what = post[sku]
            self._revise(w.top, k, who * post[sku])
            self.events[w.event_index] = dataclasses.replace(self.events[w.event_index], sku=sku, confidence=who * post[sku])
        self._what_watches = keep

    def _settle_carry(self, leaving: str | None = None) -> None:
        """Judge the watched takes whose after-window has passed (or that `leaving`'s receipt may hold, with what
        was seen so far): where the colour went newly to one candidate alone, revise the confidences."""
        keep = []
        for w in self._carry_watches:
            if self.t_s < w.t1 + carry.POST_S and leaving not in w.probs:
                keep.append(w)
                continue
            if not any(u is w.unit for u in self._carts.get(w.top, [])):
                continue  # returned or knocked off since: its doubt was settled there
            verdicts = {}
            for a, trs in w.tracks.items():
                own = {tr: self.appearance.before(tr, math.inf) for tr in trs}
                pre = self.looks.shown(trs, w.t0 - carry.PRE_S, w.t0 - carry.GAP_S, w.sku, self.store.sku_rgb, own)
                post = self.looks.shown(trs, w.t1 + carry.GAP_S, w.t1 + carry.POST_S, w.sku, self.store.sku_rgb, own)
                verdicts[a] = carry.verdict(pre, post)
            who = carry.carrier(verdicts)
            if who is None:
                continue
            post = carry.posterior(w.probs, who)
            for a, k in w.unit.doubt.items():
                if a in post:
                    self._revise(a, k, w.unit.p_what * post[a] if a == w.top else 1.0 - post[a])
        self._carry_watches = keep

    def _knocked_off(self) -> None:
        """Takes whose item lies on the floor in front of their bin (`checkout.knocked`): that unit comes off the
        cart (the bin's belief keeps it gone), as long as the receipt is still to go out."""
        things = self.floor.unexplained()
        if not things:
            return
        open_accounts = {a.id for a in self._accounts.values() if not a.issued}
        for thing in things:
            takes = [(i, e) for i, e in enumerate(self.events) if e.kind == "take" and e.account in open_accounts]
            i = self.floor.explains(thing, takes)
            if i is None:
                continue
            ev = self.events[i]
            if any(u.sku == ev.sku for u in self._carts.get(ev.account, [])):
                for u in self._remove(ev.account, ev.sku, 1, abs(ev.delta_g) / ev.qty if ev.delta_g else None):
                    for a, k in u.doubt.items():  # nobody took it: the doubt over who did is moot
                        self._revise(a, k, 1.0)
            elif not self._reread_put_back(ev.account, ev.sku, ev.t_s):
                self._reason(ev.account, f"{ev.sku} from {ev.bin} was knocked off, and a put-back since may have been read as returning it")
            why = f"{ev.sku} seen on the floor at ({thing.xy[0]:.2f}, {thing.xy[1]:.2f}) from {thing.first_s:.1f} s: knocked off, not taken"
            dropped = dataclasses.replace(ev, kind="drop", qty=1, reasons=ev.reasons + (why,))
            if ev.qty > 1:
                self.events[i] = dataclasses.replace(ev, qty=ev.qty - 1, delta_g=ev.delta_g * (ev.qty - 1) / ev.qty)
                self.events.append(dataclasses.replace(dropped, delta_g=ev.delta_g / ev.qty))
            else:
                self.events[i] = dropped
            self._revisit_put_backs(ev.account, ev.sku, ev.t_s)

    def _reread_put_back(self, account: str, sku: str, after_s: float) -> bool:
        """The knocked-off unit is not in the cart: a put-back since was read as returning it. It cannot have: it
        returned its likeliest other reading from this cart, which comes off the cart instead (and the bin holds
        that, not the knocked-off SKU). False when no put-back had such a reading."""
        cart = self._carts.get(account, [])
        for pb in reversed(self._put_backs):
            if pb.account != account or pb.t_s <= after_s or pb.sku != sku:
                continue
            others = [(p, s) for s, a, p in pb.alts if a == account and s != sku and any(u.sku == s for u in cart)]
            if not others or pb.p >= 1.0:
                continue
            p, other = max(others)
            self._remove(account, other, 1, None)
            belief = self._bins[pb.bin]
            belief[sku] = max(0, belief.get(sku, 0) - 1)
            belief[other] = belief.get(other, 0) + 1
            units = self._bin_units.get(pb.bin, [])
            k = next((j for j in range(len(units) - 1, -1, -1) if units[j].sku == sku), None)
            if k is not None:
                units[k] = dataclasses.replace(units[k], sku=other)
            pb.alts = tuple(x for x in pb.alts if x[0] != other or x[1] != account)
            pb.sku, pb.p = other, min(1.0, p / (1.0 - pb.p))
            self.events[pb.event_index] = dataclasses.replace(self.events[pb.event_index], sku=other, confidence=pb.p)
            self._revise(account, pb.factor_index, pb.p)
            return True
        return False

    def _revisit_put_backs(self, account: str, sku: str, after_s: float) -> None:
        """A unit found knocked off was never in the cart, so a later put-back cannot have returned it: where that
        was the doubt in the put-back's confidence, the confidence is what the other readings leave."""
        if any(u.sku == sku for u in self._carts.get(account, [])):
            return
        for pb in self._put_backs:
            if pb.account != account or pb.t_s <= after_s:
                continue
            gone = sum(p for s, a, p in pb.alts if s == sku and a == account)
            if gone <= 0.0 or gone >= 1.0:
                continue
            pb.p = min(1.0, pb.p / (1.0 - gone))
            pb.alts = tuple(x for x in pb.alts if not (x[0] == sku and x[1] == account))
            self._revise(account, pb.factor_index, pb.p)

    def _follow_units(self, bin_id: str, best: Hypothesis, delta_g: float, sd_g: float) -> None:
        """Keep the bin's weighed units (items put back there) in step with the belief."""
        units = self._bin_units.setdefault(bin_id, [])
        if best.kind == "put_back":
            if delta_g and best.qty == 1:
                units.append(CartedUnit("", best.sku, abs(delta_g), sd_g))
            return
        same = [i for i, u in enumerate(units) if u.sku == best.sku]
        if not same:
            return
        have = self._bins[bin_id].get(best.sku, 0)
        if best.qty == 1 and delta_g:
            k = measured_unit_taken(delta_g, sd_g, self.store.catalog[best.sku], have, [units[i] for i in same])
            if k is not None:
                units.pop(same[k])
                return
        excess = len(same) - max(0, have - best.qty)
        for i in reversed(same[:max(0, excess)]):
            units.pop(i)

    def _remove(self, account: str, sku: str, qty: int, unit_g: float | None) -> list[_Unit]:
        cart = self._carts.get(account, [])
        out = []
        for _ in range(qty):
            idx = [i for i, u in enumerate(cart) if u.sku == sku]
            if not idx:
                break
            if unit_g is not None:
                idx.sort(key=lambda i: abs(cart[i].unit_g - unit_g))
            out.append(cart.pop(idx[0]))
        return out

    def _returned(self, account: str, unit: _Unit) -> None:
        """A put-back returned the only `unit.sku` in this cart. If its take was in doubt between accounts, this
        receipt is the same whoever took it (taken and returned, or never taken), and so is every other doubted
        account's that holds no `unit.sku` (had it taken the unit, theirs would have been the only cart to
        return it from): the doubt over who took it no longer touches them. The doubt over what was taken stays
        on this one."""
        for a, k in unit.doubt.items():
            if a == account:
                self._revise(a, k, unit.p_what)
            elif not any(u.sku == unit.sku for u in self._carts.get(a, [])):
                self._revise(a, k, 1.0)

    def _carted(self) -> list[CartedUnit]:
        return [CartedUnit(a, u.sku, u.unit_g, u.sd_g) for a, units in self._carts.items() for u in units]

    def _candidates(self, bin_id: str, t0: float, t1: float) -> list[Candidate]:
        return attribute(self.store, self.hands, self.tracker.tracks, bin_id, t0, t1, self._inside(at=t0))

    def _colour(self, bin_id: str, t0: float, t1: float, cands: list[Candidate], until_s: float = math.inf) -> tuple[dict[str, float] | None, int]:
        """Catalog colours in the likeliest reacher's hand around the change (seen by `until_s`), and in how many
        frames they showed."""
        tracks = {c.track for c in cands[:1]}
        seen = [s for s in self.hands.window(bin_id, t0 - 1.0, min(t1 + 1.5, until_s)) if s.track in tracks or not tracks]
        if not seen:
            return None, 0
        person = self.appearance.before(cands[0].track if cands else None, t0 - 0.5)
        colour, looks = colour_evidence_looks([s.rgb for s in seen], self.store.sku_rgb, list(self.store.catalog), person_rgb=person)
        return (colour or None), looks

    def _coverage_reasons(self, bin_id: str, t0: float, t1: float, cands: list[Candidate]) -> list[str]:
        out = []
        for cam in self._bin_cameras.get(bin_id, []):
            if self.t_s - self._camera_last.get(cam, self.t_s) > OUTAGE_S:
                out.append(f"camera {cam} out during the event at {bin_id}")
            for a, b in self._outages.get(cam, []):
                if a - 0.5 <= t1 and t0 <= b + 0.5:
                    out.append(f"camera {cam} out during the event at {bin_id}")
        if self.store.cameras and cands and cands[0].evidence == "inside":
            # Cameras on and no tracked person within reach: someone the tracker lost (or never had) did it, and
            # may still be inside when the tracked members of their account have left.
            out.append(f"nobody seen at {bin_id}: who took it is a guess" if len(cands) > 1
                       else f"nobody tracked was near {bin_id}: a shopper the cameras lost did it")
        if cands and cands[0].evidence == "nobody":
            out.append(f"change at {bin_id} with nobody inside")
        return out

    def _inside(self, at: float | None = None) -> list[str]:
        t = self.t_s if at is None else at
        return [a.id for a in self._accounts.values() if a.scanned_s <= t and (a.exit_s is None or a.exit_s >= t)]

    def _passage(self, msg: GatePassage) -> None:
        tr = self.tracker.passage(msg)
        if tr is None and self.store.cameras:
            live = self.tracker.live()
            blind = [a for a in self._inside() if not any(t.account == a for t in self.tracker.tracks.values())]
            if live and not blind:
                gate = self.store.exit_gates.get(msg.gate)
                tr = min(live, key=lambda x: math.hypot(x.x[0] - gate.at[0], x.x[1] - gate.at[1])) if gate else live[0]
                tr.ended_s = msg.t_s
                self._reason(tr.account, "exit matched to a track far from the gate")
        if tr is not None:
            acct = self._accounts.setdefault(tr.account, _Account(tr.account, tr.born_s))
            if all(t.ended_s is not None for t in self.tracker.tracks.values() if t.account == tr.account):
                acct.exit_s = msg.t_s
            return
        # Nobody tracked left: the earliest account inside that has no track (no cameras, or one missed at entry).
        untracked = [self._accounts[a] for a in self._inside() if not any(t.account == a for t in self.tracker.tracks.values())]
        if untracked:
            acct = min(untracked, key=lambda a: a.scanned_s)
            acct.exit_s = msg.t_s
            if self.store.cameras:
                acct.reasons.append("never tracked: group size and exit are guesses")

    def _due(self, final: bool) -> list[Receipt]:
        out = []
        pending = self.shelf.pending_since() if self.store else {}
        for ev in self._held:
            pending[ev.bin] = min(pending.get(ev.bin, ev.t_start_s), ev.t_start_s)
        for acct in self._accounts.values():
            if acct.issued:
                continue
            if acct.exit_s is None:
                if not final:
                    continue
                acct.reasons.append("still inside at the end of the stream")
            elif not final:
                if self.t_s < acct.exit_s + SETTLE_S:
                    continue
                mine = self._pending_for(acct.id, pending)
                if mine and self.t_s < acct.exit_s + DEADLINE_S:
                    continue
                for b in mine:
                    acct.reasons.append(f"shelf change at {b} still settling at checkout")
            out.append(self._receipt(acct))
        return out

    def _pending_for(self, account: str, pending: dict[str, float]) -> list[str]:
        """Undecided changes this account's hands may be in: a hand of theirs in that bin since just before the
        change began (however many others reached in after)."""
        if not pending:
            return []
        if not self.store.cameras:
            return sorted(pending)
        mine = {t.id for t in self.tracker.tracks.values() if t.account == account}
        return sorted(b for b, t0 in pending.items() if any(s.track in mine for s in self.hands.window(b, t0 - PRE_S, self.t_s)))

    def _identity_reasons(self, account: str) -> list[str]:
        """A shelf event by a track whose person may have swapped with another's (they met, and their looks
        could not say who was who afterwards) may be on the wrong receipt — this one, or the other's."""
        out = []
        for e in self.events:
            if e.track is None:
                continue
            for enc in self.tracker.doubts(e.track, e.t_s):
                if account in enc.accounts and enc.accounts[0] != enc.accounts[1]:
                    out.append(f"{e.kind} at {e.bin} ({e.t_s:.1f} s) by a track that met another shopper's at {enc.t_start_s:.1f} s: who is who is unsure")
        return out

    def _binding_reasons(self, account: str) -> list[str]:
        """A scan no person was ever born for (cameras on) let its shopper in unseen, or under another account's
        track: a track of this account near that entry gate after the scan may be that shopper."""
        if not self.store.cameras:
            return []
        cfg = self.tracker.cfg
        out = []
        for sc in self.tracker.scans:
            gate = self.store.entry_gates.get(sc.gate)
            if sc.births or sc.account == account or gate is None or self.t_s - sc.t_s < SCAN_GRACE_S:
                continue
            for tr in (t for t in self.tracker.tracks.values() if t.account == account):
                if any(sc.t_s <= t <= sc.t_s + cfg.birth_window_s and math.hypot(x - gate.at[0], y - gate.at[1]) <= cfg.birth_radius_m
                       for t, (x, y) in zip(tr.hist_t, tr.hist_xy)):
                    out.append(f"account {sc.account} scanned at {sc.t_s:.1f} s got no track: its shopper may be on this receipt")
                    break
        return out

    def _receipt(self, acct: _Account) -> Receipt:
        self._settle_carry(leaving=acct.id)
        self._settle_what(leaving=acct.id)
        acct.issued = True
        for a, b, t in self._unread_hands:
            if a == acct.id and self.shelf.settler.hid_change(b, t, self.t_s):
                acct.reasons.append(f"load cell {b} gave no reading while a hand was in it")
        acct.reasons.extend(self._identity_reasons(acct.id))
        acct.reasons.extend(self._binding_reasons(acct.id))
        items = self.carts().get(acct.id, {})
        total = round(sum(self.store.catalog[s].price * n for s, n in items.items()), 2)
        conf = float(np.prod(acct.factors)) if acct.factors else 1.0
        reasons = tuple(dict.fromkeys(acct.reasons))
        if conf < self.review_threshold:
            reasons += (f"confidence {conf:.2f} below {self.review_threshold:.2f}",)
        t = self.t_s if acct.exit_s is None else max(self.t_s, acct.exit_s)
        return Receipt(acct.id, items, total, conf, bool(reasons), t, reasons)

    def _factor(self, account: str, p: float) -> int:
        """Multiply the account's confidence by `p`; the factor's index, for revising it when later evidence says."""
        a = self._accounts.setdefault(account, _Account(account, self.t_s))
        a.factors.append(max(0.0, min(1.0, p)))
        return len(a.factors) - 1

    def _revise(self, account: str, index: int, p: float) -> None:
        """Later evidence changed what one earlier factor should have been; an issued receipt stays as it went out."""
        a = self._accounts.get(account)
        if a is not None and not a.issued and index < len(a.factors):
            a.factors[index] = max(0.0, min(1.0, p))

    def _reason(self, account: str | None, why: str) -> None:
        if account is None:
            return
        self._accounts.setdefault(account, _Account(account, self.t_s)).reasons.append(why)

    def _timed(self, stage: str, fn, *args):
        import time

        t0 = time.perf_counter()
        out = fn(*args)
        self.stage_s[stage] = self.stage_s.get(stage, 0.0) + time.perf_counter() - t0
        return out


def _by_account(cands: list[Candidate]) -> dict[str | None, float]:
    out: dict[str | None, float] = {}
    for c in cands:
        if c.account is not None:
            out[c.account] = out.get(c.account, 0.0) + c.probability
    return out


def _sees(cal, points: np.ndarray) -> bool:
    uv, z = cal.project(points)
    return bool((z[0] > 0) and 0 <= uv[0, 0] < cal.width and 0 <= uv[0, 1] < cal.height)
