"""Stage 1, perception: ceiling RGB-D frames in, people (heads) and hands in bins out, fused across cameras.

Per camera, a background of the empty store is learned per pixel (running mean
and spread of depth, the store opens empty; a pixel that reads *farther* than
its background shows what was hidden, so it re-learns at once; a foreground
that stays still long enough is absorbed — an item put on a shelf, a pack
dropped on the floor — but never where people are, in the aisles above
`person_space_min_m`: someone standing still at a shelf is as still to a depth
camera as a box, and once absorbed would vanish from the tracker).
Foreground = valid depth nearer than the background by more than `fg_sigmas`
of that pixel's own spread — the spread is learned, so range-dependent stereo
noise (D435: sigma ~ z^2) needs no constant. Foreground pixels are lifted to
world points with the published K, R, t and fused on one floor grid (the
highest point per cell):

- people: peaks of that height map between `head_min_m` and `head_max_m`
  with enough support, at least `head_sep_m` apart (one peak per head, so a
  group standing close is several people), never over a gondola or the reach
  slab in front of it below its top bin's top (a hand raised into a top bin
  peaks there; nobody's head does);
- low peaks: the same down to `low_head_min_m`, away from every head — a
  person crouched at a bottom shelf, or an arm or basket; tracking may use one
  to follow a person it has lost, never to start one;
- colour: a camera's colour comes from its own imager, beside the depth one
  with a narrower field (D435: 69 x 42 deg against the depth's wider one), so
  each foreground point's colour is read where the point projects into the
  colour image through the published calibrations (`storemodel.colour_at`);
  a point the colour imager does not see has no colour and lends none;
- hands: foreground points inside a bin's volume or in the slab just in front
  of it (`reach_out_m`), with a sample of their colours for identification,
  taken off the blob's rim (`depth_edge_flags`) where it has enough pixels: at a
  depth edge a pixel's colour is both sides' (and JPEG's chroma bleeds there);
- flying pixels: a stereo camera mixes two surfaces' depths where its matching
  window straddles an edge; a pixel farther than one neighbour and nearer than
  another (or beside a hole the camera left) by `flying_jump` is no point;
- things on the floor (`FloorWatch`): an item knocked off a shelf lies a few
  centimetres high — a lying can 6.6 cm, a chocolate bar 2 — well inside the
  depth noise at floor range (D435 at 3 m: sigma 4-5 cm, so the cut above is
  20-27 cm), but its colour is not the floor's. Per camera, the colour of the
  empty floor in front of the gondolas (`floor_strip_m`) is learned as the
  store opens; a pixel there that reads low (below `floor_max_m`) and unlike
  its floor for `floor_still_s` on end, away from every head, is something
  lying there. Fused on the floor grid, connected cells are one `FloorObject`.
  A watched pixel's colour is read where its floor point projects into the
  colour image (an item a few cm high moves by a hundredth of a pixel through
  the 15 mm between the imagers); a pixel the colour imager does not see is not
  watched.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import ndimage

from sim.stream import BinInfo, CameraCalibration, CameraFrame
from checkout.storemodel import CameraModel, StoreModel, colour_at


def depth_edge_flags(depth: np.ndarray, idx: np.ndarray, width: int, rim_jump: float,
                     fly_jump: float) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel of `idx` (flat, into the row-major `depth`), from one look at its 4-neighbours:

    - on a rim: a neighbour reads nothing (0) or a depth more than `rim_jump` of the nearer away. Stereo may
      have mixed two surfaces' depths there, and its colour is both sides' (JPEG's half-resolution chroma
      bleeds across too);
    - flying: a neighbour farther by more than `fly_jump` of the nearer depth and another nearer by as much or
      reading nothing (the left-right check drops edge pixels). Stereo mixed the two depths: its point stands
      in the air between a hand and the shelf. A steep surface steps less than that per pixel.
    A jump of 0 turns its flag off."""
    d = depth[idx]
    col = idx % width
    rim = np.zeros(idx.size, dtype=bool)
    nearer = np.zeros(idx.size, dtype=bool)
    farther = np.zeros(idx.size, dtype=bool)
    for off, inside in ((1, col < width - 1), (-1, col > 0), (width, idx < depth.size - width), (-width, idx >= width)):
        nb = depth[np.where(inside, idx + off, idx)]
        near = np.minimum(nb, d)
        if rim_jump > 0:
            rim |= (nb <= 0) | (np.abs(nb - d) > rim_jump * near)
        if fly_jump > 0:
            nearer |= (nb <= 0) | (d - nb > fly_jump * near)  # a hole beside it may be where the nearer surface was
            farther |= (nb > 0) & (nb - d > fly_jump * near)
    return rim, nearer & farther


