"""Store lighting and the camera's exposure and white balance: the light a ceiling camera's pixels carry.

The renderer (`sim.render`) draws surfaces under one directional light with a high ambient term, the same
everywhere: it gives shape (a face turned from the light is darker) but no place. This module adds the
place, per pixel, from where the pixel's surface is in the store (its clean depth back-projected):

- **Ceiling panels** (`StoreLighting`): LED troffers on a grid under the ceiling (`LightingSpec.panel_spacing_m`,
  the grid's phase drawn per store), each a Lambertian emitter whose output varies from panel to panel
  (`panel_sd`: LED binning and ageing). The direct light on a surface is the sum over panels of
  I cos^2 / r^2 (horizontal receiver), relative to its mean over the open floor; `ambient_share` of the light
  is inter-reflected and reaches everywhere. So an aisle between panels is darker than one under them, and no
  two bins are lit the same. The direct light is computed once per store on a grid (`FIELD_STEP_M`: 15 cm
  across, 20 cm in height; within 0.6 % of the sum over panels) and interpolated per pixel.
- **Shelves shade the shelves below**: inside a bin with another shelf above it, direct light comes in only
  through the front; it falls off as exp(-b / (`shelf_shade_depth` x clearance)) with the distance b behind
  the front edge. The back of a low shelf is darker than its front.
- **The camera** (`CameraResponse`, drawn per episode: a day's light, to which auto exposure and white
  balance settle anew): an exposure per camera (lognormal, `exposure_sd`) and an automatic white balance that
  leaves a residual colour cast (`white_balance_sd` per channel, lognormal). Colour
  constancy is an open problem: published auto-white-balance methods leave median angular errors of 2-5
  degrees on the Gehler-Shi benchmark (gray world ~3.6-4.5 deg; second-hand); 0.06 per channel is about 3 deg.

The gains act on linear light (the render's 8-bit values are sRGB-encoded: decoded, scaled, encoded again).
Everything depends only on the store, the camera and the pixel's clean depth, so the fast rendering path and a
full render, given the same clean image, give the same lit image. `LitCamera` caches the gain map and
recomputes it only where the clean depth changed since the last frame.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import map_coordinates

from sim.layout import Bin, StoreLayout
from sim.render import Pinhole

_SRGB_TO_LINEAR = np.array(
    [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in np.arange(256) / 255.0], dtype=np.float32
)
_ENCODE_STEPS = 16384  # linear light is re-encoded through a table this fine (14 bits: no banding near black)
_LINEAR_TO_SRGB = np.array(
    [np.clip(round(255.0 * (12.92 * x if x <= 0.0031308 else 1.055 * x ** (1 / 2.4) - 0.055)), 0, 255)
     for x in (np.arange(_ENCODE_STEPS) + 0.5) / _ENCODE_STEPS],
    dtype=np.uint8,
)


FIELD_STEP_M = (0.15, 0.2)  # the direct-light field's grid: across the floor, and in height


def relight(rgb: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """sRGB uint8 pixels (..., 3) times a linear-light gain (...,) or (..., 3), back in sRGB uint8 (clipped)."""
    lin = _SRGB_TO_LINEAR[rgb]
    g = gain[..., None] if gain.ndim == rgb.ndim - 1 else gain
    idx = np.minimum(lin * g * _ENCODE_STEPS, _ENCODE_STEPS - 1).astype(np.int32)
    return _LINEAR_TO_SRGB[idx]


@dataclass(frozen=True)
class _Compartment:
    """The bins of one shelf with a shelf above them, in the gondola's frame: where shelves shade."""

    origin: np.ndarray  # (2,) a point on the front edge line
    right: np.ndarray  # (2,)
    facing: np.ndarray  # (2,)
    along: tuple[float, float]  # extent along `right` from `origin`
    depth_m: float
    z0: float  # plate top
    clearance_m: float


