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

Room to stand: a standing shopper stays a JuPedSim agent (desired speed 0), so
walkers route around it; but a target inside someone's disc can never be
reached, the model only lets a walker press against it. `has_room` says
whether a disc fits at a point (inside the walls, clear of every other
shopper's disc and of the spot every walker has claimed to stand on), and the agents
choose stand-in-front points, meeting points and detours with it.
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
ARRIVE_S = 0.5  # on the last leg speed is at most the remaining distance / ARRIVE_S: one slows down onto a spot
ARRIVE_MIN_SPEED_MS = 0.1
PASS_GAP_M = 0.10  # a standing shopper this close to a walker's final spot is on it (the walk decides, not the route)
REPLAN_TICKS = 120  # a walker re-plans round standing shoppers at most once a second (physics ticks)
PERSONAL_GAP_M = 0.08  # free room kept between two discs when choosing where to stand
CLEAR_WAY_M = 0.2  # a walker's way to its next route corner keeps this far off walls and shelves, or it re-plans
PASS_ROOM_M = 0.08  # a way between a standing shopper and a shelf or another needs 2 x this beyond the discs


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


def standing_point(layout: StoreLayout, xy: tuple[float, float], radius_m: float | None = None) -> tuple[float, float] | None:
    """`xy` when a body's disc of `radius_m` (default `ROUTE_MARGIN_M`, a wide adult's) fits there on the
    walkable floor, else the nearest point where it does (None: it fits nowhere)."""
    room = _standing_room(layout, ROUTE_MARGIN_M if radius_m is None else round(float(radius_m), 4))
    if room.is_empty:
        return None
    p = Point(xy)
    if room.contains(p):
        return (float(xy[0]), float(xy[1]))
    q = nearest_points(room.buffer(-0.005), p)[0]
    return (float(q.x), float(q.y))


_ROOMS: list[tuple[StoreLayout, float, Polygon]] = []  # the last few (layout, radius) asked: checks ask many points


def _standing_room(layout: StoreLayout, radius_m: float) -> Polygon:
    for lay, r, room in _ROOMS:
        if lay is layout and r == radius_m:
            return room
    room = walkable_polygon(layout).buffer(-radius_m - 0.01)
    _ROOMS.insert(0, (layout, radius_m, room))
    del _ROOMS[8:]
    return room


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
        self._open = prep(self.area.buffer(0.02))
        self._walls = self.area.boundary
        self._clear_way = prep(self.area.buffer(-CLEAR_WAY_M))  # a straight way a body passes along
        self._snap_area = self.area.buffer(-0.05)
        self._stage = self.sim.add_direct_steering_stage()
        self._journey = self.sim.add_journey(jps.JourneyDescription([self._stage]))
        self._agents: dict[str, int] = {}
        self._speed: dict[str, float] = {}
        self.radius: dict[str, float] = {}
        self._claim: dict[str, tuple[float, float] | None] = {}  # a spot chosen to stand on, on the way there
        self._goal: dict[str, tuple[float, float] | None] = {}
        self._route: dict[str, list[tuple[float, float]]] = {}
        self.prev: dict[str, tuple[float, float]] = {}
        self.now: dict[str, tuple[float, float]] = {}
        # where JuPedSim's neighbourhood search holds each agent: it is refreshed at the start of an iteration,
        # so between two steps it still has the positions from before the last one (and agents marked for
        # removal); `add_agent` checks a new disc against these, not against `now` (see `is_free`)
        self._indexed: dict[str, tuple[tuple[float, float], float]] = {}
        self._leaving: list[tuple[tuple[float, float], float]] = []
        self._stepped_tick = -1
        self.tick = 0
        self._planned: dict[str, int] = {}  # shopper -> tick of its last route
        self._obs_key: tuple | None = None
        self._obs = None
        self.last_step_tick = 0

    # -- agents -------------------------------------------------------------

    def add(self, shopper: str, xy: tuple[float, float], radius_m: float, speed_ms: float) -> bool:
        """Put a shopper's disc on the floor at `xy`; False (nothing added) when JuPedSim rejects the position
        (too close to another disc or a wall): the caller tries again next tick."""
        params = jps.CollisionFreeSpeedModelAgentParameters(
            position=xy, journey_id=self._journey, stage_id=self._stage, desired_speed=speed_ms, radius=radius_m,
        )
        try:
            self._agents[shopper] = self.sim.add_agent(params)
        except RuntimeError as exc:  # jupedsim's SimulationError: "Model constraint violation: ... too close ..."
            if "too close" not in str(exc):
                raise
            return False
        self._indexed[shopper] = ((float(xy[0]), float(xy[1])), float(radius_m))
        self.sim.agent(self._agents[shopper]).model.desired_speed = 0.0
        self._speed[shopper] = speed_ms
        self.radius[shopper] = float(radius_m)
        self._claim[shopper] = None
        self._goal[shopper] = None
        self._route[shopper] = []
        self.prev[shopper] = self.now[shopper] = (float(xy[0]), float(xy[1]))
        return True

    def remove(self, shopper: str) -> None:
        self.sim.mark_agent_for_removal(self._agents.pop(shopper))
        if shopper in self._indexed:  # still in JuPedSim's neighbourhood search until the next step
            self._leaving.append(self._indexed.pop(shopper))
        for d in (self._speed, self.radius, self._claim, self._goal, self._route, self._planned, self.prev, self.now):
            d.pop(shopper, None)

    def is_free(self, xy: tuple[float, float], radius_m: float) -> bool:
        """A disc of `radius_m` can appear at `xy`: JuPedSim's own check when adding an agent (collision-free
        speed model: every other disc's centre farther than the two radii, every wall farther than the
        radius), made against the positions its neighbourhood search holds now (from before its last step,
        and agents marked for removal) as well as where the discs are now, with `PERSONAL_GAP_M` to spare."""
        if not self.area.contains(Point(xy)) or self._walls.distance(Point(xy)) <= radius_m:
            return False
        held = list(self._indexed.values()) + self._leaving
        held += [(p, self.radius[s]) for s, p in self.now.items()]
        return all(math.dist(xy, p) > radius_m + r + PERSONAL_GAP_M for p, r in held)

    def has_room(self, shopper: str, xy: tuple[float, float], radius_m: float | None = None, claims: bool = True) -> bool:
        """A disc of `shopper` fits at `xy`: inside the walls, clear of others' discs and (`claims`) of spots others
        have claimed to stand on."""
        r = self.radius[shopper] if radius_m is None else radius_m
        if not self._wall_clear(xy, r):
            return False
        for other, q in self.now.items():
            if other == shopper:
                continue
            need = r + self.radius[other] + PERSONAL_GAP_M
            if math.dist(xy, q) < need:
                return False
            g = self._claim.get(other) if claims else None
            if g is not None and math.dist(xy, g) < need:
                return False
        return True

    def clearance_m(self, xy: tuple[float, float]) -> float:
        """How far `xy` is from the nearest wall or shelf face (0 off the floor)."""
        p = Point(xy)
        return self._walls.distance(p) if self.area.contains(p) else 0.0

    def in_sight(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        """Nothing but floor between two points (no gondola in the way)."""
        return self._open.contains(LineString([a, b]))

    def route_length_m(self, a: tuple[float, float], b: tuple[float, float]) -> float:
        """Length of the shortest walk from `a` to `b` around the shelves (the routing engine's path)."""
        path = [a] + self._path(a, b) + [b]
        return sum(math.dist(p, q) for p, q in zip(path, path[1:]))

    def set_goal(self, shopper: str, goal: tuple[float, float], claim: bool = False) -> None:
        """Walk to `goal`; `claim`: to stand there, so nobody else chooses it meanwhile (`has_room`)."""
        goal = self.walkable_point(goal)
        self._claim[shopper] = goal if claim else None
        if self._goal.get(shopper) == goal:
            return
        self._goal[shopper] = goal
        self._plan(shopper)
        self.sim.agent(self._agents[shopper]).model.desired_speed = self._speed[shopper]
        self._aim(shopper)

    def hold(self, shopper: str) -> None:
        """Stand still where one is (still an obstacle to the others)."""
        self._goal[shopper] = None
        self._claim[shopper] = None
        self._route[shopper] = []
        agent = self.sim.agent(self._agents[shopper])
        agent.model.desired_speed = 0.0
        agent.target = self.now[shopper]

    def goal(self, shopper: str) -> tuple[float, float] | None:
        return self._goal.get(shopper)

    def to_go_m(self, shopper: str) -> float:
        """How far the shopper still has to walk along its route (0 when standing)."""
        route = self._route.get(shopper) or []
        if not route:
            return 0.0
        pts = [self.now[shopper]] + route
        return sum(math.dist(p, q) for p, q in zip(pts, pts[1:]))

    def heading_to(self, shopper: str) -> tuple[float, float] | None:
        """The point the shopper steers at now (the next corner of its route)."""
        route = self._route.get(shopper) or []
        return route[0] if route else None

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
        self.tick = tick
        self._indexed = {s: (self.now[s], self.radius[s]) for s in self._agents}  # what iterate() indexes first
        self._leaving = []
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
        if self.tick - self._planned.get(shopper, -10**9) >= REPLAN_TICKS and (
                self._blocked(shopper, here, route[0], final=len(route) == 1)
                or not self._clear_way.contains(LineString([here, route[0]]))):
            # someone stands across the way, or the walker was pushed off its route so that the way to its next
            # corner cuts a shelf's corner (it pressed into it for good): a new route from where it is
            self._plan(shopper)
            route = self._route[shopper]
        sight = self._obstacles()[1]
        while len(route) > 1 and (math.dist(here, route[0]) < WAYPOINT_REACHED_M or sight.contains(LineString([here, route[1]]))):
            route.pop(0)
        agent = self.sim.agent(self._agents[shopper])
        agent.target = route[0]
        if len(route) == 1:  # slow down onto the spot, so a shopper stops on it, not short or past it
            agent.model.desired_speed = min(self._speed[shopper], max(ARRIVE_MIN_SPEED_MS, math.dist(here, route[0]) / ARRIVE_S))
        else:
            agent.model.desired_speed = self._speed[shopper]

    # -- routes round the shelves and round whoever stands still ---------------

    def _plan(self, shopper: str) -> None:
        """The route to the shopper's goal: corners of the shortest path on the floor with standing shoppers cut out.

        The collision-free speed model only slows a walker down in front of a neighbour; aimed at a route
        corner behind someone who stands still it would press against them for ever. So standing
        shoppers are holes in the routing polygon (their disc plus a walker's). When they close a way
        entirely (or the goal lies in one), the route ignores them and the walker waits in the model.
        """
        self._planned[shopper] = self.tick
        here, goal = self.now[shopper], self._goal[shopper]
        self._route[shopper] = self._path(here, goal) + [goal]

    def _path(self, a: tuple[float, float], b: tuple[float, float]) -> list[tuple[float, float]]:
        """Route corners strictly between `a` and `b` (the routing polygon's shortest path)."""
        poly, _, parts = self._obstacles()
        start, end = self._route_point(a), self._route_point(b)
        for part, engine in parts:
            s, e = _snap_into(part, start), _snap_into(part, end)
            if s is not None and e is not None:
                break
        else:
            engine, s, e = self.router, start, end
        if s == e:
            return []
        return [tuple(p) for p in engine.compute_waypoints(s, e)][1:-1]

    def _obstacles(self):
        """(routing polygon, its prepared sight area, [(connected part, routing engine)]) for who stands now."""
        standing = tuple((s, self.now[s]) for s in self._agents if self._goal[s] is None)
        if standing == self._obs_key:
            return self._obs
        self._obs_key = standing
        if not standing:
            self._obs = (self.route_area, self._sight, [(self.route_area, self.router)])
            return self._obs
        holes = unary_union([Point(xy).buffer(self.radius[s] + ROUTE_MARGIN_M - 0.04, quad_segs=4) for s, xy in standing])
        # a gap only just wide enough for a disc is no way through: the model's repulsion from the neighbour
        # and the wall stops a walker in it (it pressed into a shelf corner for tens of seconds); the opening
        # drops passages narrower than 2 x `PASS_ROOM_M` (a walker then routes round the other way, or waits)
        poly = self.route_area.difference(holes).buffer(-PASS_ROOM_M).buffer(PASS_ROOM_M)
        parts = list(poly.geoms) if poly.geom_type == "MultiPolygon" else [poly] if poly.geom_type == "Polygon" else []
        parts = sorted((q for q in parts if q.area > 0.05), key=lambda q: -q.area)
        self._obs = (poly, prep(poly.buffer(0.05)), [(q, _LazyRouter(q)) for q in parts])
        return self._obs

    def _blocked(self, shopper: str, here: tuple[float, float], aim: tuple[float, float], final: bool) -> bool:
        """A standing shopper's disc lies across the straight way to `aim` (not one standing on the final spot)."""
        r = self.radius[shopper]
        dx, dy = aim[0] - here[0], aim[1] - here[1]
        seg2 = dx * dx + dy * dy
        for other, c in self.now.items():
            if other == shopper or self._goal.get(other) is not None:
                continue
            reach = r + self.radius[other]
            if final and math.dist(aim, c) < reach + PASS_GAP_M:
                continue
            t = 0.0 if seg2 < 1e-12 else max(0.0, min(1.0, ((c[0] - here[0]) * dx + (c[1] - here[1]) * dy) / seg2))
            if math.dist((here[0] + t * dx, here[1] + t * dy), c) < reach:
                return True
        return False

    def _wall_clear(self, xy: tuple[float, float], radius_m: float) -> bool:
        p = Point(xy)
        return self.area.contains(p) and self._walls.distance(p) >= radius_m - 0.02

    def _route_point(self, xy: tuple[float, float]) -> tuple[float, float]:
        p = Point(xy)
        if self.route_area.contains(p):
            return (float(xy[0]), float(xy[1]))
        q = nearest_points(self.route_area.buffer(-0.01), p)[0]
        return (float(q.x), float(q.y))


class _LazyRouter:
    """A JuPedSim routing engine for one polygon, built the first time a route is asked of it."""

    def __init__(self, polygon: Polygon) -> None:
        self.polygon = polygon
        self._engine = None

    def compute_waypoints(self, a, b):
        if self._engine is None:
            self._engine = jps.RoutingEngine(self.polygon)
        return self._engine.compute_waypoints(a, b)


def _snap_into(part: Polygon, xy: tuple[float, float], max_m: float = 0.6) -> tuple[float, float] | None:
    """`xy` if inside `part`, else the nearest point a little inside it when that is within `max_m`; None otherwise."""
    p = Point(xy)
    if part.contains(p):
        return (float(xy[0]), float(xy[1]))
    if part.distance(p) > max_m:
        return None
    inner = part.buffer(-0.01)
    q = nearest_points(inner if not inner.is_empty else part, p)[0]
    return (float(q.x), float(q.y))
