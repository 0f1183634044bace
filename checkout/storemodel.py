"""The stack's picture of the store, built once from `StoreInfo`: bins as volumes, catalog, cameras as rays.

Everything here comes from the published store info (floor plan, catalog,
calibration); nothing is tuned per store. Every later stage reads geometry
from this one place.

A camera's colour and depth come from two imagers (StoreInfo's `rgb_cameras` and `cameras`), so a depth
pixel's colour is found as librealsense's `align` finds it: the pixel is lifted to a world point with the
published depth calibration and projected into the published colour calibration, and the colour pixel it
lands on is read (`colour_at`). Both calibrations are published ones, off the true mounts by a fraction of a
pixel, so the registration is as good as the calibration and no better.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.stream import BinInfo, CameraCalibration, ProductInfo, StoreInfo


@dataclass(frozen=True)
class CameraModel:
    """One ceiling camera: world ray per pixel (unit along camera z, so world = centre + depth * ray)."""

    id: str
    width: int
    height: int
    centre_w: np.ndarray  # (3,)
    rays_w: np.ndarray  # (H*W, 3): world displacement per metre of depth
    fps: float
    rgb: "ColourImager | None" = None  # its colour imager; None: the colour is registered to the depth pixel for pixel


@dataclass(frozen=True)
class ColourImager:
    """A camera's colour imager as its published calibration gives it: where a world point lands in its image."""

    width: int
    height: int
    P: np.ndarray  # (3, 4) projection K [R | t]

    def pixels(self, points_w: np.ndarray) -> np.ndarray:
        """Flat index into the colour image of the pixel whose centre is nearest where each world point (N, 3)
        projects; -1 where it falls outside the image or behind the camera."""
        uvw = np.asarray(points_w, dtype=float) @ self.P[:, :3].T + self.P[:, 3]
        z = uvw[:, 2]
        front = z > 1e-6
        zs = np.where(front, z, 1.0)
        u = np.rint(uvw[:, 0] / zs)
        v = np.rint(uvw[:, 1] / zs)
        inside = front & (u >= 0) & (u < self.width) & (v >= 0) & (v < self.height)
        return np.where(inside, v * self.width + u, -1).astype(np.int64)


@dataclass(frozen=True)
class GondolaModel:
    """A gondola's bins as arrays, in the gondola's own frame: along = right, out = facing, z up."""

    id: str
    along_start_m: float  # p . right at the gondola's left end (as a facing shopper sees it)
    right: np.ndarray  # (2,)
    facing: np.ndarray  # (2,)
    length_m: float
    front_out_m: float  # `out` coordinate of the bins' front edge
    back_out_m: float
    bins_per_shelf: int
    shelf_z: np.ndarray  # (shelves,) plate tops
    clearance_m: np.ndarray  # (shelves,)
    bin_ids: tuple[tuple[str, ...], ...]  # [shelf][index]


class StoreModel:
    def __init__(self, info: StoreInfo) -> None:
        self.info = info
        self.floor_m = tuple(info.floor_m)
        self.bins: dict[str, BinInfo] = {b.id: b for b in info.bins}
        self.bin_ids: tuple[str, ...] = tuple(self.bins)
        self.bin_index = {b: i for i, b in enumerate(self.bin_ids)}
        self.catalog: dict[str, ProductInfo] = {p.sku: p for p in info.catalog}
        # Each SKU's colours as its reference photos show them (main colour first), (m, 3) sRGB: never the render's.
        self.sku_rgb = {p.sku: reference_rgb(p) for p in info.catalog}
        self.sku_share = {p.sku: reference_share(p) for p in info.catalog}  # (m,) the label share of each colour
        self.planogram: dict[str, dict[str, int]] = {}
        for bin_id, sku, count in info.planogram:
            self.planogram.setdefault(bin_id, {})[sku] = self.planogram.get(bin_id, {}).get(sku, 0) + int(count)
        self.entry_gates = {g.id: g for g in info.gates if g.kind == "entry"}
        self.exit_gates = {g.id: g for g in info.gates if g.kind == "exit"}
        self.cameras = {c.camera_id: camera_model(c, info.rgb_calibration(c.camera_id)) for c in info.cameras}
        self.gondolas = [gondola_model(g.id, [b for b in info.bins if b.gondola == g.id]) for g in info.gondolas]
        weights = [p.weight_g for p in info.catalog]
        self.min_item_g = float(min(weights)) if weights else 50.0

    def neighbour_pairs(self) -> tuple[tuple[str, str], ...]:
        """Bins side by side on one shelf of one gondola (index k and k + 1): an item can lie across the two."""
        return tuple((row[k], row[k + 1]) for g in self.gondolas for row in g.bin_ids for k in range(len(row) - 1)
                     if row[k] and row[k + 1])

    def bin_front(self, bin_id: str) -> np.ndarray:
        b = self.bins[bin_id]
        return np.array(b.center[:2]) + np.array(b.facing) * b.depth_m / 2


