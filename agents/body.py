"""Shopper bodies: articulated pybullet multibodies drawn from a population, with analytic arm IK.

A body is one multibody: the base is the pelvis and legs (moved kinematically
to the pedestrian model's position every physics tick), a waist joint pitches
the torso (to bend over a low bin), the head rides on the torso, a basket or
bag hangs at the left hip, and two arms each have a shoulder (yaw + pitch), an
elbow and a wrist (pitch: the hand goes into a bin level, `arm_ik_hand`). Arm
and waist joints are driven by position motors with human-sized torque
limits, so a hand is a dynamic link: a grip constraint lifts a product
through physics, and a leaning hand presses on a plate through contact (no
other hand or body touches a plate, see `sim.manipulation`). On tiptoe
(reaching high, `agents.reach`) the whole body rises by the heel raise.

Frames: the base frame has x forward (where the shopper faces), y to the left,
z up, origin at hip height. The base's own shape is the pelvis; the legs are a
thigh and a shin link (both legs as one) on hip and knee joints, set from the
crouch every tick (`leg_angles`): a crouch lowers the base and folds the legs,
knees forward no further than the body's pedestrian disc, shins folding back
towards a kneel, so the soles stay on the floor and no part of a crouching
shopper goes through the floor slab or into the shelf in front.

Looks: what a body wears is its `Build.outfit` (`agents.clothing`: patterned tops and bottoms, a coat, a bag,
hair, a hat, the basket's colour), drawn from a child of the shopper's generator. Clothes, hair and bags are
visual shapes on the links above (a link showing several is a visual array, which `sim.render` mirrors part by
part); collision shapes and masses are the body's alone.

Population (`draw_build`): adults 1.50-1.95 m (normal around 1.72 m, sd 0.09)
and children 1.05-1.45 m; shoulder width about 0.245 x height with a spread;
segment lengths as fractions of height after Drillis & Contini (1966):
shoulder 0.818 H, hip 0.530 H, upper arm 0.186 H, forearm 0.146 H, hand 0.108 H.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pybullet as pb

from agents.clothing import Garment, Outfit, draw_outfit, garment_texture
from sim.manipulation import GROUP_SHOPPER, MASK_SHOPPER_ARM, MASK_SHOPPER_BODY, MASK_SHOPPER_HAND_LEANING
from sim.meshes import textured_product_mesh

SKIN_TONES = [(0.96, 0.80, 0.69), (0.87, 0.67, 0.52), (0.71, 0.51, 0.36), (0.55, 0.38, 0.26), (0.36, 0.24, 0.16)]

DARK_SKIN_FROM = 3  # SKIN_TONES from this index on: hair drawn from `agents.clothing.DARK_SKIN_HAIR`
TORSO, HEAD, BASKET, THIGH, SHIN = 0, 1, 10, 11, 12  # pybullet link indices, in the order they are built
ARM_LINKS = {"right": (2, 3, 4, 5), "left": (6, 7, 8, 9)}  # shoulder yaw, upper arm, forearm, hand (on the wrist)
# The joints a labelled frame names (`keypoints_world`, `run_sim.py export`): COCO keypoints of the person category.
KEYPOINTS = ("head", "right_shoulder", "right_elbow", "right_wrist", "right_hand",
             "left_shoulder", "left_elbow", "left_wrist", "left_hand")
SKELETON = ((1, 2), (2, 3), (3, 4), (4, 5), (1, 6), (6, 7), (7, 8), (8, 9), (2, 6))  # 1-based, as COCO writes it
WAIST_TORQUE_NM = 400.0
SHOULDER_TORQUE_NM = 60.0  # adult shoulder flexion strength is about 60-90 N m
ELBOW_TORQUE_NM = 35.0
# Wrist flexion/extension strength is about 8-12 N m; the motor also carries what the grip's constraint turns
# the hand with (a held item kept upright, `sim.manipulation.keep_upright`: up to 80 N at the grip), which a
# real hand takes in the fingers, so it is held at the forearm's strength.
WRIST_TORQUE_NM = 30.0
WRIST_LIMIT_RAD = (-1.0, 1.0)  # wrist extension and flexion, about 60 degrees each way in a grasp
HAND_ANGLE_STEP_RAD = 0.1  # the hand tilts off the angle asked in these steps until the wrist can give it
YAW_HOLD_M = 0.10  # a target this near the shoulder's vertical keeps the shoulder's yaw (`_facing_yaw`)
ARM_MASSES_KG = (0.3, 2.0, 1.2, 0.45)
LEG_MASSES_KG = (18.0, 8.0)  # thigh, shin (both legs); held in place, moved with the base
LEG_HOLD_NM = 3000.0  # the legs' joints hold the pose they are set to (nothing on the floor moves them)
PELVIS_HALF_M = 0.05  # the base's shape: a pelvis block this half-high just under the hip joint
CARRIER_HALF_M = {"basket": (0.18, 0.06, 0.09), "bag": (0.16, 0.06, 0.14)}
CARRIER_DROP_M = 0.22  # the basket or bag hangs this far under the hip
FLOOR_CLEAR_M = 0.01  # a crouch keeps the carrier's bottom this far above the floor
YAW_LIMIT_RAD = 0.75 * math.pi  # how far the IK turns a shoulder (horizontal abduction) either way


@dataclass(frozen=True)
class Build:
    """Body dimensions and looks of one shopper (metres, sRGB 0-1); what it wears is `outfit` (`agents.clothing`)."""

    height_m: float
    shoulder_width_m: float
    child: bool
    skin: tuple[float, float, float]
    carrier: str  # "basket" | "bag"
    outfit: Outfit = field(default_factory=Outfit.plain)

    @property
    def hip_m(self) -> float:
        return 0.530 * self.height_m

    @property
    def shoulder_m(self) -> float:
        return 0.818 * self.height_m

    @property
    def torso_len_m(self) -> float:
        return self.shoulder_m - self.hip_m

    @property
    def upper_arm_m(self) -> float:
        return 0.186 * self.height_m

    @property
    def forearm_m(self) -> float:
        return 0.146 * self.height_m

    @property
    def hand_m(self) -> float:
        return 0.108 * self.height_m

    @property
    def head_r_m(self) -> float:
        return 0.058 * self.height_m

    @property
    def torso_half_depth_m(self) -> float:
        return 0.065 * self.height_m

    @property
    def radius_m(self) -> float:
        """The pedestrian model's disc: shoulders plus hanging arms (and the carrier at the hip)."""
        return self.shoulder_width_m / 2 + 0.07

    @property
    def thigh_m(self) -> float:
        return 0.245 * self.height_m  # hip to knee (knee height 0.285 H)

    @property
    def shin_m(self) -> float:
        return self.hip_m - self.thigh_m  # knee to sole

    @property
    def leg_half_depth_m(self) -> float:
        return 0.055 * self.height_m

    @property
    def max_knee_forward_m(self) -> float:
        """How far in front of the hip a crouching shopper's knee goes: its front stays inside the disc."""
        return self.radius_m - self.leg_half_depth_m

    @property
    def max_crouch_m(self) -> float:
        """The deepest crouch: knees as far forward as the disc allows, shins folded flat (a kneel), and the
        basket or bag still clear of the floor."""
        a = math.asin(min(1.0, self.max_knee_forward_m / self.thigh_m))
        lowest_hip = self.thigh_m * math.cos(a) + self.leg_half_depth_m
        carrier_hip = CARRIER_DROP_M + CARRIER_HALF_M[self.carrier][2] + FLOOR_CLEAR_M
        return max(0.0, self.hip_m - max(lowest_hip, carrier_hip))

    @property
    def grip_m(self) -> float:
        """From the wrist to the grip point near the fingertips (what a reach aims with)."""
        return self.hand_m - 0.015

    @property
    def reach_m(self) -> float:
        return self.upper_arm_m + self.forearm_m + self.grip_m


