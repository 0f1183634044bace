"""The checkout stack's stages, registered by name; a stack (`checkout.stack.STACKS`) names one per kind.

    CameraFrame ─► perception ─► tracking ─► attribution (hands in bins: who reached) ──┐
    LoadCellBatch ─► shelf_events (or hand sightings) ─► identification (what moved) ──┴─► carts (receipts)

A stage is made when the stream's StoreInfo arrives, by its factory (the registered class) called with a
`StageContext`: the store, and the stages made before it, in `STAGE_KINDS` order. Each kind's interface
is a Protocol below; what flows between them are the frozen dataclasses of the modules they come from
(`Percept`, `HandSighting`, `Candidate`, `WeightChange`, `VisionEvent`, `Hypothesis`, `ShelfEvent`) and
`Reachers` here. The carts stage is `checkout.ledger.Ledger`; the others are here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Collection, Protocol

import numpy as np

from checkout.attribution import Candidate, HandLog, HandSighting, OpeningLog, attribute
from checkout.carry import LookLog
from checkout.identification import Appearance, ColourTrust, Hypothesis, colour_evidence_looks, identify
from checkout.perception import Percept, Perception
from checkout.receipts import ShelfEvent
from checkout.shelf_events import DeadCell, Interaction, ShelfEventDetector, WeightChange
from checkout.storemodel import StoreModel
from checkout.tracking import Encounter, Track, Tracker
from checkout.vision_events import VisionEvent, VisionEventDetector
from sim.stream import CameraFrame, GatePassage, GateScan, LoadCellBatch

if TYPE_CHECKING:
    from checkout.ledger import Ledger

# The order stages are made in: each may use those before it (`StageContext`).
STAGE_KINDS = ("perception", "tracking", "attribution", "carts", "identification", "shelf_events")
STAGES: dict[str, dict[str, Callable[["StageContext"], object]]] = {kind: {} for kind in STAGE_KINDS}


def register_stage(kind: str, name: str) -> Callable:
    """Class decorator: `STAGES[kind][name]` makes this stage (called with a `StageContext`)."""
    if kind not in STAGES:
        raise ValueError(f"stage kind must be one of {STAGE_KINDS}, got {kind!r}")

    def register(factory: Callable) -> Callable:
        if name in STAGES[kind]:
            raise ValueError(f"a {kind} stage named {name!r} is registered already ({STAGES[kind][name]!r})")
        STAGES[kind][name] = factory
        return factory

    return register


def make_stage(kind: str, spec: object, ctx: "StageContext") -> object:
    """The stage `spec` says: a registered name, a factory (called with `ctx`), or a stage made already."""
    if isinstance(spec, str):
        if spec not in STAGES[kind]:
            raise ValueError(f"no {kind} stage named {spec!r}; registered: {sorted(STAGES[kind])}")
        return STAGES[kind][spec](ctx)
    if callable(spec):
        return spec(ctx)
    return spec


@dataclass
class StageContext:
    """What a stage's factory gets: the store, and the stages made before it."""

    store: StoreModel
    events: list[ShelfEvent]  # the stack's decided shelf events (the carts stage appends them)
    now: Callable[[], float]  # the stream's time as the stack has read it
    review_threshold: float
    keep_looks: bool = False  # attribution keeps each person's colours over time (for `checkout.watches`)
    perception: PerceptionStage | None = None
    tracking: TrackingStage | None = None
    attribution: AttributionStage | None = None
    carts: Ledger | None = None
    identification: IdentificationStage | None = None
    shelf_events: ShelfEventStage | None = None


@dataclass(frozen=True)
class Reachers:
    """Who most likely moved a change's load: the candidates (best first) and their sum per account."""

    candidates: list[Candidate]
    by_account: dict[str | None, float] = field(default_factory=dict)

    @property
    def top(self) -> str | None:
        return max(self.by_account, key=self.by_account.get) if self.by_account else None


# -- interfaces ---------------------------------------------------------------------------------------------------
class PerceptionStage(Protocol):
    """One frame set (every camera's frame of one tick) to heads, hands, colours and floor objects."""

    def process(self, t_s: float, frames: list[CameraFrame]) -> Percept: ...


