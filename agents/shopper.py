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

from agents.body import ARM_LINKS, Build, ShopperBody, arm_ik, draw_build
from agents.floor import PERSONAL_GAP_M, PedestrianFloor, gate_outward
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
LEAN_RAMP_S = 0.4  # one shifts a full lean's weight onto (or off) a hand resting on a shelf over about this long
WALK_SPEED_RANGE_MS = (1.2, 1.4)
WALK_TIMEOUT_S = 120.0
STUCK_S = 3.0  # no progress towards a walk's goal for this long: the goal is taken or the way is blocked
STAND_TOL_M = 0.05  # how close to its chosen spot a shopper stops before reaching into a bin
STAND_SETTLE_M = 0.15  # ...or, making no progress, how close will do (the reach check then decides, see `_walk`)
# One waiting for room at a shelf stands clear of every shelf-front spot: a spot is a disc of up to
# ~0.28 m at 0.04 m from the face, plus the gap kept between discs.
PATIENCE_S = 6.0  # waiting this long for room at a shelf, a shopper steps away for a while (breaks circular waits)
GIVE_WAY_S = (2.0, 5.0)
WAIT_BACK_M = 0.04 + 2 * 0.28 + 0.08  # from the shelf face to the near edge of a waiting shopper's disc
SIDE_REACH_SLACK_M = 0.08
PUT_BACK_FRONT_MARGIN_M = 0.04  # an item put back stands at least this far behind the shelf's front edge
REACH_SLACK_M = 0.03  # a target this far past the arm's length is still reached (shoulder and torso give a little)
LIP_CLEAR_M = 0.03  # a forearm (about 3 cm thick) entering a bin keeps this far off the plate's lip and the shelf above
PRE_FROM_SHOULDER_M = 0.25  # level distance kept from the shoulder to where a hand stops before putting an item back
GRIP_BELOW_TOP_M = 0.01  # the highest a hand holds an item it puts back: its palm centre this far under the item's top
PUT_BACK_TOL_M = 0.012  # how close over its spot the hand brings an item before letting go  # standing beside a bin's front costs at most this much more reach than square in front


class ScenarioFault(Exception):
    """A scripted step that is impossible at run time; the message goes to the ledger."""


class StockOut(ScenarioFault):
    """The shelf no longer holds what a step wants (others took it), or the hand holds nothing to put back.

    A scripted shopper's step then ends its script with a fault, as any impossible step does; a persona
    shopper, whose script was written from the shelves as they were when it walked in, does what a
    real one would: skips that step (kept in `Shopper.skipped`) and carries on.
    """


