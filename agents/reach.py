"""Where a shopper must stand, and how, to get a hand to a point in a bin: pure geometry, no physics.

The same functions decide at load time (`agents.script_check`: a scripted
step no body of that build could do is refused with file, line and key) and
at run time (`agents.actions.shelf`: where to stand, how far to crouch, lean
or rise on tiptoe, and the check before the hand goes in), so a scenario that
validates is one its shoppers can do.

What a person does at a shelf (the grasp geometry decides, not a margin):
the right shoulder square in front of the item, close to the shelf; for a low
bin a crouch, for a deep one a lean at the waist; for a high one the arm
raised, a step back so the arm comes in straighter (a bent arm under a high
shelf comes up steeply from below, through the lip), and tiptoe. The
forearm must pass the bin's open front between the plate's lip and the shelf
above, `LIP_CLEAR_M` clear of each (the arm's links pass through shelf
structure in the physics, see `sim.manipulation`, so this check is what keeps
a hand from going through a plate). `plan_reach` tries the stances nearest
the shelf first and returns the first that works, or why none does.

Body proportions are `agents.body.Build`'s (Drillis & Contini 1966). Tiptoe:
a standing heel raise lifts the body by about 4 % of stature (7 cm for a
1.72 m adult; heel-raise height in the calf-raise test, Hebert-Losier et al.
2017, 6-10 cm).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from agents.body import Build, arm_ik_hand, arm_points
from sim.layout import Bin

REACH_SLACK_M = 0.03  # a target this far past the arm's length is still reached (shoulder and torso give a little)
PLAN_MARGIN_M = 0.03  # a stance is planned with the target this far inside the arm's length (a hand at full stretch, on
# position motors holding an item, stops short of it)
LIP_CLEAR_M = 0.03  # a forearm (about 3 cm thick) entering a bin keeps this far off the plate's lip and the shelf above
LIP_GIVE_M = 0.01  # ...planned; a body already there may be this much nearer (still clear by half a centimetre)
STAND_GAP_M = 0.04  # the body's disc stops this far from the shelf face
STEP_BACK_M = (0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30)  # stances tried, nearest the shelf first
TIPTOE_FRAC = 0.04  # a heel raise lifts the body by this share of stature
MAX_WAIST_RAD = 0.9  # the most a shopper bends forward at the waist over a shelf (about 50 degrees)
CROUCH_ABOVE_M = 0.30  # a low target: crouch until the shoulder is at most this far above it
BODY_CLEAR_M = 0.0  # how far a head or chest may overlap the shelf face (none)
LEVEL_BELOW_SHOULDER_M = 0.30
UPRIGHT_ABOVE_M = 0.15  # a target higher than this under the shoulder is reached standing straight
HAND_LEVEL = -math.pi / 2  # a hand into a bin goes in level, pointing at the shelf (`agents.body.arm_ik_hand`)


@dataclass(frozen=True)
class Stance:
    """How to stand at a bin to reach a point in it: the disc's distance from the shelf face (its centre),
    how far the right shoulder is slid along the shelf from square in front of the point, and the posture."""

    stand_off_m: float
    crouch_m: float
    waist_rad: float
    tiptoe_m: float
    slide_m: float = 0.0


def tiptoe_m(build: Build) -> float:
    return TIPTOE_FRAC * build.height_m


def posture(build: Build, palm_z: float, level_m: float) -> tuple[float, float]:
    """(crouch, waist) for a target `palm_z` high at `level_m` level distance from the shoulder: crouch for a
    low target, lean in at the waist for a far one."""
    crouch = min(max(build.shoulder_m - (palm_z + CROUCH_ABOVE_M), 0.0), build.max_crouch_m)
    dist = math.hypot(level_m, build.shoulder_m - crouch - palm_z)
    waist = min(max((dist - 0.92 * build.reach_m) / max(build.torso_len_m, 0.2), 0.0), MAX_WAIST_RAD)
    return crouch, waist


def torso_pose(build: Build, xy: tuple[float, float], yaw: float, crouch_m: float, waist_rad: float,
               tiptoe: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(rotation 3x3, origin) of the torso frame for a body standing at `xy` turned to `yaw` in a posture
    (as `agents.body.ShopperBody.torso_to_world` has it for the body itself)."""
    cy, sy = math.cos(yaw), math.sin(yaw)
    rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    cp, sp = math.cos(waist_rad), math.sin(waist_rad)
    ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
    return rz @ ry, np.array([xy[0], xy[1], build.hip_m - crouch_m + tiptoe])


