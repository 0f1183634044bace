"""The 3-D view's orbit camera: a pure description of where the viewer's eye is, turned into a `Pinhole`.

Place in the data path: the window's mouse and keys move an `OrbitCamera`; its `pinhole()` goes to the
episode host, whose `ViewRenderer` draws the live pybullet world from there (see `viewer.episode`).
Angles in radians; yaw 0 looks from the east (eye on +x), pitch is the eye's elevation above the target.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from sim.cameras import look_at_rotation
from sim.render import Pinhole

MIN_PITCH_RAD = math.radians(8.0)
MAX_PITCH_RAD = math.radians(89.5)  # a top view; straight down makes image up = north (sim.cameras.look_at_rotation)
MIN_DISTANCE_M = 1.5
MAX_DISTANCE_M = 60.0


@dataclass(frozen=True)
class OrbitCamera:
    target: tuple[float, float, float]
    yaw_rad: float
    pitch_rad: float
    distance_m: float
    fov_deg: float = 50.0  # vertical

    @classmethod
    def overlooking(cls, floor_m: tuple[float, float]) -> "OrbitCamera":
        """A three-quarter view from the south-west that shows the whole floor."""
        w, d = floor_m
        return cls((w / 2, d / 2, 0.6), math.radians(-120.0), math.radians(50.0), 0.8 * math.hypot(w, d) + 1.5)

    @classmethod
    def top_view(cls, floor_m: tuple[float, float], aspect: float, fov_deg: float = 50.0) -> "OrbitCamera":
        """Straight down over the floor's centre, far enough that the floor fits the view."""
        w, d = floor_m
        half_v = math.tan(math.radians(fov_deg) / 2)
        dist = max(d / 2 / half_v, w / 2 / (half_v * aspect)) * 1.08 + 0.2
        return cls((w / 2, d / 2, 0.0), -math.pi / 2, MAX_PITCH_RAD, dist, fov_deg)

    @property
    def eye(self) -> tuple[float, float, float]:
        c = math.cos(self.pitch_rad)
        tx, ty, tz = self.target
        return (
            tx + self.distance_m * c * math.cos(self.yaw_rad),
            ty + self.distance_m * c * math.sin(self.yaw_rad),
            tz + self.distance_m * math.sin(self.pitch_rad),
        )

    def rotated(self, d_yaw_rad: float, d_pitch_rad: float) -> "OrbitCamera":
        pitch = min(MAX_PITCH_RAD, max(MIN_PITCH_RAD, self.pitch_rad + d_pitch_rad))
        return replace(self, yaw_rad=self.yaw_rad + d_yaw_rad, pitch_rad=pitch)

    def zoomed(self, factor: float) -> "OrbitCamera":
        return replace(self, distance_m=min(MAX_DISTANCE_M, max(MIN_DISTANCE_M, self.distance_m * factor)))

    def panned(self, right_m: float, forward_m: float) -> "OrbitCamera":
        """Move the target along the floor: `right_m` to the screen's right, `forward_m` away from the eye."""
        fx, fy = -math.cos(self.yaw_rad), -math.sin(self.yaw_rad)  # horizontal view direction
        rx, ry = fy, -fx
        tx, ty, tz = self.target
        return replace(self, target=(tx + rx * right_m + fx * forward_m, ty + ry * right_m + fy * forward_m, tz))

    def following(self, xy: tuple[float, float], height_m: float = 1.0) -> "OrbitCamera":
        return replace(self, target=(float(xy[0]), float(xy[1]), height_m))

    def pinhole(self, width: int, height: int, near_m: float = 0.1, far_m: float = 80.0) -> Pinhole:
        """The camera as the renderer takes it: OpenCV intrinsics for `width` x `height`, world -> camera pose."""
        f = (height / 2.0) / math.tan(math.radians(self.fov_deg) / 2.0)
        eye = np.array(self.eye)
        R = look_at_rotation(eye, np.array(self.target, float))
        t = -R @ eye
        return Pinhole(
            width, height, f, f, (width - 1) / 2.0, (height - 1) / 2.0,
            tuple(float(v) for v in R.ravel()), tuple(float(v) for v in t), near_m, far_m,
        )
