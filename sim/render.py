"""Rendering for the ceiling cameras: clean RGB-D of the physics world as a pinhole camera sees it.

Place in the data path: `sim.cameras` (the device model: noise, drops, timestamps) asks a `StoreRenderer`
for the noise-free image of each camera; this module turns the pybullet world into pixels.

Backends: pybullet's TinyRenderer (CPU, everywhere) or its EGL plugin (OpenGL on a GPU). `choose_renderer`
is the one place that picks between them.

Why a mirror, and why it agrees with a full render. The store is almost all static: gondolas, plates and
2,000+ sleeping items, which cost a TinyRenderer ~70 ms per 320x240 frame, against ~2 ms for an empty
scene. So the renderer keeps two render-only pybullet clients beside the physics world:

- the *static* client holds a copy of every body that is not moving; each camera renders it once and
  caches the result (its background);
- the *dynamic* client holds copies of the bodies that move: those the world registers as dynamic
  (`StoreWorld.dynamic_bodies`: shoppers, what they carry), bodies added to the world after the start,
  and any static-looking body that has been seen to move (an item taken, knocked or settling).

Each frame renders only the dynamic client and composites it over the cached background by depth,
nearer wins: exactly what the z-buffer of a full render does, since TinyRenderer draws each triangle
independently, lights it by one directional light with shadows off, and the copies carry the same
shapes, colours and poses. Only the rectangle of the image the moving bodies' boxes project to is drawn
(`Pinhole.crop`: an off-centre projection of the same camera, whose pixels are the whole image's to the
rasteriser's rounding). When a static-looking body moves (a take leaves a hole) it moves to the
dynamic client and, in each camera that sees where it was, the rectangle it covered is redrawn from the
static client into a new background; a moved body that stays still for `SETTLE_TICKS` samples goes
back into the background the same way. Every sample,
the poses of all movable static bodies are compared with their copies (a few ms for the default store),
so nothing stale survives longer than one frame: the fast path shows what a full render shows, to
within `MOVE_TOLERANCE_M` of pose.

Conventions: images are row 0 at the top; the camera follows OpenCV (x right, y down, z forward);
depth is metres along the optical axis (the pinhole z), 0 where nothing was drawn.
"""
from __future__ import annotations

import os
import pkgutil
import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal

import numpy as np
import pybullet as pb

Renderer = Literal["tiny", "egl"]

# One light for every path, shadows off, so the cached background and a full render light a surface
# identically: a store is lit by many ceiling panels, mostly diffuse, so a high ambient term.
LIGHT = dict(
    lightDirection=[0.25, 0.15, 1.0],
    lightColor=[1.0, 1.0, 1.0],
    lightDistance=3.0,
    lightAmbientCoeff=0.55,
    lightDiffuseCoeff=0.45,
    lightSpecularCoeff=0.05,
    shadow=0,
)
MOVE_TOLERANCE_M = 0.0005  # a static-looking body that moved more than this (or turned by TURN_TOLERANCE_RAD) is re-rendered
TURN_TOLERANCE_RAD = 0.001
SETTLE_TICKS = 10  # camera samples a moved body must stay still before it is baked back into the background


def choose_renderer(setting: str, gpu_present: bool) -> Renderer:
    """The rendering backend for a `renderer:` setting (`auto`, `tiny`, `egl`) on this machine."""
    if setting == "tiny":
        return "tiny"
    if setting == "egl":
        if not gpu_present:
            raise ValueError("renderer 'egl' needs a GPU with EGL; this machine has none (use 'tiny' or 'auto')")
        return "egl"
    if setting == "auto":
        return "egl" if gpu_present else "tiny"
    raise ValueError(f"unknown renderer '{setting}' (expected auto, tiny or egl)")


def gpu_present() -> bool:
    """Whether pybullet's EGL plugin can render here: the plugin is installed and a GPU device node exists."""
    if pkgutil.get_loader("eglRenderer") is None:
        return False
    return any(Path(p).exists() for p in ("/dev/nvidia0", "/dev/dri/renderD128"))


def depth_from_buffer(buffer: np.ndarray, near_m: float, far_m: float) -> np.ndarray:
    """OpenGL's non-linear depth buffer (0 at near, 1 at far) -> metres along the optical axis; 0 where nothing was drawn."""
    d = np.asarray(buffer, dtype=np.float64)
    z = far_m * near_m / (far_m - (far_m - near_m) * d)
    z[d >= 1.0] = 0.0
    return z.astype(np.float32)


