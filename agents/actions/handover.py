"""Hand-overs: `give` walks to the receiver and holds the item out; `Receive` is what the receiver does.

The receiver's `Receive` interrupts its own script (the shopper runs it
between two agent ticks of its scripted action, while its hands are free):
it stops, faces the giver, takes the item from the giver's hand and stows
it, then its script carries on where it was. Each side keeps its own state;
the two meet only through the `HandOver` record in `Commons.handovers`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from agents.actions.base import Action, ScenarioFault, StockOut, register_action
from agents.actions.moves import WALK_TIMEOUT_S
from agents.body import ARM_LINKS
from sim import manipulation as mp

GIVE_DISTANCE_M = 0.8


@dataclass
class HandOver:
    giver: str
    item_id: int
    meet: np.ndarray
    giver_ready: bool = False
    taken: bool = False


@register_action("give")
class Give(Action):
    def run(self) -> Iterator:
        sh, a = self.sh, self.args
        world, commons = sh.world, sh.commons
        mine = [i for i in sh.carried if world.items[i].sku == a.sku]
        if not mine:
            raise StockOut(f"has no {a.sku} to give")
        other = commons.shoppers.get(a.to)
        start = sh.t
        while other is None or not other.spawned or other.done or other.exited or a.to in commons.give_requests:
            if other is not None and (other.done or other.exited):
                raise ScenarioFault(f"'{a.to}' has left the store")
            if sh.t - start > WALK_TIMEOUT_S:
                raise ScenarioFault(f"'{a.to}' never came in to take the {a.sku}")
            yield
        commons.give_requests[a.to] = sh.id
        try:
            yield from self.meet(other, start)
            yield from self.hand_over(other, mine[-1], start)
        finally:
            commons.give_requests.pop(a.to, None)
            sh.busy = False

    def meet(self, other, start: float) -> Iterator:
        """Walk to arm's length of the receiver, in plain sight of it, once it is ready to take."""
        sh, a = self.sh, self.args
        floor = sh.commons.floor

        def close_enough() -> bool:
            here, there = floor.now[sh.id], floor.now[a.to]
            return other.ready_to_receive and math.dist(here, there) < GIVE_DISTANCE_M + 0.25 and floor.in_sight(here, there)

        while not close_enough():
            if other.done or other.exited:
                raise ScenarioFault(f"'{a.to}' left before the hand-over")
            if sh.t - start > WALK_TIMEOUT_S:
                raise ScenarioFault(f"could not reach '{a.to}'")
            there = floor.now[a.to]
            spot = self.meet_spot(there)
            if spot is None or math.dist(floor.now[sh.id], spot) < 0.2:
                floor.hold(sh.id)  # no room beside the receiver yet, or waiting for it to be ready
                yield
                continue
            moved = lambda there=there: math.dist(floor.now[a.to], there) > 0.3  # noqa: E731
            yield from self.walk(spot, tol=0.15, until=lambda: close_enough() or moved(), claim=True)

    def hand_over(self, other, item: int, start: float) -> Iterator:
        """Face the receiver, take the item out of the basket, hold it out until it is taken."""
        sh, a = self.sh, self.args
        world, commons = sh.world, sh.commons
        commons.floor.hold(sh.id)
        sh.busy = True
        there, here = commons.floor.now[a.to], commons.floor.now[sh.id]
        self.face_yaw = math.atan2(there[1] - here[1], there[0] - here[0])
        yield from self.sleep(0.3)
        slot_pos, _ = sh.body.basket_slot(sh.carried.index(item))
        yield from self.hand_to("right", np.array(slot_pos) + np.array([0, 0, 0.12]), tol=0.05)
        sh.carried.remove(item)
        palm_now = sh.body.palm_world("right")
        mp.place(world, item, tuple(palm_now + np.array([0, 0, -0.02])), _yaw_quat(sh.yaw))
        mp.make_loose(world, item)
        sh.grips[item] = mp.grasp(world, item, sh.body.body, ARM_LINKS["right"][3])
        z = min(sh.build.shoulder_m, other.build.shoulder_m) - 0.35
        meet = np.array([(here[0] + there[0]) / 2, (here[1] + there[1]) / 2, z])
        toward_me = np.array([here[0] - there[0], here[1] - there[1], 0.0])
        toward_me /= max(np.linalg.norm(toward_me), 1e-6)
        ho = HandOver(sh.id, item, meet)
        commons.handovers[a.to] = ho
        yield from self.hand_to("right", meet + toward_me * 0.05, tol=0.05)
        ho.giver_ready = True
        while not ho.taken:
            if sh.t - start > WALK_TIMEOUT_S * 2:
                raise ScenarioFault(f"'{a.to}' did not take the {a.sku}")
            yield
        sh.grips.pop(item, None)
        yield from self.sleep(0.2)
        yield from self.rest()

    def meet_spot(self, there: tuple[float, float]) -> tuple[float, float] | None:
        """Where to stand to hand something to a shopper standing at `there`: a free point at arm's length
        (`GIVE_DISTANCE_M`) in plain sight of it (never across a gondola), the shortest walk away."""
        sh = self.sh
        floor = sh.commons.floor
        here = floor.now[sh.id]
        best = None
        for k in range(16):
            ang = k * math.pi / 8
            p = (there[0] + GIVE_DISTANCE_M * math.cos(ang), there[1] + GIVE_DISTANCE_M * math.sin(ang))
            if not (floor.has_room(sh.id, p) and floor.in_sight(p, there)):
                continue
            d = floor.route_length_m(here, p)
            if best is None or d < best[0] - 1e-9:
                best = (d, p)
        return None if best is None else best[1]


class Receive(Action):
    """Pause the script, face the giver, take the item, stow it; the script then carries on."""

    name = "receive"

    def run(self) -> Iterator:
        sh, giver_id = self.sh, self.args
        commons = sh.commons
        commons.floor.hold(sh.id)
        sh.ready_to_receive = True
        start = sh.t
        try:
            while True:
                ho = commons.handovers.get(sh.id)
                g = commons.shoppers[giver_id]
                there, here = commons.floor.now.get(giver_id), commons.floor.now[sh.id]
                if there is not None:
                    self.face_yaw = math.atan2(there[1] - here[1], there[0] - here[0])
                if ho is not None and ho.giver_ready:
                    break
                if commons.give_requests.get(sh.id) != giver_id or g.done or sh.t - start > WALK_TIMEOUT_S * 2:
                    return
                yield
            sh.busy = True
            away = np.array([there[0] - here[0], there[1] - here[1], 0.0])
            away /= max(np.linalg.norm(away), 1e-6)
            yield from self.hand_to("right", ho.meet + away * 0.05, tol=0.05)
            giver = commons.shoppers[giver_id]
            world = sh.world
            if ho.item_id in giver.grips:
                mp.release(world, giver.grips[ho.item_id])
            sh.grips[ho.item_id] = mp.grasp(world, ho.item_id, sh.body.body, ARM_LINKS["right"][3])
            sh.sim.ledger.give(sh.t, ho.item_id, giver_id, sh.id, giver.account)
            ho.taken = True
            yield from self.stow(ho.item_id)
            yield from self.rest()
        finally:
            commons.handovers.pop(sh.id, None)
            sh.ready_to_receive = False
            sh.busy = False


def _yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))
