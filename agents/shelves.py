"""Keeping the truth about loose items equal to the physical world: `ShelfWatch`.

Sits beside the shoppers (an `Actor` of the episode, after them each tick):
the ledger learns of takes, put-backs and gives from the shoppers' hands, but
an item can also leave its plate with no hand on it — knocked by a neighbour
being lifted out or set down, toppled after a put-back, pushed over a plate's
edge. `ShelfWatch` reads every loose item's velocity (an item on a plate, or
on the floor, per the ledger) at `WATCH_HZ`; an item that moved is followed
until it is at rest again (or down on the floor), and then where it physically lies
(`sim.manipulation.resting_place`) is compared with the ledger. If they differ
the ledger gets a `drop` event: the item lies on the floor, or on another
plate (`to_bin`), charged to no one, attributed to the shopper who last let
go of it when one did (`Commons.released_by`), else to no one.
"""
from __future__ import annotations

import math

import pybullet as pb

from sim import manipulation as mp

# How often loose items' velocities are read. Bullet puts a body to sleep (velocity exactly 0) only after it
# has been still for 2 s, so an item that moved at all reads a non-zero velocity for at least 2 s: reading
# every half second misses none. (Every read of 2,374 items costs ~15 ms; at 10 Hz that was 1.5 ms a tick.)
WATCH_HZ = 2.0
MOVING_MS = 0.005  # faster than this (or turning) an item counts as moving; sleeping bodies read exactly 0
TURNING_RADS = 0.05
SETTLED_CHECKS = 2  # at rest on this many reads in a row before it is placed (not the top of a bounce)


class ShelfWatch:
    """An actor with no body: follows items that move without a grasp and books where they come to rest."""

    def __init__(self, commons) -> None:
        self.id = "shelf-watch"
        self.account = ""
        self.commons = commons
        self.moving: dict[int, int] = {}  # item -> reads at rest in a row since it moved
        self._sim = None
        self._every = 1

    @property
    def done(self) -> bool:
        """Done when every other actor is (it never keeps an episode running by itself)."""
        sim = self._sim
        return sim is not None and all(a.done for a in sim.actors if a is not self)

    def position(self) -> None:
        return None

    def act(self, sim) -> None:
        if self._sim is None:
            self._sim = sim
            self._every = max(1, int(round(1.0 / (WATCH_HZ * sim.clock.dt_s))))
        if sim.clock.tick % self._every:
            return
        self.check(sim)

    def check(self, sim) -> None:
        world, ledger = sim.world, sim.ledger
        c = world.client
        for item_id, it in world.items.items():
            v, w = pb.getBaseVelocity(it.body, physicsClientId=c)
            if item_id not in self.moving and not any(v) and not any(w):
                continue  # asleep where it was
            loc = ledger.items[item_id].location
            if loc.startswith(("hand:", "basket:")):
                self.moving.pop(item_id, None)
                continue
            if item_id not in self.moving:
                self.moving[item_id] = 0
                continue
            if math.hypot(*v) > MOVING_MS or math.hypot(*w) > TURNING_RADS:
                self.moving[item_id] = 0
                if loc == "floor" or mp.resting_place(world, item_id) != "floor":
                    continue
                place = "floor"  # down on the floor (a can may roll on for a long while): it is off the shelf now
            else:
                self.moving[item_id] += 1
                if self.moving[item_id] < SETTLED_CHECKS:
                    continue
                place = mp.resting_place(world, item_id)
            if place is None:
                continue  # at rest but neither on a plate nor on the floor (caught on something): keep watching
            del self.moving[item_id]
            if place != loc:
                who = self.commons.released_by.pop(item_id, None)
                shopper = self.commons.shoppers.get(who) if who is not None else None
                ledger.drop(sim.clock.t_s, item_id, who, shopper.account if shopper is not None else None,
                            onto=None if place == "floor" else place)