@dataclass(frozen=True)
class Pinhole:
    """What a renderer needs of a camera: OpenCV intrinsics (pixel centres at integers), world->camera pose, clip planes."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    R: tuple[float, ...]  # 3x3 row-major, world -> camera (OpenCV axes)
    t: tuple[float, float, float]
    near_m: float = 0.05
    far_m: float = 60.0

    def view_matrix(self) -> list[float]:
        """OpenGL view matrix (column-major): OpenCV camera axes with y and z flipped."""
        flip = np.diag([1.0, -1.0, -1.0])
        v = np.eye(4)
        v[:3, :3] = flip @ np.array(self.R).reshape(3, 3)
        v[:3, 3] = flip @ np.array(self.t)
        return v.T.ravel().tolist()

    def projection_matrix(self, renderer: Renderer) -> list[float]:
        """OpenGL projection (column-major) that puts pixel (u, v) = K @ x_cam where `renderer` samples it.

        pybullet's own `computeProjectionMatrixFOV` takes the *vertical* field of view and a centred
        principal point; building the matrix from K covers both and any principal point. Where the
        rasteriser samples: TinyRenderer tests integer viewport coordinates, x = (ndc_x + 1) W / 2 and
        row = H - (ndc_y + 1) H / 2 - 1 (it flips rows when copying out); OpenGL (EGL) samples pixel
        centres, x + 0.5 and row + 0.5. The offsets below put those samples at the OpenCV pixel centres.
        """
        if renderer == "tiny":
            sx, sy = self.cx, self.cy + 1.0
        else:
            sx, sy = self.cx + 0.5, self.cy + 0.5
        n, f = self.near_m, self.far_m
        p = np.zeros((4, 4))
        p[0, 0] = 2.0 * self.fx / self.width
        p[0, 2] = 1.0 - 2.0 * sx / self.width
        p[1, 1] = 2.0 * self.fy / self.height
        p[1, 2] = 2.0 * sy / self.height - 1.0
        p[2, 2] = -(f + n) / (f - n)
        p[2, 3] = -2.0 * f * n / (f - n)
        p[3, 2] = -1.0
        return p.T.ravel().tolist()

    def sees_boxes(self, boxes: np.ndarray) -> np.ndarray:
        """For (n, 2, 3) axis-aligned world boxes (lo, hi): whether any part of each can fall in the image (conservative)."""
        return self.seen(*self.project_corners(box_corners(boxes)))

    def sees_box(self, lo: np.ndarray, hi: np.ndarray) -> bool:
        return bool(self.sees_boxes(np.stack([lo, hi])[None])[0])

    def box_rect(self, boxes: np.ndarray, margin_px: int = 2) -> tuple[int, int, int, int] | None:
        """The pixel rectangle (u0, v0, u1, v1), ends exclusive, that holds every part of the (n, 2, 3) world
        boxes this camera can see, `margin_px` wider each way; the whole image when a box straddles the camera
        plane; None when none is in view. In front of the camera a box's image lies within its corners'."""
        u, v, front = self.project_corners(box_corners(boxes))
        return self.rect_of(u, v, front, self.seen(u, v, front), margin_px)

    def project_corners(self, corners: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixel coordinates (u, v) of (n, 8, 3) world box corners (`box_corners`), (n, 8) each, and which corners
        are in front of the near plane (those behind get a placeholder depth of 1 m: only the front ones' pixels
        mean anything). A crop of this camera sees the same corners at (u - u0, v - v0)."""
        pc = corners @ np.array(self.R).reshape(3, 3).T + np.array(self.t)
        z = pc[..., 2]
        front = z > self.near_m
        zc = np.where(front, z, 1.0)
        return self.fx * pc[..., 0] / zc + self.cx, self.fy * pc[..., 1] / zc + self.cy, front

    def seen(self, u: np.ndarray, v: np.ndarray, front: np.ndarray) -> np.ndarray:
        """Which boxes, given their corners' `project_corners`, can show in the image (conservative)."""
        return self.seen_in(corner_extents(u, v, front), 0, 0, self.width, self.height)

    @staticmethod
    def seen_in(extents: tuple[np.ndarray, ...], u0: float, v0: float, u1: float, v1: float) -> np.ndarray:
        """Which boxes, given their `corner_extents` in this camera, can show in its pixels [u0, u1) x [v0, v1)
        (conservative): the same answer as `crop(u0, v0, u1, v1).seen` of the shifted corners, without them."""
        umax, umin, vmax, vmin, all_front, any_front = extents
        inside = (umax - u0 >= -1) & (umin - u0 <= u1 - u0) & (vmax - v0 >= -1) & (vmin - v0 <= v1 - v0)
        # A box that straddles the camera plane cannot be bounded by its corners' projections: count it as seen.
        return (all_front & inside) | (any_front & ~all_front)

    def rect_of(self, u: np.ndarray, v: np.ndarray, front: np.ndarray, seen: np.ndarray,
                margin_px: int = 2) -> tuple[int, int, int, int] | None:
        """`box_rect` from the corners' `project_corners` and `seen`."""
        if not seen.any():
            return None
        if not front[seen].all():
            return 0, 0, self.width, self.height
        u, v = u[seen], v[seen]
        u0 = max(int(np.floor(u.min())) - margin_px, 0)
        u1 = min(int(np.ceil(u.max())) + margin_px + 1, self.width)
        v0 = max(int(np.floor(v.min())) - margin_px, 0)
        v1 = min(int(np.ceil(v.max())) + margin_px + 1, self.height)
        return (u0, v0, u1, v1) if u0 < u1 and v0 < v1 else None

    def crop(self, u0: int, v0: int, u1: int, v1: int) -> "Pinhole":
        """The same camera seeing only pixels [u0, u1) x [v0, v1): an off-centre projection whose pixel (u, v) is
        this camera's (u0 + u, v0 + v)."""
        return Pinhole(u1 - u0, v1 - v0, self.fx, self.fy, self.cx - u0, self.cy - v0, self.R, self.t, self.near_m, self.far_m)


