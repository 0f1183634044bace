"""STAND-INS for shoppers, for the camera benchmark and camera tests only — not the shopper model.

Each stand-in is an articulated, human-sized pybullet multibody (legs, torso, head, two two-joint arms)
without collision shapes, so it disturbs no physics; it is posed kinematically along a loop and registered
with `StoreWorld.add_dynamic_body` like a real shopper would be. The real shoppers live in `agents`
(`agents.body`); `bench.cameras` uses them when that module is available.
"""
from __future__ import annotations

import math

import numpy as np
import pybullet as pb

SHIRTS = [(0.80, 0.15, 0.15), (0.15, 0.35, 0.75), (0.12, 0.55, 0.25), (0.92, 0.75, 0.15), (0.55, 0.25, 0.60)]


class StandInShopper:
    """A visual-only articulated body walking a closed loop of floor points at walking speed."""

    def __init__(self, client: int, loop: list[tuple[float, float]], phase_m: float, height_m: float, colour_index: int) -> None:
        self.client = client
        self.loop = [np.array(p, float) for p in loop]
        self.phase_m = phase_m
        self.speed_ms = 1.2
        h = height_m
        shirt = SHIRTS[colour_index % len(SHIRTS)]
        skin, trousers = (0.87, 0.67, 0.52), (0.20, 0.20, 0.25)

        def vis(geom: int, rgb, **kw) -> int:
            return pb.createVisualShape(geom, rgbaColor=[*rgb, 1.0], physicsClientId=client, **kw)

        torso = vis(pb.GEOM_BOX, shirt, halfExtents=[0.12, 0.2, 0.16 * h])
        legs = vis(pb.GEOM_BOX, trousers, halfExtents=[0.1, 0.16, 0.25 * h], visualFramePosition=[0, 0, -0.41 * h])
        head = vis(pb.GEOM_SPHERE, skin, radius=0.065 * h)
        upper = vis(pb.GEOM_CAPSULE, shirt, radius=0.045, length=0.15 * h, visualFramePosition=[0, 0, -0.09 * h])
        fore = vis(pb.GEOM_CAPSULE, skin, radius=0.04, length=0.13 * h, visualFramePosition=[0, 0, -0.08 * h])
        shoulder_z = 0.13 * h
        self.hip_z = 0.5 * h + 0.16 * h  # base (torso centre) height
        links = dict(
            linkMasses=[0.0] * 6,
            linkCollisionShapeIndices=[-1] * 6,
            linkVisualShapeIndices=[legs, head, upper, fore, upper, fore],
            linkPositions=[[0, 0, 0], [0, 0, 0.16 * h + 0.07 * h], [0, -0.24, shoulder_z], [0, 0, -0.17 * h],
                           [0, 0.24, shoulder_z], [0, 0, -0.17 * h]],
            linkOrientations=[[0, 0, 0, 1]] * 6,
            linkInertialFramePositions=[[0, 0, 0]] * 6,
            linkInertialFrameOrientations=[[0, 0, 0, 1]] * 6,
            linkParentIndices=[0, 0, 0, 3, 0, 5],
            linkJointTypes=[pb.JOINT_FIXED, pb.JOINT_FIXED, pb.JOINT_REVOLUTE, pb.JOINT_REVOLUTE,
                            pb.JOINT_REVOLUTE, pb.JOINT_REVOLUTE],
            linkJointAxis=[[0, 1, 0]] * 6,
        )
        self.body = pb.createMultiBody(0.0, -1, torso, [0, 0, self.hip_z], physicsClientId=client, **links)
        for j in range(6):  # posed by hand, never driven: no motors fighting the resets
            pb.setJointMotorControl2(self.body, j, pb.VELOCITY_CONTROL, force=0.0, physicsClientId=client)
        self.pose(0.0)

    def pose(self, t_s: float) -> None:
        """Place the body where the loop puts it at `t_s`, facing along it, arms swinging (one arm reaching now and then)."""
        s = (self.phase_m + self.speed_ms * t_s) % self._length()
        xy, heading = self._along(s)
        c = self.client
        pb.resetBasePositionAndOrientation(self.body, [xy[0], xy[1], self.hip_z], pb.getQuaternionFromEuler([0, 0, heading]), physicsClientId=c)
        pb.resetBaseVelocity(self.body, [0, 0, 0], [0, 0, 0], physicsClientId=c)
        swing = 0.5 * math.sin(2 * math.pi * 0.9 * t_s + self.phase_m)
        reach = -1.4 if math.sin(0.7 * t_s + self.phase_m) > 0.8 else swing
        for joint, angle in ((2, reach), (3, -0.3), (4, -swing), (5, -0.3)):
            pb.resetJointState(self.body, joint, angle, 0.0, physicsClientId=c)

    def hand_world(self) -> tuple[float, float, float]:
        return pb.getLinkState(self.body, 3, physicsClientId=self.client)[4]

    def _length(self) -> float:
        n = len(self.loop)
        return sum(float(np.linalg.norm(self.loop[(i + 1) % n] - self.loop[i])) for i in range(n))

    def _along(self, s: float) -> tuple[np.ndarray, float]:
        n = len(self.loop)
        for i in range(n):
            a, b = self.loop[i], self.loop[(i + 1) % n]
            seg = float(np.linalg.norm(b - a))
            if s <= seg or i == n - 1:
                d = (b - a) / max(seg, 1e-9)
                return a + d * min(s, seg), math.atan2(d[1], d[0])
            s -= seg
        raise AssertionError("unreachable")


def aisle_loops(floor_m: tuple[float, float], gondolas) -> list[list[tuple[float, float]]]:
    """Rectangular walking loops in the free floor: around each gondola, 0.45 m off its footprint (clipped to the floor)."""
    w, d = floor_m
    loops = []
    for g in gondolas:
        x0, y0, x1, y1 = g.footprint().bounds
        m = 0.45
        x0, y0 = max(0.4, x0 - m), max(0.4, y0 - m)
        x1, y1 = min(w - 0.4, x1 + m), min(d - 0.4, y1 + m)
        loops.append([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    return loops
