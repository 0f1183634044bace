"""Hand-built streams for the checkout stack's tests: store info, load-cell batches, analytic RGB-D frames, gates.

Nothing here is the simulator: frames are rendered analytically from a height
field (floor, gondola blocks, people as a shoulder disc, a dome head and an
arm segment) through the same published calibration the stack reads, so the
stack's geometry is tested against an independent forward model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from sim.layout import load_store
from sim.simulation import describe_store
from sim.stream import CameraCalibration, CameraFrame, LoadCellBatch, StoreInfo
from tests.conftest import STORES

RATE_HZ = 60.0
BATCH = 12


def tiny_store_info(cameras: tuple[CameraCalibration, ...] = ()) -> StoreInfo:
    """The tiny store's info with each product's reference one flat colour: the frames here paint items flat.

    (The simulator's products carry multi-colour labels and `describe_store` publishes their studio palettes;
    the stack's logic is tested here against the analytic scene, whose items are one colour each.)
    """
    layout = load_store(STORES / "tiny_store.yaml")
    info = describe_store(layout, cameras)
    assert (info.load_cell_rate_hz, info.load_cell_batch) == (RATE_HZ, BATCH), "the synthetic streams assume these"
    flat = {c.sku: tuple(float(v) * 255.0 for v in c.rgb) + (1.0,) for c in layout.spec.catalog}
    return replace(info, catalog=tuple(replace(p, reference=(flat[p.sku],)) for p in info.catalog))


def down_camera(cam_id: str, x: float, y: float, z: float = 3.0, width: int = 160, height: int = 120, fov_deg: float = 90.0, fps: float = 10.0) -> CameraCalibration:
    """A ceiling camera looking straight down; image x = world east, image y = world south."""
    f = 0.5 * width / math.tan(math.radians(fov_deg) / 2)
    K = (f, 0.0, width / 2, 0.0, f, height / 2, 0.0, 0.0, 1.0)
    R = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])
    t = -R @ np.array([x, y, z])
    return CameraCalibration(cam_id, width, height, K, (0.0,) * 5, tuple(R.ravel()), tuple(t), fps)


# -- load cells ------------------------------------------------------------------------------------------------------
@dataclass
class CellScript:
    """A bin's true load over time: a base, plus steps (t, grams) and temporary bumps (t0, t1, grams)."""

    base_g: float
    steps: list[tuple[float, float]] = field(default_factory=list)
    bumps: list[tuple[float, float, float]] = field(default_factory=list)

    def at(self, t: np.ndarray) -> np.ndarray:
        g = np.full_like(t, self.base_g)
        for ts, dg in self.steps:
            g += np.where(t >= ts, dg, 0.0)
        for t0, t1, dg in self.bumps:
            g += np.where((t >= t0) & (t < t1), dg, 0.0)
        return g


def load_batches(
    cells: dict[str, CellScript],
    duration_s: float,
    seed: int = 0,
    noise_g: float = 1.0,
    drift_g_per_min: float = 0.2,
    dead: dict[str, float] | None = None,
) -> list[LoadCellBatch]:
    """Batches as the AiFi-style rig sends them: noise, 1 g quantum, a wandering zero, NaN once dead."""
    rng = np.random.default_rng(seed)
    ids = tuple(cells)
    n = int(round(duration_s * RATE_HZ))
    t = np.arange(n) / RATE_HZ
    true = np.stack([cells[c].at(t) for c in ids], axis=1)
    step_sd = drift_g_per_min * math.sqrt(1.0 / RATE_HZ / 60.0)
    zero = np.cumsum(rng.normal(0, step_sd, true.shape), axis=0) if step_sd > 0 else 0.0
    g = np.round(true + zero + rng.normal(0, noise_g, true.shape))
    for c, td in (dead or {}).items():
        g[t >= td, ids.index(c)] = np.nan
    return [LoadCellBatch(float(t[i]), RATE_HZ, ids, g[i : i + BATCH]) for i in range(0, n, BATCH)]


def store_cells(info: StoreInfo, scripts: dict[str, CellScript] | None = None) -> dict[str, CellScript]:
    """Every bin of the store, loaded with its planogram at nominal weights, plus the given scripts."""
    weight = {p.sku: p.weight_g for p in info.catalog}
    out = {}
    for b in info.bins:
        base = sum(weight[s] * n for bb, s, n in info.planogram if bb == b.id)
        out[b.id] = CellScript(base)
    for k, v in (scripts or {}).items():
        out[k] = v
    return out


# -- people and frames -----------------------------------------------------------------------------------------------
@dataclass
class Person:
    x: float
    y: float
    height_m: float = 1.75
    hand: tuple[float, float, float] | None = None  # where the hand is (an arm reaches to it)
    hand_rgb: tuple[int, int, int] = (220, 180, 150)
    shirt_rgb: tuple[int, int, int] = (60, 90, 140)
    carry_rgb: tuple[int, int, int] | None = None  # an item carried at the hip, beside the body (seen from above)


@dataclass
class FloorItem:
    """An item lying on the floor from `t_s` on: a can on its side by default (12 x 6.6 cm, 6.6 cm high)."""

    x: float
    y: float
    t_s: float = 0.0
    rgb: tuple[int, int, int] = (242, 210, 27)
    half_x: float = 0.06
    half_y: float = 0.033
    height_m: float = 0.066


class Renderer:
    """Analytic overhead RGB-D: a height field ray-marched along each pixel's ray (1 cm grid, 1 cm steps)."""

    def __init__(self, info: StoreInfo, cell_m: float = 0.01) -> None:
        self.info = info
        self.cell = cell_m
        self.shape = (int(info.floor_m[0] / cell_m), int(info.floor_m[1] / cell_m))
        self.static_h = np.zeros(self.shape)
        self.static_rgb = np.zeros(self.shape + (3,), dtype=np.uint8)
        self.static_rgb[:] = (128, 128, 120)
        xs = (np.arange(self.shape[0]) + 0.5) * cell_m
        ys = (np.arange(self.shape[1]) + 0.5) * cell_m
        self.X, self.Y = np.meshgrid(xs, ys, indexing="ij")
        for g in info.gondolas:
            half_x, half_y = (g.depth_m / 2, g.length_m / 2) if g.facing in ("east", "west") else (g.length_m / 2, g.depth_m / 2)
            m = (np.abs(self.X - g.at[0]) <= half_x) & (np.abs(self.Y - g.at[1]) <= half_y)
            self.static_h[m] = g.height_m
            self.static_rgb[m] = (200, 200, 205)

    def scene(self, people: list[Person], items: list[FloorItem] = ()) -> tuple[np.ndarray, np.ndarray]:
        h = self.static_h.copy()
        rgb = self.static_rgb.copy()
        for it in items:
            m = (np.abs(self.X - it.x) <= it.half_x) & (np.abs(self.Y - it.y) <= it.half_y)
            h[m] = np.maximum(h[m], it.height_m)
            rgb[m] = it.rgb
        for p in people:
            shoulder = 0.82 * p.height_m
            d2 = (self.X - p.x) ** 2 + (self.Y - p.y) ** 2
            body = d2 <= 0.2**2
            h[body] = np.maximum(h[body], shoulder)
            rgb[body & (h <= shoulder + 1e-9)] = p.shirt_rgb
            head = d2 <= 0.1**2
            dome = p.height_m - d2 * 6.0
            up = head & (dome > h)
            h[up] = dome[up]
            rgb[up] = (50, 40, 30)
            if p.hand is not None:
                self._arm(h, rgb, (p.x, p.y, shoulder), p.hand, p.shirt_rgb, p.hand_rgb)
            if p.carry_rgb is not None:
                item = (self.X - p.x + 0.27) ** 2 + (self.Y - p.y) ** 2 <= 0.06**2  # on the west side, hip high
                h[item] = np.maximum(h[item], 0.9)
                rgb[item & (h <= 0.9 + 1e-9)] = p.carry_rgb
        return h, rgb

    def _arm(self, h, rgb, a, b, sleeve, hand) -> None:
        a, b = np.array(a), np.array(b)
        r = 0.05
        k = int(np.ceil(r / self.cell))
        for s in np.linspace(0.0, 1.0, 60):
            q = a + s * (b - a)
            i0, j0 = int(q[0] / self.cell), int(q[1] / self.cell)
            win = (slice(max(0, i0 - k), i0 + k + 1), slice(max(0, j0 - k), j0 + k + 1))
            m = (self.X[win] - q[0]) ** 2 + (self.Y[win] - q[1]) ** 2 <= r * r
            higher = m & (h[win] < q[2])
            h[win][higher] = q[2]
            rgb[win][higher] = hand if s > 0.8 else sleeve

    def frames(self, cams, t_s: float, people: list[Person], rng: np.random.Generator, noise_m_at_1m: float = 0.002,
               items: list[FloorItem] = ()) -> list[CameraFrame]:
        scene = self.scene(people, [it for it in items if it.t_s <= t_s])
        return [self.frame(c, t_s, people, rng, noise_m_at_1m, scene) for c in cams]

    def frame(self, cal: CameraCalibration, t_s: float, people: list[Person], rng: np.random.Generator, noise_m_at_1m: float = 0.002, scene=None) -> CameraFrame:
        h, rgb = scene if scene is not None else self.scene(people)
        K = np.array(cal.K).reshape(3, 3)
        R = np.array(cal.R).reshape(3, 3)
        C = -R.T @ np.array(cal.t)
        u, v = np.meshgrid(np.arange(cal.width) + 0.0, np.arange(cal.height) + 0.0)
        rays = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], 1) @ np.linalg.inv(K).T @ R
        depth = np.zeros(u.size)
        hit = np.zeros(u.size, dtype=bool)
        out_rgb = np.zeros((u.size, 3), dtype=np.uint8)
        for d in np.arange(max(0.3, C[2] - 2.3), C[2] + 0.02, 0.015):
            p = C + d * rays[~hit]
            ix = np.clip((p[:, 0] / self.cell).astype(int), 0, self.shape[0] - 1)
            iy = np.clip((p[:, 1] / self.cell).astype(int), 0, self.shape[1] - 1)
            inside = (p[:, 0] >= 0) & (p[:, 0] < self.info.floor_m[0]) & (p[:, 1] >= 0) & (p[:, 1] < self.info.floor_m[1])
            now = (p[:, 2] <= h[ix, iy]) | (p[:, 2] <= 0.0)
            idx = np.flatnonzero(~hit)[now]
            depth[idx] = d
            out_rgb[idx] = np.where(inside[now, None], rgb[ix[now], iy[now]], 0)
            hit[idx] = True
            if hit.all():
                break
        depth = depth + rng.normal(0, 1, depth.shape) * noise_m_at_1m * depth**2
        return CameraFrame(t_s, cal.camera_id, out_rgb.reshape(cal.height, cal.width, 3), depth.reshape(cal.height, cal.width).astype(np.float32))