class OutOfReach(StockOut):
    """The bin is beyond this shopper's reach (a child, or a short adult at a top shelf's back): a fault
    for a scripted shopper, a skipped step for a persona shopper (who keeps what it holds)."""


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
    released_by: dict[int, str] = field(default_factory=dict)  # item -> who last let go of it on a shelf (see agents.shelves)
    wanted: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # shopper -> stand spots it waits for

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
        # item in the hand -> (the yaw the wrist keeps it standing at, its centre's offset from the grip point, world)
        self.upright: dict[int, tuple[float, np.ndarray]] = {}
        self.faults: list[str] = []
        self.skipped: list[str] = []  # a persona shopper's steps the shelves no longer allowed (see `StockOut`)
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
        self._push: dict[str, float] = {"right": 0.0, "left": 0.0}  # weight through a hand now (N), ramped...
        self._push_goal: dict[str, float] = {"right": 0.0, "left": 0.0}  # ...towards this
        self._limp: dict[str, bool] = {"right": False, "left": False}
        self._xy: tuple[float, float] | None = None
        self._pose_every = 1
        self.entry_gate = None
        self.exit_gate = None
        self.exited = False
        self.script_over = False  # its script ran out or failed: it only walks out now
        self._step_k: int | None = None  # the script step under way

    # -- the Actor protocol -------------------------------------------------

    @property
    def done(self) -> bool:
        return self._done

    def position(self) -> tuple[float, float] | None:
        return self._xy if self.spawned and not self._done else None

    @property
    def next_action(self) -> str | None:
        """What the shopper is doing now or will do next, in a few words ("pick cola-330 from A-1-1"); None once gone."""
        if self._done:
            return None
        if self._interrupt is not None and self.id in self.commons.give_requests:
            return f"take an item from {self.commons.give_requests[self.id]}"
        if self.script_over or self.exited:
            return f"walk out through {self.exit_gate.id}" if self.exit_gate is not None else "walk out"
        if not self.spawned or self._step_k is None:
            gate = f" at {self.entry_gate.id}" if self.entry_gate is not None else ""
            return f"enter{gate}" if self.script else f"enter{gate} and walk out"
        return describe_step(self.script[self._step_k])

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
        if not self.commons.floor.add(self.id, xy, self.build.radius_m, self.speed_ms):
            return False  # JuPedSim would not have it there yet (see PedestrianFloor.is_free): next tick
        self._yaw = math.atan2(-oy, -ox)
        self.body = ShopperBody(sim.world.client, self.build, xy, self._yaw)
        register = getattr(sim.world, "add_dynamic_body", None)
        if register is not None:
            register(self.body.body)
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
        self._push_goal = {"right": 0.0, "left": 0.0}
        self._gen = self._bail_out()

    def _bail_out(self) -> Iterator:
        for item in list(self.grips):
            yield from self._stow(item)
        yield from self._rest()
        yield from self._leave()

    def _life(self) -> Iterator:
        yield from self._enter()
        for k, step in enumerate(self.script):
            self._step_k = k
            try:
                yield from getattr(self, f"_do_{step.action}")(step.args)
            except StockOut as exc:
                if self.persona is None:
                    raise ScenarioFault(f"shopper '{self.id}' step {k + 1} ({step.action}): {exc}") from None
                self.skipped.append(f"step {k + 1} ({step.action}): {exc}")
            except ScenarioFault as exc:
                raise ScenarioFault(f"shopper '{self.id}' step {k + 1} ({step.action}): {exc}") from None
        self.script_over = True
        yield from self._leave()

    # gates ----------------------------------------------------------------

    def _enter(self) -> Iterator:
        g = self.entry_gate
        ox, oy = gate_outward(g, self.commons.layout.spec.floor_m)
        yield from self._walk((g.at[0] + ox * 0.45, g.at[1] + oy * 0.45), tol=0.25, detour=False)
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

        def in_the_way_out() -> bool:
            """Already in the opening or past the point inside it: going back to that point would mean walking
            against the queue in a 0.9 m gate (a shopper who overshot it, or who starts leaving again after a
            fault, from the corridor, faced the others there and none of them ever moved)."""
            x, y = self.commons.floor.now[self.id]
            along = (x - g.at[0]) * ox + (y - g.at[1]) * oy
            across = -(x - g.at[0]) * oy + (y - g.at[1]) * ox
            return along > -0.6 and abs(across) < g.width_m / 2

        yield from self._walk((g.at[0] - ox * 0.6, g.at[1] - oy * 0.6), tol=0.35, detour=False, until=in_the_way_out)
        self.exited = True
        yield from self._walk((g.at[0] + ox * 1.2, g.at[1] + oy * 1.2), tol=0.3, detour=False)
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
        raise StockOut(f"others kept taking the {a.sku} first")

    def _reach_and_take(self, a, b: Bin, items: list[int]) -> Iterator:
        """Reach for `items` in bin `b`, grip, lift, stow. False if someone took one of them first."""
        world, ledger = self._world, self._sim.ledger
        pos = np.array([world.item_pose(i)[0] for i in items])
        centre = pos.mean(axis=0)
        fx, fy = b.facing
        # how far the items reach out of the shelf, as they stand (a pack may stand turned, its width along the depth)
        d = max(mp.extent_along(world, i, (fx, fy)) for i in items)
        palm = np.array([centre[0] + fx * (d / 2), centre[1] + fy * (d / 2), max(centre[2], b.center[2] + 0.05)])
        yield from self._stand_at(b, palm)
        self.busy = True
        pre = palm + np.array([fx, fy, 0.0]) * (0.14 + d / 2) + np.array([0, 0, 0.02])
        yield from self._posture_for(palm)
        if (why := self._reach_blocked(b, palm)) is not None:
            yield from self._rest()
            self.busy = False
            raise OutOfReach(f"cannot reach {a.sku} in bin {b.id} ({why})")
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
            raise OutOfReach(f"cannot reach {a.sku} in bin {b.id} (hand {np.linalg.norm(got - palm):.2f} m short)")
        hand = ARM_LINKS["right"][3]
        register = getattr(world, "add_dynamic_body", None)
        for item in items:
            self.grips[item] = mp.grasp(world, item, self.body.body, hand)
            self.upright[item] = (_yaw_of(world.item_pose(item)[1]), np.array(world.item_pose(item)[0]) - got)
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
            raise StockOut(f"has no {a.sku} to put back")
        item = mine[-1]
        bin_id = a.bin or self.commons.last_bin.get(item) or world.ledger.items[item].home_bin
        b = world.layout.bins[bin_id]
        cat = world.layout.catalog[a.sku]
        h, d = cat.size_mm[2] / 1000.0, cat.size_mm[1] / 1000.0
        fx, fy = b.facing

        def aim() -> tuple[tuple[float, float, float], np.ndarray, np.ndarray]:
            spot = mp.free_spot(world, b, item, front_margin_m=PUT_BACK_FRONT_MARGIN_M) or mp.free_spot(world, b, item)
            if spot is None:
                raise ScenarioFault(f"no free room for {a.sku} in bin {bin_id}")
            target = np.array([spot[0], spot[1], b.center[2] + h / 2 + 0.006])
            palm = target + np.array([fx, fy, 0.0]) * (d / 2 + 0.01)
            palm[2] = max(palm[2], b.center[2] + 0.05)
            return spot, target, palm

        spot, item_target, palm = aim()
        yield from self._stand_at(b, palm)
        spot, item_target, palm = aim()  # others may have put something there meanwhile
        self.busy = True
        yield from self._posture_for(palm)
        if (why := self._reach_blocked(b, palm)) is not None:
            # a high bin: hold the item higher up its side (it hangs lower from the hand, and goes to the same
            # spot on the plate), so the forearm comes in over the lip sloping down, as one puts a can on a top shelf
            top = item_target[2] + h / 2 - GRIP_BELOW_TOP_M
            for lift in np.arange(0.01, top - palm[2] + 1e-9, 0.01):
                if self._reach_blocked(b, palm + np.array([0.0, 0.0, lift])) is None:
                    palm, why = palm + np.array([0.0, 0.0, lift]), None
                    break
        if why is not None:
            yield from self._rest()
            self.busy = False
            raise OutOfReach(f"cannot reach bin {bin_id} to put the {a.sku} back ({why})")
        # out of the basket into the hand, turned as it will stand on the plate
        slot_pos, _ = self.body.basket_slot(self.carried.index(item))
        yield from self._hand_to("right", np.array(slot_pos) + np.array([0, 0, 0.12]), tol=0.05)
        palm_now = self.body.palm_world("right")
        self.carried.remove(item)
        mp.place(world, item, tuple(palm_now + (item_target - palm)), _yaw_quat(spot[2]))
        mp.make_loose(world, item)
        self.grips[item] = mp.grasp(world, item, self.body.body, ARM_LINKS["right"][3])
        self.upright[item] = (spot[2], item_target - palm)
        # in front of the shelf, the item clear of its face; for a high bin no nearer the shoulder than
        # `PRE_FROM_SHOULDER_M` (a hand folded in over the shoulder swings the arm up and over)
        sh = self.body.shoulder_world("right")
        level = math.hypot(palm[0] - sh[0], palm[1] - sh[1])
        clear_out = (palm[0] - b.front[0]) * -fx + (palm[1] - b.front[1]) * -fy + d + 0.02
        back = max(clear_out, min(0.14 + d, level - PRE_FROM_SHOULDER_M))
        pre = palm + np.array([fx, fy, 0.0]) * back + np.array([0, 0, 0.03])
        yield from self._hand_to("right", pre, tol=0.05)
        yield from self._hand_to("right", palm + np.array([0, 0, 0.02]), tol=0.03)
        yield from self._hand_to("right", palm, tol=0.015)
        # the item may hang a little off (the grip constraint gives): steer the hand until it is where it should stand
        goal = palm.copy()
        for _ in range(3):
            off = item_target - np.array(world.item_pose(item)[0])
            if np.linalg.norm(off[:2]) < PUT_BACK_TOL_M and -0.004 < off[2] < 0.012:
                break
            goal = goal + np.array([off[0], off[1], min(0.0, off[2] + 0.004)])
            goal[2] = max(goal[2], palm[2] - 0.01)  # never press the hand into the plate
            yield from self._hand_to("right", goal, tol=0.01)
        yield from self._sleep(0.25)  # hold still, then let go
        placed = mp.over_plate(world, item, b)
        if not placed:  # out of reach: back into the basket, and the step cannot be done
            yield from self._hand_to("right", pre, tol=0.06)
            yield from self._stow(item)
            yield from self._rest()
            self.busy = False
            raise OutOfReach(f"cannot reach bin {bin_id} to put the {a.sku} back")
        self.upright.pop(item, None)
        mp.release(world, self.grips.pop(item))
        ledger.put_back(self._t, item, bin_id, self.id, self.account)
        self.commons.released_by[item] = self.id  # should it topple off, agents.shelves.ShelfWatch books where it lands
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
        if (why := self._reach_blocked(b, palm)) is not None:
            yield from self._rest()
            self.busy = False
            raise OutOfReach(f"cannot reach into bin {b.id} ({why})")
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
        # hand down onto the plate under control, then weight onto it gradually: a limp arm dropped from
        # above with the full force on it would hit the thin plate fast enough to pass through it
        yield from self._hand_to("right", palm - np.array([0, 0, 0.03]), tol=0.01, timeout_s=0.6)
        force = float(self.rng.uniform(*LEAN_FORCE_RANGE_N))
        self._world.wake_bin(b.id)
        self._limp["right"] = True
        self.body.go_limp("right")
        self._push_goal["right"] = force
        self._sim.ledger.note(self._t, "lean", self.id, self.account, b.id, seconds=a.seconds, force_n=force)
        yield from self._sleep(a.seconds)
        self._push_goal["right"] = 0.0
        while self._push["right"] > 0.0:
            yield
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
            raise StockOut(f"has no {a.sku} to give")
        other = commons.shoppers.get(a.to)
        start = self._t
        while other is None or not other.spawned or other.done or other.exited or a.to in commons.give_requests:
            if other is not None and (other.done or other.exited):
                raise ScenarioFault(f"'{a.to}' has left the store")
            if self._t - start > WALK_TIMEOUT_S:
                raise ScenarioFault(f"'{a.to}' never came in to take the {a.sku}")
            yield
        commons.give_requests[a.to] = self.id
        floor = commons.floor

        def close_enough() -> bool:
            here, there = floor.now[self.id], floor.now[a.to]
            return other.ready_to_receive and math.dist(here, there) < GIVE_DISTANCE_M + 0.25 and floor.in_sight(here, there)

        try:
            while not close_enough():
                if other.done or other.exited:
                    raise ScenarioFault(f"'{a.to}' left before the hand-over")
                if self._t - start > WALK_TIMEOUT_S:
                    raise ScenarioFault(f"could not reach '{a.to}'")
                there = floor.now[a.to]
                spot = self._meet_spot(there)
                if spot is None or math.dist(floor.now[self.id], spot) < 0.2:
                    floor.hold(self.id)  # no room beside the receiver yet, or waiting for it to be ready
                    yield
                    continue
                moved = lambda there=there: math.dist(floor.now[a.to], there) > 0.3  # noqa: E731
                yield from self._walk(spot, tol=0.15, until=lambda: close_enough() or moved(), claim=True)
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

    def _meet_spot(self, there: tuple[float, float]) -> tuple[float, float] | None:
        """Where to stand to hand something to a shopper standing at `there`: a free point at arm's length
        (`GIVE_DISTANCE_M`) in plain sight of it (never across a gondola), the shortest walk away."""
        floor = self.commons.floor
        here = floor.now[self.id]
        best = None
        for k in range(16):
            ang = k * math.pi / 8
            p = (there[0] + GIVE_DISTANCE_M * math.cos(ang), there[1] + GIVE_DISTANCE_M * math.sin(ang))
            if not (floor.has_room(self.id, p) and floor.in_sight(p, there)):
                continue
            d = floor.route_length_m(here, p)
            if best is None or d < best[0] - 1e-9:
                best = (d, p)
        return None if best is None else best[1]

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
            if (spot := self._in_the_way()) is not None:
                # waiting on a shelf-front spot someone needs: wait out of the way instead (as `_stand_at` does)
                away = self._out_of_the_way() or self._step_away_spot(spot)
                if away is not None:
                    yield from self._walk(away, tol=0.2, stuck_s=STUCK_S)
                    c.floor.hold(self.id)
            yield

    def _out_of_the_way(self) -> tuple[float, float] | None:
        """The free point nearest this shopper, in plain sight, whose disc covers no stand spot anyone waits for."""
        floor, here = self.commons.floor, self.commons.floor.now[self.id]
        for r in (0.5, 0.8, 1.1, 1.5, 2.0):
            pts = [(here[0] + r * math.cos(k * math.pi / 8), here[1] + r * math.sin(k * math.pi / 8)) for k in range(16)]
            pts = [p for p in pts if floor.has_room(self.id, p) and floor.in_sight(here, p) and self._in_the_way(p) is None]
            if pts:
                return min(pts, key=lambda p: (-round(floor.clearance_m(p), 2), p))
        return None

    def _in_the_way(self, at: tuple[float, float] | None = None) -> tuple[float, float] | None:
        """A stand spot another shopper waits for that this one's disc covers, standing where it is or `at`
        (None: in nobody's way)."""
        floor = self.commons.floor
        here = floor.now[self.id] if at is None else at
        for other, spots in sorted(self.commons.wanted.items()):
            if other == self.id or other not in floor.radius or self.commons.shoppers[other].script_over:
                continue
            need = self.build.radius_m + floor.radius[other] + PERSONAL_GAP_M
            for p in spots:
                if math.dist(here, p) < need:
                    return p
        return None

    def _gone(self) -> set[str]:
        return {s.id for s in self.commons.shoppers.values() if s.done or s.script_over}

    def _do_wait(self, seconds: float) -> Iterator:
        self.commons.floor.hold(self.id)
        yield from self._sleep(seconds)

    def _do_walk_to(self, a) -> Iterator:
        if a.bin is not None:
            b = self._world.layout.bins[a.bin]
            yield from self._stand_at(b, np.array([b.front[0], b.front[1], b.center[2]]))
        elif not (yield from self._walk(tuple(a.point), tol=0.2, stuck_s=STUCK_S, claim=True)):
            spot = self._room_near(self.commons.floor.walkable_point(tuple(a.point)))  # someone stands there
            if spot is not None:
                yield from self._walk(spot, tol=0.2, claim=True)

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
                raise StockOut(f"bin {bin_id} holds {have} {sku} now, {qty} wanted")
        else:
            candidates = sorted((b for b in layout.bins if len(stock(b)) >= qty), key=lambda b: (math.dist(here, layout.bins[b].front), b))
            if not candidates:
                raise StockOut(f"no bin holds {qty} {sku} now")
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
        """Walk to a free spot in front of bin `b` from which the right hand reaches `palm`, and turn to the shelf.

        The spot that puts the right shoulder square in front of `palm` comes first; when another shopper
        stands there or is heading there, the nearest free one along the shelf that is still within reach.
        When none is free, the shopper waits near the bin until one is (as people queue at a shelf).
        """
        floor = self.commons.floor
        start = self._t
        spots = self._stand_spots(b, palm)
        fx, fy = b.facing
        rx, ry = b.right
        half = self.build.shoulder_width_m / 2
        # the farthest the right shoulder is from the palm (level) at any spot `_stand_spots` offers
        ahead = self.build.radius_m + 0.04 + max(0.0, -((palm[0] - b.front[0]) * fx + (palm[1] - b.front[1]) * fy))
        worst = ahead + SIDE_REACH_SLACK_M

        def reaches(here: tuple[float, float]) -> bool:
            """Standing at `here` (short of a spot) the right shoulder is no farther from `palm` than at a spot."""
            return math.dist((here[0] + rx * half, here[1] + ry * half), (palm[0], palm[1])) <= worst

        tried_at = None
        waiting_since: float | None = None
        while True:
            free = [p for p in spots if floor.has_room(self.id, p)]
            if free:
                self.commons.wanted.pop(self.id, None)
            else:
                self.commons.wanted[self.id] = spots  # one waiting at a sync point on one of these gives way
            if free:
                waiting_since = None
                if (yield from self._walk(free[0], tol=STAND_TOL_M, stuck_s=STUCK_S, claim=True,
                                          settle_m=STAND_SETTLE_M, settle_ok=reaches)):
                    break
            elif math.dist(floor.now[self.id], floor.walkable_point(spots[0])) > 1.2:
                yield from self._walk(spots[0], tol=1.2, stuck_s=STUCK_S)  # come close, then wait for room
            elif waiting_since is not None and self._t - waiting_since > PATIENCE_S and (
                    away := self._step_away_spot(spots[0])) is not None:
                # waited long enough: perhaps those in the way wait for where one stands; give way a while
                yield from self._walk(away, tol=0.3, stuck_s=STUCK_S)
                yield from self._sleep(float(self.rng.uniform(*GIVE_WAY_S)))
                waiting_since = None
            elif floor.clearance_m(floor.now[self.id]) < self.build.radius_m + WAIT_BACK_M - 0.05 and (
                    wait := self._wait_spot(spots[0])) is not None:
                yield from self._walk(wait, tol=0.15, stuck_s=STUCK_S)  # wait out of the way, not in front of a shelf
            else:
                waiting_since = self._t if waiting_since is None else waiting_since
                floor.hold(self.id)
                yield from self._sleep(0.5)
            if self._t == tried_at:
                yield  # a walk that ended where it began: let time pass before choosing again
            tried_at = self._t
            if self._t - start > WALK_TIMEOUT_S:
                floor.hold(self.id)
                self.commons.wanted.pop(self.id, None)
                raise ScenarioFault(f"found no room in front of bin {b.id} in {WALK_TIMEOUT_S:.0f} s")
        self.commons.wanted.pop(self.id, None)
        fx, fy = b.facing
        self._face_yaw = math.atan2(-fy, -fx)
        while abs(_wrap(self._face_yaw - self._yaw)) > 0.05:
            yield

    def _stand_spots(self, b: Bin, palm: np.ndarray) -> list[tuple[float, float]]:
        """Where one can stand to reach `palm` in bin `b`, best first: right shoulder square in front, then
        sliding along the shelf while the extra reach sideways stays under `SIDE_REACH_SLACK_M`."""
        fx, fy = b.facing
        rx, ry = b.right
        u = (palm[0] - b.front[0]) * rx + (palm[1] - b.front[1]) * ry  # the palm along the shelf face
        stand_off = self.build.radius_m + 0.04
        ahead = stand_off + max(0.0, -((palm[0] - b.front[0]) * fx + (palm[1] - b.front[1]) * fy))
        max_slide = math.sqrt((ahead + SIDE_REACH_SLACK_M) ** 2 - ahead ** 2)
        half = self.build.shoulder_width_m / 2
        here = self.commons.floor.now[self.id]
        out = []
        for k in range(int(max_slide / 0.05) + 1):
            for slide in ((0.0,) if k == 0 else (-0.05 * k, 0.05 * k)):
                along = u - half + slide
                xy = (b.front[0] + rx * along + fx * stand_off, b.front[1] + ry * along + fy * stand_off)
                if k == 0 or self._arm_reaches(xy, b, palm):
                    out.append((k, math.dist(here, xy), xy))
        out.sort(key=lambda c: (c[0], round(c[1], 6)))
        return [xy for _, _, xy in out]

    def _arm_reaches(self, xy: tuple[float, float], b: Bin, palm: np.ndarray) -> bool:
        """Standing at `xy` facing bin `b`, the right arm would reach `palm` with the posture `_posture_for`
        takes (crouch for a low bin, waist lean for a far one): a spot slid along the shelf for a low or deep
        bin may be farther than the arm even though it is little farther than square in front."""
        bd = self.build
        fx, fy = b.facing
        rx, ry = b.right
        sx, sy = xy[0] + rx * bd.shoulder_width_m / 2, xy[1] + ry * bd.shoulder_width_m / 2
        ahead = -((palm[0] - sx) * fx + (palm[1] - sy) * fy)  # towards the shelf
        side = (palm[0] - sx) * rx + (palm[1] - sy) * ry
        crouch = float(np.clip(bd.shoulder_m - (palm[2] + 0.30), 0.0, bd.max_crouch_m))
        down = bd.shoulder_m - crouch - palm[2]
        dist0 = math.sqrt(ahead * ahead + side * side + down * down)
        waist = float(np.clip((dist0 - 0.92 * bd.reach_m) / max(bd.torso_len_m, 0.2), 0.0, 0.35))
        ahead -= bd.torso_len_m * math.sin(waist)
        down -= bd.torso_len_m * (1.0 - math.cos(waist))
        return math.sqrt(ahead * ahead + side * side + down * down) <= bd.upper_arm_m + bd.forearm_m + bd.grip_m

    def _walk(self, goal: tuple[float, float], tol: float = 0.15, stuck_s: float | None = None,
              detour: bool = True, until=None, claim: bool = False, settle_m: float = 0.0,
              settle_ok=None) -> Iterator:
        """Walk to `goal` (the nearest walkable point to it); True once within `tol`.

        Progress along the route is watched, not speed (bodies jostle in place). With no progress for
        `stuck_s` (default `STUCK_S`) and someone standing on the goal or claiming it: given `stuck_s`, a
        walk to a claimed spot (or within a metre of the goal) gives up (False) so the caller can choose
        another spot; otherwise, within a metre, that is as close as it gets (True). With the way blocked (two walkers face to face, a knot of people) it steps aside to a
        free point and tries again (`detour`), or, as in a queue at a gate, keeps waiting. `until()` true
        ends the walk early (True). `claim`: the goal is a spot to stand on (see `PedestrianFloor.has_room`).
        `settle_m`: with no progress while within this of the goal, that is where one stands (True): the
        pedestrian model keeps a disc off walls and, when it walks towards a neighbour, about 0.2 m off its
        disc (its repulsion), so a spot a few cm off a shelf face beside someone may never be reached exactly.
        `settle_ok(here)`, when given, must also hold there, and within `tol` too (the hand still reaches what
        it came for: a spot at the far end of a shelf's reach is no good 5 cm short of it).
        """
        floor = self.commons.floor
        start = self._t
        target = floor.walkable_point(goal)
        best, best_t = math.inf, self._t
        aside: tuple[float, float] | None = None
        aside_until = 0.0
        self._face_yaw = None
        while True:
            here = floor.now[self.id]
            dist = math.dist(here, target)
            if (dist < tol and (settle_ok is None or settle_ok(here))) or (until is not None and until()):
                break
            want = aside if aside is not None else target
            if floor.goal(self.id) != floor.walkable_point(want):
                floor.set_goal(self.id, want, claim=claim and aside is None)
            to_go = floor.to_go_m(self.id) if aside is None else dist
            if to_go < best - 0.05:
                best, best_t = to_go, self._t
            elif aside is None and self._t - best_t > (stuck_s or STUCK_S):
                best_t = self._t
                if dist < settle_m and (settle_ok is None or settle_ok(here)):
                    break  # as close as the model brings it: the caller's reach check decides if that will do
                taken = not floor.has_room(self.id, target)
                if taken and stuck_s is not None and (claim or dist < 1.0):
                    floor.hold(self.id)
                    return False  # someone stands on it: the caller chooses another spot
                if taken and detour and dist < 1.0:
                    break  # as close as it gets
                if detour:
                    aside = self._aside_point(here, floor.heading_to(self.id) or target)
                    aside_until = self._t + 2.5
            elif aside is not None and (math.dist(here, aside) < 0.15 or self._t > aside_until):
                aside = None
                best, best_t = math.inf, self._t
            if self._t - start > WALK_TIMEOUT_S:
                floor.hold(self.id)
                raise ScenarioFault(f"could not walk to ({target[0]:.2f}, {target[1]:.2f}) in {WALK_TIMEOUT_S:.0f} s")
            yield
        floor.hold(self.id)
        return True

    def _aside_point(self, here: tuple[float, float], toward: tuple[float, float]) -> tuple[float, float] | None:
        """A free point half a metre or so to the side of the way to `toward`, the one nearest it (forward-diagonal
        before square to the side), to get round whoever blocks the way."""
        floor = self.commons.floor
        heading = math.atan2(toward[1] - here[1], toward[0] - here[0])
        best = None
        for turn in (math.pi / 4, -math.pi / 4, math.pi / 2, -math.pi / 2, 3 * math.pi / 4, -3 * math.pi / 4):
            for step in (0.6, 0.9):
                p = (here[0] + step * math.cos(heading + turn), here[1] + step * math.sin(heading + turn))
                if floor.has_room(self.id, p, claims=False) and floor.in_sight(here, p):
                    d = math.dist(p, toward)
                    if best is None or d < best[0] - 1e-9:
                        best = (d, p)
        return None if best is None else best[1]

    def _wait_spot(self, spot: tuple[float, float]) -> tuple[float, float] | None:
        """Somewhere to wait for `spot` to come free that keeps the shelf fronts clear: a free point within
        sight of it, `WAIT_BACK_M` or more from any shelf or wall, nearest to where the shopper is."""
        floor = self.commons.floor
        here = floor.now[self.id]
        need = self.build.radius_m + WAIT_BACK_M
        best = None
        for r in (0.8, 1.1, 1.4, 1.8):
            for k in range(16):
                p = (spot[0] + r * math.cos(k * math.pi / 8), spot[1] + r * math.sin(k * math.pi / 8))
                if floor.clearance_m(p) >= need and floor.has_room(self.id, p) and floor.in_sight(p, spot):
                    d = round(math.dist(p, here), 6)
                    if best is None or (d, p) < best:
                        best = (d, p)
        return None if best is None else best[1]

    def _step_away_spot(self, spot: tuple[float, float]) -> tuple[float, float] | None:
        """A free point a couple of metres from `spot`, as far from shelves and walls as can be (to give way)."""
        floor = self.commons.floor
        here = floor.now[self.id]
        best = None
        for r in (1.5, 2.0, 2.5):
            for k in range(16):
                p = (spot[0] + r * math.cos(k * math.pi / 8), spot[1] + r * math.sin(k * math.pi / 8))
                if floor.has_room(self.id, p):
                    key = (-round(floor.clearance_m(p), 2), round(math.dist(p, here), 6), p)
                    if best is None or key < best:
                        best = key
        return None if best is None else best[2]

    def _room_near(self, xy: tuple[float, float], rings_m: tuple[float, ...] = (0.4, 0.7, 1.0)) -> tuple[float, float] | None:
        """The free point nearest `xy` on a few rings around it (someone stands on `xy` itself)."""
        floor = self.commons.floor
        here = floor.now[self.id]
        for r in rings_m:
            pts = [(xy[0] + r * math.cos(k * math.pi / 8), xy[1] + r * math.sin(k * math.pi / 8)) for k in range(16)]
            pts = [p for p in pts if floor.has_room(self.id, p) and floor.in_sight(p, xy)]
            if pts:
                return min(pts, key=lambda p: (round(math.dist(p, here), 6), p))
        return None

    def _sleep(self, seconds: float) -> Iterator:
        end = self._t + seconds
        while self._t + 1e-9 < end:
            yield

    def _posture_for(self, target: np.ndarray) -> Iterator:
        """Crouch for low bins, lean in for deep ones."""
        b = self.build
        crouch = float(np.clip(b.shoulder_m - (target[2] + 0.30), 0.0, b.max_crouch_m))
        self._crouch_goal = crouch
        sh = self.body.shoulder_world("right")
        sh[2] = b.shoulder_m - crouch
        dist = float(np.linalg.norm(target - sh))
        self._waist_goal = float(np.clip((dist - 0.92 * b.reach_m) / max(b.torso_len_m, 0.2), 0.0, 0.35))
        while abs(self._crouch - self._crouch_goal) > 1e-3 or abs(self._waist - self._waist_goal) > 1e-3:
            yield

    def _reach_blocked(self, b: Bin, palm: np.ndarray) -> str | None:
        """Why the right hand cannot get to `palm` in bin `b` from where the shopper stands, as it stands now
        (None: it can). The arm must reach it, and the forearm and hand must pass the bin's open front
        between the plate's lip and the shelf above (`LIP_CLEAR_M` clear of each): a hand coming up from
        under a high shelf, or down from over a low one at too steep a slope, would go through the lip
        (arms pass through shelf structure in the physics, see sim.manipulation, so this is decided here)."""
        body, build = self.body, self.build
        rot, origin = body.torso_to_world()
        shoulder_l = body.shoulder_local("right")
        local = rot.T @ (np.asarray(palm, dtype=float) - origin) - shoulder_l
        l1, l2 = build.upper_arm_m, build.forearm_m + build.grip_m
        if float(np.linalg.norm(local)) > l1 + l2 + REACH_SLACK_M:
            return f"{float(np.linalg.norm(local)) - (l1 + l2):.2f} m beyond arm's length"
        yaw, t1, e = arm_ik(local, l1, l2, body._arm_yaw["right"])
        a1 = np.array([-math.sin(t1), -math.cos(t1)])
        rho_z = l1 * a1
        elbow_l = np.array([rho_z[0] * math.cos(yaw), rho_z[0] * math.sin(yaw), rho_z[1]])
        elbow = origin + rot @ (shoulder_l + elbow_l)
        fx, fy = b.facing
        out = lambda p: (p[0] - b.front[0]) * fx + (p[1] - b.front[1]) * fy  # noqa: E731 - in front of the face > 0
        po, eo = out(palm), out(elbow)
        if po >= 0.0 or eo <= 0.0:
            return None  # the hand stops at the front, or the elbow goes in too (a deep bin at head height)
        z = elbow[2] + (palm[2] - elbow[2]) * eo / (eo - po)  # where the forearm line crosses the bin's front
        low, high = b.center[2] + LIP_CLEAR_M, b.center[2] + b.clearance_m - LIP_CLEAR_M
        if z < low:
            return f"the forearm would pass {low - z:.2f} m under the lip"
        if z > high and b.shelf < max(o.shelf for o in self.commons.layout.bins.values() if o.gondola == b.gondola):
            return f"the forearm would pass {z - high:.2f} m through the shelf above"
        return None

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
        self._yaw += _clamp(_wrap(want - self._yaw), -TURN_RATE_RADS * dt, TURN_RATE_RADS * dt)
        self._crouch += _clamp(self._crouch_goal - self._crouch, -CROUCH_RATE_MS * dt, CROUCH_RATE_MS * dt)
        self._waist += _clamp(self._waist_goal - self._waist, -WAIST_RATE_RADS * dt, WAIST_RATE_RADS * dt)
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
                yaw, offset = self.upright[item]
                mp.keep_upright(self._world, cid, yaw, body.palm_world("right"), offset)
        for side in ("right", "left"):
            step_n = LEAN_FORCE_RANGE_N[1] * dt / LEAN_RAMP_S
            self._push[side] += _clamp(self._push_goal[side] - self._push[side], -step_n, step_n)
            if self._push[side] > 0:
                body.push_hand(side, (0.0, 0.0, -self._push[side]))
        for k, item in enumerate(self.carried):
            pos, orn = body.basket_slot(k)
            mp.place(self._world, item, pos, orn)
        if self._tick % self._pose_every == 0:
            head = body.head_world()
            lh, rh = body.palm_world("left"), body.palm_world("right")
            self._sim.ledger.pose(PoseSample(self._t, self.id, _t3(head), _t3(lh), _t3(rh), self._yaw))


