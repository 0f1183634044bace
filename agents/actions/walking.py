"""`walk_to`: walk to a floor point or to a bin's front.

A point was checked at load time (`agents.scenario`: a point where this
shopper's body cannot stand is moved to the nearest one that it can, with a
note, or refused). Someone standing on it: the free point nearest it will
do. A bin: the spot square in front of it when free, else the nearest free
point from which the bin is in plain sight (four shoppers heading for one
bin do not all need its one spot: people stand beside each other).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from agents import reach as rc
from agents.actions.base import Action, register_action
from agents.actions.moves import STUCK_S
from agents.floor import standing_point

NEAR_A_BIN_RINGS_M = (0.3, 0.6, 0.9, 1.2, 1.6)


@register_action("walk_to")
class WalkTo(Action):
    def run(self) -> Iterator:
        a = self.args
        sh = self.sh
        floor = sh.commons.floor
        if a.bin is not None:
            yield from self.to_bin(sh.commons.layout.bins[a.bin])
            return
        point = standing_point(sh.commons.layout, tuple(a.point), sh.build.radius_m) or floor.walkable_point(tuple(a.point))
        if not (yield from self.walk(point, tol=0.2, stuck_s=STUCK_S, claim=True)):
            spot = self.room_near(point)  # someone stands there
            if spot is not None:
                yield from self.walk(spot, tol=0.2, claim=True)

    def to_bin(self, b) -> Iterator:
        sh = self.sh
        floor = sh.commons.floor
        palm = np.array([b.front[0], b.front[1], b.center[2]])
        spot = rc.stand_point(sh.build, b, palm, sh.build.radius_m + rc.STAND_GAP_M)
        for _ in range(3):
            if floor.has_room(sh.id, spot) and (yield from self.walk(spot, tol=0.2, stuck_s=STUCK_S, claim=True)):
                return
            near = self.room_near(floor.walkable_point(spot), NEAR_A_BIN_RINGS_M)
            if near is not None and (yield from self.walk(near, tol=0.25, stuck_s=STUCK_S, claim=True)):
                return
            floor.hold(sh.id)
            yield from self.sleep(1.0)
        # still no room by the bin: as close as the crowd lets one (people wait where they are)
        floor.hold(sh.id)
        sh.adapt(f"found no room in front of bin {b.id}: stood as close as the crowd allowed")
