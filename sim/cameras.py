"""Ceiling RGB-D cameras: the device model between the renderer and the stream.

Place in the data path: `sim.render` draws the clean picture of the physics world; a `CameraRig` (one
`Sensor` of the `Simulation`) samples every camera on its period, turns the picture into what the device
delivers — depth noise, quantisation, range limits, RGB noise, lost frames, timestamp jitter, outages —
and publishes `CameraFrame`s. Each camera's `CameraCalibration` (OpenCV convention) goes into `StoreInfo`.

Device modelled: Intel RealSense D435, an active-stereo RGB-D camera (REFERENCE.md):
- depth noise grows with the square of range, as for any stereo camera: sigma_z = z^2 s / (f_px B).
  `depth_noise_m` is sigma at 1 m. Default 5 mm: Intel's formula with subpixel error s = 0.08 and the
  50 mm baseline gives 3.6 mm at 1 m in the 848x480 mode and 7.2 mm in the native 424x240 mode that a
  320x240 stream is binned from; 5 mm sits between. The noise comes in blobs, not pixel by pixel: stereo
  matching scores a window several pixels wide, so neighbours share most of their evidence and err
  together. It is a Gaussian-smoothed white field (sd `depth_noise_blob_px`, 2 px: about a 7-px window at
  the native 424-wide mode), scaled to sd 1 at every pixel (`blob_noise`). Not all of it is new each frame:
  the D435's projector casts a fixed dot pattern, so on a still scene the matching errs alike frame after
  frame (Intel's tuning paper reports spatial RMS noise above the per-pixel temporal noise, and recommends
  temporal averaging only for the latter). A share `depth_noise_fixed_share` of the variance (0.5: our
  estimate, to be fitted to a recorded D435 sequence of a still floor) is a field drawn once per camera; the
  rest is drawn afresh each frame, so one pixel's error correlates 0.5 between frames.
- at depth edges (neighbours more than `depth_edge_jump` apart, 5 % of the nearer) the matching window
  holds both surfaces: a share `depth_edge_invalid` of the edge pixels fails the left-right check and
  reads 0, a share `depth_edge_flying` reads a depth between the two sides ("flying pixels"); 0.3 each
  is our estimate, to be fitted to a recorded D435 frame;
- disparity in the D4 processor's 1/32 px (`disparity_step_px`): depth is f B / d with d on that grid, so it
  comes in steps that grow as z^2 (8 mm at 1.5 m, 33 mm at 3 m at 320x240), then in the device's 1 mm unit
  (`depth_unit_m`); nearer than its minimum range (`depth_min_m`) or
  farther than `depth_max_m`, where nothing was seen, and where the second imager (50 mm to the right,
  `stereo_baseline_m`) is occluded — a band left of every near object — a pixel reads 0 = invalid;
- the store's light at each pixel (ceiling panels, shelves shading the shelves below) and the camera's own
  exposure and white-balance cast (`exposure_sd`, `white_balance_sd`; `sim.lighting`);
- RGB read noise `rgb_noise` (8-bit levels, per channel), then the frame is sent as JPEG at
  `rgb_jpeg_quality` (4:2:0, `sim.codec`): the stream carries its bytes and their decoding;
- frames lost independently at `drop_rate`; timestamps = capture time + N(0, `jitter_ms`), in whole
  microseconds (the device clock's resolution); `outages` (and `fail()` at run time) silence a camera.

Placement: `cameras.grid` puts one camera over the centre of each cell of a regular grid over the floor
(cells as close to `spacing_m` as divide the floor evenly), at `height_m`, looking straight down, image
up = north; `cameras.list` gives eye and look-at points. `fov_deg` is the *horizontal* field of view, as
datasheets give it (D435 depth: 87 x 58 deg); pixels are square, so the vertical one follows from the
aspect ratio. Intrinsics put the principal point at the image centre; distortion is zero (the D435 depth
stream is rectified).

The colour imager is a sensor of its own (D435: a separate RGB module, 69 x 42 deg, about 15 mm beside the
left infrared imager that is the depth origin). Each camera is two pinholes: the depth one at the mount, and
the colour one with its own intrinsics (`rgb_resolution`, default 320x180, one of the D435's 16:9 colour
modes; `rgb_fov_deg` 69) whose centre sits `rgb_offset_m` from the depth origin in the depth camera's frame
(the factory extrinsic: (-15, 0, 0) mm, axes parallel). The renderer draws colour from the colour pinhole and
depth from the depth pinhole, each over its own cached background, so the two images are not registered:
colour meets depth only through the calibrations, as it does for a D435's user (librealsense's `align`).

Calibration error. `StoreInfo` publishes a calibration, not the true mount: the renderer always uses the true
one, the stream carries one off by a seeded error of the size a careful installation leaves. A checkerboard
calibration reaches 0.1-0.5 px RMS reprojection error (REFERENCE.md); registering a ceiling camera to the
store's map adds a few mm and ~0.1-0.2 deg of pose. Modelled, standard deviations per axis or parameter:
- the camera's registration to the store (both imagers move together, they are one rigid body): rotation
  `calib_rotation_sd_deg` 0.1 deg (about 0.17 deg in all), position `calib_translation_sd_m` 2 mm (3.5 mm);
- each imager's intrinsics: focal lengths `calib_focal_sd_pct` 0.15 %, principal point `calib_principal_sd_px`
  0.25 px (of its own stream);
- the factory depth-to-colour extrinsic: `calib_rgb_rotation_sd_deg` 0.03 deg, `calib_rgb_translation_sd_m`
  0.3 mm.
Installation. The true imagers are not the plan either, or a stack could round the published calibration back
to the plan (grid centres, straight down, the principal point at the centre) and be exact. Each camera is hung
off its planned pose and built off its nominal lens: rotation `mount_rotation_sd_deg` 0.5 deg per axis (a
bracket levelled by eye; our estimate), position `mount_position_sd_m` 15 mm; focal length `lens_focal_sd_pct`
1 % and principal point `lens_principal_sd_px` 2 px (unit-to-unit spread of small fixed lenses; D4xx factory
calibrations put the principal point a few pixels off centre; our estimate, second-hand); the colour module
`rgb_mount_rotation_sd_deg` 0.2 deg and `rgb_mount_translation_sd_m` 0.5 mm off its nominal place. The
calibration error above is then drawn about these true imagers.
Projecting the floor and the shelves with the published calibration instead of the true one moves a point by
about 0.3-0.9 px RMS per camera (a test pins the band). The error belongs to the installation, not the
episode: it is drawn from `calib_seed`, the store's name and the camera's id, so every episode of a store sees
the same calibration (a store is calibrated once when its cameras are hung), and cameras differ.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.ndimage import correlate1d
from scipy.spatial.transform import Rotation
from scipy.special import ndtri

from sim.clock import Clock
from sim.codec import decode_jpeg, encode_jpeg
from sim.layout import CameraSettings, StoreLayout, grid_shape
from sim.lighting import CameraResponse, LitCamera, StoreLighting
from sim.render import Pinhole, StoreRenderer, choose_renderer, gpu_present
from sim.seeding import generator
from sim.stream import CameraCalibration, CameraFrame

NEAR_CLIP_M = 0.05  # render clip plane; the device's own minimum range is `depth_min_m`


@dataclass(frozen=True)
class CameraMount:
    """Where a ceiling camera hangs and where it looks (world metres); `fov_deg` horizontal."""

    id: str
    eye: tuple[float, float, float]
    look_at: tuple[float, float, float]
    fov_deg: float


def camera_mounts(layout: StoreLayout) -> list[CameraMount]:
    """The store's cameras as its layout places them (grid or explicit list), in a stable order."""
    spec = layout.spec.cameras
    if spec.list is not None:
        return [CameraMount(c.id, tuple(c.at), tuple(c.look_at), c.fov_deg) for c in spec.list]
    grid = spec.grid
    assert grid is not None, "cameras: neither grid nor list"
    width, depth = layout.spec.floor_m
    nx, ny = grid_shape(layout.spec.floor_m, grid.spacing_m)
    mounts = []
    for j in range(ny):  # south to north, west to east
        for i in range(nx):
            x, y = (i + 0.5) * width / nx, (j + 0.5) * depth / ny
            mounts.append(CameraMount(f"cam-{j * nx + i + 1}", (x, y, grid.height_m), (x, y, 0.0), grid.fov_deg))
    return mounts