def draw_build(rng: np.random.Generator, height_m: float | None = None, child: bool | None = None) -> Build:
    """One body from the population; `height_m` overrides the drawn height. The outfit comes from a child of
    `rng` (`Generator.spawn`): it takes nothing from `rng`'s own stream, so what a shopper wears never shifts the
    draws that follow (its speed, its persona's script)."""
    if child is None:
        child = bool(height_m is not None and height_m < 1.45) if height_m is not None else bool(rng.random() < 0.12)
    if height_m is None:
        height_m = float(np.clip(rng.normal(1.25, 0.10), 1.05, 1.45)) if child else float(np.clip(rng.normal(1.72, 0.09), 1.50, 1.95))
    width = float(np.clip(rng.normal(0.245, 0.012), 0.22, 0.27)) * height_m
    # Two draws reserved where flat shirt and trouser colours were drawn: a seed's shoppers keep the heights,
    # speeds, gates and persona scripts they had, so comparing runs across outfits measures the clothes alone.
    rng.integers(10), rng.integers(5)
    skin = int(rng.integers(len(SKIN_TONES)))
    carrier = "bag" if rng.random() < 0.3 else "basket"
    return Build(
        height_m=float(height_m),
        shoulder_width_m=width,
        child=child,
        skin=SKIN_TONES[skin],
        carrier=carrier,
        outfit=draw_outfit(rng.spawn(1)[0], child, dark_skin=skin >= DARK_SKIN_FROM),
    )