@dataclass
class PerceptionConfig:
    learn_alpha: float = 0.05  # background update rate after the first frames
    fg_sigmas: float = 4.0
    fg_min_m: float = 0.05  # an arm is thicker than this; below it depth noise and shelf clutter dominate
    static_absorb_s: float = 6.0  # a foreground pixel unchanged this long becomes background
    person_space_min_m: float = 0.6  # ... unless it is in an aisle above this: a person (a crouch keeps the head above)
    hand_still_s: float = 1.0  # ... and one unchanged this long is no hand (an item just put down, a bag)
    grid_m: float = 0.05
    head_min_m: float = 1.0  # shortest adult head top the population model draws
    low_head_min_m: float = 0.7  # a crouch to a bottom shelf brings an adult's head top down to ~0.8-1.0 m
    head_max_m: float = 2.3
    head_sep_m: float = 0.35  # two heads are never closer than this
    head_support_cells: int = 6
    reach_out_m: float = 0.15  # hands counted this far in front of a bin's front edge
    # A hand's colours come from the pixels off its rim (`depth_edge_flags`: a neighbour this share of the nearer
    # depth away, or reading nothing) where it has at least `hand_core_min` of them; else from all of them.
    edge_jump: float = 0.05
    hand_core_min: int = 3
    flying_jump: float = 0.15  # a pixel this far (share of the nearer depth) from a nearer and a farther neighbour
    # is a flying pixel (`depth_edge_flags`) and no point at all
    hand_gap_m: float = 0.12  # along the shelf, points this far apart are two hands (a hand and an item span ~0.1 m)
    colour_samples: int = 96
    head_radius_m: float = 0.2  # head and neck, seen from above
    head_depth_m: float = 0.3  # head top to the shoulders
    body_radius_m: float = 0.35  # shoulders and a basket at the hip, not the arm's far end
    floor_strip_m: float = 1.5  # the floor watched for fallen items: this far out from a gondola's front
    floor_max_m: float = 0.45  # ... for things this low (an item lying or standing; a person's shins and feet too)
    floor_rgb_change: float = 60.0  # summed |R|+|G|+|B| from the learned floor colour (read noise: ~2 a channel)
    floor_still_s: float = 1.0  # ... held this long (a foot in a stride is gone sooner)
    # A point in front of a bin's opening is seen by a camera where the depth read at its pixel is at least the
    # point's own, less this margin (`BinWatch`). An open view reads the bin's inside or the floor, well behind the
    # point; the margin takes an item a little proud of the shelf edge and some of the depth noise (sd ~4.5 cm at
    # 3 m at the D435 default, `sim.layout` depth_noise_m).
    opening_margin_m: float = 0.06
    floor_clear_m: float = 0.5  # ... never within this of a head (the feet of someone standing there)
    floor_learn_frames: int = 10  # frames of the empty store that learn the floor's colour
    floor_stride: int = 2  # every other pixel, both ways: an item on the floor at 3 m spans 5 px or more


@dataclass(frozen=True)
class HandBlob:
    bin: str
    t_s: float
    centroid: tuple[float, float, float]
    n_points: int
    rgb: np.ndarray  # (k, 3) uint8, a deterministic sample of the blob's pixels


@dataclass(frozen=True)
class Percept:
    t_s: float
    heads: np.ndarray  # (N, 3) world x, y, height
    hands: tuple[HandBlob, ...]
    cameras: tuple[str, ...]
    foreground_points: int
    head_rgb: tuple[np.ndarray, ...] = ()  # per head: a sample of the colours on that person (shirt, skin, basket)
    low_heads: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (M, 3) lower peaks: crouches (or arms)
    floor: tuple["FloorObject", ...] = ()  # things lying on the floor in front of the gondolas
    # Per bin (`StoreModel.bin_ids`): the share of the space in front of its opening some camera saw in this frame
    # set (`BinWatch`); None: not known (a capture made before this was kept).
    open_bins: np.ndarray | None = None


@dataclass(frozen=True)
class FloorObject:
    """Something that has lain on the floor, unlike the floor's colour, for `floor_still_s` or more."""

    xy: tuple[float, float]
    pixels: int
    rgb: np.ndarray  # (k, 3) uint8, the pixels' colours
    floor_rgb: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (k, 3) the floor's learned colour there


