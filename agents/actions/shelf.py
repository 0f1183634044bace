"""Actions with a hand in a bin: pick, put back, touch, lean.

Each plans where to stand and how (`agents.reach`: the same geometry the
load-time checks use), walks there, takes the stance, and moves the hand in
through the bin's open front, level, the wrist bent as a person's is.

What the shelves are at run time is the world's, not the script's: a pick
from a bin someone emptied takes from the nearest other bin of that SKU this
shopper can reach; a put-back into a bin that filled up puts the item on the
nearest other bin of that SKU with room, or keeps it when there is none. Each
such change is a `adapted` truth event (the ledger records what physically
happened), not a scenario fault.
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from agents import reach as rc
from agents.actions.base import Action, OutOfReach, StockOut, register_action
from agents.body import ARM_LINKS
from sim import manipulation as mp
from sim.layout import ITEM_GAP_M as STOCK_GAP_M
from sim.layout import Bin

LEAN_FORCE_RANGE_N = (12.0, 35.0)  # the extra weight a shopper puts through a hand resting on a shelf front
PUT_BACK_FRONT_MARGIN_M = 0.04  # an item put back stands at least this far behind the shelf's front edge
PRE_FROM_SHOULDER_M = 0.25  # level distance kept from the shoulder to where a hand waits before going into a bin
MIN_PRE_BACK_M = 0.10  # ...and at least this far in front of where it goes
PUT_BACK_TIGHT_GAP_M = STOCK_GAP_M / 2  # the least room kept to neighbours when pushing an item back into a gap
PUT_BACK_TOL_M = 0.012  # how close over its spot the hand brings an item before letting go
TOUCH_DEPTH_M = 0.05  # a touching hand rests on the front products, this far behind the shelf's front edge
LEVEL = rc.HAND_LEVEL
PICK_TRIES = PUT_BACK_TRIES = 3  # a hand that did not get there is taken out and tried again, this many times in all
RETRY_PAUSE_S = 0.8
GRIP_TOL_M = 0.08  # a hand this near the item grips it
CHEST_AHEAD_M = 0.20  # a hand on its way up to a high bin passes this far in front of the shoulder (short of the shelf)


class ShelfAction(Action):
    """What the shelf actions share: which bins this shopper can reach, and the hand's way in."""

    def reachable(self, b: Bin, sku: str | None) -> bool:
        """This shopper's body gets a hand to the front of bin `b` (holding an item of `sku`)."""
        return isinstance(self.grip_plan(b, rc.grip_palm(b, self.item_height(b, sku)), sku), tuple)

    def item_height(self, b: Bin, sku: str | None) -> float:
        layout = self.sh.commons.layout
        if sku is None:
            entry = layout.spec.planogram.get(b.id)
            sku = entry.sku if entry is not None else None
        return layout.catalog[sku].size_mm[2] / 1000.0 if sku is not None else 0.10

    def grip_plan(self, b: Bin, palm: np.ndarray, sku: str | None) -> tuple[rc.Stance, np.ndarray] | str:
        return rc.plan_grip(self.sh.build, b, palm, self.item_height(b, sku), rc.is_top_shelf(b, self.sh.commons.layout.bins))

    def bins_by_walk(self, bins: list[str]) -> list[str]:
        floor, here = self.sh.commons.floor, self.sh.commons.floor.now[self.sh.id]
        layout = self.sh.commons.layout
        return sorted(bins, key=lambda b: (round(math.dist(here, layout.bins[b].front), 6), b))

    def hand_angle(self, palm: np.ndarray) -> float | None:
        """Level into a bin at chest height or above, straight on from the forearm into a lower one."""
        return rc.hand_angle_for(float(self.sh.body.shoulder_world("right")[2]), float(palm[2]))

    def pre_back(self, palm: np.ndarray, want_m: float) -> float:
        """How far in front of `palm` the hand waits before going in: `want_m`, but no nearer the shoulder than
        `PRE_FROM_SHOULDER_M` (nor less than `MIN_PRE_BACK_M` out)."""
        shoulder = self.sh.body.shoulder_world("right")
        level = math.hypot(palm[0] - shoulder[0], palm[1] - shoulder[1])
        return min(want_m, max(MIN_PRE_BACK_M, level - PRE_FROM_SHOULDER_M))

    def hand_before(self, pre: np.ndarray, b: Bin, tol: float = 0.04) -> Iterator:
        """The hand up to `pre`, in front of the bin, straight on from the forearm (a wrist bent for a level
        hand all the way up from the hip would swing the arm about), then levelled there, ready to go in.

        From the basket at the left hip the straight way to a high bin passes right by the shoulder, where the
        arm folds onto itself and the IK swings it over: the hand goes out in front of the chest first."""
        sh = self.sh
        shoulder = sh.body.shoulder_world("right")
        ahead = np.array([math.cos(sh.yaw), math.sin(sh.yaw), 0.0])
        if pre[2] > shoulder[2] - 0.25:
            via = shoulder + ahead * CHEST_AHEAD_M - np.array([0, 0, 0.15])
            inside = MIN_PRE_BACK_M - ((via[0] - b.front[0]) * b.facing[0] + (via[1] - b.front[1]) * b.facing[1])
            if inside > 0.0:  # leaning in, the chest is near the shelf: the way stays in front of it
                via += np.array([b.facing[0], b.facing[1], 0.0]) * inside
            yield from self.hand_to("right", via, tol=0.08)
        yield from self.hand_to("right", pre, tol=tol)
        yield from self.hand_to("right", pre, tol=tol, hand_angle=self.hand_angle(pre))

    def approach(self, b: Bin, palm: np.ndarray, sku: str | None, what: str) -> Iterator:
        """Plan the grip for `palm` in bin `b` (holding the `sku` item's height in mind), walk to a spot in front,
        take the stance and check the arm gets in from there; returns the palm (held higher up a tall item for
        a high bin). Out of reach: `OutOfReach` "cannot reach {what} (why)"."""
        plan = self.grip_plan(b, palm, sku)
        if isinstance(plan, str):
            raise OutOfReach(f"cannot reach {what} ({plan})")
        stance, palm = plan
        yield from self.stand_at(b, palm, stance)
        self.sh.busy = True
        yield from self.take_stance(b, palm, stance)
        if (why := self.reach_blocked(b, palm)) is not None:
            yield from self.give_up_reach(f"cannot reach {what} ({why})")
        return palm

    def give_up_reach(self, what: str) -> Iterator:
        yield from self.done_here()
        raise OutOfReach(what)

    def withdraw(self, pre: np.ndarray, palm: np.ndarray) -> Iterator:
        """The hand back out to `pre` in front of the bin, then arms down and stand straight."""
        yield from self.hand_to("right", pre, tol=0.06, hand_angle=self.hand_angle(palm))
        yield from self.done_here()

    def done_here(self) -> Iterator:
        """Arms down, stand straight; the hands are free again (a hand-over may come)."""
        yield from self.rest()
        self.sh.busy = False