class ShopperBody:
    """The multibody of one shopper and the kinematics that drive it."""

    def __init__(self, client: int, build: Build, xy: tuple[float, float], yaw: float) -> None:
        self.client = client
        self.build = build
        self.xy = (float(xy[0]), float(xy[1]))
        self.yaw = float(yaw)
        self.crouch_m = 0.0
        self.tiptoe_m = 0.0  # heels raised this high (reaching a high bin)
        self.waist_rad = 0.0
        self.body = self._create()
        self.hand_targets: dict[str, np.ndarray | None] = {"right": None, "left": None}
        self._arm_yaw = {"right": 0.0, "left": 0.0}  # the last shoulder yaw solved for (IK branch continuity)
        self._limp = {"right": False, "left": False}
        self.set_pose(self.xy, self.yaw)
        self._rest_arms()

    # -- geometry -----------------------------------------------------------

    def shoulder_local(self, side: str) -> np.ndarray:
        """Shoulder joint in the torso frame."""
        s = -1.0 if side == "right" else 1.0
        return np.array([0.0, s * self.build.shoulder_width_m / 2, self.build.torso_len_m])

    def base_z(self) -> float:
        return self.build.hip_m - self.crouch_m + self.tiptoe_m

    def torso_to_world(self) -> tuple[np.ndarray, np.ndarray]:
        """(rotation 3x3, origin) of the torso frame in the world, from the commanded posture."""
        cy, sy = math.cos(self.yaw), math.sin(self.yaw)
        rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
        cp, sp = math.cos(self.waist_rad), math.sin(self.waist_rad)
        ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
        return rz @ ry, np.array([self.xy[0], self.xy[1], self.base_z()])

    def shoulder_world(self, side: str) -> np.ndarray:
        r, o = self.torso_to_world()
        return o + r @ self.shoulder_local(side)

    # -- driving ------------------------------------------------------------

    def set_pose(self, xy: tuple[float, float], yaw: float, crouch_m: float | None = None, waist_rad: float | None = None,
                 tiptoe_m: float | None = None) -> None:
        """Move the base kinematically; posture changes go to the waist motor. On tiptoe the whole body rises
        (the legs are one rigid pair of links: the soles leave the floor by the heel raise)."""
        self.xy = (float(xy[0]), float(xy[1]))
        self.yaw = float(yaw)
        if tiptoe_m is not None:
            self.tiptoe_m = max(0.0, float(tiptoe_m))
        if crouch_m is not None:
            crouch_m = min(max(float(crouch_m), 0.0), self.build.max_crouch_m)
            if crouch_m != self.crouch_m:
                self.crouch_m = crouch_m
                self._fold_legs()
        if waist_rad is not None and waist_rad != self.waist_rad:
            self.waist_rad = float(waist_rad)
            pb.setJointMotorControl2(self.body, TORSO, pb.POSITION_CONTROL, targetPosition=self.waist_rad,
                                     force=WAIST_TORQUE_NM, positionGain=0.2, physicsClientId=self.client)
        pb.resetBasePositionAndOrientation(
            self.body, (self.xy[0], self.xy[1], self.base_z()), pb.getQuaternionFromEuler((0.0, 0.0, self.yaw)),
            physicsClientId=self.client,
        )

    def _fold_legs(self) -> None:
        """Set the hip and knee for the crouch (kinematically, as the base is moved) and hold them there."""
        q = leg_angles(self.build, self.crouch_m)
        for joint, angle in zip((THIGH, SHIN), q):
            pb.resetJointState(self.body, joint, angle, 0.0, physicsClientId=self.client)
        pb.setJointMotorControlArray(self.body, [THIGH, SHIN], pb.POSITION_CONTROL, targetPositions=list(q),
                                     forces=[LEG_HOLD_NM, LEG_HOLD_NM], physicsClientId=self.client)

    def aim_hand(self, side: str, target_w: np.ndarray | None, hand_angle: float | None = None) -> None:
        """Drive an arm so its palm goes to a world point (None: hang at the side). `hand_angle`: the hand's
        direction in the arm's plane (`arm_ik_hand`; -pi/2 level, forward), the wrist bent for it; None: the
        hand straight on from the forearm."""
        self.hand_targets[side] = None if target_w is None else np.asarray(target_w, dtype=float)
        if target_w is None:
            self._arm_yaw[side] = 0.0
            self._set_arm(side, self._rest_q(side))
            return
        r, o = self.torso_to_world()
        local = r.T @ (np.asarray(target_w, dtype=float) - o) - self.shoulder_local(side)
        b = self.build
        q = arm_ik_hand(local, b.upper_arm_m, b.forearm_m, b.grip_m, hand_angle, self._arm_yaw[side])
        self._arm_yaw[side] = q[0]
        self._set_arm(side, q)

    def go_limp(self, side: str, torque_nm: float = 1.5) -> None:
        """Relax an arm (for leaning: the hand rests where it is, held only by contact)."""
        links = ARM_LINKS[side]
        pb.setJointMotorControlArray(self.body, list(links), pb.VELOCITY_CONTROL, targetVelocities=[0, 0, 0, 0],
                                     forces=[torque_nm] * 4, physicsClientId=self.client)
        self._limp[side] = True

    def hand_on_plates(self, side: str, on: bool) -> None:
        """Let the hand touch shelf plates (a lean rests on one) or not (every other time: a hand reaching
        past a plate must never press, pry or jam it, see `sim.manipulation`)."""
        mask = MASK_SHOPPER_HAND_LEANING if on else MASK_SHOPPER_BODY
        pb.setCollisionFilterGroupMask(self.body, ARM_LINKS[side][3], GROUP_SHOPPER, mask, physicsClientId=self.client)

    def push_hand(self, side: str, force_w: tuple[float, float, float]) -> None:
        """An external force on the palm (a person's weight through the arm); applies for one physics step."""
        pb.applyExternalForce(self.body, ARM_LINKS[side][3], force_w, self.palm_world(side).tolist(), pb.WORLD_FRAME,
                              physicsClientId=self.client)

    def palm_world(self, side: str) -> np.ndarray:
        """The hand's grip point (near the fingertips) in the world."""
        st = pb.getLinkState(self.body, ARM_LINKS[side][3], computeForwardKinematics=1, physicsClientId=self.client)
        pos, orn = st[4], st[5]
        rot = np.array(pb.getMatrixFromQuaternion(orn)).reshape(3, 3)
        return np.array(pos) + rot @ np.array([0.0, 0.0, -self.build.grip_m])

    def keypoints_world(self) -> np.ndarray:
        """(9, 3) world points in `KEYPOINTS` order: the head's centre, then per arm the shoulder, elbow and wrist
        joints (the upper arm's, forearm's and hand's link frames) and the grip point (`palm_world`)."""
        pts = [pb.getLinkState(self.body, HEAD, computeForwardKinematics=1, physicsClientId=self.client)[0]]
        for side in ("right", "left"):
            _, upper, fore, hand = ARM_LINKS[side]
            for link in (upper, fore, hand):
                pts.append(pb.getLinkState(self.body, link, computeForwardKinematics=1, physicsClientId=self.client)[4])
            pts.append(tuple(self.palm_world(side)))
        return np.array(pts, dtype=float)

    def head_world(self) -> np.ndarray:
        return np.array(pb.getLinkState(self.body, HEAD, computeForwardKinematics=1, physicsClientId=self.client)[4])

    def basket_slot(self, k: int) -> tuple[tuple[float, float, float], tuple[float, float, float, float]]:
        """World pose of carried item number k (rows of three along the basket, stacked)."""
        r, o = self._base_to_world()
        b = self.build
        col, layer = k % 3, k // 3
        local = np.array([(col - 1) * 0.11, b.shoulder_width_m / 2, -0.16 + 0.08 * layer])
        return tuple((o + r @ local).tolist()), pb.getQuaternionFromEuler((0.0, 0.0, self.yaw))

    def remove(self) -> None:
        pb.removeBody(self.body, physicsClientId=self.client)

    # -- helpers ------------------------------------------------------------

    def _base_to_world(self) -> tuple[np.ndarray, np.ndarray]:
        cy, sy = math.cos(self.yaw), math.sin(self.yaw)
        return np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]]), np.array([self.xy[0], self.xy[1], self.base_z()])

    def _rest_arms(self) -> None:
        for side in ("right", "left"):
            self.aim_hand(side, None)
            links = ARM_LINKS[side]
            for j, q in zip(links, self._rest_q(side)):
                pb.resetJointState(self.body, j, q, physicsClientId=self.client)

    def _rest_q(self, side: str) -> tuple[float, float, float, float]:
        return (0.0, 0.05, 0.1, 0.0)

    def _set_arm(self, side: str, q: tuple[float, ...]) -> None:
        links = ARM_LINKS[side]
        self._limp[side] = False
        q = tuple(q) + (0.0,) * (4 - len(q))
        pb.setJointMotorControlArray(
            self.body, list(links), pb.POSITION_CONTROL, targetPositions=list(q),
            forces=[SHOULDER_TORQUE_NM, SHOULDER_TORQUE_NM, ELBOW_TORQUE_NM, WRIST_TORQUE_NM],
            positionGains=[0.3, 0.3, 0.3, 0.3], physicsClientId=self.client,
        )

    def _create(self) -> int:
        c, b = self.client, self.build
        hip = b.hip_m
        legs_w = b.shoulder_width_m * 0.36
        pelvis_half = (b.leg_half_depth_m, legs_w, PELVIS_HALF_M)
        thigh_half = (b.leg_half_depth_m, legs_w, b.thigh_m / 2)
        shin_half = (b.leg_half_depth_m, legs_w, b.shin_m / 2)
        torso_half = (b.torso_half_depth_m, b.shoulder_width_m / 2 - 0.025, b.torso_len_m / 2)
        col = lambda **kw: pb.createCollisionShape(physicsClientId=c, **kw)  # noqa: E731
        pelvis_c = col(shapeType=pb.GEOM_BOX, halfExtents=pelvis_half, collisionFramePosition=(0, 0, -PELVIS_HALF_M))
        thigh_c = col(shapeType=pb.GEOM_BOX, halfExtents=thigh_half, collisionFramePosition=(0, 0, -b.thigh_m / 2))
        shin_c = col(shapeType=pb.GEOM_BOX, halfExtents=shin_half, collisionFramePosition=(0, 0, -b.shin_m / 2))
        torso_c = col(shapeType=pb.GEOM_BOX, halfExtents=torso_half, collisionFramePosition=(0, 0, b.torso_len_m / 2))
        head_c = col(shapeType=pb.GEOM_SPHERE, radius=b.head_r_m)
        bk_half = CARRIER_HALF_M[b.carrier]
        basket_c = col(shapeType=pb.GEOM_BOX, halfExtents=bk_half)
        r_arm = 0.045 * b.height_m / 1.75
        ua_c = col(shapeType=pb.GEOM_CAPSULE, radius=r_arm, height=max(0.01, b.upper_arm_m - 2 * r_arm), collisionFramePosition=(0, 0, -b.upper_arm_m / 2))
        fa_c = col(shapeType=pb.GEOM_CAPSULE, radius=r_arm * 0.8, height=max(0.01, b.forearm_m - 1.6 * r_arm), collisionFramePosition=(0, 0, -b.forearm_m / 2))
        hand_half = (0.012 * b.height_m / 1.75 * 1.5, 0.045 * b.height_m / 1.75, b.hand_m / 2)
        hand_c = col(shapeType=pb.GEOM_BOX, halfExtents=hand_half, collisionFramePosition=(0, 0, -b.hand_m / 2))
        v = _dress(c, b, dict(pelvis=pelvis_half, thigh=thigh_half, shin=shin_half, torso=torso_half, carrier=bk_half, arm_r=r_arm,
                              hand=hand_half))
        pelvis_v, thigh_v, shin_v, torso_v, head_v = v["pelvis"], v["thigh"], v["shin"], v["torso"], v["head"]
        basket_v, ua_v, fa_v, hand_v = v["carrier"], v["upper_arm"], v["forearm"], v["hand"]

        masses = [30.0 if not b.child else 14.0, 5.0 if not b.child else 3.5]
        cols, viss = [torso_c, head_c], [torso_v, head_v]
        pos = [(0, 0, 0), (0, 0, b.torso_len_m + 0.5 * b.head_r_m + 0.06 * b.height_m / 1.75 + 0.02)]
        parents = [0, TORSO + 1]
        types = [pb.JOINT_REVOLUTE, pb.JOINT_FIXED]
        axes = [(0, 1, 0), (0, 0, 1)]
        for side in ("right", "left"):
            s = -1.0 if side == "right" else 1.0
            first = len(masses)
            masses += list(ARM_MASSES_KG)
            cols += [-1, ua_c, fa_c, hand_c]
            viss += [-1, ua_v, fa_v, hand_v]
            pos += [(0, s * b.shoulder_width_m / 2, b.torso_len_m), (0, 0, 0), (0, 0, -b.upper_arm_m), (0, 0, -b.forearm_m)]
            parents += [TORSO + 1, first + 1, first + 2, first + 3]
            types += [pb.JOINT_REVOLUTE, pb.JOINT_REVOLUTE, pb.JOINT_REVOLUTE, pb.JOINT_REVOLUTE]
            axes += [(0, 0, 1), (0, 1, 0), (0, 1, 0), (0, 1, 0)]
        masses.append(0.6)
        cols.append(basket_c)
        viss.append(basket_v)
        pos.append((0.0, b.shoulder_width_m / 2, -CARRIER_DROP_M))
        parents.append(0)
        types.append(pb.JOINT_FIXED)
        axes.append((0, 0, 1))
        masses += list(LEG_MASSES_KG)  # thigh on the hip joint, shin on the knee
        cols += [thigh_c, shin_c]
        viss += [thigh_v, shin_v]
        pos += [(0, 0, 0), (0, 0, -b.thigh_m)]
        parents += [0, THIGH + 1]
        types += [pb.JOINT_REVOLUTE, pb.JOINT_REVOLUTE]
        axes += [(0, 1, 0), (0, 1, 0)]
        n = len(masses)
        body = pb.createMultiBody(
            baseMass=0.0,
            baseCollisionShapeIndex=pelvis_c,
            baseVisualShapeIndex=pelvis_v,
            basePosition=(self.xy[0], self.xy[1], hip),
            baseOrientation=pb.getQuaternionFromEuler((0, 0, self.yaw)),
            linkMasses=masses,
            linkCollisionShapeIndices=cols,
            linkVisualShapeIndices=viss,
            linkPositions=pos,
            linkOrientations=[(0, 0, 0, 1)] * n,
            linkInertialFramePositions=[(0, 0, 0)] * n,
            linkInertialFrameOrientations=[(0, 0, 0, 1)] * n,
            linkParentIndices=parents,
            linkJointTypes=types,
            linkJointAxis=axes,
            physicsClientId=c,
        )
        for link in range(-1, n):
            arm = link in (3, 4, 7, 8)
            pb.setCollisionFilterGroupMask(body, link, GROUP_SHOPPER, MASK_SHOPPER_ARM if arm else MASK_SHOPPER_BODY, physicsClientId=c)
            pb.changeDynamics(body, link, linearDamping=0.0, angularDamping=0.0, lateralFriction=0.8,
                              activationState=pb.ACTIVATION_STATE_DISABLE_SLEEPING, physicsClientId=c)
        pb.setJointMotorControl2(body, TORSO, pb.POSITION_CONTROL, targetPosition=0.0, force=WAIST_TORQUE_NM, positionGain=0.2, physicsClientId=c)
        pb.setJointMotorControlArray(body, [THIGH, SHIN], pb.POSITION_CONTROL, targetPositions=[0.0, 0.0],
                                     forces=[LEG_HOLD_NM, LEG_HOLD_NM], physicsClientId=c)
        return body