def arm_problem(build: Build, rot: np.ndarray, origin: np.ndarray, palm: np.ndarray, b: Bin, top_shelf: bool,
                hand_angle: float | None = HAND_LEVEL, prefer_yaw: float = 0.0, slack_m: float = REACH_SLACK_M,
                lip_clear_m: float = LIP_CLEAR_M) -> str | None:
    """Why the right hand cannot get to `palm` in bin `b` from a torso at (`rot`, `origin`); None: it can.

    The arm must reach it, and what crosses the bin's open front (the hand, the wrist bent as
    `agents.body.arm_ik_hand` bends it for `hand_angle`, or the forearm when the wrist goes in too) must
    cross it between the plate's lip and the shelf above (none above a top shelf), `LIP_CLEAR_M` clear of
    each: a hand coming up from under a high shelf, or down over a low one too steeply, would go through
    the lip. `slack_m`: how far past the arm's length still counts (a plan uses none; a body already
    there, `REACH_SLACK_M`); `lip_clear_m` likewise for the lip and the shelf above (a body already there,
    in the pose it actually took, `LIP_CLEAR_M - LIP_GIVE_M`)."""
    shoulder_l = np.array([0.0, -build.shoulder_width_m / 2, build.torso_len_m])
    if hand_angle is HAND_LEVEL:
        hand_angle = hand_angle_for(float((origin + rot @ shoulder_l)[2]), float(palm[2]))
    local = rot.T @ (np.asarray(palm, dtype=float) - origin) - shoulder_l
    l1, lf, lh = build.upper_arm_m, build.forearm_m, build.grip_m
    dist = float(np.linalg.norm(local))
    if dist > l1 + lf + lh + slack_m:
        over = dist - (l1 + lf + lh)
        return f"{over:.2f} m beyond arm's length" if over > 0.005 else "at full stretch, with no margin to hold an item"
    q = arm_ik_hand(local, l1, lf, lh, hand_angle, prefer_yaw)
    elbow, wrist, _ = (origin + rot @ (shoulder_l + p) for p in arm_points(q, l1, lf, lh))
    palm = np.asarray(palm, dtype=float)
    fx, fy = b.facing

    def out(p: np.ndarray) -> float:  # in front of the face > 0
        return (p[0] - b.front[0]) * fx + (p[1] - b.front[1]) * fy

    po, wo, eo = out(palm), out(wrist), out(elbow)
    if po >= 0.0:
        return None  # the hand stops at the front
    if wo > 0.0:
        cross = wrist[2] + (palm[2] - wrist[2]) * wo / (wo - po)  # the hand crosses the front
    elif eo > 0.0:
        cross = elbow[2] + (wrist[2] - elbow[2]) * eo / (eo - wo)  # the forearm does
    else:
        return None  # the elbow goes in too (a deep bin at head height)
    low, high = b.center[2] + lip_clear_m, b.center[2] + b.clearance_m - lip_clear_m
    if cross < low:
        return f"the {'hand' if wo > 0.0 else 'forearm'} would pass {low - cross:.2f} m under the lip"
    if cross > high and not top_shelf:
        return f"the {'hand' if wo > 0.0 else 'forearm'} would pass {cross - high:.2f} m through the shelf above"
    return None


def hand_angle_for(shoulder_z: float, palm_z: float) -> float | None:
    """How the hand goes into a bin: level (`HAND_LEVEL`) into one at or above chest height, where a
    forearm coming up from below would cross the lip; straight on from the forearm into a lower one,
    which the forearm reaches down into from above (a wrist bent level there would be at its limit)."""
    return HAND_LEVEL if palm_z > shoulder_z - LEVEL_BELOW_SHOULDER_M else None


