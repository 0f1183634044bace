"""The checkout stack: the message stream in, one receipt per account out (DESIGN.md section 8).

    StoreInfo ─► StoreModel (geometry, catalog, calibration), and the stages (`checkout.stages`)
    CameraFrame ─► perception (heads, hands) ─► tracking (tracks bound to accounts) ─► attribution (hand log)
    LoadCellBatch ─► shelf events (weight changes) ─► attribution (who) ─► identification (what)
                     ─► carts (carts, bin beliefs, confidences)
    GateScan / GatePassage ─► accounts open / members leave ─► receipts (issued `SETTLE_S` after the last exit)

A stack is a configuration of stages (`StackConfig`: one stage per kind, by registered name). The
ablations are three of them (`STACKS`): "fused" — weight changes, held while a hand is still in the bin,
identified by weight, beliefs and colour; "weight" — weight changes and beliefs only (cameras still say
*who*, never *what*); "vision" — the cameras alone: a hand that leaves a bin carrying a colour it did not
bring is a take.

Faults are never guessed past: a dead load cell, a camera outage covering the
bin, a change no item explains, an exit nobody was tracked to — each adds a
reason to the receipts it may touch, and a receipt with a reason is flagged.
Where the shelf events stage judges hands in a dead cell's bin (fused), the
cameras' verdict there is charged, the receipt still flagged; a second unit of
a SKU already carried stays unknown.

A weight change is decided `JOINT_HOLD_S` after it settles, not at once, so
that the changes around it are known when it is attributed: someone who moved
another bin's load at that moment was not reaching into this one (a hand is in
one bin at a time; `attribution.overlap`). A receipt about to go out decides
every change still held first.

With `StackConfig.knocked_off`, a take whose item is then seen lying on the
floor in front of its bin (`checkout.knocked`) was a knock-off: that unit comes
off the cart, while the receipt is still to go out. With
`StackConfig.watch_carry`, a take in doubt waits to see who walks off with its
colour (`checkout.watches`).

Receipts go out `SETTLE_S` after the last member's exit, or by `DEADLINE_S`
flagged when a change is still undecided in a bin where a hand of theirs was
since the change began.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from checkout import carry
from checkout.attribution import POST_S, PRE_S, Candidate, busy_elsewhere, overlap
from checkout.identification import Hypothesis
from checkout.knocked import FloorLedger
from checkout.ledger import Account, Ledger
from checkout.perception import SharedPerception
from checkout.receipts import REVIEW_THRESHOLD, Receipt, ShelfEvent, TrackView
from checkout.shelf_events import DeadCell, WeightChange
from checkout.stages import STAGE_KINDS, Reachers, StageContext, make_stage
from checkout.storemodel import StoreModel
from checkout.tracking import look_histogram
from checkout.vision_events import VisionEvent
from checkout.watches import CarryWatches
from sim.stream import CameraFrame, GatePassage, GateScan, LoadCellBatch, StoreInfo

SETTLE_S = 1.0  # after the last member's exit, a last shelf change may still be settling
DEADLINE_S = 1.9  # a receipt goes out by then, flagged if something is still undecided
OUTAGE_S = 1.0  # a camera silent this long is out (frame drops are shorter)
SPLIT_CONFIDENCE = 0.8  # a several-item change split between shoppers by their hand visits
SPLIT_OTHER_HAND = 0.02  # a hand this likely in such a change, not given a share, may have taken one too
VISIT_GAP_S = 0.4  # a hand unseen in the bin this long between sightings went out and came back in
SCAN_GRACE_S = 3.0  # a scanned shopper is through the gate and seen well within this
JOINT_HOLD_S = 2.0  # a change waits this long for its neighbours in time (one reach cycle, plus their settling)
JOINT_KEEP_S = 10.0  # decided changes are remembered this long, for the ones decided after them
# A take no hand was seen making is unsupported only where the cameras could have seen one: a hand going in through
# space in front of the bin that no camera saw (the shelf above, a body bent over the shelf, an arm in the bin
# above) this share of the time or more is as likely unseen as seen. Only for a change as quick as a hand's (the
# load moved within PRE_S + POST_S): a load that crept for longer with no hand seen is a knock or a fault.
UNSEEN_HIDDEN_SHARE = 0.5
UNSEEN_QUICK_S = PRE_S + POST_S
VISION_VISIT = 0.5  # cameras alone: a hand went into a bin and colour could not say what it did — took or not, a coin toss


@dataclass(frozen=True)
class StackConfig:
    """One stage per kind — a name registered in `checkout.stages.STAGES`, a factory called with a
    `StageContext`, or a stage made already — and the two behaviours that join stages rather than being one's."""

    name: str = "fused"
    perception: object = "cameras"
    tracking: object = "tracker"
    attribution: object = "hands"
    carts: object = "carts"
    identification: object = "weight_colour"
    shelf_events: object = "fused"
    watch_carry: bool = True  # a take in doubt waits to see who walks off with its colour (`checkout.watches`)
    knocked_off: bool = True  # a take whose item is seen on the floor by its bin comes off the cart (`checkout.knocked`)