# -- what the cameras see: clothes, hair, bags (visual shapes only: no collision, no mass) ---------------

COAT_LAYER_M = 0.012  # a coat's thickness over the top (and over the torso's collision box)
COAT_BELOW_HIP = 0.14  # a coat hangs this fraction of the body's height below the hip (mid-thigh)
STRAP_M = (0.004, 0.018)  # a bag strap's half thickness and half width


@dataclass(frozen=True)
class _Part:
    """One visual shape of a link: a primitive, or a unit-cube garment mesh scaled to `half` (textured)."""

    geom: int
    rgba: tuple[float, ...]
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    half: tuple[float, float, float] = (0.0, 0.0, 0.0)  # a box's half extents (a mesh's half size)
    radius: float = 0.0
    length: float = 0.0
    mesh: str = ""
    orn: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)


def _dress(client: int, b: Build, size: dict) -> dict[str, int]:
    """The visual shape of each link for `b`'s body and outfit (`size`: the links' half extents and arm radius)."""
    o, skin = b.outfit, (*b.skin, 1.0)
    r_arm, d, L = size["arm_r"], b.torso_half_depth_m, b.torso_len_m
    tw = size["torso"][1]
    legs = lambda half, z: _garment(o.bottom, half, (0.0, 0.0, z))  # noqa: E731
    shin_half = size["shin"]
    sleeve = o.coat if o.coat is not None else o.top
    fore = sleeve.shade() if o.coat is not None or o.long_sleeves else b.skin
    parts = {
        "pelvis": [legs(size["pelvis"], -PELVIS_HALF_M)],
        "thigh": [legs(size["thigh"], -b.thigh_m / 2)],
        "shin": [_Part(pb.GEOM_BOX, skin, (0.0, 0.0, -b.shin_m / 2), shin_half) if o.bare_legs
                 else legs(shin_half, -b.shin_m / 2)],
        "torso": _torso_parts(b, d, tw, L),
        "head": _head_parts(b),
        "carrier": [_Part(pb.GEOM_BOX, (*(o.basket if b.carrier == "basket" else o.tote), 1.0), half=size["carrier"])],
        "upper_arm": [_Part(pb.GEOM_CAPSULE, (*sleeve.shade(), 1.0), (0.0, 0.0, -b.upper_arm_m / 2), radius=r_arm,
                            length=max(0.01, b.upper_arm_m - 2 * r_arm))],
        "forearm": [_Part(pb.GEOM_CAPSULE, (*fore, 1.0), (0.0, 0.0, -b.forearm_m / 2), radius=r_arm * 0.8,
                          length=max(0.01, b.forearm_m - 1.6 * r_arm))],
        "hand": [_Part(pb.GEOM_BOX, skin, (0.0, 0.0, -b.hand_m / 2), size["hand"])],
    }
    return {link: _visual(client, ps) for link, ps in parts.items()}