class CameraBackground:
    """Per-pixel depth background of one camera, learned online."""

    def __init__(self, cam: CameraModel, cfg: PerceptionConfig,
                 person_space: Callable[[np.ndarray], np.ndarray] = lambda points: np.zeros(len(points), dtype=bool)) -> None:
        """`person_space`: world points (N, 3) -> where a person may be (never absorbed however still)."""
        n = cam.width * cam.height
        self.cam = cam
        self.cfg = cfg
        self.person_space = person_space
        self.mean = np.zeros(n, dtype=np.float32)
        self.var = np.zeros(n, dtype=np.float32)
        self.count = np.zeros(n, dtype=np.int32)
        self.still_frames = np.zeros(n, dtype=np.int32)
        self.prev = np.zeros(n, dtype=np.float32)
        self.frames = 0

    def foreground(self, depth: np.ndarray) -> np.ndarray:
        """Boolean mask (H*W,) of foreground pixels; updates the background."""
        # Whole-array arithmetic and np.where rather than boolean-mask gathers and scatters: the same float32
        # operations on each pixel (so the same bits), at a fraction of the cost.
        d = np.asarray(depth, dtype=np.float32).ravel()
        valid = d > 0
        fresh = valid & (self.count == 0)
        mean = np.where(fresh, d, self.mean)
        sd = np.sqrt(self.var) + 0.002 * mean * mean + 0.002  # floor: never trust a spread learned from few frames
        k = self.cfg.fg_sigmas
        known = valid & (self.count >= 3)
        diff = mean - d
        gap = np.maximum(k * sd, self.cfg.fg_min_m)
        fg = known & (diff > gap)
        farther = valid & (self.count > 0) & (-diff > gap)
        bg = valid & ~fg & ~farther & ~fresh
        alpha = np.maximum(1.0 / (self.count + 1.0), self.cfg.learn_alpha).astype(np.float32)
        delta = d - mean
        self.mean = np.where(bg, mean + alpha * delta, np.where(farther, d, mean))
        self.var = np.where(bg, (1 - alpha) * (self.var + alpha * delta * delta), np.where(farther, np.float32(0.0), self.var))
        self.count = np.where(bg, self.count + 1, np.where(farther | fresh, np.int32(1), self.count))
        # A foreground that holds still (an item put on a shelf, a bag left behind) becomes background.
        still = fg & (np.abs(d - self.prev) < np.maximum(k * sd, 0.02))
        self.still_frames = np.where(still, self.still_frames + 1, 0)
        absorb = self.still_frames > self.cfg.static_absorb_s * self.cam.fps
        if absorb.any():
            idx = np.flatnonzero(absorb)
            person = self.person_space(self.cam.centre_w + d[idx, None].astype(np.float64) * self.cam.rays_w[idx])
            absorb[idx[person]] = False
            self.mean[absorb] = d[absorb]
            self.count[absorb] = 1
            self.still_frames[absorb] = 0
            fg &= ~absorb
        self.prev = d
        self.frames += 1
        return fg