def describe_step(step: Step) -> str:
    """A script step in a few words, as the viewer shows it: "pick 2 x water-500 from A-1-3"."""
    a = step.args
    if step.action == "pick":
        what = f"{a.qty} x {a.sku}" if a.qty > 1 else a.sku
        return f"pick {what} from {a.bin}" if a.bin else f"pick {what} from the nearest bin"
    if step.action == "put_back":
        return f"put back {a.sku} into {a.bin}" if a.bin else f"put back {a.sku} where it came from"
    if step.action in ("touch", "lean"):
        return f"{step.action} {'on ' if step.action == 'lean' else ''}{a.bin} for {a.seconds:g} s"
    if step.action == "give":
        return f"give {a.sku} to {a.to}"
    if step.action == "sync":
        return f"wait for the others at '{a}'"
    if step.action == "wait":
        return f"wait {a:g} s"
    return f"walk to {a.bin}" if a.bin else f"walk to ({a.point[0]:g}, {a.point[1]:g})"


def _clamp(x: float, lo: float, hi: float) -> float:
    """min/max for plain floats (np.clip on a scalar costs a few microseconds, every tick, every shopper)."""
    return lo if x < lo else hi if x > hi else float(x)


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def _t3(v) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))


def _yaw_of(orn) -> float:
    x, y, z, w = orn
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def _yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))