@register_action("pick")
class Pick(ShelfAction):
    def run(self) -> Iterator:
        a = self.args
        for _ in range(3):
            b, items = self.choose(a.sku, a.qty, a.bin)
            if (yield from self.reach_and_take(b, items)):
                return
        raise StockOut(f"others kept taking the {a.sku} first")

    def choose(self, sku: str, qty: int, bin_id: str | None) -> tuple[Bin, list[int]]:
        """The bin to take from (the named one; emptied meanwhile, the nearest other this shopper reaches that
        holds enough) and which of its items: the front-most, nearest the bin's middle, and its neighbours."""
        sh = self.sh
        world, layout = sh.world, sh.commons.layout

        def stock(b: str) -> list[int]:
            return [i for i in world.ledger.items_in(b) if world.items[i].sku == sku]

        if bin_id is not None and len(stock(bin_id)) >= qty:
            chosen = bin_id
        else:
            others = [b for b in layout.bins if len(stock(b)) >= qty and self.reachable(layout.bins[b], sku)]
            if not others:
                where = f"bin {bin_id} holds {len(stock(bin_id))} {sku} now" if bin_id else f"no bin holds {qty} {sku} now"
                raise StockOut(f"{where}, {qty} wanted, and no other bin in reach holds them")
            chosen = self.bins_by_walk(others)[0]
            if bin_id is not None:
                sh.adapt(f"bin {bin_id} held {len(stock(bin_id))} {sku}, {qty} wanted: took from bin {chosen}")
        b = layout.bins[chosen]
        ids = stock(b.id)
        fx, fy = b.facing
        rx, ry = b.right
        pos = {i: world.item_pose(i)[0] for i in ids}

        def front(i: int) -> float:
            p = pos[i]
            return (p[0] - b.center[0]) * fx + (p[1] - b.center[1]) * fy

        first = max(ids, key=lambda i: (round(front(i), 3), -abs((pos[i][0] - b.center[0]) * rx + (pos[i][1] - b.center[1]) * ry), -i))
        return b, sorted(ids, key=lambda i: (math.dist(pos[i], pos[first]), i))[:qty]

    def reach_and_take(self, b: Bin, items: list[int]) -> Iterator:
        """Reach for `items` in bin `b`, grip, lift, stow. False if someone took one of them first."""
        sh, a = self.sh, self.args
        world, ledger = sh.world, sh.sim.ledger
        pos = np.array([world.item_pose(i)[0] for i in items])
        centre = pos.mean(axis=0)
        fx, fy = b.facing
        # how far the items reach out of the shelf, as they stand (a pack may stand turned, its width along the depth)
        d = max(mp.extent_along(world, i, (fx, fy)) for i in items)
        palm = np.array([centre[0] + fx * (d / 2), centre[1] + fy * (d / 2), max(centre[2], b.center[2] + 0.05)])
        palm = yield from self.approach(b, palm, a.sku, f"{a.sku} in bin {b.id}")
        pre = palm + np.array([fx, fy, 0.0]) * self.pre_back(palm, 0.14 + d / 2) + np.array([0, 0, 0.02])
        yield from self.hand_before(pre, b)
        for attempt in range(PICK_TRIES):
            if attempt:  # the hand did not get there (a neighbour's arm in the way): out, a moment, once more
                yield from self.hand_to("right", pre, tol=0.06, hand_angle=self.hand_angle(palm))
                yield from self.sleep(RETRY_PAUSE_S)
            yield from self.hand_to("right", palm, tol=0.02, hand_angle=self.hand_angle(palm))
            if any(ledger.items[i].location != b.id for i in items):
                yield from self.withdraw(pre, palm)
                return False
            got = sh.body.palm_world("right")
            if np.linalg.norm(got - palm) <= GRIP_TOL_M:
                break
        else:
            yield from self.give_up_reach(f"cannot reach {a.sku} in bin {b.id} (hand {np.linalg.norm(got - palm):.2f} m short)")
        hand = ARM_LINKS["right"][3]
        register = getattr(world, "add_dynamic_body", None)
        for item in items:
            sh.grips[item] = mp.grasp(world, item, sh.body.body, hand)
            sh.upright[item] = (_yaw_of(world.item_pose(item)[1]), np.array(world.item_pose(item)[0]) - got)
            sh.commons.last_bin[item] = b.id
            ledger.take(sh.t, item, sh.id, sh.account)
            if register is not None:
                register(world.items[item].body)
        world.wake_bin(b.id)
        lift = max(0.015, min(0.04, b.clearance_m - (pos[:, 2].max() - b.center[2]) * 2 - 0.01))
        yield from self.hand_to("right", palm + np.array([0, 0, lift]), tol=0.03, hand_angle=self.hand_angle(palm))
        yield from self.hand_to("right", pre + np.array([0, 0, lift]), tol=0.05, hand_angle=self.hand_angle(palm))
        for item in items:
            yield from self.stow(item)
        yield from self.done_here()
        return True


