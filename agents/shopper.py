"""A shopper: an `Actor` (sim.simulation) that walks in, works through its script, and walks out.

Each physics tick `act` moves the body to its interpolated pedestrian-model
position, turns it, drives its posture and arms towards their goals (analytic
IK every tick, so a hand stays on its target while the body sways), applies a
lean's force, carries basket items along, and samples the pose truth. At the
agents' rate (`agents.floor.AGENT_HZ`) it advances its behaviour: a Python
generator per script step, resumed once per agent tick, deterministic.

A step that cannot be done at run time (a pick from a bin that holds no such
item then, a put-back with no free room) ends that shopper's script with a
scenario fault in the ledger; the shopper then walks out with what it has.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from agents.body import ARM_LINKS, Build, ShopperBody, draw_build
from agents.floor import PedestrianFloor, gate_outward
from agents.scenario import ShopperSpec, Step
from sim import manipulation as mp
from sim.layout import Bin, StoreLayout
from sim.ledger import POSE_HZ, PoseSample
from sim.seeding import generator

HAND_SPEED_MS = 0.9  # a reaching hand moves at up to about 1 m/s
TURN_RATE_RADS = 4.0
CROUCH_RATE_MS = 0.6
WAIST_RATE_RADS = 1.2
SCAN_S = 1.2  # holding a phone to an entry gate's reader
GIVE_DISTANCE_M = 0.8
LEAN_FORCE_RANGE_N = (12.0, 35.0)  # the extra weight a shopper puts through a hand resting on a shelf front
WALK_SPEED_RANGE_MS = (1.2, 1.4)
WALK_TIMEOUT_S = 120.0


class ScenarioFault(Exception):
    """A scripted step that is impossible at run time; the message goes to the ledger."""


@dataclass
class HandOver:
    giver: str
    item_id: int
    meet: np.ndarray
    giver_ready: bool = False
    taken: bool = False


@dataclass
class Commons:
    """What shoppers of one episode share: the floor, who is who, syncs, groups, hand-overs."""

    layout: StoreLayout
    floor: PedestrianFloor
    seed: int
    shoppers: dict[str, "Shopper"] = field(default_factory=dict)
    sync_users: dict[str, set[str]] = field(default_factory=dict)
    sync_arrived: dict[str, set[str]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)  # account -> members (scripted)
    scanned: set[str] = field(default_factory=set)
    give_requests: dict[str, str] = field(default_factory=dict)  # receiver -> giver
    handovers: dict[str, HandOver] = field(default_factory=dict)  # receiver -> the hand-over in progress
    last_bin: dict[int, str] = field(default_factory=dict)  # item -> the bin it last left

    def inside_count(self) -> int:
        return sum(1 for s in self.shoppers.values() if s.spawned and not s.done)


class Shopper:
    """One shopper actor: body, walking, hands, and its script."""

    def __init__(self, spec: ShopperSpec, commons: Commons, script: list[Step] | None = None, persona: str | None = None) -> None:
        self.spec = spec
        self.id = spec.id
        self.account = spec.account_id
        self.enter_at_s = spec.enter_at_s
        self.commons = commons
        self.rng = generator(commons.seed, "shopper", spec.id)
        b = spec.body
        build = draw_build(self.rng, b.height_m, b.child)
        if b.carrier is not None:
            build = Build(**{**build.__dict__, "carrier": b.carrier})
        self.build = build
        self.speed_ms = float(self.rng.uniform(*WALK_SPEED_RANGE_MS)) * (0.85 if build.child else 1.0)
        self.script = list(script if script is not None else spec.script)
        self.persona = persona or spec.persona
        self.body: ShopperBody | None = None
        self.spawned = False
        self._done = False
        self._gen: Iterator | None = None
        self._interrupt: Iterator | None = None
        self.busy = False  # hands or gate in use: a hand-over waits
        self.ready_to_receive = False
        self.carried: list[int] = []  # items in the basket, in order
        self.grips: dict[int, int] = {}  # item -> grip constraint (items in the hand)
        self.upright: dict[int, float] = {}  # item in the hand -> the yaw the wrist keeps it standing at
        self.faults: list[str] = []
        self._t = 0.0
        self._tick = 0
        self._world = None
        self._sim = None
        self._yaw = 0.0
        self._face_yaw: float | None = None
        self._crouch_goal = 0.0
        self._waist_goal = 0.0
        self._crouch = 0.0
        self._waist = 0.0
        self._hand_goal: dict[str, np.ndarray | None] = {"right": None, "left": None}
        self._hand_cmd: dict[str, np.ndarray | None] = {"right": None, "left": None}
        self._push: dict[str, float] = {"right": 0.0, "left": 0.0}
        self._limp: dict[str, bool] = {"right": False, "left": False}
        self._xy: tuple[float, float] | None = None
        self._pose_every = 1
        self.entry_gate = None
        self.exit_gate = None
        self.exited = False
        self.script_over = False  # its script ran out or failed: it only walks out now

    # -- the Actor protocol -------------------------------------------------

    @property
    def done(self) -> bool:
        return self._done

    def position(self) -> tuple[float, float] | None:
        return self._xy if self.spawned and not self._done else None

    def act(self, sim) -> None:
        self._sim, self._world = sim, sim.world
        self._t, self._tick = sim.clock.t_s, sim.clock.tick
        floor = self.commons.floor
        if not self.spawned:
            if self._t + 1e-9 < self.enter_at_s or not self._try_spawn(sim):
                return
        floor.advance(self._tick)
        if self._tick % floor.period_ticks == 0:
            self._think()
        if not self._done:
            self._drive()

    # -- spawning -----------------------------------------------------------

    def _try_spawn(self, sim) -> bool:
        layout = self.commons.layout
        entries = [g for g in layout.spec.gates if g.kind == "entry"]
        if self.entry_gate is None:
            self.entry_gate = entries[int(self.rng.integers(len(entries)))]
        g = self.entry_gate
        ox, oy = gate_outward(g, layout.spec.floor_m)
        xy = (g.at[0] + ox * 1.6, g.at[1] + oy * 1.6)
        if not self.commons.floor.is_free(xy, self.build.radius_m):
            return False
        self._yaw = math.atan2(-oy, -ox)
        self.body = ShopperBody(sim.world.client, self.build, xy, self._yaw)
        register = getattr(sim.world, "add_dynamic_body", None)
        if register is not None:
            register(self.body.body)
        self.commons.floor.add(self.id, xy, self.build.radius_m, self.speed_ms)
        self._xy = xy
        self.spawned = True
        self._pose_every = max(1, int(round(1.0 / (POSE_HZ * sim.clock.dt_s))))
        if self.persona is not None and not self.script:
            from agents.personas import PERSONAS, StockView
            from agents.scenario import ShopperBuilder

            builder = ShopperBuilder(self.id, self.account, self.enter_at_s, {}, None)
            PERSONAS[self.persona](builder, StockView(layout, sim.ledger), self.rng)
            self.script = [Step.model_validate(s) for s in builder.steps]
        self._gen = self._life()
        return True

    # -- behaviour (agent rate) ---------------------------------------------

    def _think(self) -> None:
        if self._interrupt is None and not self.busy and self.id in self.commons.give_requests and not self.exited:
            self._interrupt = self._receive(self.commons.give_requests[self.id])
        if self._interrupt is not None:
            try:
                next(self._interrupt)
                return
            except StopIteration:
                self._interrupt = None
        if self._gen is None:
            return
        try:
            next(self._gen)
        except StopIteration:
            self._gen = None
            self._park()
        except ScenarioFault as exc:
            self._fault(str(exc))

    def _fault(self, message: str) -> None:
        self.faults.append(message)
        self.script_over = True
        self._sim.ledger.fault(self._t, self.id, self.account, message)
        self.busy = False
        self._push = {"right": 0.0, "left": 0.0}
        self._gen = self._bail_out()

    def _bail_out(self) -> Iterator:
        for item in list(self.grips):
            yield from self._stow(item)
        yield from self._rest()
        yield from self._leave()

    def _life(self) -> Iterator:
        yield from self._enter()
        for k, step in enumerate(self.script):
            try:
                yield from getattr(self, f"_do_{step.action}")(step.args)
            except ScenarioFault as exc:
                raise ScenarioFault(f"shopper '{self.id}' step {k + 1} ({step.action}): {exc}") from None
        self.script_over = True
        yield from self._leave()

    # gates ----------------------------------------------------------------

    def _enter(self) -> Iterator:
        g = self.entry_gate
        ox, oy = gate_outward(g, self.commons.layout.spec.floor_m)
        yield from self._walk((g.at[0] + ox * 0.45, g.at[1] + oy * 0.45), tol=0.25)
        if self.account not in self.commons.scanned:
            self.busy = True
            self.commons.scanned.add(self.account)
            self._face_yaw = math.atan2(-oy, -ox)
            yield from self._sleep(SCAN_S)
            members = self.commons.groups.get(self.account, [self.id])
            self._sim.gates.scan(g.id, self.account, list(members))
            self.busy = False
            self._face_yaw = None
        yield from self._walk((g.at[0] - ox * 0.9, g.at[1] - oy * 0.9), tol=0.3)

    def _leave(self) -> Iterator:
        layout = self.commons.layout
        here = self.commons.floor.now[self.id]
        exits = [g for g in layout.spec.gates if g.kind == "exit"]
        g = min(exits, key=lambda e: (math.dist(here, e.at), e.id))
        self.exit_gate = g
        ox, oy = gate_outward(g, layout.spec.floor_m)
        self._face_yaw = None
        yield from self._walk((g.at[0] - ox * 0.6, g.at[1] - oy * 0.6), tol=0.35)
        self.exited = True
        yield from self._walk((g.at[0] + ox * 1.2, g.at[1] + oy * 1.2), tol=0.3)
        yield from self._sleep(0.2)  # the exit gate's counter sees the body outside

    def _park(self) -> None:
        """Outside the store: the body leaves the world (what it carries goes with it, out of sight)."""
        self.commons.floor.remove(self.id)
        unregister = getattr(self._world, "remove_dynamic_body", None)
        if unregister is not None:
            unregister(self.body.body)
        self.body.remove()
        for k, item in enumerate(self.carried):
            mp.place(self._world, item, (self._xy[0], self._xy[1], -5.0 - 0.3 * k), (0, 0, 0, 1))
        self._done = True

    # script steps ----------------------------------------------------------

    def _do_pick(self, a) -> Iterator:
        bin_id = a.bin
        for attempt in range(3):
            b, items = self._choose_pick(a.sku, a.qty, bin_id)
            done = yield from self._reach_and_take(a, b, items)
            if done:
                return
            bin_id = a.bin  # someone took them first: choose again (from the named bin, or the nearest)
        raise ScenarioFault(f"others kept taking the {a.sku} first")

    def _reach_and_take(self, a, b: Bin, items: list[int]) -> Iterator:
        """Reach for `items` in bin `b`, grip, lift, stow. False if someone took one of them first."""
        world, ledger = self._world, self._sim.ledger
        pos = np.array([world.item_pose(i)[0] for i in items])
        centre = pos.mean(axis=0)
        d = world.layout.catalog[a.sku].size_mm[1] / 1000.0
        fx, fy = b.facing
        palm = np.array([centre[0] + fx * (d / 2), centre[1] + fy * (d / 2), max(centre[2], b.center[2] + 0.05)])
        yield from self._stand_at(b, palm)
        self.busy = True
        pre = palm + np.array([fx, fy, 0.0]) * (0.14 + d / 2) + np.array([0, 0, 0.02])
        yield from self._posture_for(palm)
        yield from self._hand_to("right", pre)
        yield from self._hand_to("right", palm, tol=0.02)
        if any(ledger.items[i].location != b.id for i in items):
            yield from self._hand_to("right", pre, tol=0.06)
            yield from self._rest()
            self.busy = False
            return False
        got = self.body.palm_world("right")
        if np.linalg.norm(got - palm) > 0.08:
            yield from self._rest()
            self.busy = False
            raise ScenarioFault(f"cannot reach {a.sku} in bin {b.id} (hand {np.linalg.norm(got - palm):.2f} m short)")
        hand = ARM_LINKS["right"][3]
        register = getattr(world, "add_dynamic_body", None)
        for item in items:
            self.grips[item] = mp.grasp(world, item, self.body.body, hand)
            self.upright[item] = _yaw_of(world.item_pose(item)[1])
            self.commons.last_bin[item] = b.id
            ledger.take(self._t, item, self.id, self.account)
            if register is not None:
                register(world.items[item].body)
        world.wake_bin(b.id)
        lift = min(0.04, b.clearance_m - (pos[:, 2].max() - b.center[2]) * 2 - 0.01)
        yield from self._hand_to("right", palm + np.array([0, 0, max(0.015, lift)]), tol=0.03)
        yield from self._hand_to("right", pre + np.array([0, 0, max(0.015, lift)]), tol=0.05)
        for item in items:
            yield from self._stow(item)
        yield from self._rest()
        self.busy = False
        return True

    def _do_put_back(self, a) -> Iterator:
        world, ledger = self._world, self._sim.ledger
        mine = [i for i in self.carried if world.items[i].sku == a.sku]
        if not mine:
            raise ScenarioFault(f"has no {a.sku} to put back")
        item = mine[-1]
        bin_id = a.bin or self.commons.last_bin.get(item) or world.ledger.items[item].home_bin
        b = world.layout.bins[bin_id]
        spot = mp.free_spot(world, b, item)
        if spot is None:
            raise ScenarioFault(f"no free room for {a.sku} in bin {bin_id}")
        cat = world.layout.catalog[a.sku]
        h, d = cat.size_mm[2] / 1000.0, cat.size_mm[1] / 1000.0
        fx, fy = b.facing
        item_target = np.array([spot[0], spot[1], b.center[2] + h / 2 + 0.006])
        palm = item_target + np.array([fx, fy, 0.0]) * (d / 2 + 0.01)
        palm[2] = max(palm[2], b.center[2] + 0.05)
        yield from self._stand_at(b, palm)
        self.busy = True
        yield from self._posture_for(palm)
        # out of the basket into the hand, turned as it will stand on the plate
        slot_pos, _ = self.body.basket_slot(self.carried.index(item))
        yield from self._hand_to("right", np.array(slot_pos) + np.array([0, 0, 0.12]), tol=0.05)
        palm_now = self.body.palm_world("right")
        self.carried.remove(item)
        mp.place(world, item, tuple(palm_now + (item_target - palm)), _yaw_quat(spot[2]))
        mp.make_loose(world, item)
        self.grips[item] = mp.grasp(world, item, self.body.body, ARM_LINKS["right"][3])
        self.upright[item] = spot[2]
        pre = palm + np.array([fx, fy, 0.0]) * (0.14 + d) + np.array([0, 0, 0.03])
        yield from self._hand_to("right", pre, tol=0.05)
        yield from self._hand_to("right", palm + np.array([0, 0, 0.02]), tol=0.03)
        yield from self._hand_to("right", palm, tol=0.015)
        yield from self._sleep(0.25)  # hold still, then let go
        self.upright.pop(item, None)
        mp.release(world, self.grips.pop(item))
        ledger.put_back(self._t, item, bin_id, self.id, self.account)
        world.wake_bin(bin_id)
        yield from self._sleep(0.3)
        yield from self._hand_to("right", pre, tol=0.06)
        yield from self._rest()
        self.busy = False

    def _do_touch(self, a) -> Iterator:
        b = self._world.layout.bins[a.bin]
        fx, fy = b.facing
        palm = np.array([b.center[0] - fx * 0.0 + fx * (b.depth_m / 2 - 0.10), b.center[1] + fy * (b.depth_m / 2 - 0.10),
                         b.center[2] + min(0.10, b.clearance_m * 0.5)])
        yield from self._stand_at(b, palm)
        self.busy = True
        yield from self._posture_for(palm)
        pre = palm + np.array([fx, fy, 0.0]) * 0.2
        yield from self._hand_to("right", pre)
        yield from self._hand_to("right", palm, tol=0.03)
        self._sim.ledger.note(self._t, "touch", self.id, self.account, b.id, seconds=a.seconds)
        yield from self._sleep(a.seconds)
        yield from self._hand_to("right", pre, tol=0.06)
        yield from self._rest()
        self.busy = False

    def _do_lean(self, a) -> Iterator:
        b = self._world.layout.bins[a.bin]
        fx, fy = b.facing
        front = np.array([b.front[0], b.front[1], b.center[2]])
        palm = front - np.array([fx, fy, 0.0]) * 0.06 + np.array([0, 0, 0.05])
        yield from self._stand_at(b, palm)
        self.busy = True
        yield from self._posture_for(palm)
        yield from self._hand_to("right", palm + np.array([fx, fy, 0.0]) * 0.15)
        yield from self._hand_to("right", palm, tol=0.03)
        force = float(self.rng.uniform(*LEAN_FORCE_RANGE_N))
        self._world.wake_bin(b.id)
        self._limp["right"] = True
        self.body.go_limp("right")
        self._push["right"] = force
        self._sim.ledger.note(self._t, "lean", self.id, self.account, b.id, seconds=a.seconds, force_n=force)
        yield from self._sleep(a.seconds)
        self._push["right"] = 0.0
        self._limp["right"] = False
        self._hand_cmd["right"] = self.body.palm_world("right")
        yield from self._hand_to("right", palm + np.array([0, 0, 0.04]), tol=0.05)
        yield from self._hand_to("right", palm + np.array([fx, fy, 0.0]) * 0.2, tol=0.06)
        yield from self._rest()
        self.busy = False

    def _do_give(self, a) -> Iterator:
        world, commons = self._world, self.commons
        mine = [i for i in self.carried if world.items[i].sku == a.sku]
        if not mine:
            raise ScenarioFault(f"has no {a.sku} to give")
        other = commons.shoppers.get(a.to)
        start = self._t
        while other is None or not other.spawned or other.done or other.exited or a.to in commons.give_requests:
            if other is not None and (other.done or other.exited):
                raise ScenarioFault(f"'{a.to}' has left the store")
            if self._t - start > WALK_TIMEOUT_S:
                raise ScenarioFault(f"'{a.to}' never came in to take the {a.sku}")
            yield
        commons.give_requests[a.to] = self.id
        try:
            while True:
                there = commons.floor.now[a.to]
                here = commons.floor.now[self.id]
                dist = math.dist(here, there)
                if dist < GIVE_DISTANCE_M + 0.2 and other.ready_to_receive:
                    break
                if other.done or other.exited:
                    raise ScenarioFault(f"'{a.to}' left before the hand-over")
                if self._t - start > WALK_TIMEOUT_S:
                    raise ScenarioFault(f"could not reach '{a.to}'")
                ux, uy = (here[0] - there[0]) / max(dist, 1e-6), (here[1] - there[1]) / max(dist, 1e-6)
                goal = (there[0] + ux * GIVE_DISTANCE_M, there[1] + uy * GIVE_DISTANCE_M)
                if commons.floor.goal(self.id) is None or math.dist(commons.floor.goal(self.id), goal) > 0.3:
                    commons.floor.set_goal(self.id, goal)
                yield
            commons.floor.hold(self.id)
            self.busy = True
            there, here = commons.floor.now[a.to], commons.floor.now[self.id]
            self._face_yaw = math.atan2(there[1] - here[1], there[0] - here[0])
            yield from self._sleep(0.3)
            item = mine[-1]
            slot_pos, _ = self.body.basket_slot(self.carried.index(item))
            yield from self._hand_to("right", np.array(slot_pos) + np.array([0, 0, 0.12]), tol=0.05)
            self.carried.remove(item)
            palm_now = self.body.palm_world("right")
            mp.place(world, item, tuple(palm_now + np.array([0, 0, -0.02])), _yaw_quat(self._yaw))
            mp.make_loose(world, item)
            self.grips[item] = mp.grasp(world, item, self.body.body, ARM_LINKS["right"][3])
            z = min(self.build.shoulder_m, other.build.shoulder_m) - 0.35
            meet = np.array([(here[0] + there[0]) / 2, (here[1] + there[1]) / 2, z])
            toward_me = np.array([here[0] - there[0], here[1] - there[1], 0.0])
            toward_me /= max(np.linalg.norm(toward_me), 1e-6)
            ho = HandOver(self.id, item, meet)
            commons.handovers[a.to] = ho
            yield from self._hand_to("right", meet + toward_me * 0.05, tol=0.05)
            ho.giver_ready = True
            while not ho.taken:
                if self._t - start > WALK_TIMEOUT_S * 2:
                    raise ScenarioFault(f"'{a.to}' did not take the {a.sku}")
                yield
            self.grips.pop(item, None)
            yield from self._sleep(0.2)
            yield from self._rest()
        finally:
            commons.give_requests.pop(a.to, None)
            self.busy = False
            self._face_yaw = None

    def _receive(self, giver_id: str) -> Iterator:
        """Pause the script, face the giver, take the item, stow it, carry on."""
        commons = self.commons
        commons.floor.hold(self.id)
        self.ready_to_receive = True
        start = self._t
        try:
            while True:
                ho = commons.handovers.get(self.id)
                g = commons.shoppers[giver_id]
                there, here = commons.floor.now.get(giver_id), commons.floor.now[self.id]
                if there is not None:
                    self._face_yaw = math.atan2(there[1] - here[1], there[0] - here[0])
                if ho is not None and ho.giver_ready:
                    break
                if commons.give_requests.get(self.id) != giver_id or g.done or self._t - start > WALK_TIMEOUT_S * 2:
                    return
                yield
            self.busy = True
            away = np.array([there[0] - here[0], there[1] - here[1], 0.0])
            away /= max(np.linalg.norm(away), 1e-6)
            yield from self._hand_to("right", ho.meet + away * 0.05, tol=0.05)
            giver = commons.shoppers[giver_id]
            world = self._world
            if ho.item_id in giver.grips:
                mp.release(world, giver.grips[ho.item_id])
            self.grips[ho.item_id] = mp.grasp(world, ho.item_id, self.body.body, ARM_LINKS["right"][3])
            self._sim.ledger.give(self._t, ho.item_id, giver_id, self.id, giver.account)
            ho.taken = True
            yield from self._stow(ho.item_id)
            yield from self._rest()
        finally:
            commons.handovers.pop(self.id, None)
            self.ready_to_receive = False
            self.busy = False
            self._face_yaw = None

    def _do_sync(self, label: str) -> Iterator:
        c = self.commons
        c.floor.hold(self.id)
        c.sync_arrived.setdefault(label, set()).add(self.id)
        while not c.sync_users.get(label, set()) <= c.sync_arrived[label] | self._gone():
            yield

    def _gone(self) -> set[str]:
        return {s.id for s in self.commons.shoppers.values() if s.done or s.script_over}

    def _do_wait(self, seconds: float) -> Iterator:
        self.commons.floor.hold(self.id)
        yield from self._sleep(seconds)

    def _do_walk_to(self, a) -> Iterator:
        if a.bin is not None:
            b = self._world.layout.bins[a.bin]
            yield from self._stand_at(b, np.array([b.front[0], b.front[1], b.center[2]]))
        else:
            yield from self._walk(tuple(a.point), tol=0.2)

    # building blocks -------------------------------------------------------

    def _choose_pick(self, sku: str, qty: int, bin_id: str | None) -> tuple[Bin, list[int]]:
        world = self._world
        layout = world.layout
        here = self.commons.floor.now[self.id]
        def stock(b: str) -> list[int]:
            return [i for i in world.ledger.items_in(b) if world.items[i].sku == sku]
        if bin_id is not None:
            candidates = [bin_id]
            if len(stock(bin_id)) < qty:
                have = len(stock(bin_id))
                raise ScenarioFault(f"bin {bin_id} holds {have} {sku} now, {qty} wanted")
        else:
            candidates = sorted((b for b in layout.bins if len(stock(b)) >= qty), key=lambda b: (math.dist(here, layout.bins[b].front), b))
            if not candidates:
                raise ScenarioFault(f"no bin holds {qty} {sku} now")
        b = layout.bins[candidates[0]]
        ids = stock(b.id)
        fx, fy = b.facing
        rx, ry = b.right
        pos = {i: world.item_pose(i)[0] for i in ids}
        def front(i: int) -> float:
            p = pos[i]
            return (p[0] - b.center[0]) * fx + (p[1] - b.center[1]) * fy
        first = max(ids, key=lambda i: (round(front(i), 3), -abs((pos[i][0] - b.center[0]) * rx + (pos[i][1] - b.center[1]) * ry), -i))
        chosen = sorted(ids, key=lambda i: (math.dist(pos[i], pos[first]), i))[:qty]
        return b, chosen

    def _stand_at(self, b: Bin, palm: np.ndarray) -> Iterator:
        """Walk in front of bin `b` so the right shoulder faces `palm`, and turn to the shelf."""
        fx, fy = b.facing
        rx, ry = b.right
        # the palm's lateral position along the shelf face
        u = (palm[0] - b.front[0]) * rx + (palm[1] - b.front[1]) * ry
        face_x, face_y = b.front[0] + rx * u, b.front[1] + ry * u
        stand_off = self.build.radius_m + 0.04
        sx = face_x + fx * stand_off - rx * self.build.shoulder_width_m / 2
        sy = face_y + fy * stand_off - ry * self.build.shoulder_width_m / 2
        yield from self._walk((sx, sy), tol=0.12, near_ok=0.9)
        self._face_yaw = math.atan2(-fy, -fx)
        while abs(_wrap(self._face_yaw - self._yaw)) > 0.05:
            yield

    def _walk(self, goal: tuple[float, float], tol: float = 0.15, near_ok: float = 0.0) -> Iterator:
        floor = self.commons.floor
        start = self._t
        target = floor.walkable_point(goal)
        still_since = None
        self._face_yaw = None
        while True:
            if floor.goal(self.id) != target:
                floor.set_goal(self.id, target)
            here = floor.now[self.id]
            dist = math.dist(here, target)
            if dist < tol:
                break
            moving = math.dist(floor.prev[self.id], here) > 0.01
            if near_ok and dist < near_ok and not moving:
                still_since = self._t if still_since is None else still_since
                if self._t - still_since > 1.5:
                    break  # someone is standing there: use the bin from here
            else:
                still_since = None
            if self._t - start > WALK_TIMEOUT_S:
                floor.hold(self.id)
                raise ScenarioFault(f"could not walk to ({target[0]:.2f}, {target[1]:.2f}) in {WALK_TIMEOUT_S:.0f} s")
            yield
        floor.hold(self.id)

    def _sleep(self, seconds: float) -> Iterator:
        end = self._t + seconds
        while self._t + 1e-9 < end:
            yield

    def _posture_for(self, target: np.ndarray) -> Iterator:
        """Crouch for low bins, lean in for deep ones."""
        b = self.build
        crouch = float(np.clip(b.shoulder_m - (target[2] + 0.30), 0.0, 0.55 * b.hip_m))
        self._crouch_goal = crouch
        sh = self.body.shoulder_world("right")
        sh[2] = b.shoulder_m - crouch
        dist = float(np.linalg.norm(target - sh))
        self._waist_goal = float(np.clip((dist - 0.92 * b.reach_m) / max(b.torso_len_m, 0.2), 0.0, 0.35))
        while abs(self._crouch - self._crouch_goal) > 1e-3 or abs(self._waist - self._waist_goal) > 1e-3:
            yield

    def _hand_to(self, side: str, target: np.ndarray, tol: float = 0.04, timeout_s: float = 2.5) -> Iterator:
        self._hand_goal[side] = np.asarray(target, dtype=float)
        if self._hand_cmd[side] is None:
            self._hand_cmd[side] = self.body.palm_world(side)
        start = self._t
        while True:
            yield
            cmd_there = np.allclose(self._hand_cmd[side], self._hand_goal[side])
            if cmd_there and np.linalg.norm(self.body.palm_world(side) - self._hand_goal[side]) < tol:
                return
            if self._t - start > timeout_s:
                return

    def _stow(self, item: int) -> Iterator:
        """Hand over the basket, let go: the item rides in the basket from now on."""
        slot_pos, _ = self.body.basket_slot(len(self.carried))
        yield from self._hand_to("right", np.array(slot_pos) + np.array([0, 0, 0.14]), tol=0.06)
        if item in self.grips:
            mp.release(self._world, self.grips.pop(item))
        self.upright.pop(item, None)
        mp.make_carried(self._world, item)
        self.carried.append(item)
        self._sim.ledger.stow(item, self.id)

    def _rest(self) -> Iterator:
        self._hand_goal["right"] = None
        self._hand_goal["left"] = None
        self._hand_cmd["right"] = self._hand_cmd["left"] = None
        self._crouch_goal, self._waist_goal = 0.0, 0.0
        self.body.aim_hand("right", None)
        self.body.aim_hand("left", None)
        while abs(self._crouch) > 1e-3 or abs(self._waist) > 1e-3:
            yield

    # -- per physics tick ---------------------------------------------------

    def _drive(self) -> None:
        floor, body, dt = self.commons.floor, self.body, self._sim.clock.dt_s
        xy = floor.interpolated(self.id, self._tick)
        if self._face_yaw is not None:
            want = self._face_yaw
        else:
            (x0, y0), (x1, y1) = floor.prev[self.id], floor.now[self.id]
            want = math.atan2(y1 - y0, x1 - x0) if math.hypot(x1 - x0, y1 - y0) > 0.01 else self._yaw
        self._yaw += float(np.clip(_wrap(want - self._yaw), -TURN_RATE_RADS * dt, TURN_RATE_RADS * dt))
        self._crouch += float(np.clip(self._crouch_goal - self._crouch, -CROUCH_RATE_MS * dt, CROUCH_RATE_MS * dt))
        self._waist += float(np.clip(self._waist_goal - self._waist, -WAIST_RATE_RADS * dt, WAIST_RATE_RADS * dt))
        body.set_pose(xy, self._yaw, self._crouch, self._waist)
        self._xy = xy
        for side in ("right", "left"):
            goal = self._hand_goal[side]
            if goal is None or self._limp[side]:
                continue
            cmd = self._hand_cmd[side]
            step = goal - cmd
            n = float(np.linalg.norm(step))
            if n > HAND_SPEED_MS * dt:
                cmd = cmd + step * (HAND_SPEED_MS * dt / n)
            else:
                cmd = goal.copy()
            self._hand_cmd[side] = cmd
            body.aim_hand(side, cmd)
        for item, cid in self.grips.items():
            if item in self.upright:
                mp.keep_upright(self._world, cid, self.upright[item])
        for side in ("right", "left"):
            if self._push[side] > 0:
                body.push_hand(side, (0.0, 0.0, -self._push[side]))
        for k, item in enumerate(self.carried):
            pos, orn = body.basket_slot(k)
            mp.place(self._world, item, pos, orn)
        if self._tick % self._pose_every == 0:
            head = body.head_world()
            lh, rh = body.palm_world("left"), body.palm_world("right")
            self._sim.ledger.pose(PoseSample(self._t, self.id, _t3(head), _t3(lh), _t3(rh), self._yaw))


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def _t3(v) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))


def _yaw_of(orn) -> float:
    x, y, z, w = orn
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def _yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))