def stream(
    info: StoreInfo,
    duration_s: float,
    cells: dict[str, CellScript] | None = None,
    gate_events: list = (),
    people_at=None,
    seed: int = 0,
    dead: dict[str, float] | None = None,
    camera_off: dict[str, tuple[float, float]] | None = None,
    noise_m_at_1m: float = 0.002,
    floor_items: list[FloorItem] = (),
) -> list:
    """A whole hand-built stream, time-ordered: StoreInfo, load batches, frames, gate events."""
    rng = np.random.default_rng(seed)
    msgs: list[tuple[float, int, object]] = []
    for b in load_batches(store_cells(info, cells), duration_s, seed=seed, dead=dead):
        msgs.append((b.t_s + BATCH / RATE_HZ, 1, b))  # a batch is sent when its last sample is taken
    if info.cameras:
        r = Renderer(info)
        fps = info.cameras[0].fps
        for k in range(int(duration_s * fps)):
            t = k / fps
            people = people_at(t) if people_at else []
            cams = [c for c in info.cameras if not (camera_off and c.camera_id in camera_off and camera_off[c.camera_id][0] <= t < camera_off[c.camera_id][1])]
            for f in r.frames(cams, t, people, rng, noise_m_at_1m, floor_items):
                msgs.append((t, 0, f))
    for g in gate_events:
        msgs.append((g.t_s, 2, g))
    msgs.sort(key=lambda m: (m[0], m[1]))
    return [info] + [m[2] for m in msgs]


def path(points: list[tuple[float, float, float]]):
    """Piecewise-linear walk through (t, x, y) waypoints."""
    ts = np.array([p[0] for p in points])

    def at(t: float) -> tuple[float, float]:
        return float(np.interp(t, ts, [p[1] for p in points])), float(np.interp(t, ts, [p[2] for p in points]))

    return at