def calibrate(mount: CameraMount, resolution: tuple[int, int], fps: float) -> CameraCalibration:
    """The calibration of a mounted camera: x_cam = R x_world + t (x right, y down, z forward), u = K x_cam."""
    width, height = resolution
    f = (width / 2.0) / math.tan(math.radians(mount.fov_deg) / 2.0)
    K = (f, 0.0, (width - 1) / 2.0, 0.0, f, (height - 1) / 2.0, 0.0, 0.0, 1.0)
    R = look_at_rotation(np.array(mount.eye, float), np.array(mount.look_at, float))
    t = -R @ np.array(mount.eye, float)
    return CameraCalibration(
        camera_id=mount.id, width=width, height=height, K=K, dist=(0.0,) * 5,
        R=tuple(float(v) for v in R.ravel()), t=tuple(float(v) for v in t), fps=float(fps),
    )


def rgb_calibrate(depth: CameraCalibration, resolution: tuple[int, int], fov_deg: float,
                  offset_m: tuple[float, float, float]) -> CameraCalibration:
    """The colour imager of a camera whose depth imager is calibrated `depth`: its own pinhole (`fov_deg`
    horizontal, principal point at the centre), the depth's axes, its centre `offset_m` in the depth's frame."""
    width, height = resolution
    f = (width / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    K = (f, 0.0, (width - 1) / 2.0, 0.0, f, (height - 1) / 2.0, 0.0, 0.0, 1.0)
    t = np.array(depth.t, float) - np.array(offset_m, float)  # R c_rgb + t_rgb = 0 with c_rgb = c + R^T offset
    return replace(depth, width=width, height=height, K=K, t=tuple(float(v) for v in t))


@dataclass(frozen=True)
class CalibrationError:
    """What one camera's published calibration is off by (module docstring, "Calibration error").

    `rotation_rad`, `shift_m`: the whole camera's pose (a rotation vector in the camera frame, a shift of its
    centre in the world); `rgb_rotation_rad`, `rgb_shift_m`: the depth-to-colour extrinsic (in the depth frame);
    `depth_focal`, `rgb_focal`: relative errors of (fx, fy); `depth_principal_px`, `rgb_principal_px`: (cx, cy)."""

    rotation_rad: np.ndarray
    shift_m: np.ndarray
    rgb_rotation_rad: np.ndarray
    rgb_shift_m: np.ndarray
    depth_focal: np.ndarray
    depth_principal_px: np.ndarray
    rgb_focal: np.ndarray
    rgb_principal_px: np.ndarray


def calibration_error(settings: CameraSettings, store: str, camera_id: str) -> CalibrationError:
    """The installation's calibration error of one camera: the same for every episode of `store`."""
    s = settings
    return _pose_and_lens_error(
        generator(int(s.calib_seed), "calibration", store, camera_id), s.calib_rotation_sd_deg, s.calib_translation_sd_m,
        s.calib_rgb_rotation_sd_deg, s.calib_rgb_translation_sd_m, s.calib_focal_sd_pct, s.calib_principal_sd_px)


def installation_deviation(settings: CameraSettings, store: str, camera_id: str) -> CalibrationError:
    """How one camera as hung and as built differs from the plan (module docstring, "Installation"): the same for
    every episode of `store`. The true imagers are the plan's moved by it."""
    s = settings
    return _pose_and_lens_error(
        generator(int(s.calib_seed), "installation", store, camera_id), s.mount_rotation_sd_deg, s.mount_position_sd_m,
        s.rgb_mount_rotation_sd_deg, s.rgb_mount_translation_sd_m, s.lens_focal_sd_pct, s.lens_principal_sd_px)


def _pose_and_lens_error(rng: np.random.Generator, rotation_deg: float, shift_m: float, rgb_rotation_deg: float,
                         rgb_shift_m: float, focal_pct: float, principal_px: float) -> CalibrationError:
    rot, rgb_rot = math.radians(rotation_deg), math.radians(rgb_rotation_deg)
    draw = rng.standard_normal(16)  # one draw of all, so a size set to 0 does not shift the others
    return CalibrationError(
        rotation_rad=rot * draw[0:3], shift_m=shift_m * draw[3:6],
        rgb_rotation_rad=rgb_rot * draw[6:9], rgb_shift_m=rgb_shift_m * draw[9:12],
        depth_focal=focal_pct / 100.0 * draw[12:14], depth_principal_px=principal_px * draw[14:16],
        rgb_focal=focal_pct / 100.0 * rng.standard_normal(2),
        rgb_principal_px=principal_px * rng.standard_normal(2),
    )


def true_calibrations(mount: CameraMount, settings: CameraSettings, store: str) -> tuple[CameraCalibration, CameraCalibration]:
    """The (depth, colour) imagers of a mounted camera as they really are: the plan (`calibrate`, `rgb_calibrate`)
    moved by the camera's installation deviation. The renderer draws from these."""
    s = settings
    depth = calibrate(mount, s.resolution, s.fps)
    rgb = rgb_calibrate(depth, s.rgb_resolution, s.rgb_fov_deg, s.rgb_offset_m)
    return published_calibrations(depth, rgb, installation_deviation(s, store, mount.id))


def published_calibrations(depth: CameraCalibration, rgb: CameraCalibration, err: CalibrationError
                           ) -> tuple[CameraCalibration, CameraCalibration]:
    """The (depth, colour) calibrations StoreInfo publishes for a camera whose true ones are `depth`, `rgb`.

    The colour imager's published pose is the published depth pose composed with the published (erroneous)
    factory extrinsic, as an operator would build it."""
    R = depth.R_matrix()
    centre = -R.T @ np.array(depth.t, float)
    R_pub = Rotation.from_rotvec(err.rotation_rad).as_matrix() @ R
    centre_pub = centre + err.shift_m
    R_rgb = rgb.R_matrix()
    offset = R @ (-R_rgb.T @ np.array(rgb.t, float) - centre)  # the true extrinsic translation, depth frame
    R_rgb_pub = Rotation.from_rotvec(err.rgb_rotation_rad).as_matrix() @ (R_rgb @ R.T) @ R_pub
    centre_rgb_pub = centre_pub + R_pub.T @ (offset + err.rgb_shift_m)
    return (_with_error(depth, R_pub, centre_pub, err.depth_focal, err.depth_principal_px),
            _with_error(rgb, R_rgb_pub, centre_rgb_pub, err.rgb_focal, err.rgb_principal_px))


def _with_error(cal: CameraCalibration, R: np.ndarray, centre: np.ndarray, focal: np.ndarray,
                principal_px: np.ndarray) -> CameraCalibration:
    K = list(cal.K)
    K[0] *= 1.0 + float(focal[0])
    K[4] *= 1.0 + float(focal[1])
    K[2] += float(principal_px[0])
    K[5] += float(principal_px[1])
    return replace(cal, K=tuple(float(v) for v in K), R=tuple(float(v) for v in R.ravel()),
                   t=tuple(float(v) for v in -R @ centre))


def look_at_rotation(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World -> camera rotation (OpenCV axes) of a camera at `eye` looking at `target`.

    Image up is world up projected, or north when the camera looks (nearly) straight down.
    """
    z = target - eye
    z = z / np.linalg.norm(z)
    up = np.array([0.0, 1.0, 0.0]) if abs(z[2]) > 0.99 else np.array([0.0, 0.0, 1.0])
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.vstack([x, y, z])


def pinhole(calib: CameraCalibration, far_m: float) -> Pinhole:
    """What the renderer needs of a calibrated camera."""
    K = calib.K_matrix()
    return Pinhole(
        calib.width, calib.height, float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]),
        calib.R, calib.t, NEAR_CLIP_M, far_m,
    )


def device_image(
    rgb: np.ndarray, depth_m: np.ndarray, settings: CameraSettings, rng: np.random.Generator, fx_px: float,
    valid: np.ndarray | None = None, edges: tuple[np.ndarray, np.ndarray] | None = None,
    fixed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, bytes | None]:
    """A clean render -> what the D435 delivers: (rgb, depth, jpeg). Depth: blob noise, on the disparity grid,
    quantised, range-limited (0 = invalid). Colour: read noise, then JPEG (`jpeg` its bytes, `rgb` their
    decoding; None and the noisy pixels when `rgb_jpeg_quality` is 0).

    `valid`, `edges`: `measurable(depth_m, ...)` and `depth_edges(depth_m, ...)` when the caller has them already
    (the same clean depth as last frame). `fixed`: this camera's own fixed-pattern field (`blob_noise`, drawn once),
    which carries `depth_noise_fixed_share` of the noise's variance; without it all of the noise is drawn afresh."""
    z = depth_m.astype(np.float32)  # a copy, worked on in place
    if valid is None:
        valid = measurable(depth_m, settings, fx_px)
    if settings.depth_noise_m > 0:
        noise = blob_noise(rng, z.shape, float(settings.depth_noise_blob_px))
        share = float(settings.depth_noise_fixed_share) if fixed is not None else 0.0
        if share > 0:
            noise *= np.float32(math.sqrt(1.0 - share))
            noise += fixed * np.float32(math.sqrt(share))
        noise *= np.float32(settings.depth_noise_m)
        noise *= z
        noise *= z
        z += noise  # sigma(z) = depth_noise_m z^2 (z in metres)
        np.maximum(z, np.float32(0.0), out=z)  # a draw beyond -1 / (sigma z) sd: nothing measured (0, below)
    if edge_effects(settings):
        pixel, across = edges if edges is not None else depth_edges(depth_m, float(settings.depth_edge_jump))
        if pixel.size:
            flat = z.reshape(-1)
            here, there = flat[pixel], flat[across]
            r = rng.random(pixel.size, dtype=np.float32)
            mix = rng.random(pixel.size, dtype=np.float32)
            flying = (r >= settings.depth_edge_invalid) & (r < settings.depth_edge_invalid + settings.depth_edge_flying)
            flat[pixel] = np.where(r < settings.depth_edge_invalid, np.float32(0.0),
                                   np.where(flying, here + mix * (there - here), here))
    fb_steps = np.float32(fx_px * settings.stereo_baseline_m / settings.disparity_step_px) \
        if settings.disparity_step_px > 0 else np.float32(0.0)
    if fb_steps > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.divide(fb_steps, z)  # disparity in steps; nothing drawn (z = 0): inf, and back to 0 below
            np.rint(k, out=k)
            np.maximum(k, np.float32(1.0), out=k)  # at least one step
            np.divide(fb_steps, k, out=z)
    if settings.depth_unit_m > 0:
        unit = np.float32(settings.depth_unit_m)
        z /= unit
        np.rint(z, out=z)
        z *= unit
    np.copyto(z, np.float32(0.0), where=~(valid & (z > 0)))  # 0 where the device cannot measure (NaN included)
    if settings.rgb_noise > 0:
        # rint(rgb + sigma N) = rgb + rint(sigma N) for whole levels: draw the rounded Gaussian directly, by its
        # quantiles on a 2^16 grid (exact but for tails beyond 1 in 65,536), four times cheaper than normals.
        table = _rounded_gaussian(float(settings.rgb_noise))
        u16 = np.frombuffer(rng.bytes(2 * rgb.size), dtype="<u2").reshape(rgb.shape)
        rgb = np.clip(rgb.astype(np.int16) + table[u16], 0, 255).astype(np.uint8)
    jpeg = None
    if settings.rgb_jpeg_quality > 0:
        jpeg = encode_jpeg(rgb, int(settings.rgb_jpeg_quality))
        rgb = decode_jpeg(jpeg)
    return rgb, z, jpeg


def blob_noise(rng: np.random.Generator, shape: tuple[int, int], blob_px: float) -> np.ndarray:
    """Spatially correlated standard normal noise: sd 1 at every pixel, neighbours alike over ~`blob_px`.

    White noise on a grid of every second pixel, smoothed by a Gaussian of sd `blob_px` / 2 grid steps
    (weights scaled so that the smoothed field has sd 1), then interpolated linearly to the pixels between;
    an interpolated value is the mean of two neighbours with correlation rho, so it is scaled by
    sqrt(2 / (1 + rho)) back to sd 1 (the field is separable, so rows and columns take one factor each).
    About five times cheaper than one normal per pixel. `blob_px` 0: one independent normal per pixel."""
    h, w = shape
    if blob_px <= 0:
        return rng.standard_normal(shape, dtype=np.float32)
    weights, gain = _blob_kernel(blob_px / 2.0)
    r = (len(weights) - 1) // 2
    hc, wc = h // 2 + 1, w // 2 + 1
    white = rng.standard_normal((hc + 2 * r, wc + 2 * r), dtype=np.float32)
    coarse = correlate1d(white, weights, axis=0, mode="constant")[r:r + hc]
    coarse = correlate1d(coarse, weights, axis=1, mode="constant")[:, r:r + wc]
    fine = np.empty((2 * hc - 1, 2 * wc - 1), dtype=np.float32)
    fine[0::2, 0::2] = coarse
    fine[0::2, 1::2] = (coarse[:, :-1] + coarse[:, 1:]) * gain
    fine[1::2, :] = (fine[0:-1:2, :] + fine[2::2, :]) * gain
    return fine[:h, :w]


@functools.lru_cache(maxsize=8)
def _blob_kernel(sd_steps: float) -> tuple[np.ndarray, np.float32]:
    """Gaussian weights (to 4 sd) with sum of squares 1, and half the midpoint gain sqrt(2 / (1 + rho))."""
    r = max(1, int(math.ceil(4.0 * sd_steps)))
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sd_steps) ** 2)
    k /= math.sqrt(float((k * k).sum()))
    rho = float((k[:-1] * k[1:]).sum())
    return k.astype(np.float32), np.float32(0.5 * math.sqrt(2.0 / (1.0 + rho)))