def _torso_parts(b: Build, d: float, tw: float, L: float) -> list[_Part]:
    """The top, or a coat over it open at the front (the top showing down the middle), and a bag."""
    o = b.outfit
    if o.coat is None:
        parts, outer = [_garment(o.top, (d, tw, L / 2), (0.0, 0.0, L / 2))], d
    else:
        below, outer = COAT_BELOW_HIP * b.height_m, d + COAT_LAYER_M
        parts = [_garment(o.coat, (outer, tw + COAT_LAYER_M, (L + below) / 2), (0.0, 0.0, (L - below) / 2)),
                 _garment(o.top, (0.004, 0.3 * tw, 0.32 * L), (outer + 0.004, 0.0, 0.62 * L))]
    if o.bag is None:
        return parts
    kind, rgb = o.bag
    bag, strap = (*rgb, 1.0), tuple(0.8 * v for v in rgb) + (1.0,)
    if kind == "backpack":  # on the back, two straps down the front
        half = (0.075, min(0.15, 0.9 * tw), min(0.21, 0.42 * L))
        parts.append(_Part(pb.GEOM_BOX, bag, (-(outer + half[0]), 0.0, 0.55 * L), half))
        for y in (-0.5 * tw, 0.5 * tw):
            parts.append(_Part(pb.GEOM_BOX, strap, (outer + STRAP_M[0], y, 0.6 * L), (STRAP_M[0], STRAP_M[1], 0.35 * L)))
    else:  # a shoulder bag at the back of the right hip, its strap across the chest and the back to the left shoulder
        half = (0.05, 0.11, 0.09)
        parts.append(_Part(pb.GEOM_BOX, bag, (-(outer + half[0]), -(tw - 0.06), 0.04), half))
        for x in (outer + STRAP_M[0], -(outer + STRAP_M[0])):
            parts.append(_strap(strap, x, (-(tw - 0.04), 0.12), (tw - 0.03, L - 0.02)))
    return parts