@register_action("put_back")
class PutBack(ShelfAction):
    def run(self) -> Iterator:
        sh, a = self.sh, self.args
        world = sh.world
        mine = [i for i in sh.carried if world.items[i].sku == a.sku]
        if not mine:
            raise StockOut(f"has no {a.sku} to put back")
        item = mine[-1]
        first = a.bin or sh.commons.last_bin.get(item) or world.ledger.items[item].home_bin
        tried: list[str] = []
        while True:
            b = self.next_bin(first, tried, item)
            if b is None:
                sh.adapt(f"no room within reach for the {a.sku} in bin {first}" + (f" nor in {', '.join(tried[1:])}" if len(tried) > 1 else "")
                         + " or any other bin of it: kept it")
                return
            tried.append(b.id)
            if (yield from self.put_into(b, item)):
                if b.id != first:
                    sh.adapt(f"bin {first} had no room within reach for the {a.sku}: put it into bin {b.id}")
                return

    def next_bin(self, first: str, tried: list[str], item: int) -> Bin | None:
        """The bin to try next: the scripted one, then the nearest others holding this SKU, with room, in reach."""
        sh = self.sh
        world, layout = sh.world, sh.commons.layout
        if not tried:
            return layout.bins[first]
        sku = world.items[item].sku
        holding = {r.location for r in world.ledger.items.values() if r.sku == sku and r.location in layout.bins}
        for bid in self.bins_by_walk(sorted(holding - set(tried))):
            b = layout.bins[bid]
            if self.reachable(b, sku) and self.aim(b, item) is not None:
                return b
        return None

    def spots(self, b: Bin, item: int) -> Iterator[tuple[float, float, float]]:
        """Where on bin `b` the item could stand, in the order a person tries them (each looked for only when
        the one before will not do): front first, a little behind the edge (`PUT_BACK_FRONT_MARGIN_M`); then
        right at the edge; then into a gap in the front row as tight as the rows were stocked
        (`PUT_BACK_TIGHT_GAP_M`: the gap it was taken from)."""
        world = self.sh.world
        seen = []
        for kw in ({"front_margin_m": PUT_BACK_FRONT_MARGIN_M}, {}, {"gap_m": PUT_BACK_TIGHT_GAP_M}):
            spot = mp.free_spot(world, b, item, **kw)
            if spot is not None and spot not in seen:
                seen.append(spot)
                yield spot

    def aim(self, b: Bin, item: int) -> tuple[tuple[float, float, float], np.ndarray, np.ndarray] | None:
        """(spot, where the item's centre goes, where the hand holds it) on bin `b`, at the first of `spots` this
        shopper's hand gets to (a gap deep at the back of a high or low bin may be out of its reach, the one
        at the front not); None: no room there within reach, or none at all for it standing (`mp.free_spot`: a bin
        lower than the item has none), and the caller tries another bin, or keeps it."""
        sku = self.sh.world.items[item].sku
        cat = self.sh.commons.layout.catalog[sku]
        h, d = cat.size_mm[2] / 1000.0, cat.size_mm[1] / 1000.0
        fx, fy = b.facing
        for spot in self.spots(b, item):
            target = np.array([spot[0], spot[1], b.center[2] + h / 2 + 0.006])
            palm = target + np.array([fx, fy, 0.0]) * (d / 2 + 0.01)
            palm[2] = max(palm[2], b.center[2] + 0.05)
            if isinstance(self.grip_plan(b, palm, sku), tuple):
                return spot, target, palm
        return None

    def put_into(self, b: Bin, item: int) -> Iterator:
        """Put `item` onto bin `b`; False when there turns out to be no room there (others filled it)."""
        sh, a = self.sh, self.args
        world, ledger = sh.world, sh.sim.ledger
        cat = sh.commons.layout.catalog[a.sku]
        d = cat.size_mm[1] / 1000.0
        fx, fy = b.facing
        aimed = self.aim(b, item)
        if aimed is None:
            return False
        plan = self.grip_plan(b, aimed[2], a.sku)
        if isinstance(plan, str):
            raise OutOfReach(f"cannot reach bin {b.id} to put the {a.sku} back ({plan})")
        stance, held = plan  # the stance is for the hand where the plan holds the item (higher up it, for a deep spot)
        yield from self.stand_at(b, held, stance)
        aimed = self.aim(b, item)  # others may have put something there meanwhile
        if aimed is None:
            return False
        spot, item_target, palm = aimed
        plan = self.grip_plan(b, palm, a.sku)
        if isinstance(plan, str):
            raise OutOfReach(f"cannot reach bin {b.id} to put the {a.sku} back ({plan})")
        stance, palm = plan
        sh.busy = True
        yield from self.take_stance(b, palm, stance)
        if (why := self.reach_blocked(b, palm)) is not None:
            yield from self.give_up_reach(f"cannot reach bin {b.id} to put the {a.sku} back ({why})")
        # out of the basket into the hand, turned as it will stand on the plate
        slot_pos, _ = sh.body.basket_slot(sh.carried.index(item))
        yield from self.hand_to("right", np.array(slot_pos) + np.array([0, 0, 0.12]), tol=0.05)
        palm_now = sh.body.palm_world("right")
        sh.carried.remove(item)
        mp.place(world, item, tuple(palm_now + (item_target - palm)), _yaw_quat(spot[2]))
        mp.make_loose(world, item)
        sh.grips[item] = mp.grasp(world, item, sh.body.body, ARM_LINKS["right"][3])
        sh.upright[item] = (spot[2], item_target - palm)
        # in front of the shelf, the item clear of its face, but no nearer the shoulder than `PRE_FROM_SHOULDER_M`
        # (a hand folded in over the shoulder swings the arm up and over; under it, into the knees): a deep
        # pack then starts with its back end over the plate, and slides in over the lip
        clear_out = (palm[0] - b.front[0]) * -fx + (palm[1] - b.front[1]) * -fy + d + 0.02
        back = self.pre_back(palm, clear_out)
        pre = palm + np.array([fx, fy, 0.0]) * back + np.array([0, 0, 0.03])
        yield from self.hand_before(pre, b, tol=0.05)
        for attempt in range(PUT_BACK_TRIES):
            if attempt:  # the hand did not get there (a neighbour's arm in the way): out, a moment, once more
                yield from self.hand_to("right", pre, tol=0.06, hand_angle=self.hand_angle(palm))
                yield from self.sleep(RETRY_PAUSE_S)
            yield from self.hand_to("right", palm + np.array([0, 0, 0.02]), tol=0.03, hand_angle=self.hand_angle(palm))
            yield from self.hand_to("right", palm, tol=0.015, hand_angle=self.hand_angle(palm))
            # the item may hang a little off (the grip constraint gives): steer the hand until it is where it should stand
            goal = palm.copy()
            for _ in range(3):
                off = item_target - np.array(world.item_pose(item)[0])
                if np.linalg.norm(off[:2]) < PUT_BACK_TOL_M and -0.004 < off[2] < 0.012:
                    break
                goal = goal + np.array([off[0], off[1], min(0.0, off[2] + 0.004)])
                goal[2] = max(goal[2], palm[2] - 0.01)  # never press the hand into the plate
                yield from self.hand_to("right", goal, tol=0.01, hand_angle=self.hand_angle(palm))
            yield from self.sleep(0.25)  # hold still, then let go
            if mp.over_plate(world, item, b):
                break
        else:  # out of reach: back into the basket, and the step cannot be done
            yield from self.hand_to("right", pre, tol=0.06, hand_angle=self.hand_angle(palm))
            yield from self.stow(item)
            yield from self.give_up_reach(f"cannot reach bin {b.id} to put the {a.sku} back")
        sh.upright.pop(item, None)
        mp.release(world, sh.grips.pop(item))
        ledger.put_back(sh.t, item, b.id, sh.id, sh.account)
        sh.commons.released_by[item] = sh.id  # should it topple off, agents.shelves.ShelfWatch books where it lands
        world.wake_bin(b.id)
        yield from self.sleep(0.3)
        yield from self.withdraw(pre, palm)
        return True