class TrackingStage(Protocol):
    """People over time, each track bound to the account scanned as it was born."""

    tracks: dict[int, Track]

    def scan(self, msg: GateScan) -> None: ...
    def passage(self, msg: GatePassage) -> Track | None: ...
    def update(self, t_s: float, heads_xy: np.ndarray, looks: list[np.ndarray | None] | None,
               heights: np.ndarray, low_heads: np.ndarray) -> None: ...
    def live(self) -> list[Track]: ...
    def doubts(self, track: int, t_s: float) -> list[Encounter]: ...
    def missed_scans(self, account: str, now_s: float, grace_s: float) -> list[tuple[str, float]]: ...


class AttributionStage(Protocol):
    """Hands in bins and how each person looks; who reached into a bin around a change."""

    appearance: Appearance
    looks: LookLog | None

    def see(self, t_s: float, percept: Percept) -> None: ...
    def sightings(self, percept: Percept) -> list[HandSighting]: ...
    def in_bin(self, bin_id: str, t_s: float) -> bool: ...
    def window(self, bin_id: str, t0: float, t1: float) -> list[HandSighting]: ...
    def hidden_share(self, bin_id: str, t0: float, t1: float) -> float | None:
        """The mean share of the space in front of the bin no camera saw over [t0, t1] (None: not known)."""
    def candidates(self, bin_id: str, t0: float, t1: float, inside: list[str]) -> list[Candidate]: ...
    def prune(self, t_s: float) -> None: ...


class IdentificationStage(Protocol):
    """What a weight change was: hypotheses (take, put-back, unexplained), likeliest first."""

    def explains(self, bin_id: str, delta_g: float) -> bool: ...
    def weight_change(self, ev: WeightChange, who: Reachers, seen_until_s: float) -> tuple[list[Hypothesis], str]:
        """The hypotheses, and the event's `source` ("weight", or "fused" where colour was used)."""


class ShelfEventStage(Protocol):
    """Changes at the shelves: from the load cells (weight changes, dead cells) and/or hands seen in bins."""

    uses_hands: bool  # `hands` may judge sightings

    def load_cells(self, batch: LoadCellBatch) -> list[WeightChange | DeadCell | Interaction]: ...
    def flush_load_cells(self, t_s: float) -> list[WeightChange | DeadCell | Interaction]: ...
    def hands(self, t_s: float, sightings: list[HandSighting], dead: Collection[str]) -> list[VisionEvent]: ...
    def flush_hands(self, t_s: float) -> list[VisionEvent]: ...
    def pending_since(self) -> dict[str, float]: ...
    def is_unreadable(self, bin_id: str) -> bool: ...
    def hid_change(self, bin_id: str, t_s: float, now_s: float) -> bool: ...
    def unreadable_runs(self, bin_id: str, now_s: float) -> list[tuple[float, float]]:
        """The runs (start, end) longer than a glitch in which the bin's cell gave no valid reading."""


# -- the built-in stages ------------------------------------------------------------------------------------------
register_stage("perception", "cameras")(lambda ctx: Perception(ctx.store))
register_stage("tracking", "tracker")(lambda ctx: Tracker(ctx.store))