class BinWatch:
    """One camera's view of the space in front of each bin's opening, where a reaching forearm and hand pass.

    Points in the reach slab in front of each bin (across its width, up its clearance, a few centimetres out from
    its front edge, where perception counts a hand: `reach_out_m`) are projected into the depth imager with the
    published calibration. A point is seen when the depth read at its pixel is no nearer than the point itself
    (less `opening_margin_m`): nothing stands between the camera and it. Where the learned background is already
    nearer (the shelf above, the gondola itself from a camera behind it), this camera never sees the point; where
    only this frame is nearer, something that moves hides it now (a shopper's body bent over the shelf, an arm
    reaching into the bin above). A hand that went into a bin where no camera saw the space in front of it went
    in unseen."""

    ALONG = (0.1, 0.3, 0.5, 0.7, 0.9)  # across the bin's width
    UP = (0.3, 0.7)  # up its clearance
    OUT_M = (0.04, 0.11)  # out from its front edge

    def __init__(self, cam: CameraModel, calibration: CameraCalibration, bins: list[BinInfo], margin_m: float) -> None:
        """`calibration`: the depth imager's published `CameraCalibration`; `bins`: `BinInfo`s. `seen` answers for
        each of `points_of(bins)` in order."""
        pts = self.points_of(bins)
        if not len(pts):
            self.idx = self.which = np.zeros(0, dtype=np.int64)
            self.z = np.zeros(0, dtype=np.float32)
            return
        uv, z = calibration.project(pts)
        u, v = np.rint(uv[:, 0]), np.rint(uv[:, 1])
        inside = (z > 0) & (u >= 0) & (u < cam.width) & (v >= 0) & (v < cam.height)
        self.which = np.flatnonzero(inside)
        self.idx = (v[inside] * cam.width + u[inside]).astype(np.int64)
        self.z = (z[inside] - margin_m).astype(np.float32)

    @classmethod
    def points_of(cls, bins: list[BinInfo]) -> np.ndarray:
        """(len(bins) * per_bin, 3) world points, bin after bin."""
        pts = []
        for b in bins:
            c, right, facing = np.array(b.center, dtype=float), np.array(b.right, dtype=float), np.array(b.facing, dtype=float)
            front = c[:2] + facing * b.depth_m / 2
            for a in cls.ALONG:
                for o in cls.OUT_M:
                    xy = front + right * (a - 0.5) * b.width_m + facing * o
                    for u in cls.UP:
                        pts.append((xy[0], xy[1], c[2] + u * b.clearance_m))
        return np.array(pts, dtype=float).reshape(-1, 3)

    @classmethod
    def per_bin(cls) -> int:
        return len(cls.ALONG) * len(cls.OUT_M) * len(cls.UP)

    def seen(self, depth: np.ndarray, background: "CameraBackground", out: np.ndarray) -> None:
        """Or into `out` (one per point of `points_of`) bool: the points this camera sees in this frame."""
        if not self.idx.size:
            return
        d = np.asarray(depth, dtype=np.float32).ravel()[self.idx]
        ok = (d >= self.z) & (background.count[self.idx] > 0) & (background.mean[self.idx] >= self.z)
        out[self.which[ok]] = True