def _head_parts(b: Build) -> list[_Part]:
    """The head; hair over its top and back (the face shows in front); a hat over the crown."""
    r, o = b.head_r_m, b.outfit
    parts = [_Part(pb.GEOM_SPHERE, (*b.skin, 1.0), radius=r)]
    if o.hair is not None:
        parts.append(_Part(pb.GEOM_SPHERE, (*o.hair, 1.0), (-0.10 * r, 0.0, 0.14 * r), radius=1.04 * r))
    if o.hat is not None:
        parts.append(_Part(pb.GEOM_CYLINDER, (*o.hat, 1.0), (-0.05 * r, 0.0, 0.95 * r), radius=0.98 * r, length=0.6 * r))
    return parts


def _strap(rgba: tuple[float, ...], x: float, a: tuple[float, float], c: tuple[float, float]) -> _Part:
    """A flat strap at depth `x` of the torso frame from (y, z) `a` to `c`."""
    dy, dz = c[0] - a[0], c[1] - a[1]
    length = math.hypot(dy, dz)
    orn = tuple(pb.getQuaternionFromEuler((math.atan2(-dy, dz), 0.0, 0.0)))
    mid = (x, (a[0] + c[0]) / 2, (a[1] + c[1]) / 2)
    return _Part(pb.GEOM_BOX, rgba, mid, (STRAP_M[0], STRAP_M[1], length / 2), orn=orn)  # type: ignore[arg-type]