@register_stage("attribution", "hands")
class HandAttribution:
    """Hand sightings bound to the nearest track within reach (`checkout.attribution`)."""

    def __init__(self, ctx: StageContext) -> None:
        self.store = ctx.store
        self.tracker = ctx.tracking
        self.hands = HandLog(ctx.store)
        self.openings = OpeningLog(ctx.store)
        self.appearance = Appearance()
        self.looks = LookLog() if ctx.keep_looks else None

    def see(self, t_s: float, percept: Percept) -> None:
        """Colours on each tracked person, for telling an item in the hand from the sleeve holding it; which bins
        the cameras could see into."""
        self.openings.add(t_s, percept.open_bins)
        live = self.tracker.live()
        if not live or not len(percept.heads):
            return
        pos = np.array([tr.x[:2] for tr in live])
        for (x, y, _), rgb in zip(percept.heads, percept.head_rgb):
            d = np.hypot(pos[:, 0] - x, pos[:, 1] - y)
            k = int(np.argmin(d))
            if d[k] < 0.3:
                self.appearance.add(live[k].id, t_s, rgb)
                if self.looks is not None:
                    self.looks.add(live[k].id, t_s, rgb)

    def sightings(self, percept: Percept) -> list[HandSighting]:
        return self.hands.add(percept.hands, self.tracker.live())

    def in_bin(self, bin_id: str, t_s: float) -> bool:
        return self.hands.in_bin(bin_id, t_s)

    def window(self, bin_id: str, t0: float, t1: float) -> list[HandSighting]:
        return self.hands.window(bin_id, t0, t1)

    def hidden_share(self, bin_id: str, t0: float, t1: float) -> float | None:
        return self.openings.hidden_share(bin_id, t0, t1)

    def candidates(self, bin_id: str, t0: float, t1: float, inside: list[str]) -> list[Candidate]:
        return attribute(self.store, self.hands, self.tracker.tracks, bin_id, t0, t1, inside)

    def prune(self, t_s: float) -> None:
        self.hands.prune(t_s)
        self.openings.prune(t_s)
        if self.looks is not None:
            self.looks.prune(t_s)


@register_stage("identification", "weight")
class WeightIdentification:
    """By the change's weight, the bin's belief, the carts (for put-backs) and the bin's weighed units."""

    def __init__(self, ctx: StageContext) -> None:
        self.store = ctx.store
        self.carts = ctx.carts
        self.attribution = ctx.attribution
        self.trust: ColourTrust | None = None  # how far colour is trusted per SKU, where colour is read (below)

    def explains(self, bin_id: str, delta_g: float) -> bool:
        hyps = identify(delta_g, 2.0, self.store.catalog, self.carts.beliefs(bin_id), self.carts.carted(), ())
        return next(h for h in hyps if h.kind == "unexplained").probability < 0.5

    def weight_change(self, ev: WeightChange, who: Reachers, seen_until_s: float) -> tuple[list[Hypothesis], str]:
        top = who.top
        colour, looks = self.colour(ev.bin, ev.t_start_s, ev.t_end_s, who.candidates, seen_until_s)
        args = (ev.delta_g, ev.sd_g, self.store.catalog, self.carts.beliefs(ev.bin), self.carts.carted(), (top,) if top else ())
        more = (self.carts.bin_units(ev.bin), {a: p for a, p in who.by_account.items() if a is not None})
        plain = identify(*args, None, *more)  # by weight and contents alone
        if not colour:
            return plain, "weight"
        hyps = identify(*args, colour, *more, looks, self.trust.weight(plain) if self.trust else 1.0)
        if self.trust:
            self.trust.record(plain, colour)
        return hyps, "fused"

    def colour(self, bin_id: str, t0: float, t1: float, cands: list[Candidate], until_s: float) -> tuple[dict[str, float] | None, int]:
        return None, 0


@register_stage("identification", "weight_colour")
class WeightColourIdentification(WeightIdentification):
    """By weight, and the catalog colours in the likeliest reacher's hand around the change, each SKU's colour
    trusted as far as this store's cameras have shown it right (`ColourTrust`)."""

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        self.trust = ColourTrust(self.store.catalog)

    def colour(self, bin_id: str, t0: float, t1: float, cands: list[Candidate], until_s: float) -> tuple[dict[str, float] | None, int]:
        """Catalog colours in the likeliest reacher's hand around the change (seen by `until_s`), and in how many
        frames they showed."""
        tracks = {c.track for c in cands[:1]}
        seen = [s for s in self.attribution.window(bin_id, t0 - 1.0, min(t1 + 1.5, until_s)) if s.track in tracks or not tracks]
        if not seen:
            return None, 0
        person = self.attribution.appearance.before(cands[0].track if cands else None, t0 - 0.5)
        colour, looks = colour_evidence_looks([s.rgb for s in seen], self.store.sku_rgb, list(self.store.catalog), person_rgb=person,
                                              sku_share=self.store.sku_share)
        return (colour or None), looks