def edge_effects(settings: CameraSettings) -> bool:
    return settings.depth_edge_jump > 0 and (settings.depth_edge_invalid > 0 or settings.depth_edge_flying > 0)


def depth_edges(depth_m: np.ndarray, jump: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixels on a depth edge and, for each, a neighbour across it (flat indices): 4-neighbours, both drawn,
    whose depths differ by more than `jump` of the nearer; a pixel on several edges counts once."""
    h, w = depth_m.shape
    idx = np.arange(h * w).reshape(h, w)
    pairs = []
    for a, b, za, zb in ((idx[:, :-1], idx[:, 1:], depth_m[:, :-1], depth_m[:, 1:]),
                         (idx[:-1, :], idx[1:, :], depth_m[:-1, :], depth_m[1:, :])):
        edge = (za > 0) & (zb > 0) & (np.abs(za - zb) > jump * np.minimum(za, zb))
        pairs.append((a[edge], b[edge]))
        pairs.append((b[edge], a[edge]))
    pixel = np.concatenate([p for p, _ in pairs])
    across = np.concatenate([q for _, q in pairs])
    pixel, first = np.unique(pixel, return_index=True)
    return pixel, across[first]


def measurable(depth_m: np.ndarray, settings: CameraSettings, fx_px: float) -> np.ndarray:
    """Where the D435 can give a depth for this clean depth image: within its range and seen by both imagers."""
    z = depth_m.astype(np.float32)
    valid = (z >= settings.depth_min_m) & (z <= settings.depth_max_m)
    if settings.stereo_baseline_m > 0:
        valid &= ~stereo_shadow(depth_m, fx_px * settings.stereo_baseline_m)
    return valid


def measurable_update(
    last: tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]], depth_m: np.ndarray, settings: CameraSettings,
    fx_px: float,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """`measurable(depth_m, ...)` and `depth_edges(depth_m, ...)` (empty when the settings have no edge effects)
    from `last` = (an earlier clean depth, its measurable mask, its edges), redone only where they can differ: a
    pixel's range and stereo shadow depend on its own row only, its edges on its 4-neighbours; so the rows where
    the depth changed are redone, and one row more each way for the edges. The same arrays as from scratch
    (a moving shopper changes a band of rows; the rest of the frame is the same clean depth as last frame)."""
    prev_depth, prev_valid, prev_edges = last
    changed = (prev_depth != depth_m).any(axis=1)
    rows = np.flatnonzero(changed)
    if not rows.size:
        return prev_valid, prev_edges
    h, w = depth_m.shape
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    valid = prev_valid.copy()
    valid[r0:r1] = measurable(depth_m[r0:r1], settings, fx_px)
    if not edge_effects(settings):
        return valid, prev_edges
    e0, e1 = max(r0 - 1, 0), min(r1 + 1, h)  # rows whose edges can have changed
    w0, w1 = max(e0 - 1, 0), min(e1 + 1, h)  # and the rows their neighbours are in
    pixel, across = depth_edges(depth_m[w0:w1], float(settings.depth_edge_jump))
    keep = (pixel >= (e0 - w0) * w) & (pixel < (e1 - w0) * w)
    pixel, across = pixel[keep] + w0 * w, across[keep] + w0 * w
    old_pixel, old_across = prev_edges
    a, b = np.searchsorted(old_pixel, [e0 * w, e1 * w])
    return valid, (np.concatenate([old_pixel[:a], pixel, old_pixel[b:]]),
                   np.concatenate([old_across[:a], across, old_across[b:]]))


@functools.lru_cache(maxsize=8)
def _rounded_gaussian(sigma: float) -> np.ndarray:
    """rint(sigma * Phi^-1(u)) at the 65,536 grid quantiles u = (i + 0.5) / 65,536."""
    u = (np.arange(65536) + 0.5) / 65536.0
    return np.rint(sigma * ndtri(u)).astype(np.int16)


def stereo_shadow(depth_m: np.ndarray, f_times_baseline: float) -> np.ndarray:
    """Pixels the second imager cannot see: stereo gives them no depth (the D435's band left of near objects).

    The depth image is the left imager's; the right one sits a baseline B to its right. A point at
    pixel p with disparity d(p) = f B / z is hidden from the right imager when a nearer point k pixels
    to its right has d(p + k) - d(p) >= k. Where nothing was drawn, disparity is 0 (infinitely far).
    """
    with np.errstate(divide="ignore"):
        d = np.where(depth_m > 0, f_times_baseline / depth_m, 0.0)
    shadow = np.zeros(depth_m.shape, dtype=bool)
    reach = int(np.ceil(d.max() - d.min())) if d.size else 0
    for k in range(1, min(reach, depth_m.shape[1] - 1) + 1):
        shadow[:, :-k] |= d[:, k:] - d[:, :-k] >= k
    return shadow


class CameraRig:
    """Every ceiling camera of the store, sampled together on their common period (a `Sensor`).

    `true_calibrations`, `true_rgb_calibrations`: each camera's depth and colour imager as mounted (what the renderer
    draws from); `calibrations`, `rgb_calibrations`: what `StoreInfo` publishes (the installation's calibration)."""

    def __init__(
        self,
        layout: StoreLayout,
        world_client: int,
        dynamic_bodies: set[int],
        clock: Clock,
        seed: int,
        *,
        settings: CameraSettings | None = None,
        full_render: bool = False,
    ) -> None:
        self.settings = settings or layout.spec.sensors.cameras
        s = self.settings
        self.period_ticks = clock.period_ticks(1.0 / s.fps, "cameras.fps")
        self.mounts = camera_mounts(layout)
        self.ids = tuple(m.id for m in self.mounts)
        # The true imagers, which the renderer draws from, and the calibrations StoreInfo publishes (off by the
        # installation's calibration error).
        true = [true_calibrations(m, s, layout.name) for m in self.mounts]
        self.true_calibrations = tuple(d for d, _ in true)
        self.true_rgb_calibrations = tuple(c for _, c in true)
        published = [published_calibrations(d, c, calibration_error(s, layout.name, d.camera_id))
                     for d, c in zip(self.true_calibrations, self.true_rgb_calibrations)]
        self.calibrations = tuple(d for d, _ in published)
        self.rgb_calibrations = tuple(c for _, c in published)
        for cam, _, _ in s.outages:
            if cam not in self.ids:
                raise ValueError(f"cameras.outages: no camera '{cam}' (cameras are {', '.join(self.ids)})")
        width, depth = layout.spec.floor_m
        far_m = math.hypot(width, depth) + max(m.eye[2] for m in self.mounts) + 1.0
        # Renderer cameras 0..n-1 are the depth imagers, n..2n-1 the colour ones: each has its own cached background,
        # and each frame draws only the rectangle the moving bodies cover in it.
        self.renderer = StoreRenderer(
            world_client, dynamic_bodies,
            [pinhole(c, far_m) for c in self.true_calibrations + self.true_rgb_calibrations],
            choose_renderer(s.renderer, gpu_present()),
        )
        self.full_render = full_render  # draw every body every frame (the reference the fast path must equal)
        self._clock = clock
        self._rngs = [generator(seed, "camera", cam) for cam in self.ids]
        # The store's light and each camera's exposure and white balance (`sim.lighting`), on the clean picture.
        lighting = StoreLighting(layout)
        self.lit_cameras = [  # one per colour imager: the light falls on what it sees, through its own pinhole
            LitCamera(lighting, cam, CameraResponse.draw(generator(seed, "camera-response", cid), s.exposure_sd, s.white_balance_sd))
            for cid, cam in zip(self.ids, self.renderer.cameras[len(self.ids):])
        ]
        # The part of each camera's depth noise that repeats frame to frame (the projector's dot pattern is fixed):
        # drawn once per camera and episode, on the depth imager's pixels.
        self._fixed_noise = [
            blob_noise(generator(seed, "camera-fixed-pattern", cam), (c.height, c.width), float(s.depth_noise_blob_px))
            if s.depth_noise_fixed_share > 0 else None
            for cam, c in zip(self.ids, self.true_calibrations)
        ]
        self._failed: set[str] = set()
        # per camera: (clean depth, where the device measures, its depth edges), while the clean depth is the same
        self._measurable: list[tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]] | None] = [None] * len(self.ids)

    def render_clean(self, index: int, full: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Camera `index`'s noise-free picture: colour from its colour imager as light reaches it (the store's light at
        each pixel, the camera's exposure and white-balance cast: `sim.lighting`), depth from its depth imager
        (different pinholes, so different sizes and pixels). `full`: straight from the physics world, every body drawn."""
        render = self.renderer.render_full if full else self.renderer.render
        rgb, rgb_depth = render(len(self.ids) + index)
        return self.lit_cameras[index](rgb, rgb_depth), render(index)[1]

    def fail(self, camera_id: str) -> None:
        """A runtime fault: the camera stops sending frames until `recover`."""
        if camera_id not in self.ids:
            raise KeyError(f"no camera '{camera_id}'")
        self._failed.add(camera_id)

    def recover(self, camera_id: str) -> None:
        self._failed.discard(camera_id)

    def sample(self) -> list[CameraFrame]:
        """One frame from every camera that is up and does not lose it."""
        t = self._clock.t_s
        s = self.settings
        self.renderer.sync()
        frames = []
        for i, cam in enumerate(self.ids):
            if cam in self._failed or any(c == cam and a <= t < b for c, a, b in s.outages):
                continue
            rng = self._rngs[i]
            if rng.random() < s.drop_rate:
                continue
            t_us = round((t + rng.normal(0.0, s.jitter_ms / 1000.0)) * 1e6) if s.jitter_ms > 0 else round(t * 1e6)
            clean = self.render_clean(i, full=self.full_render)
            fx = self.true_calibrations[i].K[0]  # the device's own disparity geometry, not the published calibration
            # Nothing moving in view: the renderer hands back the very same clean depth as last frame, so where the
            # device can measure (range, stereo shadow) is the same too; the noise is drawn afresh all the same.
            last = self._measurable[i]
            if last is None:
                no_edges = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
                last = self._measurable[i] = (clean[1], measurable(clean[1], s, fx),
                                              depth_edges(clean[1], float(s.depth_edge_jump)) if edge_effects(s) else no_edges)
            elif last[0] is not clean[1]:  # redone only in the rows where the clean depth changed
                last = self._measurable[i] = (clean[1], *measurable_update(last, clean[1], s, fx))
            rgb, depth, jpeg = device_image(*clean, s, rng, fx, valid=last[1], edges=last[2], fixed=self._fixed_noise[i])
            rgb.setflags(write=False)
            depth.setflags(write=False)
            frames.append(CameraFrame(t_s=max(t_us, 0) * 1000 / 1e9, camera_id=cam, rgb=rgb, depth=depth, rgb_jpeg=jpeg))
        return frames

    def flush(self) -> list[CameraFrame]:
        return []

    def close(self) -> None:
        self.renderer.close()