def body_problem(build: Build, rot: np.ndarray, origin: np.ndarray, b: Bin, top_shelf: bool) -> str | None:
    """Why a torso at (`rot`, `origin`) would go into the shelf of bin `b` (None: it stays out): bending
    over a low bin, the head and the chest's front edge stay in front of the shelf face, unless they are
    over the gondola's top (above a top shelf's clearance). Bodies do not collide with plates in the physics
    (`sim.manipulation`), so this is what keeps a head from resting on one."""
    head_up = build.torso_len_m + 0.5 * build.head_r_m + 0.06 * build.height_m / 1.75 + 0.02
    parts = (("head", np.array([0.0, 0.0, head_up]), build.head_r_m),
             ("chest", np.array([build.torso_half_depth_m, 0.0, build.torso_len_m]), 0.0))
    fx, fy = b.facing
    for name, local, radius in parts:
        p = origin + rot @ local
        if top_shelf and p[2] - radius > b.center[2] + b.clearance_m:
            continue
        inside = radius - ((p[0] - b.front[0]) * fx + (p[1] - b.front[1]) * fy)
        if inside > BODY_CLEAR_M:
            return f"the {name} would go {inside:.2f} m into the shelf"
    return None


def stand_point(build: Build, b: Bin, palm: np.ndarray, stand_off_m: float, slide_m: float = 0.0) -> tuple[float, float]:
    """The disc's centre for a stance: `stand_off_m` out from the face, right shoulder square in front of
    `palm` (slid `slide_m` along the shelf, to the shopper's right for > 0)."""
    fx, fy = b.facing
    rx, ry = b.right
    u = (palm[0] - b.front[0]) * rx + (palm[1] - b.front[1]) * ry
    along = u - build.shoulder_width_m / 2 + slide_m
    return (b.front[0] + rx * along + fx * stand_off_m, b.front[1] + ry * along + fy * stand_off_m)


def stance_problem(build: Build, b: Bin, palm: np.ndarray, stance: Stance, top_shelf: bool) -> str | None:
    """`arm_problem` for a body standing in `stance` (the body faces the shelf square on)."""
    fx, fy = b.facing
    xy = stand_point(build, b, palm, stance.stand_off_m, stance.slide_m)
    rot, origin = torso_pose(build, xy, math.atan2(-fy, -fx), stance.crouch_m, stance.waist_rad, stance.tiptoe_m)
    return body_problem(build, rot, origin, b, top_shelf) or arm_problem(build, rot, origin, palm, b, top_shelf, slack_m=-PLAN_MARGIN_M)


def stance_at(build: Build, b: Bin, palm: np.ndarray, xy: tuple[float, float], tiptoe: float,
              top_shelf: bool = False, slack_m: float = -PLAN_MARGIN_M) -> Stance:
    """The posture for a body standing at `xy` (facing bin `b`) to reach `palm`: crouch as `posture` has it
    for the level distance from there, and the bend at the waist nearest `posture`'s (deeper first, up to
    `MAX_WAIST_RAD`) that keeps the head and chest out of the shelf (`body_problem`) and with which the hand
    gets there; on tiptoe as planned when it does not crouch. When none will do, the first that keeps the
    body out (the caller's check says why the hand does not get there)."""
    fx, fy = b.facing
    rx, ry = b.right
    sx, sy = xy[0] + rx * build.shoulder_width_m / 2, xy[1] + ry * build.shoulder_width_m / 2
    crouch, waist = posture(build, float(palm[2]), math.hypot(palm[0] - sx, palm[1] - sy))
    rise = tiptoe if crouch == 0.0 else 0.0
    out = (xy[0] - b.front[0]) * fx + (xy[1] - b.front[1]) * fy
    yaw = math.atan2(-fy, -fx)
    if palm[2] > build.shoulder_m - crouch - UPRIGHT_ABOVE_M:
        deeper, straighter = [0.0], []  # reaching up, one stands straight (bending in only lowers the shoulder)
    else:
        deeper = [waist] + [float(w) for w in np.arange(0.1, MAX_WAIST_RAD + 1e-9, 0.1) if w > waist + 1e-9]
        straighter = [float(w) for w in np.arange(waist - 0.1, -1e-9, -0.1)] + ([0.0] if waist > 0.0 else [])
    fits = None
    for w in deeper + straighter:
        rot, origin = torso_pose(build, xy, yaw, crouch, w, rise)
        if body_problem(build, rot, origin, b, top_shelf) is not None:
            continue
        fits = w if fits is None else fits
        if arm_problem(build, rot, origin, palm, b, top_shelf, slack_m=slack_m) is None:
            return Stance(out, crouch, w, rise)
    return Stance(out, crouch, 0.0 if fits is None else fits, rise)