STACKS: dict[str, StackConfig] = {
    "fused": StackConfig(),
    "weight": StackConfig("weight", identification="weight", shelf_events="load_cells", watch_carry=False, knocked_off=False),
    # No weight change ever reaches its identification: the cameras' events name their SKU.
    "vision": StackConfig("vision", identification="weight", shelf_events="cameras", watch_carry=False, knocked_off=False),
}
MODES = tuple(STACKS)


class CheckoutStack:
    def __init__(self, mode: str = "fused", review_threshold: float = REVIEW_THRESHOLD,
                 shared_perception: SharedPerception | None = None, *, config: StackConfig | None = None,
                 **changes: object) -> None:
        """`mode` names a stack in `STACKS`, unless `config` is given; `changes` replace stages by kind (a name,
        a factory or a stage: `identification="mine"`) or the config's switches. `shared_perception`: several
        stacks on one stream (the bench's ablations) perceive each frame set once; it stands in for the
        perception stage."""
        if config is None:
            if mode not in STACKS:
                raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
            config = STACKS[mode]
        unknown = set(changes) - {f.name for f in dataclasses.fields(StackConfig)}
        if unknown:
            raise ValueError(f"no stage kind or switch {sorted(unknown)}; stage kinds are {STAGE_KINDS}")
        self.config = dataclasses.replace(config, **changes) if changes else config
        self.mode = self.config.name
        self._shared_perception = shared_perception
        self.review_threshold = review_threshold
        self.events: list[ShelfEvent] = []  # shared with the carts stage, which appends and revises them
        self.store: StoreModel | None = None
        self.perception = None  # the stages are made when StoreInfo arrives
        self.t_s = 0.0
        self.stage_s: dict[str, float] = {}  # wall seconds per stage, for the benchmark
        self._frames: list[CameraFrame] = []
        self._frame_key: int | None = None
        self._camera_last: dict[str, float] = {}
        self._outages: dict[str, list[list[float]]] = {}
        self._dead: dict[str, float] = {}
        self._bin_cameras: dict[str, list[str]] = {}
        self._unread_hands: list[tuple[str, str, float]] = []  # (account, bin, t): a hand in a bin whose cell gave no reading
        self._unsupported: list[_Unsupported] = []  # takes no hand on camera was seen making
        self._held: list[WeightChange] = []  # settled changes waiting `JOINT_HOLD_S` for their neighbours in time
        self._first: dict[WeightChange, list[Candidate]] = {}  # per change, held or recently decided: its reachers alone
        self._settled_at: dict[WeightChange, float] = {}  # when each held change was reported: its evidence ends there

    @classmethod
    def from_config(cls, config: StackConfig, review_threshold: float = REVIEW_THRESHOLD, **changes: object) -> "CheckoutStack":
        return cls(review_threshold=review_threshold, config=config, **changes)

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
            for ev in self._timed("shelf_events", self.shelf.load_cells, msg):
                self._shelf_result(ev)
            t = msg.t_s + msg.grams.shape[0] / msg.rate_hz
        elif isinstance(msg, GateScan):
            self.tracker.scan(msg)
            self.ledger.scanned(msg.account, msg.t_s)
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
        for ev in self.shelf.flush_load_cells(self.t_s):
            self._shelf_result(ev)
        self._decide_held(force=True)
        if self.shelf.uses_hands:
            for ev in self.shelf.flush_hands(self.t_s):
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
        return self.ledger.carts() if self.store is not None else {}

    def bin_beliefs(self) -> dict[str, dict[str, int]]:
        return self.ledger.bin_beliefs() if self.store is not None else {}

    # -- set-up -------------------------------------------------------------------------------------------------
    def _open(self, info: StoreInfo) -> None:
        self.store = store = StoreModel(info)
        ctx = StageContext(store, self.events, lambda: self.t_s, self.review_threshold, keep_looks=self.config.watch_carry)
        for kind in STAGE_KINDS:
            if kind == "perception" and self._shared_perception is not None:
                stage = self._shared_perception.open(store)
            else:
                stage = make_stage(kind, getattr(self.config, kind), ctx)
            setattr(ctx, kind, stage)
        self.perception = ctx.perception
        self.tracker = ctx.tracking
        self.attribution = ctx.attribution
        self.ledger: Ledger = ctx.carts
        self.identification = ctx.identification
        self.shelf = ctx.shelf_events
        self.watches = CarryWatches(store, self.ledger, self.attribution) if self.config.watch_carry else None
        self.floor = FloorLedger(store) if self.config.knocked_off else None
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
        self._timed("attribution", self.attribution.see, t, percept)
        if self.watches is not None and self.watches.who:
            self._timed("attribution", self.watches.settle_who, self.t_s)
        if self.watches is not None and self.watches.what:
            self._timed("identification", self.watches.settle_what, self.t_s)
        if self.floor is not None and percept.floor:
            people = np.array([tr.x[:2] for tr in self.tracker.live()]).reshape(-1, 2)
            if self._timed("identification", self.floor.add, t, percept.floor, people):
                self._knocked_off()
        sightings = self._timed("attribution", self.attribution.sightings, percept)
        for s in sightings:
            if s.track is None:
                continue
            if s.bin in self._dead:
                acct = self.tracker.tracks[s.track].account
                self.ledger.reason(acct, f"dead load cell {s.bin}: a hand went in, what it took is unknown")
            elif self.shelf.is_unreadable(s.bin):  # judged at checkout, once the run's length is known
                self._unread_hands.append((self.tracker.tracks[s.track].account, s.bin, s.t_s))
        if self.shelf.uses_hands:
            for ev in self._timed("shelf_events", self.shelf.hands, t, sightings, self._dead.keys()):
                self._vision_event(ev)
        self.attribution.prune(t)

    # -- load cells ---------------------------------------------------------------------------------------------
    def _shelf_result(self, ev: object) -> None:
        if isinstance(ev, DeadCell):
            self._dead[ev.bin] = ev.t_s
            if not self.store.cameras:  # nobody can say who reaches in there now: every shopper inside may be affected
                for a in self.ledger.inside():
                    self.ledger.reason(a, f"dead load cell {ev.bin}")
        elif isinstance(ev, WeightChange):
            self._held.append(ev)
            self._settled_at[ev] = self.t_s
            self._first_candidates(ev)

    def _decide_held(self, force: bool) -> None:
        """Decide the held changes that have waited `JOINT_HOLD_S` (all of them when `force`), oldest first, each
        knowing who most likely moved the loads of the other bins around it. A change that may be on a receipt
        about to go out is decided now, with every change before it."""
        cutoff = math.inf if force else self.t_s - JOINT_HOLD_S
        leaving = {a.id for a in self.ledger.accounts.values() if a.exit_s is not None and not a.issued and self.t_s >= a.exit_s + SETTLE_S}
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

    def _candidates(self, bin_id: str, t0: float, t1: float) -> list[Candidate]:
        return self.attribution.candidates(bin_id, t0, t1, self.ledger.inside(at=t0))

    def _weight_change(self, ev: WeightChange, elsewhere: dict[int, float] | None = None) -> None:
        cands = busy_elsewhere(self._first_candidates(ev), elsewhere or {})
        who = Reachers(cands, _by_account(cands))
        by_acct, top = who.by_account, who.top
        seen_until = self._settled_at.pop(ev, self.t_s)  # decided as it would have been when it settled, but for `elsewhere`
        hyps, source = self.identification.weight_change(ev, who, seen_until)
        best = hyps[0]
        reasons = self._coverage_reasons(ev.bin, ev.t_start_s, ev.t_end_s, cands)
        if best.kind == "take" and top is not None and ev.explained and self._unseen_hand(ev):
            tracks = [c.track for c in cands if c.account == top and c.track is not None]
            self._unsupported.append(_Unsupported(top, ev.bin, best.sku, ev.t_start_s, ev.t_end_s, tracks))
        if best.kind == "unexplained" or not ev.explained:
            for a, p in by_acct.items():
                if a is not None and p > 0.2:
                    self.ledger.reason(a, f"unexplained load change {ev.delta_g:+.0f} g at {ev.bin}")
            return
        if best.kind == "take" and best.qty >= 2 and self._split_take(ev, best, cands, source, reasons):
            return
        self._apply(ev.t_end_s, ev.bin, best, hyps, by_acct, top, ev.delta_g, cands, source, reasons, ev.sd_g, ev.t_start_s)

    def _unseen_hand(self, ev: WeightChange) -> bool:
        """Could the cameras have seen a hand make this change, and saw none? (A stack that watches hands, a bin
        some camera covers, none of them out meanwhile, the space in front of it seen most of the time.)"""
        if not self.shelf.uses_hands or not self._bin_cameras.get(ev.bin):
            return False
        if self._cameras_out(ev.bin, ev.t_start_s, ev.t_end_s):
            return False  # a camera was out (or is now): its own reason says so
        t0, t1 = ev.t_start_s - PRE_S, ev.t_end_s + POST_S
        if self.attribution.window(ev.bin, t0, t1):
            return False
        hidden = self.attribution.hidden_share(ev.bin, t0, t1)
        return not (hidden is not None and hidden >= UNSEEN_HIDDEN_SHARE and ev.t_end_s - ev.t_start_s <= UNSEEN_QUICK_S)

    def _unsupported_reasons(self, account: str) -> list[str]:
        """A take no hand on camera was seen making, still on `account`'s cart, that the cameras did not see the
        taker walk off with either (its colour newly on them): nothing on camera supports it, so it is never
        charged without review — a plate's fault, a knock from the shelf above, a reading the stack got wrong."""
        out = []
        cart = self.ledger.carts().get(account, {})
        looks = self.attribution.looks
        for u in self._unsupported:
            if u.account != account or not cart.get(u.sku):
                continue
            if looks is not None and u.tracks:
                own = {tr: self.attribution.appearance.before(tr, math.inf) for tr in u.tracks}
                pre = looks.shown(u.tracks, u.t0 - carry.PRE_S, u.t0 - carry.GAP_S, u.sku, self.store.sku_rgb, own)
                post = looks.shown(u.tracks, u.t1 + carry.GAP_S, self.t_s, u.sku, self.store.sku_rgb, own)
                if carry.verdict(pre, post) == "new":
                    continue  # walked off with it: the cameras saw that much
            out.append(f"take of {u.sku} at {u.bin} ({u.t1:.1f} s): no hand seen in the bin, nothing on camera supports it")
        return out

    def _blind_unreadable_reasons(self, acct: Account) -> list[str]:
        """Where no camera could have seen a hand (a stack without cameras, a bin none covers), a cell that gave
        no reading (or an impossible one: far below an empty plate) for longer than a glitch while the account
        was inside may have hidden what it took: flagged, never guessed."""
        out = []
        t_in, t_out = acct.scanned_s, self.t_s if acct.exit_s is None else acct.exit_s
        for b in self.store.bin_ids:
            if b in self._dead or (self.shelf.uses_hands and self._bin_cameras.get(b)):
                continue
            for a, z in self.shelf.unreadable_runs(b, self.t_s):
                if a <= t_out and t_in <= z:
                    out.append(f"load cell {b} gave no reading from {a:.1f} s to {z:.1f} s while the account was inside, and no camera watches it")
                    break
        return out

    def _split_take(self, ev: WeightChange, best: Hypothesis, cands: list[Candidate], source: str, reasons: list[str]) -> bool:
        """One settled change of several items with two or more shoppers' hands in the bin: the cell saw one
        step, the hands were several. Split it by hand visits (a hand going in and coming out) when those add
        up to the count; each share is surer than a guess, not sure (`SPLIT_CONFIDENCE`), so it is reviewed."""
        tracks = {c.track: c for c in cands if c.track is not None and c.evidence == "hand" and c.probability >= 0.1}
        if len(tracks) < 2 or len({c.account for c in tracks.values()}) < 2:
            return False
        visits: dict[int, int] = {}
        for tr_id in tracks:
            times = [s.t_s for s in self.attribution.window(ev.bin, ev.t_start_s - 1.0, ev.t_end_s + 1.0) if s.track == tr_id]
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
                self.ledger.reason(c.account, why)
        return True

    # -- events judged by the cameras ---------------------------------------------------------------------------
    def _vision_event(self, ev: VisionEvent) -> None:
        by_acct = {self.tracker.tracks[ev.track].account: 1.0} if ev.track in self.tracker.tracks else {}
        top = next(iter(by_acct), None)
        reasons = []
        if ev.bin in self._dead:  # the cameras stand in for a dead cell: the receipt keeps its flag, with their guess on it
            reasons = [f"dead load cell {ev.bin}: what the hand did there is from the cameras alone"]
            if ev.kind == "visit":
                return  # nothing to add to the dead cell's own flag
            if ev.kind == "take" and top is not None and any(u.sku == ev.sku for u in self.ledger.cart(top)):
                return  # colour cannot tell a second one taken from the one carried: it stays unknown, flagged
        if ev.kind == "visit":  # a hand was in the bin and the colours could not say what it did
            if top is not None:
                self.ledger.factor(top, VISION_VISIT)
            return
        if ev.kind == "take":
            hyp = Hypothesis("take", ev.sku, 1, ev.confidence)
        else:
            owners = self.ledger.holders(ev.sku)
            src = top if top in owners else (owners[0] if owners else None)
            hyp = Hypothesis("put_back", ev.sku, 1, ev.confidence, src)
        cands = [Candidate(ev.track, top, 1.0, "hand")]
        self._apply(ev.t_s, ev.bin, hyp, [hyp], by_acct, top, 0.0, cands, "vision", reasons)

    # -- carts and accounts -------------------------------------------------------------------------------------
    def _apply(self, t_s, bin_id, best: Hypothesis, hyps, by_acct, top, delta_g, cands, source, reasons, sd_g: float = 2.0,
               t_start_s: float | None = None) -> None:
        added = self.ledger.apply(t_s, bin_id, best, hyps, by_acct, top, delta_g, cands, source, reasons, sd_g)
        if added is not None and self.watches is not None:
            self.watches.take(t_start_s, t_s, bin_id, best, hyps, top, by_acct, cands, added[0], len(self.events) - 1)
        if best.kind == "take" and top is not None and self.floor is not None:
            self._knocked_off()

    def _knocked_off(self) -> None:
        self.ledger.knocked_off(self.floor)

    def _cameras_out(self, bin_id: str, t0: float, t1: float) -> list[str]:
        """The cameras over `bin_id` that are silent now, or were out at some time in [t0, t1]."""
        return [cam for cam in self._bin_cameras.get(bin_id, [])
                if self.t_s - self._camera_last.get(cam, self.t_s) > OUTAGE_S
                or any(a - 0.5 <= t1 and t0 <= b + 0.5 for a, b in self._outages.get(cam, []))]

    def _coverage_reasons(self, bin_id: str, t0: float, t1: float, cands: list[Candidate]) -> list[str]:
        out = [f"camera {cam} out during the event at {bin_id}" for cam in self._cameras_out(bin_id, t0, t1)]
        if self.store.cameras and cands and cands[0].evidence == "inside":
            # Cameras on and no tracked person within reach: someone the tracker lost (or never had) did it, and
            # may still be inside when the tracked members of their account have left.
            out.append(f"nobody seen at {bin_id}: who took it is a guess" if len(cands) > 1
                       else f"nobody tracked was near {bin_id}: a shopper the cameras lost did it")
        if cands and cands[0].evidence == "nobody":
            out.append(f"change at {bin_id} with nobody inside")
        return out

    def _passage(self, msg: GatePassage) -> None:
        tr = self.tracker.passage(msg)
        if tr is None and self.store.cameras:
            live = self.tracker.live()
            blind = [a for a in self.ledger.inside() if not any(t.account == a for t in self.tracker.tracks.values())]
            if live and not blind:
                gate = self.store.exit_gates.get(msg.gate)
                tr = min(live, key=lambda x: math.hypot(x.x[0] - gate.at[0], x.x[1] - gate.at[1])) if gate else live[0]
                tr.ended_s = msg.t_s
                self.ledger.reason(tr.account, "exit matched to a track far from the gate")
        if tr is not None:
            acct = self.ledger.account(tr.account, tr.born_s)
            if all(t.ended_s is not None for t in self.tracker.tracks.values() if t.account == tr.account):
                acct.exit_s = msg.t_s
            return
        # Nobody tracked left: the earliest account inside that has no track (no cameras, or one missed at entry).
        untracked = [self.ledger.accounts[a] for a in self.ledger.inside() if not any(t.account == a for t in self.tracker.tracks.values())]
        if untracked:
            acct = min(untracked, key=lambda a: a.scanned_s)
            acct.exit_s = msg.t_s
            if self.store.cameras:
                acct.reasons.append("never tracked: group size and exit are guesses")

    # -- receipts -----------------------------------------------------------------------------------------------
    def _due(self, final: bool) -> list[Receipt]:
        out = []
        pending = self.shelf.pending_since() if self.store else {}
        for ev in self._held:
            pending[ev.bin] = min(pending.get(ev.bin, ev.t_start_s), ev.t_start_s)
        for acct in self.ledger.accounts.values():
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
        return sorted(b for b, t0 in pending.items() if any(s.track in mine for s in self.attribution.window(b, t0 - PRE_S, self.t_s)))

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
        return [f"account {scanned} scanned at {t_s:.1f} s got no track: its shopper may be on this receipt"
                for scanned, t_s in self.tracker.missed_scans(account, self.t_s, SCAN_GRACE_S)]

    def _receipt(self, acct: Account) -> Receipt:
        if self.watches is not None:
            self.watches.settle_who(self.t_s, leaving=acct.id)
            self.watches.settle_what(self.t_s, leaving=acct.id)
        for a, b, t in self._unread_hands:
            if a == acct.id and self.shelf.hid_change(b, t, self.t_s):
                acct.reasons.append(f"load cell {b} gave no reading while a hand was in it")
        self._unread_hands = [h for h in self._unread_hands if h[0] != acct.id]  # judged: a long day keeps no backlog
        acct.reasons.extend(self._unsupported_reasons(acct.id))
        self._unsupported = [u for u in self._unsupported if u.account != acct.id]  # judged: a long day keeps no backlog
        acct.reasons.extend(self._blind_unreadable_reasons(acct))
        acct.reasons.extend(self._identity_reasons(acct.id))
        acct.reasons.extend(self._binding_reasons(acct.id))
        return self.ledger.receipt(acct, self.t_s if acct.exit_s is None else max(self.t_s, acct.exit_s))

    def _timed(self, stage: str, fn, *args):
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


@dataclass(frozen=True)
class _Unsupported:
    """A take no hand on camera was seen making (`CheckoutStack._unseen_hand`)."""

    account: str
    bin: str
    sku: str
    t0: float
    t1: float
    tracks: list[int]


def _sees(cal, points: np.ndarray) -> bool:
    uv, z = cal.project(points)
    return bool((z[0] > 0) and 0 <= uv[0, 0] < cal.width and 0 <= uv[0, 1] < cal.height)
