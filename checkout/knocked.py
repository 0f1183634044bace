"""Items knocked off a shelf: the take that was not one.

A load cell sees an item knocked off its plate (by an arm, by its neighbour
being lifted out or pushed in) exactly as it sees one taken: the same step of
the same weight, with a hand nearby. The difference is where the item went —
not into a hand, onto the floor. Perception reports things lying on the floor
in front of the gondolas (`FloorObject`: low, and unlike the floor's learned
colour, for a second on end). Here they are kept as `FloorThing`s, counting
only sightings with nobody tracked within `CLEAR_M` (a person's feet and
trouser legs are low and unlike the floor too, and the clothes may be any
colour), and a thing seen `CONFIRM_N` times over `CONFIRM_S` is confirmed.

A confirmed thing explains a take when the taken SKU's colour is what most of
its pixels show (`COLOUR_SHARE`, and no other SKU's by far more; colours
compared up to brightness, so pixels of the floor's own colour count for
nothing, and a SKU the floor's colour — a beige pack on a grey floor — can
never be told lying there), the take's
bin is within `REACH_M` of it (an item falls in front of its shelf; a can
rolls), it was first seen no earlier than `BEFORE_S` before the take settled
(it was not lying there already), and the take's receipt is not out yet. Of
several, the nearest bin, then the latest take. Each thing explains one unit
of one take, once. The stack then takes that unit off the cart: the item is
on the floor, nobody's (DESIGN.md: who pays — the picker; an item knocked off
was picked by no one). A knocked item the cameras never see unoccluded before
the receipt goes out stays on it, as before.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from checkout.identification import colour_evidence
from checkout.perception import FloorObject
from checkout.receipts import ShelfEvent
from checkout.storemodel import StoreModel

CLEAR_M = 1.0  # sightings count only with nobody tracked this near (their own feet and legs are low and coloured)
SAME_M = 0.15  # sightings this close are one thing
CONFIRM_N = 8  # ... seen this many times
CONFIRM_S = 1.0  # ... over at least this long
REACH_M = 1.2  # a knocked item lands (or rolls) this far from its bin's front at most
BEFORE_S = 2.0  # first seen at most this long before its take settled (it falls as the load leaves the plate)
COLOUR_SHARE = 0.3  # at least this share of the thing's pixels match the taken SKU's colour ...
COLOUR_RIVAL = 2.0  # ... and no SKU's share is more than this many times it
KEEP_PIXELS = 256


@dataclass
class FloorThing:
    xy: np.ndarray
    first_s: float
    last_s: float
    seen: int = 1
    rgb: list[np.ndarray] = field(default_factory=list)
    floor_rgb: list[np.ndarray] = field(default_factory=list)  # the floor's learned colour under those pixels
    explained: bool = False

    @property
    def confirmed(self) -> bool:
        return self.seen >= CONFIRM_N and self.last_s - self.first_s >= CONFIRM_S


class FloorLedger:
    """The things seen lying on the floor, and which take each one explains."""

    def __init__(self, store: StoreModel) -> None:
        self.store = store
        self.things: list[FloorThing] = []

    def add(self, t_s: float, objects: tuple[FloorObject, ...], people_xy: np.ndarray) -> bool:
        """Count this percept's floor objects that nobody tracked stands near; True when a thing is newly
        confirmed."""
        newly = False
        for obj in objects:
            xy = np.asarray(obj.xy, dtype=float)
            if len(people_xy) and np.min(np.hypot(people_xy[:, 0] - xy[0], people_xy[:, 1] - xy[1])) < CLEAR_M:
                continue
            thing = next((th for th in self.things if math.hypot(*(th.xy - xy)) < SAME_M), None)
            if thing is None:
                self.things.append(FloorThing(xy, t_s, t_s, 1, [obj.rgb], [obj.floor_rgb]))
                continue
            was = thing.confirmed
            thing.xy = thing.xy + (xy - thing.xy) / (thing.seen + 1)
            thing.seen += 1
            thing.last_s = t_s
            if sum(len(r) for r in thing.rgb) < KEEP_PIXELS:
                thing.rgb.append(obj.rgb)
                thing.floor_rgb.append(obj.floor_rgb)
            newly |= thing.confirmed and not was
        return newly

    def unexplained(self) -> list[FloorThing]:
        return [th for th in self.things if th.confirmed and not th.explained]

    def explains(self, thing: FloorThing, takes: list[tuple[int, ShelfEvent]]) -> int | None:
        """Which of `takes` (index, event) the thing on the floor is the item of, if any (see the module)."""
        # Colours are compared up to brightness: a pixel the floor's own colour, only lighter or darker, is no item,
        # and an item whose main colour is the floor's (a grey or beige pack on a grey floor) cannot be told there at all.
        floor = np.concatenate(thing.floor_rgb) if thing.floor_rgb else np.zeros((0, 3))
        floor_mean = floor.mean(axis=0) if len(floor) else None
        skus = [s for s in self.store.catalog
                if floor_mean is None or not colour_evidence(self.store.sku_rgb[s][:1], {"floor": floor_mean}, ["floor"])["floor"]]
        # Each pixel shared out among the SKUs that could show it (`sku_share`): a grey or white patch that half the
        # catalog's labels carry is no one SKU's colour, and a pale thing on the floor (a shadow, a reflection) is
        # then nobody's item; an item's own ink still counts for it.
        colour = colour_evidence(np.concatenate(thing.rgb), self.store.sku_rgb, skus, person_rgb=floor if len(floor) else None,
                                 sku_share=self.store.sku_share)
        if not colour:
            return None
        top = max(colour.values())
        best: tuple[float, float, int] | None = None
        for i, ev in takes:
            share = colour.get(ev.sku, 0.0)
            if share < COLOUR_SHARE or top > COLOUR_RIVAL * share or thing.first_s < ev.t_s - BEFORE_S:
                continue
            d = self.distance_to_bin(thing.xy, ev.bin)
            if d > REACH_M:
                continue
            key = (d, -ev.t_s, i)
            if best is None or key < best:
                best = key
        if best is None:
            return None
        thing.explained = True
        return best[2]

    def distance_to_bin(self, xy: np.ndarray, bin_id: str) -> float:
        """From a floor point to the front edge of a bin (as a segment along the shelf)."""
        b = self.store.bins[bin_id]
        front = self.store.bin_front(bin_id)
        right = np.asarray(b.right, dtype=float)
        rel = xy - front
        along = float(rel @ right)
        half = b.width_m / 2
        along_c = min(max(along, -half), half)
        return float(np.hypot(*(rel - along_c * right)))
