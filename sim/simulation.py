"""One episode's world: clock, physics store, ledger, sensors, and the actors that act in it.

`Simulation.step()` is the one place the tick order lives (see `sim.clock`):
actors act -> physics -> ledger/pose update -> sensors sample what is due ->
messages published. The simulation steps anything that implements `Actor`;
it does not know what a shopper is.
"""
from __future__ import annotations

from dataclasses import astuple
from typing import Iterator, Protocol

from sim.appearance import product_reference
from sim.cameras import CameraRig
from sim.clock import PHYSICS_HZ, Clock
from sim.gates import GateRig, Person
from sim.layout import StoreLayout
from sim.loadcell import LoadCellRig
from sim.seeding import generator
from sim.settled import build_settled
from sim.stream import (
    BinInfo,
    CameraCalibration,
    GateInfo,
    GondolaInfo,
    Message,
    ProductInfo,
    StoreInfo,
)
from sim.vibration import StoreMotion

MAX_SETTLE_S = 8.0  # before opening, items come to rest and are put to sleep (see StoreWorld.settle_and_sleep)
# Once every shopper has left, the sensors keep streaming this long (within duration_s): a receipt is due within
# 2 s of its account's last exit (DESIGN §8), so the stack must see the empty store for longer than that.
AFTER_LAST_EXIT_S = 3.0


class Actor(Protocol):
    """Anything the simulation steps: a shopper, a test probe, a fault injector."""

    id: str
    account: str

    def act(self, sim: "Simulation") -> None: ...

    def position(self) -> tuple[float, float] | None: ...

    @property
    def done(self) -> bool: ...


class Sensor(Protocol):
    period_ticks: int

    def sample(self) -> list: ...

    def flush(self) -> list: ...


class Simulation:
    def __init__(self, layout: StoreLayout, seed: int, *, physics_hz: int = PHYSICS_HZ, cameras: bool = True) -> None:
        self.layout = layout
        self.seed = int(seed)
        self.clock = Clock(1.0 / physics_hz)
        built = build_settled(layout, self.seed, self.clock.dt_s, MAX_SETTLE_S)
        self.world = built.world
        self.settle_s = built.settle_s  # physics seconds the store took to come to rest (paid once: sim.settled)
        self.settled_from_cache = built.cached
        self.ledger = self.world.ledger
        self.actors: list[Actor] = []
        cells = layout.spec.sensors.load_cells
        self.load_cells = LoadCellRig(
            self.world.bin_ids,
            cells,
            self.clock,
            generator(seed, "load_cells"),
            self.world.plate_forces_n,
            self.world.plate_tare_n(),
            places=[(b.gondola, b.shelf, b.index) for b in (layout.bins[c] for c in self.world.bin_ids)],
            read_excitation=StoreMotion(layout.spec.gondolas, self.world, self._people, 1.0 / cells.rate_hz),
        )
        self.gates = GateRig(layout.spec.gates, layout.spec.floor_m, self.clock, self.ledger, self._people)
        self.sensors: list[Sensor] = [self.load_cells, self.gates]
        self.cameras: CameraRig | None = None  # cameras=False: a store without rendering (load-cell and gate tests)
        if cameras:
            self.cameras = CameraRig(layout, self.world.client, self.world.dynamic_bodies, self.clock, self.seed)
            self.sensors.append(self.cameras)

    @property
    def t_s(self) -> float:
        return self.clock.t_s

    def add_actor(self, actor: Actor) -> None:
        self.actors.append(actor)

    def add_sensor(self, sensor: Sensor) -> None:
        self.sensors.append(sensor)

    def step(self) -> list[Message]:
        for actor in self.actors:
            if not actor.done:
                actor.act(self)
        self.world.step()
        self.clock.advance()
        out: list[Message] = []
        for sensor in self.sensors:
            if self.clock.due(sensor.period_ticks):
                out.extend(sensor.sample())
        return out

    def run(self, duration_s: float, stop_when_done: bool = True) -> Iterator[Message]:
        """The whole stream: `StoreInfo`, then every message until `duration_s`, or (`stop_when_done`) until
        `AFTER_LAST_EXIT_S` after every actor is done, so the stack sees the last shopper's exit through."""
        yield self.store_info()
        end_tick = int(round(duration_s / self.clock.dt_s))
        tail_ticks = int(round(AFTER_LAST_EXIT_S / self.clock.dt_s))
        while self.clock.tick < end_tick:
            yield from self.step()
            if stop_when_done and self.actors and all(a.done for a in self.actors):
                end_tick = min(end_tick, self.clock.tick + tail_ticks)
                stop_when_done = False
        for sensor in self.sensors:
            yield from sensor.flush()

    def store_info(self) -> StoreInfo:
        """What the operator knows: floor plan, catalog, planogram at opening, calibrations, rates."""
        cameras = tuple(c for s in self.sensors for c in getattr(s, "calibrations", ()))
        rgb_cameras = tuple(c for s in self.sensors for c in getattr(s, "rgb_calibrations", ()))
        return describe_store(self.layout, cameras, self.clock.t_s, rgb_cameras)

    def close(self) -> None:
        if self.cameras is not None:
            self.cameras.close()
        self.world.close()

    def _people(self) -> list[Person]:
        return [Person(a.id, a.account, a.position()) for a in self.actors]


def describe_store(layout: StoreLayout, cameras: tuple[CameraCalibration, ...] = (), t_s: float = 0.0,
                   rgb_cameras: tuple[CameraCalibration, ...] = ()) -> StoreInfo:
    """The first message of a stream: the store as its operator knows it, and nothing else of the world.
    `cameras`, `rgb_cameras`: the published (not the true) calibrations of the depth and colour imagers."""
    spec = layout.spec
    return StoreInfo(
        t_s=t_s,
        store=spec.name,
        floor_m=spec.floor_m,
        gates=tuple(GateInfo(g.id, g.kind, g.at, g.width_m) for g in spec.gates),
        gondolas=tuple(
            GondolaInfo(g.id, g.at, g.facing, g.length_m, g.depth_m, g.height_m, g.shelves, g.bins_per_shelf)
            for g in spec.gondolas
        ),
        bins=tuple(BinInfo(*astuple(b)) for b in layout.bins.values()),
        catalog=tuple(
            ProductInfo(c.sku, c.name, c.price, c.weight_g, c.sd_g, c.shape, c.size_mm, product_reference(c))
            for c in spec.catalog
        ),
        planogram=tuple((b, e.sku, e.count) for b, e in spec.planogram.items()),
        cameras=cameras,
        load_cell_rate_hz=spec.sensors.load_cells.rate_hz,
        load_cell_batch=spec.sensors.load_cells.batch,
        rgb_cameras=rgb_cameras,
    )
