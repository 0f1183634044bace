"""Walking: the JuPedSim collision-free speed model on the store's walkable polygon.

The walkable polygon is the floor minus the gondola footprints, plus a short
corridor outside every gate opening (shoppers appear outside the entry gate
and leave the model outside the exit). JuPedSim's collision-free speed model
(Tordeux et al. 2016) keeps each shopper's disc clear of walls and of other
discs, so shoppers route around gondolas, wait for each other and queue at
gates. Each agent follows its own direct-steering stage; its target is the
next corner of the shortest path that JuPedSim's routing engine finds on the
walkable polygon shrunk by a body radius, so paths keep off shelf corners.

The model steps at the agents' rate (`AGENT_HZ`, a divisor of the physics
rate); bodies are moved to interpolated model positions every physics tick.
JuPedSim is deterministic for the same inputs, and agents are added and
steered in a fixed order.
"""
from __future__ import annotations

import math

import jupedsim as jps
from shapely.geometry import LineString, Point, Polygon, box
from shapely.ops import nearest_points, unary_union
from shapely.prepared import prep

from sim.layout import Gate, StoreLayout

AGENT_HZ = 20  # agents decide and the pedestrian model steps at 20 Hz (every 6th 120 Hz physics tick)
CORRIDOR_M = 2.0  # the walkable strip outside each gate opening
ROUTE_MARGIN_M = 0.28  # routes keep this far from walls and shelves (a wide adult's disc)
WAYPOINT_REACHED_M = 0.35


def gate_outward(gate: Gate, floor_m: tuple[float, float]) -> tuple[float, float]:
    x, y = gate.at
    if abs(y) < 1e-6:
        return (0.0, -1.0)
    if abs(y - floor_m[1]) < 1e-6:
        return (0.0, 1.0)
    if abs(x) < 1e-6:
        return (-1.0, 0.0)
    return (1.0, 0.0)


def walkable_polygon(layout: StoreLayout) -> Polygon:
    """Floor plus gate corridors, minus gondola footprints (shapely)."""
    w, d = layout.spec.floor_m
    parts = [box(0.0, 0.0, w, d)]
    for g in layout.spec.gates:
        ox, oy = gate_outward(g, layout.spec.floor_m)
        half = g.width_m / 2
        if ox == 0.0:
            y0, y1 = sorted((g.at[1], g.at[1] + oy * CORRIDOR_M))
            parts.append(box(g.at[0] - half, y0, g.at[0] + half, y1))
        else:
            x0, x1 = sorted((g.at[0], g.at[0] + ox * CORRIDOR_M))
            parts.append(box(x0, g.at[1] - half, x1, g.at[1] + half))
    area = unary_union(parts)
    shelves = unary_union([g.footprint() for g in layout.spec.gondolas])
    out = area.difference(shelves)
    if out.geom_type != "Polygon":  # a gondola cutting the floor in two leaves the largest piece walkable
        out = max(out.geoms, key=lambda p: p.area)
    return out.simplify(0.0)