class StoreLighting:
    """The ceiling panels of one store and the shade of its shelves: a light gain for any world point."""

    def __init__(self, layout: StoreLayout) -> None:
        spec = layout.spec.lighting
        self.spec = spec
        width, depth = layout.spec.floor_m
        rng = np.random.default_rng(zlib.crc32(f"lighting/{layout.name}".encode()))  # the store's, not the episode's
        step = spec.panel_spacing_m
        nx, ny = max(1, int(round(width / step))), max(1, int(round(depth / step)))
        phase = rng.uniform(0.25, 0.75, 2)
        xs = (np.arange(nx) + phase[0]) * width / nx
        ys = (np.arange(ny) + phase[1]) * depth / ny
        gx, gy = np.meshgrid(xs, ys)
        self.panels = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, spec.height_m)], axis=1)
        self.output = np.exp(rng.normal(0.0, spec.panel_sd, len(self.panels)))
        fx, fy = np.meshgrid(np.linspace(0.5, width - 0.5, 24), np.linspace(0.5, depth - 0.5, 24))
        floor = np.stack([fx.ravel(), fy.ravel(), np.zeros(fx.size)], axis=1)
        self._reference = float(self._direct(floor).mean())
        self._compartments = _compartments(list(layout.bins.values()))
        # The direct light is smooth (every panel is metres away from what it lights): it is computed once on a grid
        # over the store (`FIELD_STEP_M`) and interpolated trilinearly, instead of summed over the panels per pixel.
        zs = np.arange(-0.2, spec.height_m - 0.2 + 1e-9, FIELD_STEP_M[1])
        xs_f = np.arange(0.0, width + FIELD_STEP_M[0], FIELD_STEP_M[0])
        ys_f = np.arange(0.0, depth + FIELD_STEP_M[0], FIELD_STEP_M[0])
        gx, gy, gz = np.meshgrid(xs_f, ys_f, zs, indexing="ij")
        nodes = np.stack([gx.ravel(), gy.ravel(), gz.ravel()], axis=1)
        self._field = (self._direct(nodes) / self._reference).reshape(gx.shape).astype(np.float32)
        self._field_origin = np.array([0.0, 0.0, zs[0]])
        self._field_step = np.array([FIELD_STEP_M[0], FIELD_STEP_M[0], FIELD_STEP_M[1]])
        # per gondola, the box holding its shaded compartments: most pixels (floor, people in the aisles) are in none
        self._groups = _compartment_groups(self._compartments)

    def _direct(self, points: np.ndarray) -> np.ndarray:
        """Direct light on a horizontal surface at each point, sum of I cos^2 / r^2 over the panels (unnormalised).
        In blocks of points and panels, so a whole frame's points never build one (pixels x panels x 3) array."""
        out = np.zeros(len(points))
        for i in range(0, len(points), 4096):
            q = points[i : i + 4096]
            for k in range(0, len(self.panels), 32):
                d = self.panels[k : k + 32][None, :, :] - q[:, None, :]
                dz = np.maximum(d[..., 2], 0.05)
                r2 = (d * d).sum(axis=2) + 0.01
                out[i : i + 4096] += (self.output[k : k + 32] * dz * dz / (r2 * r2)).sum(axis=1)
        return out

    def gain(self, points: np.ndarray) -> np.ndarray:
        """Relative light at world points (n, 3): 1 on average on the open floor."""
        points = np.asarray(points, dtype=float).reshape(-1, 3)
        direct = self.direct(points) * self._shade(points)
        a = self.spec.ambient_share
        return (a + (1.0 - a) * direct).astype(np.float32)

    def direct(self, points: np.ndarray) -> np.ndarray:
        """Direct light at world points (n, 3) relative to the open floor's mean, from the precomputed field."""
        idx = (np.asarray(points, dtype=float).reshape(-1, 3) - self._field_origin) / self._field_step
        hi = np.array(self._field.shape, dtype=float) - 1.0
        return map_coordinates(self._field, np.clip(idx, 0.0, hi).T, order=1, mode="nearest").astype(float)

    def _shade(self, points: np.ndarray) -> np.ndarray:
        """The share of the direct light that reaches each point past the shelves above it."""
        shade = np.ones(len(points))
        for lo, hi, members in self._groups:
            near = np.flatnonzero(np.all((points >= lo) & (points <= hi), axis=1))
            if near.size:
                shade[near] = self._shade_in(points[near], members)
        return shade

    def _shade_in(self, points: np.ndarray, compartments: list["_Compartment"]) -> np.ndarray:
        shade = np.ones(len(points))
        for c in compartments:
            rel = points[:, :2] - c.origin
            along = rel @ c.right
            back = -(rel @ c.facing)
            z = points[:, 2] - c.z0
            inside = (along >= c.along[0]) & (along <= c.along[1]) & (back >= -0.01) & (back <= c.depth_m + 0.01)
            inside &= (z >= -0.01) & (z <= c.clearance_m)
            if inside.any():
                reach = self.spec.shelf_shade_depth * c.clearance_m
                shade[inside] = np.minimum(shade[inside], np.exp(-np.maximum(back[inside], 0.0) / reach))
        return shade


