"""The physics store: a pybullet world (DIRECT mode) built from a validated layout.

Floor, walls with gate openings, gondolas (plinth, back panel, shelf boards),
one plate per bin on its own load cell, and every planogram item as a dynamic
rigid body with its own drawn weight, standing in rows on its plate and
allowed to sleep so that a full store costs little to step.

A load cell is a plate on a stiff prismatic joint: a position motor holds the
plate at rest and the force it must apply is the normal force of everything
on the plate (items, hands, a leaning arm) plus the plate's own weight. This
is what a strain-gauge cell measures, and it comes from the contact solver,
not from bookkeeping.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import pybullet as pb

from sim.layout import (
    BACK_PANEL_M,
    FACINGS,
    KICK_M,
    PLATE_THICKNESS_M,
    Bin,
    StoreLayout,
    item_positions,
    item_yaw,
)
from sim.ledger import ItemRecord, Ledger
from sim.loadcell import GRAVITY_MS2
from sim.appearance import product_label_mesh, unit_tints, unit_variant

PLATE_MASS_KG = 1.2  # an aluminium plate of a shelf bin
PLATE_GAP_M = 0.004  # between neighbouring plates, so they never rub
PLATE_TRAVEL_M = 0.001  # a plate bolted to its cell deflects well under a millimetre at full load
SETTLED_N = 0.01  # a plate's force that moves more than this (about 1 g) between samples is not at rest
UNSOLVED_N = 0.5  # a plate always holds its own 11.8 N; a motor force below this was not solved this step
BOARD_M = 0.010  # the shelf board under a plate; the plate itself is the rest of PLATE_THICKNESS_M
WALL_HEIGHT_M = 2.6
WALL_THICK_M = 0.12
ITEM_FRICTION = 0.7


@dataclass(frozen=True)
class ItemBody:
    item_id: int
    body: int
    sku: str
    mass_kg: float


class StoreWorld:
    """The pybullet world of one store. Owns its physics client; call `close()` when done."""

    def __init__(self, layout: StoreLayout, rng: np.random.Generator, dt_s: float) -> None:
        self.layout = layout
        self.dt_s = dt_s
        self.client = pb.connect(pb.DIRECT)
        # A world dropped without close() (a test, an interrupted episode) still frees its physics
        # client when collected; pybullet reuses client ids, so close() runs this same finalizer once.
        self._disconnect = weakref.finalize(self, pb.disconnect, physicsClientId=self.client)
        self._last_forces_n: np.ndarray | None = None
        self._last_raw_n: np.ndarray | None = None  # the motor forces as Bullet last reported them
        self.asleep = False  # every resting island put to sleep (settle_and_sleep), as a settled store is
        self.ledger = Ledger()
        self.bin_ids: list[str] = list(layout.bins)
        self.plates: dict[str, int] = {}
        self.items: dict[int, ItemBody] = {}
        self.static_bodies: list[int] = []
        # Bodies that move by themselves (shoppers, what they carry): the ceiling cameras redraw these every
        # frame and keep the rest of the store as a cached background. Whoever adds one registers it here.
        self.dynamic_bodies: set[int] = set()
        self.gondola_of_body: dict[int, str] = {}  # frame parts and plates -> their gondola (what a lean shakes)
        self._body_item: dict[int, int] = {}
        self._shapes: dict[tuple, int] = {}
        pb.setGravity(0, 0, -GRAVITY_MS2, physicsClientId=self.client)
        pb.setPhysicsEngineParameter(
            fixedTimeStep=dt_s,
            # Enough iterations, stopped early once converged, that a resting row of tall boxes
            # is solved to a fraction of a gram before its island falls asleep.
            numSolverIterations=50,
            solverResidualThreshold=1e-9,
            # Cone friction leaves resting boxes rocking by a few grams' worth of force for ever,
            # which a sleeping island then freezes into the plate reading; pyramid friction settles.
            enableConeFriction=0,
            physicsClientId=self.client,
        )
        self._build_floor_and_walls()
        for g in layout.spec.gondolas:
            self._build_gondola(g)
        for b in layout.bins.values():
            self.plates[b.id] = self._build_plate(b)
            self.gondola_of_body[self.plates[b.id]] = b.gondola
        self._place_items(rng)
        self.plate_capacity_n = layout.spec.sensors.load_cells.capacity_g / 1000.0 * GRAVITY_MS2
        self._plate_bodies = [self.plates[b] for b in self.bin_ids]
        for body in self._plate_bodies:
            pb.setJointMotorControl2(
                body, 0, pb.POSITION_CONTROL, targetPosition=0.0, force=self.plate_capacity_n * 2.0,
                positionGain=1.0, velocityGain=1.0, physicsClientId=self.client,
            )
            # Set here, after the motors: given with the plate's other dynamics at creation the limit did
            # not hold (a 900 N pry lifted the plate away; tests/test_world_loadcells.py pins it).
            pb.changeDynamics(
                body, 0, jointLowerLimit=-PLATE_TRAVEL_M, jointUpperLimit=PLATE_TRAVEL_M, physicsClientId=self.client
            )

    # -- stepping and reading -------------------------------------------------

    def step(self) -> None:
        pb.stepSimulation(physicsClientId=self.client)

    def settle(self, seconds: float) -> None:
        for _ in range(int(round(seconds / self.dt_s))):
            self.step()

    def settle_and_sleep(self, min_s: float = 0.75, max_s: float = 8.0, check_every_s: float = 0.25) -> float:
        """Let the stocked store come to rest, then put every resting island to sleep; return seconds stepped.

        Items are placed at their resting height, so they only need the contact solver to
        converge (about 0.75 s at 120 Hz) — not Bullet's 2 s of stillness before it sleeps a
        body on its own. Once no item moves faster than 5 mm/s, items and plates are put to
        sleep together: the plate's load-cell force is the converged contact solution.
        """
        steps = max(1, int(round(check_every_s / self.dt_s)))
        done = 0
        while True:
            for _ in range(steps):
                self.step()
            done += steps
            t = done * self.dt_s
            if t + 1e-9 >= min_s and self._max_item_speed() < 0.005:
                break
            if t >= max_s:
                self.plate_forces_n()
                return t  # something will not rest (a bad layout); leave it awake rather than freeze it
        self.plate_forces_n()  # the converged forces, remembered for plates whose motors sleep
        self.sleep_all()
        return done * self.dt_s

    def settled_forces(self) -> tuple[np.ndarray, np.ndarray]:
        """The plates' last solved forces and the raw motor forces read with them (what `restore_settled` takes)."""
        assert self._last_forces_n is not None and self._last_raw_n is not None, "read the plates first"
        return self._last_forces_n.copy(), self._last_raw_n.copy()

    def restore_settled(self, forces_n: np.ndarray, raw_n: np.ndarray, asleep: bool) -> None:
        """After Bullet restored a settled snapshot into this freshly built world (`sim.settled`): the plates'
        remembered forces, and every resting island put back to sleep if the store had fallen asleep."""
        self._last_forces_n = np.array(forces_n, dtype=float)
        self._last_raw_n = np.array(raw_n, dtype=float)
        if asleep:
            self.sleep_all()

    def sleep_all(self) -> None:
        """Put every item and plate to sleep (a store at rest: its plates' forces are the converged ones)."""
        c = self.client
        for it in self.items.values():
            pb.changeDynamics(it.body, -1, activationState=pb.ACTIVATION_STATE_SLEEP, physicsClientId=c)
        for body in self.plates.values():
            pb.changeDynamics(body, 0, activationState=pb.ACTIVATION_STATE_SLEEP, physicsClientId=c)
        self.asleep = True

    def steady_plates(self, max_s: float = 3.0, window_s: float = 0.1, tol_n: float = 0.005) -> float:
        """Step until no plate's force moves by more than `tol_n` (half a gram) over two windows of
        `window_s` running, at most `max_s`; return seconds stepped. After something woke the resting
        islands all at once: their plates (woken again by `plate_forces_n`) converge before the episode."""
        steps = max(1, int(round(window_s / self.dt_s)))
        self.plate_forces_n()
        done = quiet = 0
        while quiet < 2 and done * self.dt_s < max_s:
            before = self._last_raw_n
            for _ in range(steps):
                self.step()
                self.plate_forces_n()
            done += steps
            quiet = quiet + 1 if float(np.max(np.abs(self._last_raw_n - before), initial=0.0)) <= tol_n else 0
        return done * self.dt_s

    def _max_item_speed(self) -> float:
        c = self.client
        return max(
            (float(np.linalg.norm(pb.getBaseVelocity(it.body, physicsClientId=c)[0])) for it in self.items.values()),
            default=0.0,
        )

    def moving_items(self) -> list[int]:
        """Items that are awake (a sleeping body's velocity is exactly zero)."""
        c = self.client
        out = []
        for it in self.items.values():
            v, w = pb.getBaseVelocity(it.body, physicsClientId=c)
            if any(v) or any(w):
                out.append(it.item_id)
        return out

    def plate_forces_n(self) -> np.ndarray:
        """The force each plate's spring holds, in `bin_ids` order (plate weight included)."""
        c = self.client
        forces = np.fromiter(
            (pb.getJointState(b, 0, physicsClientId=c)[3] for b in self._plate_bodies),
            dtype=float,
            count=len(self._plate_bodies),
        )
        # A plate whose island Bullet has put to sleep (or has just woken) reports a motor force of about
        # 0 (its motor was not solved this step), though its load has not changed: keep the last solved
        # force. The spring always holds at least the plate's own weight, so ~0 N is never a real load.
        #
        # A resting island that wakes for a single step (items re-filtered for collisions after the store
        # settled; a body brushing past) still has its bodies' sleep timers full: it is solved once,
        # mid-transient (items pressing 5 % under their weight), and sleeps again on the next step, freezing
        # that transient into the plate for good. In market_store a bin of three 1.5 l colas read 256 g light
        # from the start and jumped back when a shopper passed 10 s later: a phantom put-back. So a plate
        # whose force moved by more than `SETTLED_N` since the last sample is woken here, which restarts its
        # sleep timer: its island stays awake until the load has converged (Bullet sleeps an island only
        # when every body in it has been still for its deactivation time) and sleeps with the true load.
        raw = forces.copy()
        last = self._last_forces_n
        if last is not None:
            asleep = np.abs(forces) < UNSOLVED_N
            forces[asleep] = last[asleep]
            moved = np.abs(raw - self._last_raw_n) > SETTLED_N
            for k in np.flatnonzero(moved):
                pb.changeDynamics(self._plate_bodies[k], 0, activationState=pb.ACTIVATION_STATE_WAKE_UP, physicsClientId=c)
        self._last_raw_n = raw
        self._last_forces_n = forces.copy()
        return forces

    def plate_tare_n(self) -> np.ndarray:
        return np.full(len(self.bin_ids), PLATE_MASS_KG * GRAVITY_MS2)

    def wake_bin(self, bin_id: str) -> None:
        """Wake a plate's island (it sleeps with its items); needed after teleporting bodies."""
        pb.changeDynamics(self.plates[bin_id], 0, activationState=pb.ACTIVATION_STATE_WAKE_UP, physicsClientId=self.client)

    def add_dynamic_body(self, body: int) -> None:
        """Register a body that moves by itself (a shopper, a basket): cameras redraw it every frame."""
        self.dynamic_bodies.add(body)

    def item_at(self, body: int) -> int | None:
        return self._body_item.get(body)

    def item_pose(self, item_id: int) -> tuple[tuple[float, float, float], tuple[float, float, float, float]]:
        return pb.getBasePositionAndOrientation(self.items[item_id].body, physicsClientId=self.client)

    def body_count(self) -> int:
        return pb.getNumBodies(physicsClientId=self.client)

    def close(self) -> None:
        self._disconnect()
        self.client = -1

    # -- building -------------------------------------------------------------

    def _box(self, half: tuple[float, float, float], pos, rgb, mass: float = 0.0, yaw: float = 0.0) -> int:
        c = self.client
        key = ("box", tuple(round(h, 5) for h in half))
        col = self._shapes.get(key)
        if col is None:
            col = self._shapes[key] = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=half, physicsClientId=c)
        vis = pb.createVisualShape(pb.GEOM_BOX, halfExtents=half, rgbaColor=[*rgb, 1.0], physicsClientId=c)
        body = pb.createMultiBody(
            mass, col, vis, pos, pb.getQuaternionFromEuler([0, 0, yaw]), physicsClientId=c
        )
        if mass == 0.0:
            self.static_bodies.append(body)
        return body

    def _build_floor_and_walls(self) -> None:
        w, d = self.layout.spec.floor_m
        self._box((w / 2, d / 2, 0.05), (w / 2, d / 2, -0.05), (0.62, 0.62, 0.60))
        gates = self.layout.spec.gates
        walls = {  # wall: (fixed coordinate, along-axis length, axis index of "along")
            "south": (0.0, w, 0), "north": (d, w, 0), "west": (0.0, d, 1), "east": (w, d, 1),
        }
        for name, (fixed, length, along) in walls.items():
            openings = []
            for g in gates:
                on = g.at[1 - along]
                if abs(on - fixed) < 1e-6:
                    openings.append((g.at[along] - g.width_m / 2, g.at[along] + g.width_m / 2))
            start = -WALL_THICK_M
            for lo, hi in sorted(openings) + [(length + WALL_THICK_M, length + WALL_THICK_M)]:
                if lo - start > 1e-3:
                    mid, half_len = (start + lo) / 2, (lo - start) / 2
                    out = -WALL_THICK_M / 2 if fixed == 0.0 else fixed + WALL_THICK_M / 2
                    pos = (mid, out, WALL_HEIGHT_M / 2) if along == 0 else (out, mid, WALL_HEIGHT_M / 2)
                    half = (half_len, WALL_THICK_M / 2, WALL_HEIGHT_M / 2) if along == 0 else (WALL_THICK_M / 2, half_len, WALL_HEIGHT_M / 2)
                    self._box(half, pos, (0.86, 0.85, 0.80))
                start = hi

    def _build_gondola(self, g) -> None:
        fx, fy = FACINGS[g.facing]
        yaw = float(np.arctan2(fy, fx))  # local x = facing, local y = along the shelf
        grey = (0.35, 0.37, 0.40)
        half_len = g.length_m / 2
        # Back panel, full height, at the rear of the footprint.
        back = (g.at[0] - fx * (g.depth_m / 2 - BACK_PANEL_M / 2), g.at[1] - fy * (g.depth_m / 2 - BACK_PANEL_M / 2))
        panel = self._box((BACK_PANEL_M / 2, half_len, g.height_m / 2), (*back, g.height_m / 2), grey, yaw=yaw)
        # Plinth under the lowest shelf.
        plinth = self._box((g.depth_m / 2, half_len, KICK_M / 2), (*g.at, KICK_M / 2), grey, yaw=yaw)
        self.gondola_of_body.update({panel: g.id, plinth: g.id})

    def _build_plate(self, b: Bin) -> int:
        """A static board segment with the plate on a prismatic (vertical) joint above it.

        The joint's travel is limited to +-1 mm, as a plate bolted to its cell: nothing (a hand pushed
        in under the plate's front edge, say) can pry it up off the board.
        """
        c = self.client
        yaw = float(np.arctan2(b.facing[1], b.facing[0]))
        plate_t = PLATE_THICKNESS_M - BOARD_M
        board_half = (b.depth_m / 2, b.width_m / 2, BOARD_M / 2)
        plate_half = (b.depth_m / 2, b.width_m / 2 - PLATE_GAP_M / 2, plate_t / 2)
        board_col = self._collision(("box", board_half), lambda: pb.createCollisionShape(pb.GEOM_BOX, halfExtents=board_half, physicsClientId=c))
        plate_col = self._collision(("box", plate_half), lambda: pb.createCollisionShape(pb.GEOM_BOX, halfExtents=plate_half, physicsClientId=c))
        board_vis = pb.createVisualShape(pb.GEOM_BOX, halfExtents=board_half, rgbaColor=[0.30, 0.31, 0.33, 1], physicsClientId=c)
        plate_vis = pb.createVisualShape(pb.GEOM_BOX, halfExtents=plate_half, rgbaColor=[0.78, 0.79, 0.80, 1], physicsClientId=c)
        base_z = b.center[2] - PLATE_THICKNESS_M + BOARD_M / 2
        body = pb.createMultiBody(
            baseMass=0.0,
            baseCollisionShapeIndex=board_col,
            baseVisualShapeIndex=board_vis,
            basePosition=(b.center[0], b.center[1], base_z),
            baseOrientation=pb.getQuaternionFromEuler([0, 0, yaw]),
            linkMasses=[PLATE_MASS_KG],
            linkCollisionShapeIndices=[plate_col],
            linkVisualShapeIndices=[plate_vis],
            linkPositions=[[0, 0, BOARD_M / 2 + plate_t / 2]],
            linkOrientations=[[0, 0, 0, 1]],
            linkInertialFramePositions=[[0, 0, 0]],
            linkInertialFrameOrientations=[[0, 0, 0, 1]],
            linkParentIndices=[0],
            linkJointTypes=[pb.JOINT_PRISMATIC],
            linkJointAxis=[[0, 0, 1]],
            physicsClientId=c,
        )
        pb.changeDynamics(
            body, 0, lateralFriction=ITEM_FRICTION, activationState=pb.ACTIVATION_STATE_ENABLE_SLEEPING,
            physicsClientId=c,
        )
        pb.changeDynamics(body, -1, activationState=pb.ACTIVATION_STATE_ENABLE_SLEEPING, physicsClientId=c)
        return body

    def _collision(self, key: tuple, make) -> int:
        key = (key[0], tuple(round(h, 5) for h in key[1]))
        if key not in self._shapes:
            self._shapes[key] = make()
        return self._shapes[key]

    def _place_items(self, rng: np.random.Generator) -> None:
        c = self.client
        catalog = self.layout.catalog
        shapes: dict[str, tuple[int, int]] = {}
        next_id = 1
        for bin_id, entry in self.layout.spec.planogram.items():
            if entry.count == 0:
                continue
            item = catalog[entry.sku]
            if item.sku not in shapes:
                shapes[item.sku] = self._product_shapes(item)
            col, variants = shapes[item.sku]
            b = self.layout.bins[bin_id]
            positions = item_positions(b, item, entry.count)
            positions[:, 2] += 0.0
            orn = pb.getQuaternionFromEuler([0, 0, item_yaw(b, item)])
            weights_g = np.maximum(rng.normal(item.weight_g, item.sd_g, entry.count), 0.2 * item.weight_g)
            for pos, w in zip(positions, weights_g):
                vis = variants[unit_variant(item.sku, next_id)]  # each unit's own print (sim.appearance)
                body = pb.createMultiBody(float(w) / 1000.0, col, vis, pos.tolist(), orn, physicsClientId=c)
                pb.changeDynamics(
                    body, -1, lateralFriction=ITEM_FRICTION, rollingFriction=0.001, spinningFriction=0.001,
                    activationState=pb.ACTIVATION_STATE_ENABLE_SLEEPING, physicsClientId=c,
                )
                self.items[next_id] = ItemBody(next_id, body, item.sku, float(w) / 1000.0)
                self._body_item[body] = next_id
                self.ledger.add_item(ItemRecord(next_id, item.sku, float(w), bin_id, bin_id))
                next_id += 1

    def _product_shapes(self, item) -> tuple[int, list[int]]:
        """The SKU's collision shape and one visual shape per print variant: its label (`sim.appearance`) tinted."""
        c = self.client
        w, d, h = (s / 1000.0 for s in item.size_mm)
        if item.shape == "box":
            col = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=[w / 2, d / 2, h / 2], physicsClientId=c)
        else:
            col = pb.createCollisionShape(pb.GEOM_CYLINDER, radius=min(w, d) / 2, height=h, physicsClientId=c)
        mesh = str(product_label_mesh(item))
        variants = [
            pb.createVisualShape(pb.GEOM_MESH, fileName=mesh, rgbaColor=[*tint, 1.0], physicsClientId=c)
            for tint in unit_tints(item.sku).tolist()
        ]
        return col, variants