def render_client(client: int, cam: Pinhole, renderer: Renderer) -> tuple[np.ndarray, np.ndarray]:
    """Render one pybullet client: RGB (H, W, 3) uint8 and the raw depth buffer (H, W) float32 in [0, 1]."""
    kind = pb.ER_TINY_RENDERER if renderer == "tiny" else pb.ER_BULLET_HARDWARE_OPENGL
    _, _, rgba, depth, _ = pb.getCameraImage(
        cam.width, cam.height, cam.view_matrix(), cam.projection_matrix(renderer),
        renderer=kind, flags=pb.ER_NO_SEGMENTATION_MASK, physicsClientId=client, **LIGHT,
    )
    rgba = np.asarray(rgba, dtype=np.uint8).reshape(cam.height, cam.width, 4)
    depth = np.asarray(depth, dtype=np.float32).reshape(cam.height, cam.width)
    return rgba[..., :3].copy(), depth


def render_segmentation(client: int, cam: Pinhole, renderer: Renderer) -> np.ndarray:
    """(H, W) int32 of `client` seen through `cam`: body + ((link + 1) << 24) per pixel, -1 where nothing is drawn
    (pybullet's `ER_SEGMENTATION_MASK_OBJECT_AND_LINKINDEX`). Truth side only: labels for `sim.labels`."""
    kind = pb.ER_TINY_RENDERER if renderer == "tiny" else pb.ER_BULLET_HARDWARE_OPENGL
    _, _, _, _, seg = pb.getCameraImage(
        cam.width, cam.height, cam.view_matrix(), cam.projection_matrix(renderer),
        renderer=kind, flags=pb.ER_SEGMENTATION_MASK_OBJECT_AND_LINKINDEX, physicsClientId=client, **LIGHT,
    )
    return np.asarray(seg, dtype=np.int64).reshape(cam.height, cam.width).astype(np.int32)


def load_egl(client: int) -> None:
    """Load pybullet's EGL renderer plugin into a client (needs a GPU; see `gpu_present`)."""
    egl = pkgutil.get_loader("eglRenderer")
    assert egl is not None, "eglRenderer plugin is not installed with pybullet"
    plugin = pb.loadPlugin(egl.get_filename(), "_eglRendererPlugin", physicsClientId=client)  # type: ignore[attr-defined]
    if plugin < 0:
        raise RuntimeError("pybullet could not load the EGL renderer plugin")


# -- the mirror ---------------------------------------------------------------------------------------------


