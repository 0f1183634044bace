"""Walking skills of an action: walk to a point through the crowd, step aside, wait out of the way.

A mixin of `agents.actions.base.Action`: each method is a generator (resumed
once per agent tick) or a query, working on the action's shopper (`self.sh`)
and the shared pedestrian floor (`self.sh.commons.floor`). An action's own
state (where it wants to face) lives on the action, never on the shopper.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Iterator

from agents.actions.errors import ScenarioFault
from agents.floor import PERSONAL_GAP_M, gate_outward

if TYPE_CHECKING:
    from agents.shopper import Shopper

WALK_TIMEOUT_S = 120.0
STUCK_S = 3.0  # no progress towards a walk's goal for this long: the goal is taken or the way is blocked
# One waiting for room at a shelf stands clear of every shelf-front spot: a spot is a disc of up to
# ~0.28 m at 0.04 m from the face, plus the gap kept between discs.
WAIT_BACK_M = 0.04 + 2 * 0.28 + 0.08  # from the shelf face to the near edge of a waiting shopper's disc


LANE_BODY_M = 0.28  # the widest shopper disc: one standing in a gate's lane keeps it this much plus a gap clear
LANE_POINTS_M = (0.6, 0.9, 1.3)  # inside a gate, where those coming in or going out walk (agents.actions.gates)


def gate_lanes(layout) -> tuple[tuple[float, float], ...]:
    """Points on the floor just inside every gate, on the way in and out: nobody waits there (a shopper waiting
    at a `sync` just inside the entrance kept the next one out for two minutes)."""
    pts = []
    for g in layout.spec.gates:
        ox, oy = gate_outward(g, layout.spec.floor_m)
        pts += [(g.at[0] - ox * d, g.at[1] - oy * d) for d in LANE_POINTS_M]
    return tuple(pts)


class WalkingSkills:
    sh: "Shopper"
    face_yaw: float | None

    def walk(self, goal: tuple[float, float], tol: float = 0.15, stuck_s: float | None = None,
             detour: bool = True, until: Callable[[], bool] | None = None, claim: bool = False, settle_m: float = 0.0,
             settle_ok: Callable[[tuple[float, float]], bool] | None = None) -> Iterator:
        """Walk to `goal` (the nearest walkable point to it); True once within `tol`.

        Progress along the route is watched, not speed (bodies jostle in place). With no progress for
        `stuck_s` (default `STUCK_S`) and someone standing on the goal or claiming it: given `stuck_s`, a
        walk to a claimed spot (or within a metre of the goal) gives up (False) so the caller can choose
        another spot; otherwise, within a metre, that is as close as it gets (True). With the way blocked (two
        walkers face to face, a knot of people) it steps aside to a free point and tries again (`detour`),
        or, as in a queue at a gate, keeps waiting. `until()` true ends the walk early (True). `claim`: the
        goal is a spot to stand on (see `PedestrianFloor.has_room`). `settle_m`: with no progress while
        within this of the goal, that is where one stands (True): the pedestrian model keeps a disc off
        walls and, when it walks towards a neighbour, about 0.2 m off its disc (its repulsion), so a spot a
        few cm off a shelf face beside someone may never be reached exactly. `settle_ok(here)`, when given,
        must also hold there, and within `tol` too (the hand still reaches what it came for); given `stuck_s`,
        a walk standing on its goal where `settle_ok` fails gives up (False): the spot will not do.
        """
        sh = self.sh
        floor = sh.commons.floor
        start = sh.t
        target = floor.walkable_point(goal)
        best, best_t = math.inf, sh.t
        aside: tuple[float, float] | None = None
        aside_until = 0.0
        self.face_yaw = None
        while True:
            here = floor.now[sh.id]
            dist = math.dist(here, target)
            if (dist < tol and (settle_ok is None or settle_ok(here))) or (until is not None and until()):
                break
            want = aside if aside is not None else target
            if floor.goal(sh.id) != floor.walkable_point(want):
                floor.set_goal(sh.id, want, claim=claim and aside is None)
            to_go = floor.to_go_m(sh.id) if aside is None else dist
            if to_go < best - 0.05:
                best, best_t = to_go, sh.t
            elif aside is None and sh.t - best_t > (stuck_s or STUCK_S):
                best_t = sh.t
                if dist < settle_m and (settle_ok is None or settle_ok(here)):
                    break  # as close as the model brings it: the caller's reach check decides if that will do
                if dist < tol and stuck_s is not None:
                    floor.hold(sh.id)
                    return False  # on the goal, and `settle_ok` fails there: no way round helps, the spot will not do
                taken = not floor.has_room(sh.id, target)
                if taken and stuck_s is not None and (claim or dist < 1.0):
                    floor.hold(sh.id)
                    return False  # someone stands on it: the caller chooses another spot
                if taken and detour and dist < 1.0:
                    break  # as close as it gets
                if detour:
                    aside = self.aside_point(here, floor.heading_to(sh.id) or target)
                    aside_until = sh.t + 2.5
            elif aside is not None and (math.dist(here, aside) < 0.15 or sh.t > aside_until):
                aside = None
                best, best_t = math.inf, sh.t
            if sh.t - start > WALK_TIMEOUT_S:
                floor.hold(sh.id)
                raise ScenarioFault(f"could not walk to ({target[0]:.2f}, {target[1]:.2f}) in {WALK_TIMEOUT_S:.0f} s")
            yield
        floor.hold(sh.id)
        return True

    def sleep(self, seconds: float) -> Iterator:
        end = self.sh.t + seconds
        while self.sh.t + 1e-9 < end:
            yield

    def aside_point(self, here: tuple[float, float], toward: tuple[float, float]) -> tuple[float, float] | None:
        """A free point half a metre or so to the side of the way to `toward`, the one nearest it (forward-diagonal
        before square to the side), to get round whoever blocks the way."""
        sh = self.sh
        floor = sh.commons.floor
        heading = math.atan2(toward[1] - here[1], toward[0] - here[0])
        best = None
        for turn in (math.pi / 4, -math.pi / 4, math.pi / 2, -math.pi / 2, 3 * math.pi / 4, -3 * math.pi / 4):
            for step in (0.6, 0.9):
                p = (here[0] + step * math.cos(heading + turn), here[1] + step * math.sin(heading + turn))
                if floor.has_room(sh.id, p, claims=False) and floor.in_sight(here, p):
                    d = math.dist(p, toward)
                    if best is None or d < best[0] - 1e-9:
                        best = (d, p)
        return None if best is None else best[1]

    def wait_spot(self, spot: tuple[float, float]) -> tuple[float, float] | None:
        """Somewhere to wait for `spot` to come free that keeps the shelf fronts clear: a free point within
        sight of it, `WAIT_BACK_M` or more from any shelf or wall, nearest to where the shopper is."""
        sh = self.sh
        floor = sh.commons.floor
        here = floor.now[sh.id]
        need = sh.build.radius_m + WAIT_BACK_M
        best = None
        for r in (0.8, 1.1, 1.4, 1.8):
            for k in range(16):
                p = (spot[0] + r * math.cos(k * math.pi / 8), spot[1] + r * math.sin(k * math.pi / 8))
                if floor.clearance_m(p) >= need and floor.has_room(sh.id, p) and floor.in_sight(p, spot):
                    d = round(math.dist(p, here), 6)
                    if best is None or (d, p) < best:
                        best = (d, p)
        return None if best is None else best[1]

    def step_away_spot(self, spot: tuple[float, float]) -> tuple[float, float] | None:
        """A free point a couple of metres from `spot`, as far from shelves and walls as can be (to give way)."""
        sh = self.sh
        floor = sh.commons.floor
        here = floor.now[sh.id]
        best = None
        for r in (1.5, 2.0, 2.5):
            for k in range(16):
                p = (spot[0] + r * math.cos(k * math.pi / 8), spot[1] + r * math.sin(k * math.pi / 8))
                if floor.has_room(sh.id, p):
                    key = (-round(floor.clearance_m(p), 2), round(math.dist(p, here), 6), p)
                    if best is None or key < best:
                        best = key
        return None if best is None else best[2]

    def room_near(self, xy: tuple[float, float], rings_m: tuple[float, ...] = (0.4, 0.7, 1.0)) -> tuple[float, float] | None:
        """The free point nearest `xy` on a few rings around it (someone stands on `xy` itself)."""
        sh = self.sh
        floor = sh.commons.floor
        here = floor.now[sh.id]
        for r in rings_m:
            pts = [(xy[0] + r * math.cos(k * math.pi / 8), xy[1] + r * math.sin(k * math.pi / 8)) for k in range(16)]
            pts = [p for p in pts if floor.has_room(sh.id, p) and floor.in_sight(p, xy)]
            if pts:
                return min(pts, key=lambda p: (round(math.dist(p, here), 6), p))
        return None

    def out_of_the_way(self) -> tuple[float, float] | None:
        """The free point nearest this shopper, in plain sight, whose disc covers no stand spot anyone waits for."""
        sh = self.sh
        floor, here = sh.commons.floor, sh.commons.floor.now[sh.id]
        for r in (0.5, 0.8, 1.1, 1.5, 2.0):
            pts = [(here[0] + r * math.cos(k * math.pi / 8), here[1] + r * math.sin(k * math.pi / 8)) for k in range(16)]
            pts = [p for p in pts if floor.has_room(sh.id, p) and floor.in_sight(here, p) and self.in_the_way(p) is None]
            if pts:
                return min(pts, key=lambda p: (-round(floor.clearance_m(p), 2), p))
        return None

    def in_the_way(self, at: tuple[float, float] | None = None) -> tuple[float, float] | None:
        """A stand spot another shopper waits for that this one's disc covers, standing where it is or `at`
        (None: in nobody's way)."""
        sh = self.sh
        floor = sh.commons.floor
        here = floor.now[sh.id] if at is None else at
        for other, spots in sorted(sh.commons.wanted.items()):
            if other == sh.id or other not in floor.radius or sh.commons.shoppers[other].script_over:
                continue
            need = sh.build.radius_m + floor.radius[other] + PERSONAL_GAP_M
            for p in spots:
                if math.dist(here, p) < need:
                    return p
        need = sh.build.radius_m + LANE_BODY_M + PERSONAL_GAP_M
        for p in gate_lanes(sh.commons.layout):
            if math.dist(here, p) < need:
                return p
        return None