def plan_reach(build: Build, b: Bin, palm: np.ndarray, top_shelf: bool, slide_m: float = 0.0) -> Stance | str:
    """The stance nearest the shelf from which the right hand gets to `palm` in bin `b` (flat feet before
    tiptoe; the least bend at the waist), or why none does (the reason from the nearest stance)."""
    first_why: str | None = None
    for back in STEP_BACK_M:
        stand_off = build.radius_m + STAND_GAP_M + back
        xy = stand_point(build, b, palm, stand_off, slide_m)
        for rise in (0.0, tiptoe_m(build)):
            at = stance_at(build, b, palm, xy, rise, top_shelf)
            stance = Stance(stand_off, at.crouch_m, at.waist_rad, at.tiptoe_m, slide_m)
            why = stance_problem(build, b, palm, stance, top_shelf)
            if why is None:
                return stance
            first_why = first_why or why
            if stance.crouch_m > 0.0:
                break  # no tiptoe in a crouch
    return first_why or "no stance"


def is_top_shelf(b: Bin, bins: dict[str, Bin] | None) -> bool:
    """No shelf above `b` (an unknown store: assume one, the stricter case)."""
    if bins is None:
        return False
    return b.shelf >= max(o.shelf for o in bins.values() if o.gondola == b.gondola)


def grip_palm(b: Bin, item_height_m: float, depth_in_m: float = 0.03) -> np.ndarray:
    """Where a hand grips an item standing at the front of bin `b`: `depth_in_m` behind the front edge, at
    the item's middle (at least 5 cm over the plate), square in front of the bin's middle."""
    fx, fy = b.facing
    z = b.center[2] + max(item_height_m / 2, 0.05)
    return np.array([b.front[0] - fx * depth_in_m, b.front[1] - fy * depth_in_m, z])


def grip_heights(b: Bin, palm_z: float, item_height_m: float) -> list[float]:
    """Heights a hand may hold an item at, the preferred (its middle) first, then up towards its top: a
    high bin is reached holding the item nearer its top, so the forearm comes in over the lip."""
    top = b.center[2] + item_height_m - 0.01
    out = [palm_z]
    z = palm_z + 0.02
    while z <= top + 1e-9:
        out.append(z)
        z += 0.02
    return out


def plan_grip(build: Build, b: Bin, palm: np.ndarray, item_height_m: float, top_shelf: bool) -> tuple[Stance, np.ndarray] | str:
    """`plan_reach` over the heights a hand may hold the item at (`grip_heights`): the stance and the palm."""
    first_why = None
    for z in grip_heights(b, float(palm[2]), item_height_m):
        p = np.array([palm[0], palm[1], z])
        plan = plan_reach(build, b, p, top_shelf)
        if isinstance(plan, Stance):
            return plan, p
        first_why = first_why or plan
    return first_why or "no grip"


def highest_reach_m(build: Build, b: Bin, top_shelf: bool) -> float:
    """The highest plate, at the depth of `b`, into whose front this build still gets a hand (for messages)."""
    lo, hi = 0.0, build.height_m * 1.6
    for _ in range(30):
        mid = (lo + hi) / 2
        probe = Bin(b.id, b.gondola, b.shelf, b.index, (b.center[0], b.center[1], mid), b.width_m, b.depth_m,
                    b.clearance_m, b.facing, b.right)
        ok = isinstance(plan_reach(build, probe, grip_palm(probe, 0.10), top_shelf), Stance)
        lo, hi = (mid, hi) if ok else (lo, mid)
    return lo


HEIGHTS_M = {False: (1.72, 1.65, 1.80, 1.58, 1.87, 1.50, 1.95), True: (1.25, 1.35, 1.15, 1.45, 1.05)}  # median first
MEDIAN_M = {False: 1.72, True: 1.25}
LEAN_IN_M = 0.06  # a leaning hand rests this far behind a shelf's front edge, 5 cm over the plate
HAND_IN_BIN = ("pick", "put_back", "touch", "lean")


def bin_problem(build: Build, b: Bin, sku: str | None, layout, action: str = "pick") -> str | None:
    """Why this build cannot do `action` at bin `b` (holding an item of `sku`; None: what the bin stocks at
    opening), None when it can: a pick or put-back grips an item at the bin's front, a touch rests on the
    front products, a lean rests on the shelf's front edge."""
    if sku is None:
        entry = layout.spec.planogram.get(b.id)
        sku = entry.sku if entry is not None else None
    height = layout.catalog[sku].size_mm[2] / 1000.0 if sku is not None else 0.10
    return _problem(build, b, round(height, 4), is_top_shelf(b, layout.bins), action)


def script_problem(build: Build, script, layout) -> tuple[int, str] | None:
    """The first step of `script` (step index, why) whose bin this build cannot work at; None: it can do them all."""
    for k, action, bin_id, sku in _needs(tuple(script)):
        why = bin_problem(build, layout.bins[bin_id], sku, layout, action)
        if why is not None:
            return k, why
    return None


@lru_cache(maxsize=4096)
def _needs(script: tuple) -> tuple[tuple[int, str, str, str | None], ...]:
    """(step index, action, bin, SKU) of the first step of each distinct hand-in-a-bin need of a script (a long
    script repeats a few: the checks run once per need, per body tried)."""
    out, seen = [], set()
    for k, step in enumerate(script):
        if step.action not in HAND_IN_BIN or step.args.bin is None:
            continue
        need = (step.action, step.args.bin, getattr(step.args, "sku", None))
        if need not in seen:
            seen.add(need)
            out.append((k, *need))
    return tuple(out)


def median_build(height_m: float, child: bool, carrier: str = "basket") -> Build:
    """A body of `height_m` with the population's median proportions (for checks, not for looks)."""
    grey = (0.5, 0.5, 0.5)
    return Build(float(height_m), 0.245 * float(height_m), bool(child), grey, carrier)


def able_height(script, layout, child: bool) -> float | None:
    """A height of the population (`agents.body.draw_build`: adults 1.50-1.95 m, children 1.05-1.45 m; the
    median first) whose body can work at every bin `script` names; None: no body of it can. Taller is
    not always better: a tall adult cannot crouch as low (the knees stay inside its disc)."""
    for h in HEIGHTS_M[child]:
        if script_problem(median_build(h, child), script, layout) is None:
            return h
    return None


@lru_cache(maxsize=65536)
def _problem(build: Build, b: Bin, item_height_m: float, top_shelf: bool, action: str) -> str | None:
    if action == "lean":
        fx, fy = b.facing
        palm = np.array([b.front[0] - fx * LEAN_IN_M, b.front[1] - fy * LEAN_IN_M, b.center[2] + 0.05])
        plan = plan_reach(build, b, palm, top_shelf)
        return plan if isinstance(plan, str) else None
    depth_in = 0.05 if action == "touch" else 0.03
    plan = plan_grip(build, b, grip_palm(b, item_height_m, depth_in), item_height_m, top_shelf)
    return plan if isinstance(plan, str) else None