def _garment(g: Garment, half: tuple[float, float, float], pos: tuple[float, float, float]) -> _Part:
    """A box of cloth: the garment's texture on a unit cube (one mesh file per print, shared by every size)."""
    mesh = str(textured_product_mesh("box", (1000.0, 1000.0, 1000.0), garment_texture(g)))
    return _Part(pb.GEOM_MESH, tuple(g.rgba), pos, tuple(half), mesh=mesh)  # type: ignore[arg-type]


def _visual(client: int, parts: list[_Part]) -> int:
    """One visual shape (an array when a link shows several parts: `sim.render` mirrors each part)."""
    if len(parts) == 1:
        p = parts[0]
        kw = dict(rgbaColor=p.rgba, visualFramePosition=p.pos, visualFrameOrientation=p.orn, physicsClientId=client)
        if p.geom == pb.GEOM_MESH:
            return pb.createVisualShape(p.geom, fileName=p.mesh, meshScale=[2 * h for h in p.half], **kw)
        return pb.createVisualShape(p.geom, halfExtents=p.half, radius=p.radius, length=p.length, **kw)
    return pb.createVisualShapeArray(
        shapeTypes=[p.geom for p in parts], radii=[p.radius for p in parts], halfExtents=[p.half for p in parts],
        lengths=[p.length for p in parts], fileNames=[p.mesh for p in parts],
        meshScales=[[2 * h for h in p.half] if p.geom == pb.GEOM_MESH else [1.0, 1.0, 1.0] for p in parts],
        rgbaColors=[p.rgba for p in parts], visualFramePositions=[p.pos for p in parts],
        visualFrameOrientations=[p.orn for p in parts], physicsClientId=client,
    )


def leg_angles(build: Build, crouch_m: float) -> tuple[float, float]:
    """(hip, knee) joint angles that fold the legs for a crouch of `crouch_m` with the soles on the floor.

    The thigh turns forward by `a` (hip joint -a), the shin back by `b` from the vertical (knee joint a + b).
    The feet stay under the hip while the knee is inside `Build.max_knee_forward_m`; deeper, the knee stops
    there and the shin folds back towards the floor (a kneel). The hip height is then
    thigh cos a + shin cos b + half depth sin b: the lowest corner of the shin block touches the floor.
    """
    l1, l2, t = build.thigh_m, build.shin_m, build.leg_half_depth_m
    h = build.hip_m - min(max(crouch_m, 0.0), build.max_crouch_m)

    def height(a: float, b: float) -> float:
        return l1 * math.cos(a) + l2 * math.cos(b) + t * math.sin(b)

    def shin_for(a: float) -> float:  # the shin angle giving hip height h with the thigh at a
        lo, hi = math.atan2(t, l2), math.pi / 2  # height falls monotonically on [lo, hi]
        if height(a, lo) <= h:
            return 0.0 if height(a, 0.0) >= h - 1e-9 else lo
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if height(a, mid) > h else (lo, mid)
        return (lo + hi) / 2

    if h >= build.hip_m - 1e-9:
        return (0.0, 0.0)
    a_max = math.asin(min(1.0, build.max_knee_forward_m / l1))
    lo, hi = 0.0, a_max  # feet under the hip: thigh forward as far as the shin goes back
    if l1 * math.sin(a_max) >= l2 * math.sin(shin_for(a_max)):
        for _ in range(40):
            mid = (lo + hi) / 2
            b = shin_for(mid)
            lo, hi = (mid, hi) if l1 * math.sin(mid) < l2 * math.sin(b) else (lo, mid)
        a = (lo + hi) / 2
    else:
        a = a_max
    b = shin_for(a)
    return (-a, a + b)


def arm_ik(p: np.ndarray, l1: float, l2: float, prefer_yaw: float = 0.0) -> tuple[float, float, float]:
    """Joint angles (shoulder yaw about z, shoulder pitch about y, elbow about y) putting the palm at `p`.

    `p` is the palm target relative to the shoulder, in the torso frame. At zero the arm hangs
    straight down; pitch -pi/2 points it forward; the elbow flexes forward (negative). Of the two
    branches (facing the target, or turned away with the arm swung back) those within
    `YAW_LIMIT_RAD` count, and of those the one with yaw nearer `prefer_yaw`. A target out of reach is
    approached along its direction.
    """
    pz = float(p[2])
    # Two branches reach the same point: the arm turned to face it (yaw, reaching forward), or turned the
    # other way and swung back (yaw + pi, pitch > 0). A shoulder turns at most YAW_LIMIT either way, so
    # in front only the first will do and behind only the second; beside the shoulder both can, and the
    # one nearer `prefer_yaw` (the previous solution) wins, so the angles change smoothly as a target
    # passes the shoulder instead of jumping by pi and having the motors fling the arm over the top.
    yaw, rho = _facing_yaw(p, prefer_yaw)
    d = min(max(math.hypot(rho, pz), abs(l1 - l2) + 1e-3), l1 + l2 - 1e-4)
    theta_t = math.atan2(-rho, -pz)
    cos_g = (l1 * l1 + d * d - l2 * l2) / (2 * l1 * d)
    gamma = math.acos(max(-1.0, min(1.0, cos_g)))
    cos_e = (l1 * l1 + l2 * l2 - d * d) / (2 * l1 * l2)
    beta = math.pi - math.acos(max(-1.0, min(1.0, cos_e)))
    return (yaw, theta_t + gamma, -beta)