@register_action("touch")
class Touch(ShelfAction):
    """A hand on the front products of a bin for a while, taking nothing."""

    def run(self) -> Iterator:
        sh, a = self.sh, self.args
        b = sh.commons.layout.bins[a.bin]
        fx, fy = b.facing
        palm = yield from self.approach(b, rc.grip_palm(b, self.item_height(b, None), TOUCH_DEPTH_M), None, f"into bin {b.id}")
        pre = palm + np.array([fx, fy, 0.0]) * 0.2
        yield from self.hand_before(pre, b)
        yield from self.hand_to("right", palm, tol=0.03, hand_angle=self.hand_angle(palm))
        sh.sim.ledger.note(sh.t, "touch", sh.id, sh.account, b.id, seconds=a.seconds)
        yield from self.sleep(a.seconds)
        yield from self.withdraw(pre, palm)


@register_action("lean")
class Lean(ShelfAction):
    """A hand resting on a shelf's front edge with some of the shopper's weight on it (the plate feels it)."""

    def run(self) -> Iterator:
        sh, a = self.sh, self.args
        b = sh.commons.layout.bins[a.bin]
        fx, fy = b.facing
        front = np.array([b.front[0], b.front[1], b.center[2]])
        palm = front - np.array([fx, fy, 0.0]) * 0.06 + np.array([0, 0, 0.05])
        stance = self.plan_stance(b, palm)
        if isinstance(stance, str):
            raise OutOfReach(f"cannot lean on bin {b.id} ({stance})")
        yield from self.stand_at(b, palm, stance)
        sh.busy = True
        yield from self.take_stance(b, palm, stance)
        yield from self.hand_to("right", palm + np.array([fx, fy, 0.0]) * 0.15)
        yield from self.hand_to("right", palm, tol=0.03)
        sh.body.hand_on_plates("right", True)  # the only time a hand may touch a plate (see sim.manipulation)
        # hand down onto the plate under control, then weight onto it gradually: a limp arm dropped from
        # above with the full force on it would hit the thin plate fast enough to pass through it
        yield from self.hand_to("right", palm - np.array([0, 0, 0.03]), tol=0.01, timeout_s=0.6)
        force = float(sh.rng.uniform(*LEAN_FORCE_RANGE_N))
        sh.world.wake_bin(b.id)
        sh.limp["right"] = True
        sh.body.go_limp("right")
        sh.push_goal["right"] = force
        sh.sim.ledger.note(sh.t, "lean", sh.id, sh.account, b.id, seconds=a.seconds, force_n=force)
        yield from self.sleep(a.seconds)
        sh.push_goal["right"] = 0.0
        while sh.push["right"] > 0.0:
            yield
        sh.limp["right"] = False
        sh.hand_cmd["right"] = sh.body.palm_world("right")
        yield from self.hand_to("right", palm + np.array([0, 0, 0.04]), tol=0.05)
        sh.body.hand_on_plates("right", False)
        yield from self.hand_to("right", palm + np.array([fx, fy, 0.0]) * 0.2, tol=0.06)
        yield from self.done_here()


def _yaw_of(orn) -> float:
    x, y, z, w = orn
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def _yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))
