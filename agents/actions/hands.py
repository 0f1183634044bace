"""Hand skills of an action: stand at a bin in the stance `agents.reach` plans, take the posture, move a hand.

A mixin of `agents.actions.base.Action` (see `agents.actions.moves` for the
walking ones). The body's goals (posture, where each hand goes) belong to
the shopper, since it has one body; the shopper's `_drive` moves the body
towards them every physics tick.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Iterator

import numpy as np

from agents import reach as rc
from agents.actions.errors import Crowded, OutOfReach
from agents.actions.moves import STUCK_S, WAIT_BACK_M, WALK_TIMEOUT_S
from sim import manipulation as mp
from sim.layout import Bin

if TYPE_CHECKING:
    from agents.shopper import Shopper

STAND_TOL_M = 0.05  # how close to its chosen spot a shopper stops before reaching into a bin
STAND_SETTLE_M = 0.15  # ...or, making no progress, how close will do (the reach check then decides, see `walk`)
PATIENCE_S = 6.0  # waiting this long for room at a shelf, a shopper steps away for a while (breaks circular waits)
GIVE_WAY_S = (2.0, 5.0)
WAIT_TOL_M = 0.15  # this near the spot to wait at, one waits there (patience counts from then)
MAX_SLIDE_M = 0.30  # the farthest a shopper stands slid along the shelf from square in front of what it reaches
SLIDE_STEP_M = 0.05
# The pedestrian model stops a walker a few mm off its spot (on the last leg it still moves `ARRIVE_MIN_SPEED_MS`,
# 5 mm a step) and a neighbour's push moves it more. A planned stance is the nearest the shelf that reaches, so
# over a low bin, bent as far as one bends, a body a few mm nearer puts the head into the shelf and one a few mm
# farther the hand short: a spot is stood on where the hand reaches from this far off it, every way, when such a
# place lies within `STEADY_BAND_M` out or in from it (`steady_spot`).
STOP_ERR_M = 0.01
STEADY_BAND_M = 0.04
STEADY_STEP_M = 0.0025


class HandSkills:
    sh: "Shopper"
    face_yaw: float | None

    def plan_stance(self, b: Bin, palm: np.ndarray) -> rc.Stance | str:
        return rc.plan_reach(self.sh.build, b, palm, rc.is_top_shelf(b, self.sh.commons.layout.bins))

    def stand_at(self, b: Bin, palm: np.ndarray, stance: rc.Stance) -> Iterator:
        """Walk to a free spot in front of bin `b` from which the right hand reaches `palm` in `stance`, and
        turn to the shelf.

        The spot that puts the right shoulder square in front of `palm` comes first; when another shopper
        stands there or is heading there, the nearest free one along the shelf that is still within reach.
        When none is free, the shopper waits near the bin until one is (as people queue at a shelf), and
        after `WALK_TIMEOUT_S` gives up on the step (`Crowded`: the script goes on without it). Each spot is
        stood on where the body may stop `STOP_ERR_M` off it and still reach (`steady_spot`). Standing on a spot
        (nobody else on it) where the planned reach fails, the shopper is a body already there: with
        `agents.reach.REACH_SLACK_M` the hand gets in, or that spot is dropped; with none left, the bin is out
        of reach from anywhere it can stand (`OutOfReach`). No wait for room is spent on a spot it stood on.
        """
        sh = self.sh
        floor = sh.commons.floor
        start = sh.t
        spots = self.stand_spots(b, palm, stance)
        yaw = math.atan2(-b.facing[1], -b.facing[0])
        steady: dict[tuple[float, float], tuple[float, float]] = {}  # spot -> where to stand for it (`steady_spot`)

        def reaches(here: tuple[float, float]) -> bool:
            return self.reaches_from(b, palm, stance, here)

        def first_free() -> tuple[tuple[float, float], tuple[float, float]] | None:
            """(spot, where to stand for it) for the best spot with room."""
            for p in spots:
                if not floor.has_room(sh.id, p):
                    continue
                if p not in steady:
                    steady[p] = self.steady_spot(b, palm, stance, p)
                if floor.has_room(sh.id, steady[p]):
                    return p, steady[p]
            return None

        tried_at = None
        waiting_since: float | None = None
        while True:
            if not spots:
                floor.hold(sh.id)
                sh.commons.wanted.pop(sh.id, None)
                raise OutOfReach(f"no spot in front of bin {b.id} from which the hand gets in")
            free = first_free()
            if free:
                sh.commons.wanted.pop(sh.id, None)
            else:
                sh.commons.wanted[sh.id] = spots  # one waiting at a sync point on one of these gives way
            if free:
                waiting_since = None
                spot, at = free
                if (yield from self.walk(at, tol=STAND_TOL_M, stuck_s=STUCK_S, claim=True,
                                         settle_m=STAND_SETTLE_M, settle_ok=reaches)):
                    break
                here = floor.now[sh.id]
                if math.dist(here, at) < STAND_TOL_M and floor.has_room(sh.id, at):  # on it, and not by a push
                    if self.reaches_from(b, palm, stance, here, slack_m=rc.REACH_SLACK_M):
                        break
                    spots.remove(spot)
                    continue
            elif math.dist(floor.now[sh.id], floor.walkable_point(spots[0])) > 1.2:
                yield from self.walk(spots[0], tol=1.2, stuck_s=STUCK_S)  # come close, then wait for room
            elif waiting_since is not None and sh.t - waiting_since > PATIENCE_S and (
                    away := self.step_away_spot(spots[0])) is not None:
                # waited long enough: perhaps those in the way wait for where one stands, or cannot get past
                # where one waits (a walker stuck at a shelf corner); give way a while
                yield from self.walk(away, tol=0.3, stuck_s=STUCK_S)
                yield from self.sleep(float(sh.rng.uniform(*GIVE_WAY_S)))
                waiting_since = None
            elif floor.clearance_m(floor.now[sh.id]) < sh.build.radius_m + WAIT_BACK_M - 0.05 and (
                    wait := self.wait_spot(spots[0])) is not None and math.dist(floor.now[sh.id], wait) > WAIT_TOL_M:
                yield from self.walk(wait, tol=WAIT_TOL_M, stuck_s=STUCK_S)  # wait out of the way, not in front of a shelf
            else:
                waiting_since = sh.t if waiting_since is None else waiting_since
                floor.hold(sh.id)
                yield from self.sleep(0.5)
            if sh.t == tried_at:
                yield  # a walk that ended where it began: let time pass before choosing again
            tried_at = sh.t
            if sh.t - start > WALK_TIMEOUT_S:
                floor.hold(sh.id)
                sh.commons.wanted.pop(sh.id, None)
                raise Crowded(f"gave up after waiting {WALK_TIMEOUT_S:.0f} s for room in front of bin {b.id}")
        sh.commons.wanted.pop(sh.id, None)
        self.face_yaw = yaw
        while abs(_wrap(yaw - sh.yaw)) > 0.05:
            yield

    def reaches_from(self, b: Bin, palm: np.ndarray, stance: rc.Stance, here: tuple[float, float],
                     slack_m: float = -rc.PLAN_MARGIN_M) -> bool:
        """Standing at `here` (short of a spot, or off it), in the posture for there, the hand gets to `palm`
        (`slack_m` as `agents.reach.arm_problem` has it: a plan's margin by default)."""
        sh = self.sh
        top = rc.is_top_shelf(b, sh.commons.layout.bins)
        at = rc.stance_at(sh.build, b, palm, here, stance.tiptoe_m, top, slack_m=slack_m)
        rot, origin = rc.torso_pose(sh.build, here, math.atan2(-b.facing[1], -b.facing[0]), at.crouch_m,
                                    at.waist_rad, at.tiptoe_m)
        return rc.arm_problem(sh.build, rot, origin, palm, b, top, slack_m=slack_m) is None

    def steady_spot(self, b: Bin, palm: np.ndarray, stance: rc.Stance, spot: tuple[float, float]) -> tuple[float, float]:
        """Where to stand for `spot`: `spot` itself when a body stopped up to `STOP_ERR_M` off it, any way, still
        reaches `palm`; else the nearest point on the line out from the shelf through it, within `STEADY_BAND_M`
        (the disc no nearer the face than a stance stands), that has that room; else `spot` after all."""
        fx, fy = b.facing
        rx, ry = b.right

        def ok(k: int, along: float = 0.0) -> bool:  # k steps of STEADY_STEP_M out from the spot
            o = k * STEADY_STEP_M
            return self.reaches_from(b, palm, stance, (spot[0] + fx * o + rx * along, spot[1] + fy * o + ry * along))

        def steady(k: int, good) -> bool:
            return all(good(k + j) for j in range(-n, n + 1)) and ok(k, -STOP_ERR_M) and ok(k, STOP_ERR_M)

        n = int(round(STOP_ERR_M / STEADY_STEP_M))
        if steady(0, ok):
            return spot
        out = (spot[0] - b.front[0]) * fx + (spot[1] - b.front[1]) * fy
        nearest = self.sh.build.radius_m + rc.STAND_GAP_M - out  # the disc keeps its gap to the face
        m = int(round(STEADY_BAND_M / STEADY_STEP_M))
        good = {k: ok(k) for k in range(-m, m + 1) if k * STEADY_STEP_M >= nearest - 1e-9}
        for k in sorted(good, key=lambda k: (abs(k), k)):
            if steady(k, lambda j: good.get(j, False)):
                return (spot[0] + fx * k * STEADY_STEP_M, spot[1] + fy * k * STEADY_STEP_M)
        return spot

    def stand_spots(self, b: Bin, palm: np.ndarray, stance: rc.Stance) -> list[tuple[float, float]]:
        """Where one can stand to reach `palm` in bin `b`, best first: right shoulder square in front, then
        slid along the shelf while the hand still gets there in that stance (`agents.reach`)."""
        sh = self.sh
        top = rc.is_top_shelf(b, sh.commons.layout.bins)
        here = sh.commons.floor.now[sh.id]
        out = []
        for k in range(int(MAX_SLIDE_M / SLIDE_STEP_M + 1e-9) + 1):
            for slide in ((0.0,) if k == 0 else (-SLIDE_STEP_M * k, SLIDE_STEP_M * k)):
                slid = rc.stance_at(sh.build, b, palm, rc.stand_point(sh.build, b, palm, stance.stand_off_m, slide),
                                    stance.tiptoe_m, top)
                slid = rc.Stance(slid.stand_off_m, slid.crouch_m, slid.waist_rad, slid.tiptoe_m, slide)
                if k == 0 or rc.stance_problem(sh.build, b, palm, slid, top) is None:
                    xy = rc.stand_point(sh.build, b, palm, stance.stand_off_m, slide)
                    out.append((k, math.dist(here, xy), xy))
        out.sort(key=lambda c: (c[0], round(c[1], 6)))
        return [xy for _, _, xy in out]

    def take_stance(self, b: Bin, palm: np.ndarray, stance: rc.Stance) -> Iterator:
        """Crouch, lean in and rise on tiptoe for `palm` from where the body stands now (the planned stance's
        tiptoe; crouch and lean for the actual distance: a spot slid along the shelf is farther); done once
        the body is there."""
        sh = self.sh
        stance = rc.stance_at(sh.build, b, palm, sh.commons.floor.now[sh.id], stance.tiptoe_m,
                              rc.is_top_shelf(b, sh.commons.layout.bins))
        sh.crouch_goal, sh.waist_goal, sh.tiptoe_goal = stance.crouch_m, stance.waist_rad, stance.tiptoe_m
        while (abs(sh.crouch - sh.crouch_goal) > 1e-3 or abs(sh.waist - sh.waist_goal) > 1e-3
               or abs(sh.tiptoe - sh.tiptoe_goal) > 1e-3):
            yield

    def reach_blocked(self, b: Bin, palm: np.ndarray) -> str | None:
        """Why the right hand cannot get to `palm` in bin `b` from where the body is now (None: it can)."""
        sh = self.sh
        rot, origin = sh.body.torso_to_world()
        return rc.arm_problem(sh.build, rot, origin, palm, b, rc.is_top_shelf(b, sh.commons.layout.bins),
                              prefer_yaw=sh.body._arm_yaw["right"], lip_clear_m=rc.LIP_CLEAR_M - rc.LIP_GIVE_M)

    def hand_to(self, side: str, target: np.ndarray, tol: float = 0.04, timeout_s: float = 2.5,
                hand_angle: float | None = None) -> Iterator:
        """Move a hand to `target` (at most `timeout_s`); `hand_angle`: the wrist points it (`arm_ik_hand`)."""
        sh = self.sh
        sh.hand_goal[side] = np.asarray(target, dtype=float)
        sh.hand_angle[side] = hand_angle
        if sh.hand_cmd[side] is None:
            sh.hand_cmd[side] = sh.body.palm_world(side)
        start = sh.t
        while True:
            yield
            cmd_there = np.allclose(sh.hand_cmd[side], sh.hand_goal[side])
            if cmd_there and np.linalg.norm(sh.body.palm_world(side) - sh.hand_goal[side]) < tol:
                return
            if sh.t - start > timeout_s:
                return

    def stow(self, item: int) -> Iterator:
        """Hand over the basket, let go: the item rides in the basket from now on."""
        sh = self.sh
        slot_pos, _ = sh.body.basket_slot(len(sh.carried))
        yield from self.hand_to("right", np.array(slot_pos) + np.array([0, 0, 0.14]), tol=0.06)
        if item in sh.grips:
            mp.release(sh.world, sh.grips.pop(item))
        sh.upright.pop(item, None)
        mp.make_carried(sh.world, item)
        sh.carried.append(item)
        sh.sim.ledger.stow(item, sh.id)

    def rest(self) -> Iterator:
        """Arms down, stand straight, heels down."""
        sh = self.sh
        sh.hand_goal["right"] = sh.hand_goal["left"] = None
        sh.hand_cmd["right"] = sh.hand_cmd["left"] = None
        sh.hand_angle["right"] = sh.hand_angle["left"] = None
        sh.crouch_goal, sh.waist_goal, sh.tiptoe_goal = 0.0, 0.0, 0.0
        sh.body.aim_hand("right", None)
        sh.body.aim_hand("left", None)
        while abs(sh.crouch) > 1e-3 or abs(sh.waist) > 1e-3 or abs(sh.tiptoe) > 1e-3:
            yield


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi
