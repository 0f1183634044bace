"""Item moves through physics: grasp, carry, stow, release onto a plate, and finding free room on a plate.

Sits between the agents (which decide what a hand does) and the physics store
(`sim.world.StoreWorld`). A grasp is a fixed constraint from a hand link to
the item at their relative pose of that moment, so the item is lifted by the
contact solver and the plate's load cell feels the load go. An item in a
basket or bag rides kinematically (mass 0, no collisions) at a slot of its
carrier; taking it out gives it back its mass and collisions. A put-back
releases the item just above free room on the target plate and lets it fall
and settle; the plate's island is woken so the cell reads the new load.

Collision groups (bit masks) keep hands out of the products they reach past:
shopper links never collide with items (a hand reaching into a full bin would
otherwise bulldoze the front row, which real hands do not) nor with plates
(a hand or head brushing a plate would pry or press its load cell; where a
hand goes is planned so it passes the bin's open front, `agents.reach`);
bodies and hands collide with shelf structure and with other shoppers, and a
leaning hand with the plate it leans on (`ShopperBody.hand_on_plates`).

An item in a hand collides with nothing until it is let go of: where a hand
goes is planned for the hand (`agents.reach`), not for the pack it holds,
and a real hand slides a pack past its neighbours and under the shelf above
without knocking or lifting them. So a plate feels an item go the moment it
is gripped and come back the moment it is let go of on the plate, and
nothing else on the shelf moves meanwhile. Two bodies touch only when each one's group
is in the other's mask (Bullet's AND filter mode); pybullet's default is OR,
under which the masks below would let every shopper link hit every item, so
`set_item_groups` switches the world to AND.
"""
from __future__ import annotations

import math

import numpy as np
import pybullet as pb
from shapely import affinity
from shapely.geometry import Point, Polygon, box
from shapely.ops import unary_union

from sim.layout import Bin
from sim.world import StoreWorld

GROUP_DEFAULT = 1  # Bullet's default for dynamic bodies (plates' moving link)
GROUP_STATIC = 2  # Bullet's default for static bodies
GROUP_SHOPPER = 4
GROUP_ITEM = 8
MASK_ALL = -1
COLLISION_FILTER_AND = 0  # pybullet's collisionFilterMode: 0 AND, 1 OR (its default)
# A shopper's body and hands touch shelf structure and other shoppers, never items and never the plates: a plate
# hangs on its load cell, and a hand or a head brushing it from below or above would pry it up or press it down
# by kilograms (the weights are the twin's truth). The hand of a lean is the one exception, while it leans.
MASK_SHOPPER_BODY = GROUP_STATIC | GROUP_SHOPPER
MASK_SHOPPER_HAND_LEANING = GROUP_DEFAULT | GROUP_STATIC | GROUP_SHOPPER
MASK_SHOPPER_ARM = GROUP_SHOPPER  # upper arms and forearms touch only other shoppers (see agents.body)

GRASP_FORCE_N = 80.0  # the most a grip constraint pulls with: a 1 kg pack with room for its swing
ITEM_GAP_M = 0.006  # free room kept around an item put back
_GRIP_FRAME: dict[int, tuple[int, int, tuple]] = {}  # constraint -> (body, hand link, item orientation in the hand frame)
_GRIP_PIVOT: dict[int, tuple] = {}  # constraint -> where the item was gripped, in the hand frame
_GRIP_ITEM: dict[int, int] = {}  # constraint -> the item's body


def set_item_groups(world: StoreWorld) -> None:
    """Put every item in the item collision group and make masks work both ways (idempotent).

    Bodies with pybullet's default groups collide alike under AND and OR (dynamic: group 1, every
    mask bit; static: group 2, every bit but static), so the store's own physics is unchanged.
    """
    pb.setPhysicsEngineParameter(collisionFilterMode=COLLISION_FILTER_AND, physicsClientId=world.client)
    for it in world.items.values():
        pb.setCollisionFilterGroupMask(it.body, -1, GROUP_ITEM, MASK_ALL, physicsClientId=world.client)