def reference_rgb(product: ProductInfo) -> np.ndarray:
    """The colours of a product's reference palette, (m, 3) sRGB 0-255, the largest share first."""
    return np.array([c[:3] for c in product.reference], dtype=float).reshape(-1, 3)


def reference_share(product: ProductInfo) -> np.ndarray:
    """The share of the label each colour of `reference_rgb` covers, (m,), summing to 1."""
    w = np.array([c[3] if len(c) > 3 else 1.0 for c in product.reference], dtype=float)
    return w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / max(1, len(w)))


def camera_model(c: CameraCalibration, rgb: CameraCalibration | None = None) -> CameraModel:
    """A camera from its depth imager's calibration `c` and its colour imager's `rgb` (None: registered colour)."""
    K = c.K_matrix()
    R = c.R_matrix()
    t = np.array(c.t, dtype=float)
    u, v = np.meshgrid(np.arange(c.width, dtype=float), np.arange(c.height, dtype=float))
    pix = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1)
    rays_c = pix @ np.linalg.inv(K).T  # z component 1: scales with depth along the optical axis
    imager = None
    if rgb is not None:
        P = rgb.K_matrix() @ np.hstack([rgb.R_matrix(), np.array(rgb.t, dtype=float)[:, None]])
        imager = ColourImager(rgb.width, rgb.height, P)
    return CameraModel(c.camera_id, c.width, c.height, -R.T @ t, rays_c @ R, c.fps, imager)


def colour_at(cam: CameraModel, idx: np.ndarray, points_w: np.ndarray, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The colour (k, 3) uint8 seen at depth pixels `idx` (flat), whose world points are `points_w` (k, 3), and
    whether the colour imager saw them at all (k,) bool (its field is narrower than the depth's): each point
    projected with the colour imager's published calibration, the nearest pixel read. Unseen points read 0."""
    flat = np.asarray(rgb).reshape(-1, 3)
    if cam.rgb is None:
        return flat[idx], np.ones(len(idx), dtype=bool)
    px = cam.rgb.pixels(points_w)
    seen = px >= 0
    return np.where(seen[:, None], flat[np.maximum(px, 0)], np.uint8(0)), seen


def gondola_model(gondola_id: str, bins: list[BinInfo]) -> GondolaModel:
    first = bins[0]
    right = np.array(first.right, dtype=float)
    facing = np.array(first.facing, dtype=float)
    shelves = sorted({b.shelf for b in bins})
    per_shelf = max(b.index for b in bins)
    centres = np.array([b.center[:2] for b in bins])
    along = centres @ right
    start = float((along - np.array([b.width_m for b in bins]) / 2).min())
    end = float((along + np.array([b.width_m for b in bins]) / 2).max())
    out = centres @ facing
    front = float((out + np.array([b.depth_m for b in bins]) / 2).max())
    back = float((out - np.array([b.depth_m for b in bins]) / 2).min())
    by_key = {(b.shelf, b.index): b for b in bins}
    shelf_z = np.array([min(b.center[2] for b in bins if b.shelf == s) for s in shelves])
    clearance = np.array([min(b.clearance_m for b in bins if b.shelf == s) for s in shelves])
    ids = tuple(tuple(by_key[(s, k)].id if (s, k) in by_key else "" for k in range(1, per_shelf + 1)) for s in shelves)
    return GondolaModel(gondola_id, start, right, facing, end - start, front, back, per_shelf, shelf_z, clearance, ids)