def _compartment_groups(compartments: list[_Compartment]) -> list[tuple[np.ndarray, np.ndarray, list[_Compartment]]]:
    """Compartments grouped by the line of their front edge (one gondola face), each group with a box (lo, hi)
    holding every point any of them can shade (a centimetre wider than their checks in `_shade_in`)."""
    groups: dict[tuple, list[_Compartment]] = {}
    for c in compartments:
        key = (round(float(c.origin @ c.facing), 3), tuple(np.round(c.facing, 3)))
        groups.setdefault(key, []).append(c)
    out = []
    for members in groups.values():
        corners = []
        for c in members:
            for a in c.along:
                for b in (-0.02, c.depth_m + 0.02):
                    xy = c.origin + a * c.right - b * c.facing
                    corners += [(xy[0], xy[1], c.z0 - 0.02), (xy[0], xy[1], c.z0 + c.clearance_m + 0.02)]
        pts = np.array(corners)
        out.append((pts.min(axis=0) - 0.01, pts.max(axis=0) + 0.01, members))
    return out


def _compartments(bins: list[Bin]) -> list[_Compartment]:
    """Per gondola shelf with a shelf above it: the span of its bins (only those can be shaded)."""
    by_shelf: dict[tuple[str, int], list[Bin]] = {}
    for b in bins:
        by_shelf.setdefault((b.gondola, b.shelf), []).append(b)
    out = []
    for (gondola, shelf), row in sorted(by_shelf.items()):
        if (gondola, shelf + 1) not in by_shelf:
            continue  # the top shelf: open to the ceiling
        first = row[0]
        right, facing = np.array(first.right, float), np.array(first.facing, float)
        front = np.array(first.center[:2], float) + facing * first.depth_m / 2
        spans = [float((np.array(b.center[:2]) - front) @ right) for b in row]
        half = [b.width_m / 2 for b in row]
        out.append(_Compartment(
            front, right, facing, (min(s - h for s, h in zip(spans, half)), max(s + h for s, h in zip(spans, half))),
            max(b.depth_m for b in row), min(b.center[2] for b in row), min(b.clearance_m for b in row),
        ))
    return out


@dataclass(frozen=True)
class CameraResponse:
    """One camera's fixed exposure and its auto white balance's residual cast: per-channel linear gains."""

    gains: np.ndarray  # (3,) float32

    @classmethod
    def draw(cls, rng: np.random.Generator, exposure_sd: float, white_balance_sd: float) -> "CameraResponse":
        exposure = np.exp(rng.normal(0.0, exposure_sd))
        cast = np.exp(rng.normal(0.0, white_balance_sd, 3))
        cast /= np.exp(np.log(cast).mean())  # white balance moves colour, exposure moves brightness
        return cls((exposure * cast).astype(np.float32))


class LitCamera:
    """The lit picture of one camera: clean sRGB times the store's light at each pixel and the camera's gains.

    The gain map follows the clean depth; it is recomputed only where the depth changed since the last frame
    (a moving shopper's few thousand pixels, not the 76,800 of a 320x240 frame).
    """

    def __init__(self, lighting: StoreLighting, cam: Pinhole, response: CameraResponse) -> None:
        self.lighting = lighting
        self.response = response
        R = np.array(cam.R, dtype=float).reshape(3, 3)
        self._centre = -R.T @ np.array(cam.t, dtype=float)
        u, v = np.meshgrid(np.arange(cam.width, dtype=float), np.arange(cam.height, dtype=float))
        rays_c = np.stack([(u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, np.ones_like(u)], axis=-1)
        self._rays = (rays_c @ R).astype(np.float64)  # (H, W, 3): world displacement per metre of depth
        self._gain: np.ndarray | None = None  # (H, W) light at each pixel of the last clean depth
        self._last: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # clean rgb, clean depth, lit rgb

    def _light(self, depth: np.ndarray, where: np.ndarray) -> np.ndarray:
        """The light at the pixels `where` (bool) of a clean depth image (0 = nothing drawn: a point 3 m off)."""
        z = np.where(depth[where] > 0, depth[where], 3.0).astype(np.float64)
        return self.lighting.gain(self._centre + self._rays[where] * z[:, None])

    def __call__(self, rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
        last = self._last
        if last is not None and rgb is last[0] and depth is last[1]:
            return last[2]
        if last is None:
            everywhere = np.ones(depth.shape, dtype=bool)
            self._gain = np.empty(depth.shape, dtype=np.float32)
            self._gain[everywhere] = self._light(depth, everywhere)
            lit = relight(rgb, self._gain[..., None] * self.response.gains)
        else:
            moved = depth != last[1]  # the light follows the depth; the colour may change where the depth did not
            if moved.any():  # the map is this camera's own, never handed out: updated in place
                self._gain[moved] = self._light(depth, moved)  # type: ignore[index]
            other = rgb != last[0]
            changed = moved | other[..., 0] | other[..., 1] | other[..., 2]  # ~13x faster than .any(axis=2)
            lit = last[2].copy()
            if changed.any():
                lit[changed] = relight(rgb[changed], self._gain[changed][:, None] * self.response.gains)  # type: ignore[index]
        self._last = (rgb, depth, lit)
        return lit