def grasp(world: StoreWorld, item_id: int, body: int, link: int) -> int:
    """Fix the item to a hand link where it is now; return the constraint id."""
    c = world.client
    item = world.items[item_id].body
    pb.changeDynamics(item, -1, activationState=pb.ACTIVATION_STATE_WAKE_UP, physicsClientId=c)
    hs = pb.getLinkState(body, link, computeForwardKinematics=1, physicsClientId=c)
    hpos, horn = hs[4], hs[5]
    ipos, iorn = pb.getBasePositionAndOrientation(item, physicsClientId=c)
    inv_p, inv_o = pb.invertTransform(hpos, horn)
    rel_p, rel_o = pb.multiplyTransforms(inv_p, inv_o, ipos, iorn)
    cid = pb.createConstraint(
        body, link, item, -1, pb.JOINT_FIXED, (0, 0, 0), rel_p, (0, 0, 0),
        parentFrameOrientation=rel_o, childFrameOrientation=(0, 0, 0, 1), physicsClientId=c,
    )
    pb.changeConstraint(cid, maxForce=GRASP_FORCE_N, physicsClientId=c)
    _GRIP_FRAME[cid] = (body, link, rel_o)
    _GRIP_PIVOT[cid] = tuple(rel_p)
    _GRIP_ITEM[cid] = item
    pb.setCollisionFilterGroupMask(item, -1, 0, 0, physicsClientId=c)  # held: touches nothing (module docstring)
    return cid


def keep_upright(world: StoreWorld, constraint: int, yaw: float, grip_w=None, offset_w=None) -> None:
    """The wrist's job: turn the gripped item (through the constraint) to stand upright at `yaw`.

    With `grip_w` (the hand's grip point, world) and `offset_w` (world vector), the wrist also keeps the
    item's centre at `grip_w + offset_w` however the forearm is pitched; without them the item stays
    where it was gripped in the hand's frame, and so swings with the hand.
    """
    c = world.client
    body, link, rel_o = _GRIP_FRAME[constraint]
    hpos, horn = pb.getLinkState(body, link, computeForwardKinematics=1, physicsClientId=c)[4:6]
    want = (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))
    _, inv_want = pb.invertTransform((0, 0, 0), want)
    _, child = pb.multiplyTransforms((0, 0, 0), inv_want, *pb.multiplyTransforms((0, 0, 0), horn, (0, 0, 0), rel_o))
    if grip_w is None or offset_w is None:
        pb.changeConstraint(constraint, jointChildFrameOrientation=child, maxForce=GRASP_FORCE_N, physicsClientId=c)
        return
    # the constraint ties the parent pivot (fixed in the hand frame) to the child pivot (in the item frame)
    rel_p = _GRIP_PIVOT[constraint]
    pivot_w = np.array(hpos) + np.array(pb.getMatrixFromQuaternion(horn)).reshape(3, 3) @ np.array(rel_p)
    item_w = np.asarray(grip_w, dtype=float) + np.asarray(offset_w, dtype=float)
    rot_item = np.array(pb.getMatrixFromQuaternion(want)).reshape(3, 3)
    child_pivot = rot_item.T @ (pivot_w - item_w)
    pb.changeConstraint(constraint, jointChildPivot=child_pivot.tolist(), jointChildFrameOrientation=child,
                        maxForce=GRASP_FORCE_N, physicsClientId=c)


def release(world: StoreWorld, constraint: int) -> None:
    """Let go: the item is a loose product again, colliding with everything (`make_carried` after this for
    one going into a basket)."""
    _GRIP_FRAME.pop(constraint, None)
    _GRIP_PIVOT.pop(constraint, None)
    item = _GRIP_ITEM.pop(constraint, None)
    pb.removeConstraint(constraint, physicsClientId=world.client)
    if item is not None:
        pb.setCollisionFilterGroupMask(item, -1, GROUP_ITEM, MASK_ALL, physicsClientId=world.client)