def arm_ik_hand(p: np.ndarray, l1: float, lf: float, lh: float, hand_angle: float | None,
                prefer_yaw: float = 0.0) -> tuple[float, float, float, float]:
    """Joint angles (shoulder yaw, shoulder pitch, elbow, wrist) putting the grip point at `p` (torso frame,
    relative to the shoulder) with the hand pointing at `hand_angle` in the arm's plane (the joint-angle
    convention of `arm_ik`: -pi/2 level forward, 0 straight down), the wrist bent within `WRIST_LIMIT_RAD`.

    A hand angle the wrist or the arm cannot give: the nearest one that can, in steps of `HAND_ANGLE_STEP_RAD`
    (the hand tilts as little as it must). None, a target behind the shoulder, or no angle within a right
    angle of the one asked: the hand straight on from the forearm (wrist 0), as `arm_ik` with the forearm and
    hand as one segment.
    """
    if hand_angle is not None:
        yaw, rho = _facing_yaw(p, prefer_yaw)
        if rho > 0.0:
            for k in range(int(math.pi / 2 / HAND_ANGLE_STEP_RAD) + 1):
                for psi in ((hand_angle,) if k == 0 else (hand_angle - k * HAND_ANGLE_STEP_RAD, hand_angle + k * HAND_ANGLE_STEP_RAD)):
                    w_rho = rho + lh * math.sin(psi)  # the wrist: back from the grip point along the hand
                    w_z = float(p[2]) + lh * math.cos(psi)
                    if not abs(l1 - lf) + 1e-3 < math.hypot(w_rho, w_z) < l1 + lf - 1e-4:
                        continue
                    _, t1, e = arm_ik(np.array([w_rho, 0.0, w_z]), l1, lf, 0.0)
                    wrist = psi - t1 - e
                    if WRIST_LIMIT_RAD[0] <= wrist <= WRIST_LIMIT_RAD[1]:
                        return (yaw, t1, e, wrist)
    return (*arm_ik(p, l1, lf + lh, prefer_yaw), 0.0)


def _facing_yaw(p: np.ndarray, prefer_yaw: float) -> tuple[float, float]:
    """The shoulder yaw `arm_ik` turns to for `p` and the signed level distance along it.

    A target nearly straight above or below the shoulder (within `YAW_HOLD_M` of its vertical) keeps the
    yaw it had: there the direction to it swings round in a few millimetres of travel, and motors chasing
    it fling the whole arm round and through whatever is near (a hand passing under the shoulder on its
    way from the basket to a low bin knocked cans off the shelf). The hand misses such a passing point by
    at most the distance it is off the vertical, sideways."""
    rho = math.hypot(float(p[0]), float(p[1]))
    if rho < YAW_HOLD_M:
        return prefer_yaw, float(p[0]) * math.cos(prefer_yaw) + float(p[1]) * math.sin(prefer_yaw)
    yaw = math.atan2(float(p[1]), float(p[0])) if rho > 1e-4 else 0.0
    flipped = yaw - math.copysign(math.pi, yaw) if yaw != 0.0 else math.pi
    options = [(y, r) for y, r in ((yaw, rho), (flipped, -rho)) if abs(y) <= YAW_LIMIT_RAD + 1e-9]
    return min(options, key=lambda o: abs(_wrap_pi(o[0] - prefer_yaw)))


def _wrap_pi(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def arm_fk(q: tuple[float, float, float], l1: float, l2: float) -> np.ndarray:
    """Palm position relative to the shoulder (torso frame) for joint angles `q` (inverse of `arm_ik`)."""
    return arm_points((*q[:3], 0.0), l1, l2, 0.0)[2]


def arm_points(q: tuple[float, float, float, float], l1: float, lf: float, lh: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Elbow, wrist and grip point relative to the shoulder (torso frame) for joint angles `q` (shoulder yaw,
    shoulder pitch, elbow, wrist), as `arm_ik_hand` solves them."""
    yaw, t1, e, w = q
    cy, sy = math.cos(yaw), math.sin(yaw)
    out, rho, z = [], 0.0, 0.0
    for length, angle in ((l1, t1), (lf, t1 + e), (lh, t1 + e + w)):
        rho, z = rho - length * math.sin(angle), z - length * math.cos(angle)
        out.append(np.array([rho * cy, rho * sy, z]))
    return out[0], out[1], out[2]
