"""A shopper: an `Actor` (sim.simulation) that walks in, works through its script, and walks out.

Each physics tick `act` moves the body to its interpolated pedestrian-model
position, turns it, drives its posture and arms towards their goals (analytic
IK every tick, so a hand stays on its target while the body sways), applies a
lean's force, carries basket items along, and samples the pose truth. At the
agents' rate (`agents.floor.AGENT_HZ`) it advances its behaviour: one
`agents.actions` object per script step, its `run()` generator resumed once
per agent tick, deterministic. A hand-over's receiving side (`Receive`)
interrupts the script between two ticks while the hands are free.

The shopper holds what its one body has: where it stands and faces, its
posture and hand goals, what it grips and carries. Everything an action needs
to remember is the action's own (`agents.actions.base.Action`).

A step that cannot be done at run time is one of three things:
- the shelves no longer allow it (`StockOut`: others took the stock; nothing
  left to put back): the step is skipped and the shopper carries on (an
  `adapted` truth event, and `skipped`);
- the shelves allow it another way (a bin emptied or filled up meanwhile): the
  action does what people do and says so in an `adapted` truth event;
- anything else (a bin out of reach, no way through the crowd in 120 s) is a
  scenario fault in the ledger: the shopper walks out with what it has.

Body: a scripted shopper's `body:` is used as given. Without a height, the
body is drawn from the population (`agents.body.draw_build`) among those who
can reach every bin its script names (`agents.reach`): the scripted person is
one who can do the script (load-time checks refuse a script no body of the
population could do).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from agents import reach as rc
from agents.actions import ACTIONS, Action, OutOfReach, ScenarioFault, StockOut
from agents.actions.gates import BailOut, Enter, Leave
from agents.actions.handover import HandOver, Receive
from agents.body import Build, ShopperBody, draw_build
from agents.floor import PedestrianFloor, gate_outward
from agents.scenario import ShopperSpec, Step
from sim import manipulation as mp
from sim.layout import StoreLayout
from sim.ledger import POSE_HZ, PoseSample
from sim.seeding import generator

TURN_RATE_RADS = 4.0
CROUCH_RATE_MS = 0.6
TIPTOE_RATE_MS = 0.3
WAIST_RATE_RADS = 1.2
HAND_SPEED_MS = 0.9  # a reaching hand moves at up to about 1 m/s
LEAN_RAMP_S = 0.4  # one shifts a full lean's weight onto (or off) a hand resting on a shelf over about this long
LEAN_FORCE_MAX_N = 35.0
WALK_SPEED_RANGE_MS = (1.2, 1.4)
BUILD_DRAWS = 40  # bodies drawn, at most, for a scripted shopper of no given height to find one that reaches its bins

__all__ = ["Commons", "HandOver", "OutOfReach", "ScenarioFault", "Shopper", "StockOut", "describe_step"]


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
        self.script = list(script if script is not None else spec.script)
        self.build = self._draw_build()
        self.speed_ms = float(self.rng.uniform(*WALK_SPEED_RANGE_MS)) * (0.85 if self.build.child else 1.0)
        self.persona = persona or spec.persona
        self.body: ShopperBody | None = None
        self.spawned = False
        self._done = False
        self._life: Iterator | None = None
        self._interrupt: Iterator | None = None
        self.doing: list[Action] = []  # the actions running now, the script's first, an interrupting one after
        self.busy = False  # hands or gate in use: a hand-over waits
        self.ready_to_receive = False
        self.carried: list[int] = []  # items in the basket, in order
        self.grips: dict[int, int] = {}  # item -> grip constraint (items in the hand)
        # item in the hand -> (the yaw the wrist keeps it standing at, its centre's offset from the grip point, world)
        self.upright: dict[int, tuple[float, np.ndarray]] = {}
        self.faults: list[str] = []
        self.skipped: list[str] = []  # steps the shelves no longer allowed (see `StockOut`)
        self.t = 0.0
        self.tick = 0
        self.world = None
        self.sim = None
        self.yaw = 0.0
        self.crouch_goal = self.waist_goal = self.tiptoe_goal = 0.0
        self.crouch = self.waist = self.tiptoe = 0.0
        self.hand_goal: dict[str, np.ndarray | None] = {"right": None, "left": None}
        self.hand_cmd: dict[str, np.ndarray | None] = {"right": None, "left": None}
        self.hand_angle: dict[str, float | None] = {"right": None, "left": None}
        self.push: dict[str, float] = {"right": 0.0, "left": 0.0}  # weight through a hand now (N), ramped...
        self.push_goal: dict[str, float] = {"right": 0.0, "left": 0.0}  # ...towards this
        self.limp: dict[str, bool] = {"right": False, "left": False}
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
        self.sim, self.world = sim, sim.world
        self.t, self.tick = sim.clock.t_s, sim.clock.tick
        floor = self.commons.floor
        if not self.spawned:
            if self.t + 1e-9 < self.enter_at_s or not self._try_spawn(sim):
                return
        floor.advance(self.tick)
        if self.tick % floor.period_ticks == 0:
            self._think()
        if not self._done:
            self._drive()

    def adapt(self, message: str) -> None:
        """A step done otherwise than scripted, as the shelves now allow (an `adapted` truth event)."""
        self.sim.ledger.adapted(self.t, self.id, self.account, message)

    # -- the body -----------------------------------------------------------

    def _draw_build(self) -> Build:
        b = self.spec.body
        build = draw_build(self.rng, b.height_m, b.child)
        if b.height_m is None and self.script:
            for _ in range(BUILD_DRAWS):
                if rc.script_problem(build, self.script, self.commons.layout) is None:
                    break
                build = draw_build(self.rng, None, b.child if b.child is not None else build.child)
            else:  # rarely drawn: take a height that can (`agents.script_check` made sure there is one)
                height = rc.able_height(self.script, self.commons.layout, build.child) or build.height_m
                build = Build(**{**build.__dict__, "height_m": height,
                                 "shoulder_width_m": build.shoulder_width_m / build.height_m * height})
        if b.carrier is not None:
            build = Build(**{**build.__dict__, "carrier": b.carrier})
        return build

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
        self.yaw = math.atan2(-oy, -ox)
        self.body = ShopperBody(sim.world.client, self.build, xy, self.yaw)
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
            reach = lambda bin_id: rc.bin_problem(self.build, layout.bins[bin_id], None, layout) is None  # noqa: E731
            PERSONAS[self.persona](builder, StockView(layout, sim.ledger, reachable=reach), self.rng)
            self.script = [Step.model_validate(s) for s in builder.steps]
        self._life = self._live()
        return True

    # -- behaviour (agent rate) ---------------------------------------------

    def _think(self) -> None:
        if self._interrupt is None and not self.busy and self.id in self.commons.give_requests and not self.exited:
            receive = Receive(self, self.commons.give_requests[self.id])
            self.doing.append(receive)
            self._interrupt = receive.run()
        if self._interrupt is not None:
            try:
                next(self._interrupt)
                return
            except StopIteration:
                self._interrupt = None
                self.doing = [a for a in self.doing if not isinstance(a, Receive)]
        if self._life is None:
            return
        try:
            next(self._life)
        except StopIteration:
            self._life = None
            self._park()
        except ScenarioFault as exc:
            self._fault(str(exc))

    def _fault(self, message: str) -> None:
        self.faults.append(message)
        self.script_over = True
        self.sim.ledger.fault(self.t, self.id, self.account, message)
        self.busy = False
        self.push = {"right": 0.0, "left": 0.0}
        self.push_goal = {"right": 0.0, "left": 0.0}
        self.limp = {"right": False, "left": False}
        self.body.hand_on_plates("right", False)
        self._life = self._run(BailOut(self))

    def _run(self, action: Action) -> Iterator:
        """Run one action as the script's current one."""
        self.doing = [action] + [a for a in self.doing if isinstance(a, Receive)]
        yield from action.run()

    def _live(self) -> Iterator:
        yield from self._run(Enter(self))
        for k, step in enumerate(self.script):
            self._step_k = k
            try:
                yield from self._run(ACTIONS[step.action](self, step.args))
            except StockOut as exc:
                self.skipped.append(f"step {k + 1} ({step.action}): {exc}")
                self.adapt(f"step {k + 1} ({step.action}) skipped: {exc}")
            except OutOfReach as exc:
                if self.persona is None:
                    raise ScenarioFault(f"shopper '{self.id}' step {k + 1} ({step.action}): {exc}") from None
                self.skipped.append(f"step {k + 1} ({step.action}): {exc}")
                self.adapt(f"step {k + 1} ({step.action}) skipped: {exc}")
            except ScenarioFault as exc:
                raise ScenarioFault(f"shopper '{self.id}' step {k + 1} ({step.action}): {exc}") from None
        self.script_over = True
        yield from self._run(Leave(self))

    def _park(self) -> None:
        """Outside the store: the body leaves the world (what it carries goes with it, out of sight)."""
        self.commons.floor.remove(self.id)
        unregister = getattr(self.world, "remove_dynamic_body", None)
        if unregister is not None:
            unregister(self.body.body)
        self.body.remove()
        for k, item in enumerate(self.carried):
            mp.place(self.world, item, (self._xy[0], self._xy[1], -5.0 - 0.3 * k), (0, 0, 0, 1))
        self._done = True

    # -- per physics tick ---------------------------------------------------

    def _wanted_yaw(self) -> float | None:
        """Where the innermost running action wants the body to face (None: along its walk)."""
        for action in reversed(self.doing):
            if action.face_yaw is not None:
                return action.face_yaw
        return None

    def _drive(self) -> None:
        floor, body, dt = self.commons.floor, self.body, self.sim.clock.dt_s
        xy = floor.interpolated(self.id, self.tick)
        want = self._wanted_yaw()
        if want is None:
            (x0, y0), (x1, y1) = floor.prev[self.id], floor.now[self.id]
            want = math.atan2(y1 - y0, x1 - x0) if math.hypot(x1 - x0, y1 - y0) > 0.01 else self.yaw
        self.yaw += _clamp(_wrap(want - self.yaw), -TURN_RATE_RADS * dt, TURN_RATE_RADS * dt)
        self.crouch += _clamp(self.crouch_goal - self.crouch, -CROUCH_RATE_MS * dt, CROUCH_RATE_MS * dt)
        self.tiptoe += _clamp(self.tiptoe_goal - self.tiptoe, -TIPTOE_RATE_MS * dt, TIPTOE_RATE_MS * dt)
        self.waist += _clamp(self.waist_goal - self.waist, -WAIST_RATE_RADS * dt, WAIST_RATE_RADS * dt)
        body.set_pose(xy, self.yaw, self.crouch, self.waist, self.tiptoe)
        self._xy = xy
        for side in ("right", "left"):
            goal = self.hand_goal[side]
            if goal is None or self.limp[side]:
                continue
            cmd = self.hand_cmd[side]
            step = goal - cmd
            n = float(np.linalg.norm(step))
            if n > HAND_SPEED_MS * dt:
                cmd = cmd + step * (HAND_SPEED_MS * dt / n)
            else:
                cmd = goal.copy()
            self.hand_cmd[side] = cmd
            body.aim_hand(side, cmd, self.hand_angle[side])
        for item, cid in self.grips.items():
            if item in self.upright:
                yaw, offset = self.upright[item]
                mp.keep_upright(self.world, cid, yaw, body.palm_world("right"), offset)
        for side in ("right", "left"):
            step_n = LEAN_FORCE_MAX_N * dt / LEAN_RAMP_S
            self.push[side] += _clamp(self.push_goal[side] - self.push[side], -step_n, step_n)
            if self.push[side] > 0:
                body.push_hand(side, (0.0, 0.0, -self.push[side]))
        for k, item in enumerate(self.carried):
            pos, orn = body.basket_slot(k)
            mp.place(self.world, item, pos, orn)
        if self.tick % self._pose_every == 0:
            head = body.head_world()
            lh, rh = body.palm_world("left"), body.palm_world("right")
            self.sim.ledger.pose(PoseSample(self.t, self.id, _t3(head), _t3(lh), _t3(rh), self.yaw))


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