def make_carried(world: StoreWorld, item_id: int) -> None:
    """The item rides in a basket or bag: kinematic, no collisions."""
    c = world.client
    body = world.items[item_id].body
    pb.changeDynamics(body, -1, mass=0.0, physicsClientId=c)
    pb.setCollisionFilterGroupMask(body, -1, 0, 0, physicsClientId=c)


def make_loose(world: StoreWorld, item_id: int) -> None:
    """Back to a dynamic product with its own mass and collisions."""
    c = world.client
    it = world.items[item_id]
    pb.changeDynamics(it.body, -1, mass=it.mass_kg, activationState=pb.ACTIVATION_STATE_WAKE_UP, physicsClientId=c)
    pb.setCollisionFilterGroupMask(it.body, -1, GROUP_ITEM, MASK_ALL, physicsClientId=c)


def place(world: StoreWorld, item_id: int, pos, orn) -> None:
    """Teleport an item (a carried one, kinematic) to a pose."""
    pb.resetBasePositionAndOrientation(world.items[item_id].body, pos, orn, physicsClientId=world.client)
    pb.resetBaseVelocity(world.items[item_id].body, (0, 0, 0), (0, 0, 0), physicsClientId=world.client)


def item_half_height(world: StoreWorld, item_id: int) -> float:
    return world.layout.catalog[world.items[item_id].sku].size_mm[2] / 2000.0


def item_footprint(world: StoreWorld, item_id: int, xy=None, yaw: float | None = None) -> Polygon:
    """The item's floor-plan outline at its pose (or at `xy`, `yaw`)."""
    cat = world.layout.catalog[world.items[item_id].sku]
    w, d = cat.size_mm[0] / 1000.0, cat.size_mm[1] / 1000.0
    if xy is None or yaw is None:
        pos, orn = world.item_pose(item_id)
        xy = xy if xy is not None else pos[:2]
        yaw = yaw if yaw is not None else pb.getEulerFromQuaternion(orn)[2]
    if cat.shape == "cylinder":
        return Point(xy).buffer(min(w, d) / 2, quad_segs=8)
    poly = box(-w / 2, -d / 2, w / 2, d / 2)
    return affinity.translate(affinity.rotate(poly, yaw, use_radians=True), xy[0], xy[1])


def extent_along(world: StoreWorld, item_id: int, direction) -> float:
    """The item's length along a floor direction (unit vector) as it stands now (metres)."""
    xy = np.asarray(item_footprint(world, item_id).exterior.coords)
    along = xy @ np.asarray(direction, dtype=float)
    return float(along.max() - along.min())


MAX_RELEASE_TILT_RAD = 0.26  # an item let go of more tilted than ~15 degrees may topple off


def over_plate(world: StoreWorld, item_id: int, b: Bin, margin_m: float = 0.01) -> bool:
    """The item stands on plate `b` when let go: its footprint inside the plate's edges (`margin_m` for the
    centre), its bottom at the plate's top (no more than 3 cm above it, not sunk into it), and about upright.

    Without the height band an item held anywhere in the column of shelves under `b` (a short arm that
    never got it up to a top shelf) counted as over `b`, and fell to whatever lay below when let go.
    """
    pos, orn = world.item_pose(item_id)
    pos = np.array(pos)
    u, v = _plate_coords(b, pos)
    h = item_half_height(world, item_id)
    fx, fy = b.facing
    half_depth = extent_along(world, item_id, (fx, fy)) / 2
    bottom = pos[2] - h - b.center[2]
    up = pb.getMatrixFromQuaternion(orn)[8]  # the item's own z axis, its world z component
    return (abs(u) <= b.width_m / 2 - margin_m and abs(v) <= b.depth_m / 2 - max(margin_m, half_depth - 0.01)
            and -0.006 < bottom < 0.03 and up > math.cos(MAX_RELEASE_TILT_RAD))