class PedestrianFloor:
    """One JuPedSim simulation shared by every shopper of an episode."""

    def __init__(self, layout: StoreLayout, physics_dt_s: float) -> None:
        self.layout = layout
        self.area = walkable_polygon(layout)
        self.route_area = self.area.buffer(-ROUTE_MARGIN_M)
        if self.route_area.geom_type != "Polygon":
            self.route_area = max(self.route_area.geoms, key=lambda p: p.area)
        self.period_ticks = int(round(1.0 / (AGENT_HZ * physics_dt_s)))
        assert abs(self.period_ticks * physics_dt_s * AGENT_HZ - 1.0) < 1e-9, "agent rate must divide the physics rate"
        self.dt_s = self.period_ticks * physics_dt_s
        self.sim = jps.Simulation(model=jps.CollisionFreeSpeedModel(), geometry=self.area, dt=self.dt_s)
        self.router = jps.RoutingEngine(self.route_area)
        self._sight = prep(self.route_area.buffer(0.05))
        self._inner = prep(self.area.buffer(-0.02))
        self._snap_area = self.area.buffer(-0.05)
        self._stage = self.sim.add_direct_steering_stage()
        self._journey = self.sim.add_journey(jps.JourneyDescription([self._stage]))
        self._agents: dict[str, int] = {}
        self._speed: dict[str, float] = {}
        self._goal: dict[str, tuple[float, float] | None] = {}
        self._route: dict[str, list[tuple[float, float]]] = {}
        self.prev: dict[str, tuple[float, float]] = {}
        self.now: dict[str, tuple[float, float]] = {}
        self._stepped_tick = -1
        self.last_step_tick = 0

    # -- agents -------------------------------------------------------------

    def add(self, shopper: str, xy: tuple[float, float], radius_m: float, speed_ms: float) -> None:
        params = jps.CollisionFreeSpeedModelAgentParameters(
            position=xy, journey_id=self._journey, stage_id=self._stage, desired_speed=speed_ms, radius=radius_m,
        )
        self._agents[shopper] = self.sim.add_agent(params)
        self.sim.agent(self._agents[shopper]).model.desired_speed = 0.0
        self._speed[shopper] = speed_ms
        self._goal[shopper] = None
        self._route[shopper] = []
        self.prev[shopper] = self.now[shopper] = (float(xy[0]), float(xy[1]))

    def remove(self, shopper: str) -> None:
        self.sim.mark_agent_for_removal(self._agents.pop(shopper))
        for d in (self._speed, self._goal, self._route, self.prev, self.now):
            d.pop(shopper, None)

    def is_free(self, xy: tuple[float, float], radius_m: float) -> bool:
        """No agent's disc within `radius_m` of `xy` plus its own (somewhere to appear)."""
        return all(math.dist(xy, p) > radius_m + 0.35 for p in self.now.values())

    def set_goal(self, shopper: str, goal: tuple[float, float]) -> None:
        goal = self.walkable_point(goal)
        if self._goal.get(shopper) == goal:
            return
        self._goal[shopper] = goal
        here = self.now[shopper]
        start, end = self._route_point(here), self._route_point(goal)
        path = [tuple(p) for p in self.router.compute_waypoints(start, end)] if start != end else []
        self._route[shopper] = [p for p in path[1:-1]] + [goal]
        self.sim.agent(self._agents[shopper]).model.desired_speed = self._speed[shopper]
        self._aim(shopper)

    def hold(self, shopper: str) -> None:
        """Stand still where one is (still an obstacle to the others)."""
        self._goal[shopper] = None
        self._route[shopper] = []
        agent = self.sim.agent(self._agents[shopper])
        agent.model.desired_speed = 0.0
        agent.target = self.now[shopper]

    def goal(self, shopper: str) -> tuple[float, float] | None:
        return self._goal.get(shopper)

    def walkable_point(self, xy: tuple[float, float]) -> tuple[float, float]:
        """`xy`, or the nearest point a little inside the walkable area."""
        p = Point(xy)
        if self._inner.contains(p):
            return (float(xy[0]), float(xy[1]))
        q = nearest_points(self._snap_area, p)[0]
        return (float(q.x), float(q.y))

    # -- stepping -----------------------------------------------------------

    def advance(self, tick: int) -> None:
        """Step the model once per agent period (the first shopper to act in a tick does it)."""
        if tick % self.period_ticks or tick == self._stepped_tick:
            return
        self._stepped_tick = tick
        for shopper in self._agents:
            if self._goal[shopper] is not None:
                self._aim(shopper)
        self.sim.iterate()
        self.last_step_tick = tick
        for shopper, aid in self._agents.items():
            self.prev[shopper] = self.now[shopper]
            p = self.sim.agent(aid).position
            self.now[shopper] = (float(p[0]), float(p[1]))

    def interpolated(self, shopper: str, tick: int) -> tuple[float, float]:
        """The body's position this physics tick: model positions, one agent step behind, blended."""
        frac = min(1.0, (tick - self.last_step_tick + 1) / self.period_ticks)
        (x0, y0), (x1, y1) = self.prev[shopper], self.now[shopper]
        return (x0 + (x1 - x0) * frac, y0 + (y1 - y0) * frac)

    def _aim(self, shopper: str) -> None:
        route = self._route[shopper]
        here = self.now[shopper]
        while len(route) > 1 and (math.dist(here, route[0]) < WAYPOINT_REACHED_M or self._visible(here, route[1])):
            route.pop(0)
        self.sim.agent(self._agents[shopper]).target = route[0]

    def _visible(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        return self._sight.contains(LineString([a, b]))

    def _route_point(self, xy: tuple[float, float]) -> tuple[float, float]:
        p = Point(xy)
        if self.route_area.contains(p):
            return (float(xy[0]), float(xy[1]))
        q = nearest_points(self.route_area.buffer(-0.01), p)[0]
        return (float(q.x), float(q.y))