@register_stage("shelf_events", "load_cells")
class LoadCellEvents:
    """Weight changes from the load cells (`checkout.shelf_events`); hands in bins judged by nobody."""

    uses_hands = False
    hold_for_hands = False  # a settled change waits while a hand is still in its bin

    def __init__(self, ctx: StageContext) -> None:
        store = ctx.store
        hands = ctx.attribution
        self.detector = ShelfEventDetector(
            store.bin_ids,
            store.min_item_g,
            explains=ctx.identification.explains,
            hand_in_bin=(lambda b, t: hands.in_bin(b, t)) if self.hold_for_hands else (lambda b, t: False),
            neighbours=store.neighbour_pairs(),
            gondolas=tuple(store.bins[b].gondola for b in store.bin_ids),
        )

    def load_cells(self, batch: LoadCellBatch) -> list[WeightChange | DeadCell | Interaction]:
        return self.detector.process(batch)

    def flush_load_cells(self, t_s: float) -> list[WeightChange | DeadCell | Interaction]:
        return self.detector.flush(t_s)

    def hands(self, t_s: float, sightings: list[HandSighting], dead: Collection[str]) -> list[VisionEvent]:
        return []

    def flush_hands(self, t_s: float) -> list[VisionEvent]:
        return []

    def pending_since(self) -> dict[str, float]:
        return self.detector.pending_since()

    def is_unreadable(self, bin_id: str) -> bool:
        return self.detector.settler.is_unreadable(bin_id)

    def hid_change(self, bin_id: str, t_s: float, now_s: float) -> bool:
        return self.detector.settler.hid_change(bin_id, t_s, now_s)

    def unreadable_runs(self, bin_id: str, now_s: float) -> list[tuple[float, float]]:
        return self.detector.settler.unreadable_runs(bin_id, now_s)


def _vision_detector(ctx: StageContext) -> VisionEventDetector:
    carts, tracker = ctx.carts, ctx.tracking

    def cart_skus(track: int) -> set[str]:
        tr = tracker.tracks.get(track)
        return {u.sku for u in carts.cart(tr.account)} if tr is not None else set()

    return VisionEventDetector(
        ctx.store,
        person_rgb=ctx.attribution.appearance.before,
        bin_skus=lambda b: {k for k, n in carts.beliefs(b).items() if n > 0},
        cart_skus=cart_skus,
    )


@register_stage("shelf_events", "cameras")
class CameraEvents:
    """The cameras alone (`checkout.vision_events`): a hand that leaves a bin carrying a colour it did not bring
    is a take. The load cells are not read."""

    uses_hands = True

    def __init__(self, ctx: StageContext) -> None:
        self.vision = _vision_detector(ctx)

    def load_cells(self, batch: LoadCellBatch) -> list[WeightChange | DeadCell | Interaction]:
        return []

    def flush_load_cells(self, t_s: float) -> list[WeightChange | DeadCell | Interaction]:
        return []

    def hands(self, t_s: float, sightings: list[HandSighting], dead: Collection[str]) -> list[VisionEvent]:
        return self.vision.add(t_s, sightings)

    def flush_hands(self, t_s: float) -> list[VisionEvent]:
        return self.vision.flush(t_s)

    def pending_since(self) -> dict[str, float]:
        return {}

    def is_unreadable(self, bin_id: str) -> bool:
        return False

    def hid_change(self, bin_id: str, t_s: float, now_s: float) -> bool:
        return False

    def unreadable_runs(self, bin_id: str, now_s: float) -> list[tuple[float, float]]:
        return []


@register_stage("shelf_events", "fused")
class FusedEvents(LoadCellEvents):
    """The load cells, a change held while a hand is still in its bin; the cameras judge what a hand did only
    where no load cell can (a dead cell's bin)."""

    uses_hands = True
    hold_for_hands = True

    def __init__(self, ctx: StageContext) -> None:
        super().__init__(ctx)
        self.vision = _vision_detector(ctx)

    def hands(self, t_s: float, sightings: list[HandSighting], dead: Collection[str]) -> list[VisionEvent]:
        return self.vision.add(t_s, [s for s in sightings if s.bin in dead])

    def flush_hands(self, t_s: float) -> list[VisionEvent]:
        return self.vision.flush(t_s)