def rests_on(world: StoreWorld, item_id: int, b: Bin) -> bool:
    """The item lies on plate `b` (its centre over the plate, no lower than lying flat on it)."""
    pos = np.array(world.item_pose(item_id)[0])
    u, v = _plate_coords(b, pos)
    cat = world.layout.catalog[world.items[item_id].sku]
    lowest = min(cat.size_mm) / 2000.0
    return abs(u) <= b.width_m / 2 and abs(v) <= b.depth_m / 2 and pos[2] > b.center[2] + lowest - 0.01


def resting_place(world: StoreWorld, item_id: int) -> str | None:
    """Where a loose item physically lies: the id of the plate it rests on (`rests_on`, the highest plate
    under its centre), "floor" (no plate under it, below the lowest shelf), or None (neither: caught on
    something, still between places)."""
    pos = np.array(world.item_pose(item_id)[0])
    under = [b for b in world.layout.bins.values() if b.center[2] < pos[2] and _inside(b, pos)]
    if under:
        top = max(under, key=lambda b: b.center[2])
        if rests_on(world, item_id, top) and pos[2] < top.center[2] + top.clearance_m:
            return top.id
    lowest = min((b.center[2] for b in world.layout.bins.values()), default=1.0)
    cat = world.layout.catalog[world.items[item_id].sku]
    if not under and pos[2] < max(cat.size_mm) / 1000.0 + 0.02 and pos[2] < lowest:
        return "floor"
    return None


def _inside(b: Bin, pos) -> bool:
    u, v = _plate_coords(b, pos)
    return abs(u) <= b.width_m / 2 and abs(v) <= b.depth_m / 2


def _plate_coords(b: Bin, pos) -> tuple[float, float]:
    """(along the shelf, out of the shelf) of a world point from the plate's centre."""
    dx, dy = pos[0] - b.center[0], pos[1] - b.center[1]
    return dx * b.right[0] + dy * b.right[1], dx * b.facing[0] + dy * b.facing[1]


def free_spot(world: StoreWorld, b: Bin, item_id: int, prefer_xy=None, ignore: set[int] = frozenset(),
              front_margin_m: float = 0.003, gap_m: float = ITEM_GAP_M) -> tuple[float, float, float] | None:
    """Where on plate `b` the item fits without touching what stands there now: (x, y, yaw), front first.

    Candidates lie on a 1.5 cm grid over the plate, the item upright and turned like the bin's rows,
    at least `front_margin_m` behind the front edge and `gap_m` clear of every item there; those nearest
    the front win, then those nearest `prefer_xy`. None if the plate is full, or if the item standing is
    taller than the room under the plate above (put there, it would jam between the two plates).
    """
    cat = world.layout.catalog[world.items[item_id].sku]
    if cat.size_mm[2] / 1000.0 > b.clearance_m:
        return None
    yaw = math.atan2(b.right[1], b.right[0])
    w, d = cat.size_mm[0] / 1000.0, cat.size_mm[1] / 1000.0
    here = [i for i in world.ledger.items_in(b.id) if i != item_id and i not in ignore]
    occupied = unary_union([item_footprint(world, i) for i in here]).buffer(gap_m) if here else None
    fx, fy = b.facing
    rx, ry = b.right
    half_u, half_v = b.width_m / 2 - w / 2 - 0.003, b.depth_m / 2 - d / 2 - 0.003
    front_v = b.depth_m / 2 - d / 2 - max(0.003, front_margin_m)
    if half_u < 0 or half_v < 0 or front_v < -half_v:
        return None
    us = np.arange(-half_u, half_u + 1e-9, 0.015)
    vs = np.arange(front_v, -half_v - 1e-9, -0.015)  # front first
    px, py = prefer_xy if prefer_xy is not None else (b.center[0], b.center[1])
    for v in vs:
        row = []
        for u in us:
            x, y = b.center[0] + rx * u + fx * v, b.center[1] + ry * u + fy * v
            row.append(((x - px) ** 2 + (y - py) ** 2, x, y))
        row.sort()
        for _, x, y in row:
            fp = item_footprint(world, item_id, (x, y), yaw)
            if occupied is None or not fp.intersects(occupied):
                return (x, y, yaw)
    return None