@dataclass
class _Copy:
    """A world body copied into a render client: one render body per visual shape of the world body."""

    body: int
    links: tuple[int, ...]  # world link index of each visual (-1 = base)
    poses: np.ndarray  # (len(links), 7): position and quaternion of each link frame when last synced
    offsets: np.ndarray  # (len(links), 3): each visual's centre in its link frame
    radii: np.ndarray  # (len(links),): a sphere about that centre holding the whole visual
    rgba: list[tuple] = field(default_factory=list)  # each visual's colour
    ids: list[int] = field(default_factory=list)  # bodies in the render client
    still: int = 0  # samples in a row without moving (for baking back)

    def boxes(self) -> np.ndarray:
        """(n, 2, 3) world boxes around each visual at the synced poses (render-only copies have no collision AABB)."""
        centres = self.poses[:, :3] + _rotate(self.poses[:, 3:], self.offsets)
        r = self.radii[:, None]
        return np.stack([centres - r, centres + r], axis=1)


def corner_extents(u: np.ndarray, v: np.ndarray, front: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per box, from its corners' `project_corners`: the largest and smallest u and v of the corners in front of
    the camera, and whether all and whether any of them are in front (for `Pinhole.seen_in`)."""
    inf = np.inf
    return (np.where(front, u, -inf).max(axis=1), np.where(front, u, inf).min(axis=1),
            np.where(front, v, -inf).max(axis=1), np.where(front, v, inf).min(axis=1),
            front.all(axis=1), front.any(axis=1))


_CORNERS = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)])  # which end (lo 0, hi 1) per axis


def box_corners(boxes: np.ndarray) -> np.ndarray:
    """(n, 2, 3) axis-aligned world boxes (lo, hi) -> their (n, 8, 3) corners."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 2, 3)
    return np.stack([boxes[:, _CORNERS[:, k], k] for k in range(3)], axis=-1)


def _disconnect_all(clients: tuple[int, ...]) -> None:
    for c in clients:
        if c >= 0:
            pb.disconnect(physicsClientId=c)


class StoreRenderer:
    """Renders the physics world for a set of cameras, paying for the static store once per camera.

    `world_client` is the physics client; `dynamic_bodies` is the world's live registry of bodies that
    move by themselves (read, never written). Call `sync()` once per camera sample, then `render(i)`.
    """

    def __init__(self, world_client: int, dynamic_bodies: set[int], cameras: Iterable[Pinhole], renderer: Renderer) -> None:
        self.world = world_client
        self.registry = dynamic_bodies
        self.cameras = list(cameras)
        self.renderer: Renderer = renderer
        self.static_client = pb.connect(pb.DIRECT)
        self.dynamic_client = pb.connect(pb.DIRECT)
        self.fallback: str | None = None  # why EGL was asked for but TinyRenderer draws (no EGL driver, say)
        if renderer == "egl":
            try:
                load_egl(self.static_client)
                load_egl(self.dynamic_client)
            except (AssertionError, RuntimeError) as exc:  # start over on clean clients, drawn by TinyRenderer
                for c in (self.static_client, self.dynamic_client):
                    pb.disconnect(physicsClientId=c)
                self.static_client = pb.connect(pb.DIRECT)
                self.dynamic_client = pb.connect(pb.DIRECT)
                self.renderer, self.fallback = "tiny", str(exc)
                warnings.warn(f"cameras: EGL unavailable ({exc}); rendering with TinyRenderer", RuntimeWarning, stacklevel=2)
        # Freed when collected even without close(); close() runs the same finalizer once (ids are reused).
        self._disconnect = weakref.finalize(self, _disconnect_all, (self.static_client, self.dynamic_client))
        self._world_egl = False
        self._shapes: dict[tuple[int, tuple], int] = {}
        self._visuals: dict[int, list[tuple]] = {}
        self._inertia: dict[int, tuple | None] = {}
        self.static: dict[int, _Copy] = {}
        self.dynamic: dict[int, _Copy] = {}
        self._backgrounds: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = [None] * len(self.cameras)  # rgb, buffer, metres
        self._dirty: list[tuple[int, int, int, int] | None] = [None] * len(self.cameras)  # a background's stale rectangle
        self._body_count = -1
        self._rows: list[tuple[int, int]] | None = None
        self._row_poses = np.empty((0, 7))
        self._dynamic_boxes = np.empty((0, 2, 3))
        self._dynamic_corners = np.empty((0, 8, 3))
        self._drawn = np.empty(0, dtype=bool)  # which rows the dynamic client draws now (the others: alpha 0)
        self._dynamic_rows: list[tuple[int, tuple]] = []  # (render body, its rgba) of each row of _dynamic_boxes
        self._hidden: set[int] = set()  # render bodies of the dynamic client drawn transparent now
        self.background_renders = 0  # how many times a camera re-rendered its background (for benchmarks)
        for body in self._world_bodies():
            if body in self.registry:
                self.dynamic[body] = self._copy(body, self.dynamic_client)
            else:
                self.static[body] = self._copy(body, self.static_client)
        self._body_count = pb.getNumBodies(physicsClientId=self.world)
        # The store's fixtures (mass-0 bases present at the start: floor, walls, gondolas, shelf boards)
        # cannot move, so their bases are never re-checked; anything else is.
        self._fixtures = {b for b in self.static if self._fixed_base(b)}

    # -- per sample ------------------------------------------------------------------------------------

    def sync(self) -> None:
        """Bring the copies up to date with the world: new, removed, registered and moved bodies."""
        if pb.getNumBodies(physicsClientId=self.world) != self._body_count or any(b not in self.dynamic for b in self.registry):
            self._adopt_new_bodies()
        for body in self._moved_static_bodies():
            copy = self.static[body]
            self._invalidate(copy)
            self._drop(body, self.static, self.static_client, dirty=False)
            if self._poses(body, copy.links) is not None:  # moved, not removed
                self.dynamic[body] = self._copy(body, self.dynamic_client)
        boxes, rows = [], []
        for body in list(self.dynamic):
            copy = self.dynamic[body]
            poses = self._poses(body, copy.links)
            if poses is None:
                self._drop(body, self.dynamic, self.dynamic_client, dirty=False)
                continue
            copy.still = copy.still + 1 if not _moved(poses, copy.poses) else 0
            if copy.still >= SETTLE_TICKS and body not in self.registry:
                self._drop(body, self.dynamic, self.dynamic_client, dirty=False)
                self.static[body] = self._copy(body, self.static_client)
                self._rows = None
                self._invalidate(self.static[body])
                continue
            self._place(copy, poses, self.dynamic_client)
            boxes.append(copy.boxes())
            rows.extend(zip(copy.ids, copy.rgba))
        self._dynamic_boxes = np.concatenate(boxes) if boxes else np.empty((0, 2, 3))
        self._dynamic_corners = box_corners(self._dynamic_boxes)
        self._drawn = np.array([rid not in self._hidden for rid, _ in rows], dtype=bool)
        self._dynamic_rows = rows

    def render(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Camera `index`: RGB (H, W, 3) uint8 and depth (H, W) float32 metres (0 = nothing), via the cached background."""
        cam = self.cameras[index]
        bg = self._backgrounds[index]
        if bg is None:
            rgb, buf = render_client(self.static_client, cam, self.renderer)
            bg = self._backgrounds[index] = (rgb, buf, depth_from_buffer(buf, cam.near_m, cam.far_m))
            self._dirty[index] = None
            self.background_renders += 1
        elif self._dirty[index] is not None:
            # A static body left or joined the background: redraw only the rectangle it covers (into new arrays:
            # frames already handed out, and the device model's cache, keep the old ones).
            u0, v0, u1, v1 = self._dirty[index]
            self._dirty[index] = None
            sub_rgb, sub_buf = render_client(self.static_client, cam.crop(u0, v0, u1, v1), self.renderer)
            rgb, buf, depth = (a.copy() for a in bg)
            rgb[v0:v1, u0:u1] = sub_rgb
            buf[v0:v1, u0:u1] = sub_buf
            depth[v0:v1, u0:u1] = depth_from_buffer(sub_buf, cam.near_m, cam.far_m)
            bg = self._backgrounds[index] = (rgb, buf, depth)
            self.background_renders += 1
        rgb, buf, depth = bg
        if not len(self._dynamic_boxes):
            return rgb, depth
        u, v, front = cam.project_corners(self._dynamic_corners)
        extents = corner_extents(u, v, front)
        rect = cam.rect_of(u, v, front, cam.seen_in(extents, 0, 0, cam.width, cam.height))
        if rect is None:
            return rgb, depth
        # Only the rectangle the moving bodies can cover is drawn (an off-centre projection of this camera), and in
        # it only the shapes that can show there: the same pixels a whole-image render gives, at a fraction of its
        # cost. (One rectangle per body, each drawn apart, was measured slower: 1.83 ms a camera against 1.38.)
        u0, v0, u1, v1 = rect
        crop = cam.crop(u0, v0, u1, v1)
        self._draw_only(cam.seen_in(extents, u0, v0, u1, v1))
        dyn_rgb, dyn_buf = render_client(self.dynamic_client, crop, self.renderer)
        nearer = dyn_buf < buf[v0:v1, u0:u1]
        if not nearer.any():
            return rgb, depth
        rgb, depth = rgb.copy(), depth.copy()
        np.copyto(rgb[v0:v1, u0:u1], dyn_rgb, where=nearer[..., None])  # a third cheaper than a masked assignment
        depth[v0:v1, u0:u1][nearer] = depth_from_buffer(dyn_buf[nearer], cam.near_m, cam.far_m)
        return rgb, depth

    def _draw_only(self, seen: np.ndarray) -> None:
        """Make the dynamic client draw only the rows of `_dynamic_boxes` that `seen` marks: TinyRenderer passes
        over a shape of alpha 0 before transforming a vertex, and shading the vertices of every shopper's
        spheres and capsules was most of the cost of a small rectangle (1.1 ms of a 1x1 crop with ten shoppers
        in the store, 0.03 ms with none drawn). A row not seen has no pixel in the image, so the picture is
        the same. Only with TinyRenderer: OpenGL may still write a transparent shape's depth."""
        if self.renderer != "tiny":
            return
        client = self.dynamic_client
        for k in np.flatnonzero(seen != self._drawn).tolist():
            rid, rgba = self._dynamic_rows[k]
            if seen[k]:
                pb.changeVisualShape(rid, -1, rgbaColor=rgba, physicsClientId=client)
                self._hidden.discard(rid)
            else:
                pb.changeVisualShape(rid, -1, rgbaColor=(*rgba[:3], 0.0), physicsClientId=client)
                self._hidden.add(rid)
        self._drawn = seen

    def set_camera(self, index: int, cam: Pinhole) -> None:
        """Move camera `index` (e.g. a viewer's orbit camera); its cached background is redrawn on the next render."""
        if self.cameras[index] != cam:
            self.cameras[index] = cam
            self._backgrounds[index] = None

    def render_full(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Camera `index` rendered straight from the physics world, every body drawn: the reference for the fast path."""
        cam = self.cameras[index]
        self._load_world_egl()
        rgb, buf = render_client(self.world, cam, self.renderer)
        return rgb, depth_from_buffer(buf, cam.near_m, cam.far_m)

    def segment_full(self, index: int) -> np.ndarray:
        """Camera `index`'s segmentation of the physics world itself, every body drawn (`render_segmentation`)."""
        self._load_world_egl()
        return render_segmentation(self.world, self.cameras[index], self.renderer)

    def close(self) -> None:
        self._disconnect()
        self.static_client = self.dynamic_client = -1

    # -- helpers ---------------------------------------------------------------------------------------

    def _load_world_egl(self) -> None:
        if self.renderer == "egl" and not self._world_egl:
            load_egl(self.world)  # only for reference renders and labels: the stream never draws the world client
            self._world_egl = True

    def _world_bodies(self) -> list[int]:
        w = self.world
        return [pb.getBodyUniqueId(i, physicsClientId=w) for i in range(pb.getNumBodies(physicsClientId=w))]

    def _adopt_new_bodies(self) -> None:
        """Bodies the copies do not know yet (or newly registered as dynamic) go to the dynamic client."""
        for body in self._world_bodies():
            if body in self.dynamic:
                continue
            if body in self.static:
                if body not in self.registry:
                    continue
                self._invalidate(self.static[body])
                self._drop(body, self.static, self.static_client, dirty=False)
            self.dynamic[body] = self._copy(body, self.dynamic_client)
        self._body_count = pb.getNumBodies(physicsClientId=self.world)

    def _moved_static_bodies(self) -> list[int]:
        """Static-looking bodies whose pose differs from their copy's (or that left the world), in one sweep."""
        if self._rows is None:  # (body, link) of every visual that can move: not on a fixed base
            self._rows = [(b, link) for b, c in self.static.items() for link in c.links if not (link < 0 and b in self._fixtures)]
            self._row_poses = np.array([self.static[b].poses[self.static[b].links.index(link)] for b, link in self._rows]).reshape(-1, 7)
        if not self._rows:
            return []
        try:
            now = np.array([self._pose(b, link) for b, link in self._rows])
        except pb.error:  # a body was removed: find which, the slow way
            return [b for b, c in self.static.items() if self._poses(b, c.links) is None]
        moved = np.abs(now[:, :3] - self._row_poses[:, :3]).max(axis=1) > MOVE_TOLERANCE_M
        dots = np.abs(np.einsum("ij,ij->i", now[:, 3:], self._row_poses[:, 3:])).clip(0.0, 1.0)
        moved |= 2.0 * np.arccos(dots) > TURN_TOLERANCE_RAD
        return sorted({self._rows[i][0] for i in np.flatnonzero(moved)})

    def _invalidate(self, copy: _Copy) -> None:
        """Mark, in every camera that sees where `copy` is drawn, the rectangle it covers for redrawing."""
        boxes = copy.boxes()
        for i, cam in enumerate(self.cameras):
            if self._backgrounds[i] is None:
                continue
            rect = cam.box_rect(boxes)
            if rect is not None:
                old = self._dirty[i]
                self._dirty[i] = rect if old is None else (
                    min(old[0], rect[0]), min(old[1], rect[1]), max(old[2], rect[2]), max(old[3], rect[3]))

    def _drop(self, body: int, table: dict[int, _Copy], client: int, dirty: bool) -> None:
        copy = table.pop(body)
        if table is self.static:
            self._rows = None
        if dirty:
            self._invalidate(copy)
        for rid in copy.ids:
            pb.removeBody(rid, physicsClientId=client)
            if client == self.dynamic_client:
                self._hidden.discard(rid)

    def _visual_data(self, body: int) -> list[tuple]:
        if body not in self._visuals:
            self._visuals[body] = list(pb.getVisualShapeData(body, physicsClientId=self.world))
        return self._visuals[body]

    def _copy(self, body: int, client: int) -> _Copy:
        """Copy a world body's visual shapes into a render client, posed as in the world now."""
        visuals = self._visual_data(body)
        links = tuple(v[1] for v in visuals)
        poses = self._poses(body, links)
        assert poses is not None, f"body {body} vanished while being copied"
        bounds = [_visual_bounds(v) for v in visuals]
        copy = _Copy(body, links, poses, np.array([b[0] for b in bounds]).reshape(-1, 3), np.array([b[1] for b in bounds]),
                     rgba=[tuple(v[7]) for v in visuals])
        for v, pose in zip(visuals, poses):
            shape = self._shape(client, v)
            copy.ids.append(pb.createMultiBody(0.0, -1, shape, pose[:3].tolist(), pose[3:].tolist(), physicsClientId=client))
        return copy

    def _shape(self, client: int, v: tuple) -> int:
        """A visual shape in a render client equal to world visual `v` (cached: items share shapes)."""
        _, _, geom, dims, mesh, frame_pos, frame_orn, rgba = v[:8]
        # Labels and clothes come with their mesh files (the OBJ's material names the image), so a copy made from the
        # same file carries them; a texture set with changeVisualShape would not be copied (none is).
        key = (client, (geom, tuple(dims), mesh, tuple(frame_pos), tuple(frame_orn), tuple(rgba)))
        if key in self._shapes:
            return self._shapes[key]
        kw = dict(rgbaColor=rgba, visualFramePosition=frame_pos, visualFrameOrientation=frame_orn, physicsClientId=client)
        if geom == pb.GEOM_BOX:
            shape = pb.createVisualShape(geom, halfExtents=[d / 2 for d in dims], **kw)
        elif geom in (pb.GEOM_CYLINDER, pb.GEOM_CAPSULE):
            shape = pb.createVisualShape(geom, length=dims[0], radius=dims[1], **kw)
        elif geom == pb.GEOM_SPHERE:
            shape = pb.createVisualShape(geom, radius=dims[0], **kw)
        elif geom == pb.GEOM_MESH:
            name = mesh.decode() if isinstance(mesh, bytes) else mesh
            assert name and os.path.exists(name), f"mesh visual without a file ({name!r}) cannot be mirrored"
            shape = pb.createVisualShape(geom, fileName=name, meshScale=dims, **kw)
        elif geom == pb.GEOM_PLANE:
            shape = pb.createVisualShape(geom, planeNormal=[0, 0, 1], **kw)
        else:
            raise AssertionError(f"visual geometry type {geom} is not mirrored")
        self._shapes[key] = shape
        return shape

    def _pose(self, body: int, link: int) -> tuple[float, ...]:
        """World pose (x, y, z, qx, qy, qz, qw) of the frame a visual hangs on: the link's URDF frame, not its inertial one."""
        w = self.world
        if link >= 0:
            # Forward kinematics from the joint positions the step integrated: the link cache without it lags a
            # motor-driven joint by one step. It recomputes what the step already put in the colliders (physics
            # is unchanged; tests compare load cells with and without cameras).
            state = pb.getLinkState(body, link, computeForwardKinematics=True, physicsClientId=w)
            return state[4] + state[5]
        pos, orn = pb.getBasePositionAndOrientation(body, physicsClientId=w)
        inverse = self._base_inertia_inverse(body)
        if inverse is not None:
            pos, orn = pb.multiplyTransforms(pos, orn, inverse[0], inverse[1])
        return pos + orn

    def _fixed_base(self, body: int) -> bool:
        return pb.getDynamicsInfo(body, -1, physicsClientId=self.world)[0] == 0.0

    def _poses(self, body: int, links: tuple[int, ...]) -> np.ndarray | None:
        """World pose of the link frame each visual hangs on (the URDF frame, not the inertial one); None if gone."""
        try:
            return np.array([self._pose(body, link) for link in links]).reshape(-1, 7)
        except pb.error:
            return None

    def _base_inertia_inverse(self, body: int) -> tuple | None:
        """The base's inertial frame inverted (None when it is the identity), cached: it never changes."""
        if body not in self._inertia:
            info = pb.getDynamicsInfo(body, -1, physicsClientId=self.world)
            identity = not any(info[3]) and tuple(info[4]) == (0.0, 0.0, 0.0, 1.0)
            self._inertia[body] = None if identity else pb.invertTransform(info[3], info[4])
        return self._inertia[body]

    def _place(self, copy: _Copy, poses: np.ndarray, client: int) -> None:
        for rid, pose in zip(copy.ids, poses):
            pb.resetBasePositionAndOrientation(rid, pose[:3].tolist(), pose[3:].tolist(), physicsClientId=client)
        copy.poses = poses


def _moved(a: np.ndarray, b: np.ndarray) -> bool:
    if np.abs(a[:, :3] - b[:, :3]).max() > MOVE_TOLERANCE_M:
        return True
    dots = np.abs(np.sum(a[:, 3:] * b[:, 3:], axis=1)).clip(0.0, 1.0)
    return bool((2.0 * np.arccos(dots)).max() > TURN_TOLERANCE_RAD)


def _rotate(quats: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Rotate each vector by its quaternion (x, y, z, w)."""
    q, w = quats[:, :3], quats[:, 3:4]
    t = 2.0 * np.cross(q, vectors)
    return vectors + w * t + np.cross(q, t)


_MESH_RADII: dict[str, float] = {}


def _visual_bounds(v: tuple) -> tuple[np.ndarray, float]:
    """A visual's centre in its link frame and the radius of a sphere about it that holds the shape."""
    _, _, geom, dims, mesh, frame_pos, _, _ = v[:8]
    if geom == pb.GEOM_BOX:
        r = float(np.linalg.norm(dims)) / 2.0
    elif geom == pb.GEOM_SPHERE:
        r = float(dims[0])
    elif geom == pb.GEOM_CAPSULE:
        r = float(dims[0]) / 2.0 + float(dims[1])
    elif geom == pb.GEOM_CYLINDER:
        r = float(np.hypot(dims[0] / 2.0, dims[1]))
    elif geom == pb.GEOM_MESH:
        r = _mesh_radius(mesh.decode() if isinstance(mesh, bytes) else mesh) * float(max(abs(d) for d in dims))
    else:  # a plane: everywhere
        r = 1e6
    return np.array(frame_pos, dtype=float), r


def _mesh_radius(path: str) -> float:
    """Largest distance of an OBJ mesh's vertices from its origin (cached per file)."""
    if path not in _MESH_RADII:
        verts = [line.split()[1:4] for line in Path(path).read_text().splitlines() if line.startswith("v ")]
        assert verts, f"mesh {path}: no vertices (only OBJ meshes are mirrored)"
        _MESH_RADII[path] = float(np.linalg.norm(np.array(verts, dtype=float), axis=1).max())
    return _MESH_RADII[path]