class FloorWatch:
    """One camera's view of the floor in front of the gondolas: per pixel (every `floor_stride`-th) whose ray meets
    the floor there, the colour of the empty floor, and for how many frames it has read low and unlike it since it
    last read as floor. A pixel that sees a bottom shelf, or an item on one, instead of the floor (the empty
    store's depth puts it above `FLOOR_TOL_M`) is not watched: a take from that shelf changes its colour too."""

    # The empty store's mean height at a watched pixel: 10 frames at 3 m have sigma ~1.4 cm, so this rejects ~3 %
    # of floor pixels too — the cheap error; watching a low plate (a take changes its colour) is the costly one.
    FLOOR_TOL_M = 0.03

    def __init__(self, cam: CameraModel, cfg: PerceptionConfig, strip: Callable[[np.ndarray], np.ndarray]) -> None:
        """`strip`: floor points (N, 2) -> which are in front of a gondola (where a fallen item lands)."""
        self.cfg = cfg
        self.fps = cam.fps
        k = cfg.floor_stride
        rows, cols = np.mgrid[0 : cam.height : k, 0 : cam.width : k]
        idx = (rows * cam.width + cols).ravel()
        rays = cam.rays_w[idx]
        down = rays[:, 2] < -1e-6
        idx, rays = idx[down], rays[down]
        xy = cam.centre_w[:2] + (-cam.centre_w[2] / rays[:, 2])[:, None] * rays[:, :2]
        keep = strip(xy)
        self.idx = idx[keep]
        self.xy = xy[keep]
        self.ray_z = rays[keep, 2].astype(np.float32)
        floor = np.concatenate([self.xy, np.zeros((len(self.xy), 1))], axis=1)
        self.rgb_idx = self.idx if cam.rgb is None else cam.rgb.pixels(floor)  # where each is seen in colour
        seen = self.rgb_idx >= 0
        self.idx, self.xy, self.ray_z, self.rgb_idx = self.idx[seen], self.xy[seen], self.ray_z[seen], self.rgb_idx[seen]
        self.centre_z = np.float32(cam.centre_w[2])
        n = len(self.idx)
        self.mean = np.zeros((n, 3), dtype=np.float32)
        self.z_sum = np.zeros(n, dtype=np.float32)
        self.count = np.zeros(n, dtype=np.int32)
        self.watched = np.zeros(n, dtype=bool)  # learned, and the floor is what it sees
        self.held = np.zeros(n, dtype=np.int32)

    def update(self, depth: np.ndarray, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World floor points (k, 2), their colours (k, 3) and the floor's learned colours there (k, 3), where they
        have read low and unlike the floor for long enough."""
        cfg = self.cfg
        if not len(self.idx):
            return np.zeros((0, 2)), np.zeros((0, 3), dtype=np.uint8), np.zeros((0, 3))
        d = np.asarray(depth, dtype=np.float32).ravel()[self.idx]
        z = self.centre_z + d * self.ray_z
        low = (d > 0) & (z < cfg.floor_max_m)
        c8 = np.asarray(rgb).reshape(-1, 3)[self.rgb_idx]
        c = c8.astype(np.float32)
        n_learn = cfg.floor_learn_frames
        learning = (d > 0) & (self.count < n_learn)
        if learning.any():
            k = self.count[learning, None] + 1.0
            self.mean[learning] += (c[learning] - self.mean[learning]) / k
            self.z_sum[learning] += z[learning]
            self.count[learning] += 1
            done = learning & (self.count >= n_learn)
            self.watched[done] = np.abs(self.z_sum[done] / n_learn) < self.FLOOR_TOL_M
        known = low & self.watched
        diff = np.abs(c - self.mean).sum(axis=1)
        changed = known & (diff >= cfg.floor_rgb_change)
        floor_now = known & ~changed
        self.mean[floor_now] += cfg.learn_alpha * (c[floor_now] - self.mean[floor_now])
        # Seen as floor: reset; seen changed: one more; not seen (a leg over it, no depth): as it was.
        self.held[floor_now] = 0
        self.held[changed] += 1
        out = changed & (self.held >= cfg.floor_still_s * self.fps)
        return self.xy[out], c8[out], self.mean[out]


class Perception:
    def __init__(self, store: StoreModel, config: PerceptionConfig | None = None) -> None:
        self.store = store
        self.cfg = config or PerceptionConfig()
        fx, fy = store.floor_m
        self.grid_shape = (int(np.ceil(fx / self.cfg.grid_m)), int(np.ceil(fy / self.cfg.grid_m)))
        self.shelf_tops = self._shelf_tops()
        self.backgrounds = {cid: CameraBackground(cam, self.cfg, self.person_space) for cid, cam in store.cameras.items()}
        self.floor_watches = {cid: FloorWatch(cam, self.cfg, self.floor_strip) for cid, cam in store.cameras.items()}
        bins = [store.bins[b] for b in store.bin_ids]
        self.bin_watches = {c.camera_id: BinWatch(store.cameras[c.camera_id], c, bins, self.cfg.opening_margin_m)
                            for c in store.info.cameras if c.camera_id in store.cameras}

    def floor_strip(self, xy: np.ndarray) -> np.ndarray:
        """Which floor points (N, 2) lie in front of a gondola, within `floor_strip_m` of its front (and of its ends
        along it), on the store's floor, and not under any gondola (nor within 5 cm of one)."""
        fx, fy = self.store.floor_m
        near = np.zeros(len(xy), dtype=bool)
        under = np.zeros(len(xy), dtype=bool)
        for g in self.store.gondolas:
            along = xy @ np.asarray(g.right) - g.along_start_m
            out_m = xy @ np.asarray(g.facing) - g.front_out_m
            near |= (along >= -0.3) & (along < g.length_m + 0.3) & (out_m >= 0.0) & (out_m < self.cfg.floor_strip_m)
            under |= (along >= -0.05) & (along < g.length_m + 0.05) & (out_m < 0.05) & (out_m >= g.back_out_m - g.front_out_m - 0.05)
        return near & ~under & (xy[:, 0] >= 0) & (xy[:, 0] < fx) & (xy[:, 1] >= 0) & (xy[:, 1] < fy)

    def person_space(self, points: np.ndarray) -> np.ndarray:
        """Which world points (N, 3) are where a person may be: over the aisles (not a gondola's footprint or the
        reach slab in front of it), above `person_space_min_m`."""
        g = self.cfg.grid_m
        ix = np.clip((points[:, 0] / g).astype(int), 0, self.grid_shape[0] - 1)
        iy = np.clip((points[:, 1] / g).astype(int), 0, self.grid_shape[1] - 1)
        return (points[:, 2] > self.cfg.person_space_min_m) & np.isneginf(self.shelf_tops[ix, iy])

    def _shelf_tops(self) -> np.ndarray:
        """Per grid cell over a gondola's footprint (behind its front plane) and the reach slab just in front of it
        (`reach_out_m`, where hands are counted), the top of its highest bin; -inf elsewhere. Nobody stands inside
        a gondola, and a head is never pressed against its front: a peak there below that top is a hand raised
        into a top bin (or an item), never a head; a head leaning over a low gondola is above its top."""
        g_m = self.cfg.grid_m
        ix, iy = np.indices(self.grid_shape)
        xy = np.stack([(ix + 0.5) * g_m, (iy + 0.5) * g_m], axis=-1)
        out = np.full(self.grid_shape, -np.inf)
        for g in self.store.gondolas:
            along = xy @ np.asarray(g.right) - g.along_start_m
            out_m = xy @ np.asarray(g.facing) - g.front_out_m
            inside = (along >= 0) & (along < g.length_m) & (out_m < self.cfg.reach_out_m) & (out_m >= g.back_out_m - g.front_out_m)
            out[inside] = np.maximum(out[inside], g.shelf_z[-1] + g.clearance_m[-1])
        return out

    def process(self, t_s: float, frames: list[CameraFrame]) -> Percept:
        pts, rgbs, seens, stills, rims, used = [], [], [], [], [], []
        floor_xy, floor_rgb, floor_bg = [], [], []
        seen_points = np.zeros(len(self.store.bin_ids) * BinWatch.per_bin(), dtype=bool)
        for f in frames:
            bg = self.backgrounds.get(f.camera_id)
            if bg is None:
                continue
            fg = bg.foreground(f.depth)
            self.bin_watches[f.camera_id].seen(f.depth, bg, seen_points)
            fxy, frgb, fbg = self.floor_watches[f.camera_id].update(f.depth, f.rgb)
            if len(fxy):
                floor_xy.append(fxy)
                floor_rgb.append(frgb)
                floor_bg.append(fbg)
            idx = np.flatnonzero(fg)
            used.append(f.camera_id)
            # a pixel's flags depend on its neighbours' depths only, so they are taken once, before the fliers go
            rim, fly = depth_edge_flags(np.asarray(f.depth, dtype=np.float32).ravel(), idx, bg.cam.width,
                                        self.cfg.edge_jump, self.cfg.flying_jump)
            idx, rim = idx[~fly], rim[~fly]
            if idx.size == 0:
                continue
            d = np.asarray(f.depth, dtype=np.float64).ravel()[idx]
            p = bg.cam.centre_w + d[:, None] * bg.cam.rays_w[idx]
            pts.append(p)
            colour, seen = colour_at(bg.cam, idx, p, f.rgb)
            rgbs.append(colour)
            seens.append(seen)
            stills.append(bg.still_frames[idx] > self.cfg.hand_still_s * bg.cam.fps)
            rims.append(rim)
        if pts:
            P = np.concatenate(pts)
            C = np.concatenate(rgbs)
            V = np.concatenate(seens)
            S = np.concatenate(stills)
            R = np.concatenate(rims)
        else:
            P = np.zeros((0, 3))
            C = np.zeros((0, 3), dtype=np.uint8)
            V = np.zeros(0, dtype=bool)
            S = np.zeros(0, dtype=bool)
            R = np.zeros(0, dtype=bool)
        keep = (P[:, 2] > 0.05) & (P[:, 2] < self.cfg.head_max_m + 0.3)
        keep &= (P[:, 0] >= 0) & (P[:, 0] < self.store.floor_m[0]) & (P[:, 1] >= 0) & (P[:, 1] < self.store.floor_m[1])
        P, C, V, S, R = P[keep], C[keep], V[keep], S[keep], R[keep]
        open_bins = seen_points.reshape(len(self.store.bin_ids), -1).mean(axis=1, dtype=np.float32)
        hm = self.height_map(P)
        heads = self.find_heads(hm)
        low = self.find_heads(hm, self.cfg.low_head_min_m)
        if len(low) and len(heads):
            d = np.hypot(low[:, None, 0] - heads[None, :, 0], low[:, None, 1] - heads[None, :, 1]).min(axis=1)
            low = low[d >= self.cfg.head_sep_m]
        # A hand moves; an item lying where it was just put (foreground until the background absorbs it) does not.
        hands = tuple(self.find_hands(t_s, P[~S], C[~S], heads, R[~S], V[~S]))
        floor = self.floor_objects(floor_xy, floor_rgb, floor_bg, np.concatenate([heads, low])) if floor_xy else ()
        return Percept(t_s, heads, hands, tuple(used), int(len(P)), self.person_colours(heads, P[V], C[V]), low, floor,
                       open_bins)

    def floor_objects(self, xys: list[np.ndarray], rgbs: list[np.ndarray], floor_rgbs: list[np.ndarray],
                      people: np.ndarray) -> tuple[FloorObject, ...]:
        """The cameras' long-changed floor points, fused on the floor grid: away from every head (and crouch),
        each connected group of cells is one thing lying there."""
        xy, rgb, bg = np.concatenate(xys), np.concatenate(rgbs), np.concatenate(floor_rgbs)
        if len(people):
            clear = ((xy[:, None, :] - people[None, :, :2]) ** 2).sum(axis=2).min(axis=1) >= self.cfg.floor_clear_m**2
            xy, rgb, bg = xy[clear], rgb[clear], bg[clear]
        if not len(xy):
            return ()
        g = self.cfg.grid_m
        ix = np.minimum((xy[:, 0] / g).astype(int), self.grid_shape[0] - 1)
        iy = np.minimum((xy[:, 1] / g).astype(int), self.grid_shape[1] - 1)
        occupied = np.zeros(self.grid_shape, dtype=bool)
        occupied[ix, iy] = True
        labels, n = ndimage.label(occupied, structure=np.ones((3, 3)))
        lab = labels[ix, iy]
        out = []
        for k in range(1, n + 1):
            members = np.flatnonzero(lab == k)
            if len(members) < 2:  # one pixel is no item (an item spans several at any range)
                continue
            cen = xy[members].mean(axis=0)
            out.append(FloorObject((float(cen[0]), float(cen[1])), int(len(members)), rgb[members].copy(), bg[members].copy()))
        return tuple(out)

    def person_colours(self, heads: np.ndarray, P: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per head, the colours of foreground points on that person's body (within `body_radius_m`, above the knee)."""
        if not len(heads) or not len(P):
            return tuple(np.zeros((0, 3), dtype=np.uint8) for _ in range(len(heads)))
        step = max(1, len(P) // 20000)
        Q, D = P[::step], C[::step]
        out = []
        for x, y, h in heads:
            near = ((Q[:, 0] - x) ** 2 + (Q[:, 1] - y) ** 2 < self.cfg.body_radius_m**2) & (Q[:, 2] > 0.3 * h)
            idx = np.flatnonzero(near)
            out.append(D[idx[:: max(1, len(idx) // self.cfg.colour_samples)]].copy())
        return tuple(out)

    def height_map(self, P: np.ndarray) -> np.ndarray:
        g = self.cfg.grid_m
        hm = np.zeros(self.grid_shape, dtype=np.float64)
        if len(P):
            ix = np.minimum((P[:, 0] / g).astype(int), self.grid_shape[0] - 1)
            iy = np.minimum((P[:, 1] / g).astype(int), self.grid_shape[1] - 1)
            np.maximum.at(hm, (ix, iy), P[:, 2])
        return hm

    def find_heads(self, hm: np.ndarray, min_m: float | None = None) -> np.ndarray:
        """Head tops: peaks of the height map between `min_m` (default `head_min_m`) and `head_max_m`."""
        cfg = self.cfg
        tall = (hm >= (cfg.head_min_m if min_m is None else min_m)) & (hm <= cfg.head_max_m)
        if not tall.any():
            return np.zeros((0, 3))
        # Fill single-cell holes (pixels the cameras missed) before looking for peaks.
        hm = np.where(tall, hm, 0.0)
        hm = np.maximum(hm, ndimage.grey_closing(hm, size=3) * tall.astype(float))
        win = max(3, int(round(cfg.head_sep_m / cfg.grid_m)) | 1)
        support = ndimage.uniform_filter(tall.astype(float), size=5) * 25.0
        peaks = (hm == ndimage.maximum_filter(hm, size=win)) & tall & (support >= cfg.head_support_cells)
        peaks &= hm > self.shelf_tops  # a hand raised into a top bin makes a peak there too: it stays a hand
        ix, iy = np.nonzero(peaks)
        order = np.argsort(-hm[ix, iy], kind="stable")
        chosen: list[tuple[float, float, float]] = []
        sep = cfg.head_sep_m
        for k in order:
            i, j = ix[k], iy[k]
            x, y, h = (i + 0.5) * cfg.grid_m, (j + 0.5) * cfg.grid_m, hm[i, j]
            if any((x - a) ** 2 + (y - b) ** 2 < sep * sep for a, b, _ in chosen):
                continue
            # Centre of the head top: cells within 0.25 m of the peak height nearby.
            r = 3
            sub = hm[max(0, i - r) : i + r + 1, max(0, j - r) : j + r + 1]
            w = sub >= h - 0.25
            si, sj = np.nonzero(w)
            cx = (si.mean() + max(0, i - r) + 0.5) * cfg.grid_m
            cy = (sj.mean() + max(0, j - r) + 0.5) * cfg.grid_m
            chosen.append((cx, cy, h))
        return np.array(chosen, dtype=float).reshape(-1, 3)

    def find_hands(self, t_s: float, P: np.ndarray, C: np.ndarray, heads: np.ndarray | None = None,
                   rim: np.ndarray | None = None, seen: np.ndarray | None = None) -> list[HandBlob]:
        """`rim`: per point, is its pixel on a depth edge (`depth_edge_flags`); a blob's colours come from the others.
        `seen`: per point, did the colour imager see it (`colour_at`); a blob's colours come from those only."""
        out: list[HandBlob] = []
        if not len(P):
            return out
        if rim is None:
            rim = np.zeros(len(P), dtype=bool)
        if seen is None:
            seen = np.ones(len(P), dtype=bool)
        if heads is not None and len(heads):
            # A head leaning over the shelf edge is not a hand in a top bin: drop head-and-neck points.
            near_head = np.zeros(len(P), dtype=bool)
            for x, y, h in heads:
                near_head |= ((P[:, 0] - x) ** 2 + (P[:, 1] - y) ** 2 < self.cfg.head_radius_m**2) & (P[:, 2] > h - self.cfg.head_depth_m)
            P, C, rim, seen = P[~near_head], C[~near_head], rim[~near_head], seen[~near_head]
        for g in self.store.gondolas:
            along = P[:, :2] @ g.right - g.along_start_m
            out_m = P[:, :2] @ g.facing - g.front_out_m
            sel = (along >= 0) & (along < g.length_m) & (out_m <= self.cfg.reach_out_m) & (out_m >= g.back_out_m - g.front_out_m)
            sel &= (P[:, 2] >= g.shelf_z[0]) & (P[:, 2] < g.shelf_z[-1] + g.clearance_m[-1])
            if not sel.any():
                continue
            idx = np.flatnonzero(sel)
            z = P[idx, 2]
            shelf = np.searchsorted(g.shelf_z, z, side="right") - 1
            inside = z < g.shelf_z[shelf] + g.clearance_m[shelf]
            idx, shelf = idx[inside], shelf[inside]
            col = np.minimum((along[idx] / (g.length_m / g.bins_per_shelf)).astype(int), g.bins_per_shelf - 1)
            code = shelf * g.bins_per_shelf + col
            for c in np.unique(code):
                in_bin = idx[code == c]
                bin_id = g.bin_ids[c // g.bins_per_shelf][c % g.bins_per_shelf]
                if not bin_id or len(in_bin) < 3:
                    continue
                # Two people's hands in one wide bin are two blobs: split along the shelf where the points part.
                order = in_bin[np.argsort(along[in_bin], kind="stable")]
                cuts = np.flatnonzero(np.diff(along[order]) > self.cfg.hand_gap_m) + 1
                for members in np.split(order, cuts):
                    if len(members) < 3:
                        continue
                    in_colour = members[seen[members]]
                    core = in_colour[~rim[in_colour]]
                    coloured = core if len(core) >= self.cfg.hand_core_min else in_colour
                    step = max(1, len(coloured) // self.cfg.colour_samples)
                    cen = P[members].mean(axis=0)
                    out.append(HandBlob(bin_id, t_s, (float(cen[0]), float(cen[1]), float(cen[2])), int(len(members)),
                                        C[coloured[::step]].copy()))
        return out


class SharedPerception:
    """One perception for several stacks fed the very same stream (the bench runs the fused, weight-only and
    vision-only stacks on one simulation): each frame set is processed once and every stack gets that percept.
    Perception does not depend on the stack's mode, so each stack sees exactly what its own perception would
    have given, as long as the stacks hand over the same frame sets in the same order (they flush on the same
    messages). `cost_s` is what the processing took, for the benchmark to charge to each stack in full."""

    KEEP = 8  # recent frame sets remembered: a stack may be a few sets behind the others

    def __init__(self) -> None:
        self._perception: Perception | None = None
        self._recent: dict[tuple, Percept] = {}
        self.cost_s = 0.0

    def open(self, store: StoreModel) -> "SharedPerception":
        if self._perception is None:
            self._perception = Perception(store)
        return self

    def process(self, t_s: float, frames: list[CameraFrame]) -> Percept:
        key = (t_s, tuple((f.camera_id, f.t_s) for f in frames))
        percept = self._recent.get(key)
        if percept is None:
            t0 = time.perf_counter()
            percept = self._perception.process(t_s, frames)
            self.cost_s += time.perf_counter() - t0
            self._recent[key] = percept
            if len(self._recent) > self.KEEP:
                del self._recent[next(iter(self._recent))]
        return percept
