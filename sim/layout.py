"""Store layout files (DESIGN.md section 4): schema, checks, and the derived geometry.

`load_store(path)` parses and validates a layout and returns a `StoreLayout`
whose derived `bins` (centre, size, facing, level) the physics builder, the
sensors and the store info all share. Every problem raises `InputError` naming
the file, the line and the key.

Choices where the design is silent (written here so users can rely on them):
- A gondola's first shelf plate sits 0.15 m above the floor (kick plate); the
  levels are spaced evenly up to `height_m`; each plate is 25 mm thick.
- Items stand upright in rows, `size_mm` = [width, depth, height]; a bin holds
  as many as fit side by side on its plate, 4 mm apart, in either orientation,
  no stacking.
- Gondolas may touch (an island is two back to back) but not overlap; gondolas
  must keep 0.5 m from every wall they face.
- A gate lies on a wall: its centre on the floor's boundary, its opening
  within that wall.
- `weight_sd_g` defaults by `pack` (`pack_sd_g`): filled packs and cans to half
  the EU tolerable negative error (0.5-4.5 %), eggs by the egg class, loose
  produce 15 %.
"""
from __future__ import annotations

import difflib
import math
import numbers
import re
import types
import typing
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import numpy as np
import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from shapely.geometry import Polygon, box

from sim.errors import InputError
from sim.yamlsrc import LineMap, load_yaml

KICK_M = 0.15
PLATE_THICKNESS_M = 0.025
BACK_PANEL_M = 0.04
WALL_CLEARANCE_M = 0.5
ITEM_GAP_M = 0.004  # between neighbouring items, so that a full bin settles and sleeps
MIN_ITEM_MM, MAX_ITEM_MM = 5.0, 1500.0  # a battery to a 1.5 m roll of paper
MAX_CAMERAS = 1000  # a 10,000 m2 hypermarket at one camera per 10 m2
MIN_SHELF_CLEARANCE_M = 0.10  # a hand (and the smallest product) must fit between plates


def _real_number(v: object) -> object:
    """A number as written (int, float, numpy scalar), never true/false or a string; finiteness is checked after."""
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        return float(v)
    raise ValueError("expected a number")


def _whole_number(v: object) -> object:
    """A whole number (int, numpy integer, or a float like 6.0), never true/false, 6.5 or a string."""
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        return int(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    raise ValueError("expected a whole number")


Num = Annotated[float, BeforeValidator(_real_number)]  # then pydantic's float: finite (allow_inf_nan=False)
Int = Annotated[int, BeforeValidator(_whole_number)]
FACINGS = {"north": (0.0, 1.0), "south": (0.0, -1.0), "east": (1.0, 0.0), "west": (-1.0, 0.0)}


class _Strict(BaseModel):
    # Numbers are numbers: no true/false or "3" for a count, no NaN or infinity for a size (`Num`, `Int`).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Gate(_Strict):
    id: str
    kind: Literal["entry", "exit"]
    at: tuple[Num, Num]
    width_m: Num = Field(0.9, gt=0.3, le=4.0)


class Gondola(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_]+$")
    at: tuple[Num, Num]
    facing: Literal["north", "south", "east", "west"]
    length_m: Num = Field(gt=0.2, le=30.0)
    depth_m: Num = Field(0.45, gt=0.15, le=1.5)
    height_m: Num = Field(1.8, gt=0.4, le=3.0)
    shelves: Int = Field(ge=1, le=12)
    bins_per_shelf: Int = Field(ge=1, le=60)

    def footprint(self) -> Polygon:
        fx, fy = FACINGS[self.facing]
        half_len, half_depth = self.length_m / 2, self.depth_m / 2
        if fx:  # faces east/west: long side runs north-south
            return box(self.at[0] - half_depth, self.at[1] - half_len, self.at[0] + half_depth, self.at[1] + half_len)
        return box(self.at[0] - half_len, self.at[1] - half_depth, self.at[0] + half_len, self.at[1] + half_depth)


# EU average-quantity rules (Directive 76/211/EEC, the e-mark): the tolerable negative error of a pack of
# nominal quantity up to the bound, as a share of it (< 1) or in grams (>= 1). REFERENCE.md "Pack weights".
_TOLERABLE_NEGATIVE_ERROR = ((50.0, 0.09), (100.0, 4.5), (200.0, 0.045), (300.0, 9.0), (500.0, 0.03), (1000.0, 15.0),
                             (10000.0, 0.015), (15000.0, 150.0), (math.inf, 0.01))
EGG_SD_G = 10.0 / math.sqrt(12.0)  # an egg of class M weighs 53-63 g (EU egg classes): uniform over 10 g
EGG_BOX_SHARE_G = 65.0  # an M egg and its share of the box
LOOSE_SD = 0.15  # loose produce, sold by weight: units vary by tens of percent (REFERENCE.md)


def pack_sd_g(weight_g: float, pack: str = "filled") -> float:
    """The spread of one unit's weight around its nominal.

    filled: packers fill so that at most 2.5 % of packs fall short of nominal by more than the tolerable
    negative error (TNE) with the mean at nominal, so their sd is about TNE / 2 (two sd below the mean
    leave 2.3 %): a 330 g can 5.0 g (1.5 %), a 50 g bar 2.25 g (4.5 %), a 1 kg bag 7.5 g.
    eggs: a box of n eggs (n = weight / 65 g), each uniform over the M class: sd 2.9 g sqrt(n), 7.1 g for six.
    loose: 15 % of the weight."""
    if pack == "eggs":
        sd = EGG_SD_G * math.sqrt(max(1, round(weight_g / EGG_BOX_SHARE_G)))
    elif pack == "loose":
        sd = LOOSE_SD * weight_g
    else:
        tne = next(t for bound, t in _TOLERABLE_NEGATIVE_ERROR if weight_g <= bound)
        sd = max(0.1, (tne * weight_g if tne < 1 else tne) / 2.0)
    return min(sd, weight_g / 4)  # never a spread that weighs a pack at nothing


class CatalogItem(_Strict):
    sku: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    price: Num = Field(ge=0, le=100_000)
    weight_g: Num = Field(gt=0, le=20000)
    weight_sd_g: Num | None = Field(None, ge=0)  # at most a quarter of weight_g (checked below)
    pack: Literal["filled", "eggs", "loose"] = "filled"  # how units vary when weight_sd_g is not given (`sd_g`)
    shape: Literal["box", "cylinder"]
    size_mm: tuple[Num, Num, Num]
    color: str

    @field_validator("size_mm")
    @classmethod
    def _size_range(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(v) < MIN_ITEM_MM or max(v) > MAX_ITEM_MM:
            raise ValueError(f"every size must be {MIN_ITEM_MM}-{MAX_ITEM_MM} mm (a physics body smaller or larger is no product)")
        return v

    @model_validator(mode="after")
    def _spread(self) -> "CatalogItem":
        if self.weight_sd_g is not None and self.weight_sd_g > self.weight_g / 4:
            raise ValueError(f"weight_sd_g {self.weight_sd_g:g} is more than a quarter of weight_g {self.weight_g:g} (packs would weigh nothing)")
        return self

    @field_validator("color")
    @classmethod
    def _hex_color(cls, v: str) -> str:
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", v):
            raise ValueError("expected an sRGB hex colour like '#c8102e'")
        return v

    @property
    def sd_g(self) -> float:
        """How much one unit's weight varies: `weight_sd_g`, else by `pack` (`pack_sd_g`)."""
        return self.weight_sd_g if self.weight_sd_g is not None else pack_sd_g(self.weight_g, self.pack)

    @property
    def rgb(self) -> tuple[float, float, float]:
        return tuple(int(self.color[i : i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]


class PlanogramEntry(_Strict):
    sku: str
    count: Int = Field(ge=0)


class CameraGrid(_Strict):
    spacing_m: Num = Field(gt=0.5, le=20)
    height_m: Num = Field(3.0, gt=1.5, le=10)
    fov_deg: Num = Field(90.0, gt=10, lt=170)


class CameraPose(_Strict):
    id: str = Field(min_length=1, max_length=64)
    at: tuple[Num, Num, Num]
    look_at: tuple[Num, Num, Num]
    fov_deg: Num = Field(90.0, gt=10, lt=170)


class Cameras(_Strict):
    grid: CameraGrid | None = None
    list: tuple[CameraPose, ...] | None = Field(None, min_length=1, max_length=MAX_CAMERAS)

    @model_validator(mode="after")
    def _one_form(self) -> "Cameras":
        if (self.grid is None) == (self.list is None):
            raise ValueError("give exactly one of 'grid' or 'list'")
        return self


class CameraSettings(_Strict):
    """Defaults: Intel RealSense D435 class overhead RGB-D camera, depth binned to 320x240 at 10 fps, colour 320x180
    from its own imager, calibration published with an installation's error (see `sim.cameras`).

    `depth_noise_m`: standard deviation of depth at 1 m; it grows as z^2 (stereo). `rgb_noise`: per-channel
    standard deviation in 8-bit levels, drawn before the JPEG encoding. `jitter_ms`: standard deviation of
    frame timestamps. `outages`:
    (camera id, start_s, end_s) spans with no frames from that camera. `renderer`: auto picks EGL on a GPU.
    """

    fps: Num = Field(10.0, gt=0, le=90)
    resolution: tuple[Int, Int] = (320, 240)  # at least 16 x 12, at most the D435 RGB imager's 1920 x 1080
    depth_noise_m: Num = Field(0.005, ge=0, le=0.1)
    drop_rate: Num = Field(0.0, ge=0, le=1)
    rgb_noise: Num = Field(2.0, ge=0, le=64)
    jitter_ms: Num = Field(2.0, ge=0, le=100)
    renderer: Literal["auto", "tiny", "egl"] = "auto"
    outages: tuple[tuple[str, Num, Num], ...] = ()
    depth_min_m: Num = Field(0.28, ge=0, le=5)  # D435 minimum depth at 848x480; nearer reads 0
    depth_max_m: Num = Field(10.0, gt=0, le=65)  # D435 practical maximum range; farther reads 0
    depth_unit_m: Num = Field(0.001, ge=0, le=0.1)  # D435 default depth unit (16-bit millimetres); 0 = no quantisation
    stereo_baseline_m: Num = Field(0.050, ge=0, le=0.5)  # D435 stereo baseline: no depth where one imager is occluded; 0 = none
    # D4 vision processor: disparity in 1/32 px (5 fractional bits; librealsense src/proc/disparity-transform.cpp,
    # "fractional_bits = 5"), so depth comes in steps of z^2/(32 f B): 33 mm at 3 m at 320x240. 0 = none.
    disparity_step_px: Num = Field(1 / 32, ge=0, le=1)
    # Stereo matching aggregates cost over a window several pixels wide, so neighbouring pixels err together:
    # the depth noise is a field smoothed by a Gaussian of this sd, in stream pixels (0 = independent per pixel).
    depth_noise_blob_px: Num = Field(2.0, ge=0, le=16)
    # The share of the depth noise's variance that repeats frame to frame (the projector's fixed dot pattern; our
    # estimate, see `sim.cameras`): not a kindness either way (a fixed error hides in a depth background, a fresh
    # one averages away), so a scenario may not change it.
    depth_noise_fixed_share: Num = Field(0.5, ge=0, le=1)
    # At a depth edge the matching window holds both surfaces: the D4's left-right check drops some of those
    # pixels (0) and passes others at a depth between the two ("flying pixels", which librealsense's
    # post-processing filters exist to remove). An edge: neighbours whose depths differ by more than
    # `depth_edge_jump` of the nearer. The shares per edge pixel are our estimate (no published rate).
    depth_edge_jump: Num = Field(0.05, ge=0, le=10)  # 0 = no edge effects
    depth_edge_invalid: Num = Field(0.3, ge=0, le=1)
    depth_edge_flying: Num = Field(0.3, ge=0, le=1)
    # Colour reaches the store's computer as JPEG (4:2:0), as networked cameras send it: ONVIF Profile S, the
    # profile IP cameras implement, makes JPEG its one mandatory video encoding. Quality 1-100; 0 = raw frames.
    rgb_jpeg_quality: Int = Field(90, ge=0, le=100)
    # Each camera's exposure (lognormal sd; our estimate: auto exposure settles cameras a sixth of a stop apart)
    # and the residual colour cast its auto white balance leaves (lognormal sd per channel: 0.06 is about 3 deg of
    # angular error, the median that published methods leave on the Gehler-Shi benchmark, 2-5 deg; second-hand).
    # Both drawn per episode: a day's light, to which the cameras settle anew.
    exposure_sd: Num = Field(0.12, ge=0, le=2)
    white_balance_sd: Num = Field(0.06, ge=0, le=1)
    # The colour imager is a sensor of its own (D435: a separate rolling-shutter RGB module, up to 1920x1080,
    # 69 x 42 deg), rendered from its own pinhole. 320x180 is one of the D435's 16:9 colour modes (its 6, 15, 30
    # and 60 fps modes list 320x180, 424x240, 640x360, 848x480, 960x540, 1280x720, 1920x1080); at 69 deg it
    # resolves finer than the 320x240 depth at 90 deg (233 px against 160 px of focal length). `rgb_fov_deg` is the
    # horizontal field of view; pixels are square, so the vertical one (42 deg) follows from the 16:9 aspect.
    rgb_resolution: tuple[Int, Int] = (320, 180)
    rgb_fov_deg: Num = Field(69.0, gt=10, lt=170)  # D435 RGB imager: 69 x 42 deg
    # Where the colour imager sits in the depth camera's frame (x right, y down, z forward), metres: the D435's
    # RGB module is about 15 mm beside the left infrared imager (the depth origin), on the side away from the right
    # imager (librealsense's depth-to-colour extrinsic translates by about +15 mm in x). Its axes are the depth's.
    rgb_offset_m: tuple[Num, Num, Num] = (-0.015, 0.0, 0.0)
    # What StoreInfo publishes is a calibration, not the true mount: each camera's published intrinsics and pose
    # differ from the ones the renderer uses by a seeded error of the size a careful installation leaves (see
    # `sim.cameras`, "Calibration error"). Standard deviations, per axis or per parameter:
    calib_focal_sd_pct: Num = Field(0.15, ge=0, le=10)  # each focal length (fx, fy) of each sensor, % of itself
    calib_principal_sd_px: Num = Field(0.25, ge=0, le=50)  # each principal-point coordinate, stream pixels
    calib_rotation_sd_deg: Num = Field(0.1, ge=0, le=10)  # the camera's registration to the store map, per axis
    calib_translation_sd_m: Num = Field(0.002, ge=0, le=0.5)  # ... and its position, per axis
    calib_rgb_rotation_sd_deg: Num = Field(0.03, ge=0, le=10)  # the factory depth-to-colour extrinsic, per axis
    calib_rgb_translation_sd_m: Num = Field(0.0003, ge=0, le=0.1)  # ... and its translation, per axis
    # The errors belong to the store's installation (a camera is calibrated once when hung, not per episode): they
    # are drawn from this number, the store's name and the camera's id, the same in every episode of the store.
    # Another number is another installation (a recalibration).
    calib_seed: Int = Field(0, ge=0, le=2**31 - 1)
    # How each camera as hung and as built differs from the plan (`sim.cameras`, "Installation"): what the renderer
    # draws from. Our estimates: a bracket levelled by eye, a lens's unit-to-unit spread, the colour module's
    # assembly tolerance. Standard deviations, per axis or parameter.
    mount_rotation_sd_deg: Num = Field(0.5, ge=0, le=10)
    mount_position_sd_m: Num = Field(0.015, ge=0, le=0.5)
    lens_focal_sd_pct: Num = Field(1.0, ge=0, le=10)
    lens_principal_sd_px: Num = Field(2.0, ge=0, le=50)
    rgb_mount_rotation_sd_deg: Num = Field(0.2, ge=0, le=10)
    rgb_mount_translation_sd_m: Num = Field(0.0005, ge=0, le=0.1)

    @field_validator("rgb_offset_m")
    @classmethod
    def _offset(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if max(abs(c) for c in v) > 0.1:
            raise ValueError("the colour imager sits within 0.1 m of the depth origin on each axis (a D435's is 15 mm away)")
        return v

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not (16 <= v[0] <= 1920 and 12 <= v[1] <= 1080):
            raise ValueError("expected [width, height] from [16, 12] to [1920, 1080] pixels")
        return v

    @field_validator("rgb_resolution")
    @classmethod
    def _rgb_resolution(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not (16 <= v[0] <= 1920 and 9 <= v[1] <= 1080):
            raise ValueError("expected [width, height] from [16, 9] to [1920, 1080] pixels (the D435 RGB imager's)")
        if abs(v[0] / v[1] / (16 / 9) - 1) > 0.02:
            raise ValueError(f"expected a 16:9 size such as [320, 180] or [424, 240] (the D435's colour modes: its "
                             f"69 x 42 deg field is the whole 16:9 sensor), got {v[0]} x {v[1]}")
        return v

    @model_validator(mode="after")
    def _range(self) -> "CameraSettings":
        if self.depth_min_m >= self.depth_max_m:
            raise ValueError(f"depth_min_m {self.depth_min_m:g} must be below depth_max_m {self.depth_max_m:g}")
        if self.depth_edge_invalid + self.depth_edge_flying > 1:
            raise ValueError(f"depth_edge_invalid {self.depth_edge_invalid:g} and depth_edge_flying "
                             f"{self.depth_edge_flying:g} are shares of the edge pixels: together at most 1")
        return self


class LoadCellSettings(_Strict):
    """Defaults: AiFi-style shelf plate, 20 kg single-point cell on a 24-bit ADC, 60 Hz, batches of 12."""

    rate_hz: Num = Field(60.0, gt=0, le=1000)
    noise_g: Num = Field(1.0, ge=0, le=1000)
    resolution_g: Num = Field(1.0, ge=0, le=1000)
    drift_g_per_min: Num = Field(0.2, ge=0, le=1000)
    capacity_g: Num = Field(20000.0, gt=0, le=500_000)
    # A typical strain-gauge cell's datasheet, in % of rated output (`capacity_g`; REFERENCE.md "Shelf load
    # cells"): non-linearity 0.02 %, hysteresis 0.02 %, repeatability 0.03 %, creep 0.03 % in 30 min.
    nonlinearity_pct: Num = Field(0.02, ge=0, le=5)
    hysteresis_pct: Num = Field(0.02, ge=0, le=5)
    repeatability_pct: Num = Field(0.03, ge=0, le=5)
    creep_pct_30min: Num = Field(0.03, ge=0, le=5)
    # What the store around a plate adds (`sim.vibration`). Structural vibration of the gondola, read by a cell as
    # (plate + load) x a / g: RMS vertical acceleration, in thousandths of g, from one shopper walking at 1.3 m/s
    # 1 m from the gondola. 2 mg = 20 mm/s^2 RMS: the footfall response a retail floor may have, response factor
    # R = 4 (CCIP-016 / SCI P354 for shopping) times the ISO 10137 base curve of 5 mm/s^2 RMS (second-hand). Real
    # stores on stiff ground slabs see less, light upper floors more (AISC DG11's limit for shopping malls is
    # 1.5 % g peak, second-hand); accelerometers at a gondola's foot with shoppers passing would fit it.
    vibration_walk_mg: Num = Field(2.0, ge=0, le=1000)
    # e-folding distance of the footfall's material damping (beside sqrt(1/d) spreading, Bornitz's law): our
    # estimate for a concrete slab; the same accelerometers at a few distances from a walker would fit it.
    vibration_falloff_m: Num = Field(3.0, gt=0, le=100)
    # RMS acceleration per newton a shopper presses on the gondola (frame or plate: a lean): our estimate. A lean's
    # ~35 N gives 10 mg, five times a close walker, as the force of a leaning hand wavers by several newtons
    # (postural sway) on a frame of tens of kilograms; a force-plate hand on a loaded bay with an accelerometer
    # would fit it.
    vibration_contact_mg_per_n: Num = Field(0.3, ge=0, le=100)
    # The gondola's structural mode: floors that footfalls excite ring at 4-10 Hz (AISC DG11's low-frequency
    # floors are below 9 Hz) with 1-5 % damping (DG11, fitted-out floors; second-hand); 8 Hz and 3 % are our
    # pick in those ranges. A tap test on a stocked bay would fit both. A cell rate at or below twice the mode
    # (an HX711 at its usual 10 samples/s, REFERENCE.md) is valid: its ADC integrates over each sample, so the
    # cell reads the mode aliased and attenuated by |sinc(mode / rate)| (`sim.vibration`).
    vibration_mode_hz: Num = Field(8.0, gt=0, le=500)
    vibration_damping: Num = Field(0.03, gt=0, lt=1)
    # Cross-talk: this share of a plate's load shows on each neighbour on its shelf (the board bends under the
    # cells). Our estimate: 1 %, at the low end of the 1-5 % cross-talk of force sensors' off-axis channels
    # (Schrand, Sensor Developments, second-hand), plates being separate cells; loading one plate of a stocked
    # shelf with a 10 kg test weight and reading its neighbours would fit it.
    crosstalk_pct: Num = Field(1.0, ge=0, le=20)
    batch: Int = Field(12, ge=1, le=600)
    dead: tuple[str, ...] = ()  # cells dead from the opening
    outages: tuple[tuple[str, Num, Num], ...] = ()  # (cell, from_s, to_s): a cell reports nothing (NaN) meanwhile


class Sensors(_Strict):
    cameras: CameraSettings = CameraSettings()
    load_cells: LoadCellSettings = LoadCellSettings()


class LightingSpec(_Strict):
    """The store's ceiling lights (`sim.lighting`).

    Defaults: 600x1200 mm LED troffers on a 2.4 m grid under a 3.2 m ceiling, the usual layout for the
    300-500 lx a sales floor is lit to (EN 12464-1: 300 lx for sales areas; second-hand). `panel_sd`: spread of
    one panel's output (LED binning and ageing; our estimate, 10 %). `ambient_share`: light reaching every
    surface after bouncing off floor, walls and shelves (our estimate, 0.35 for a white-ceilinged shop).
    `shelf_shade_depth`: how deep, in clearances, the light from the front reaches into a covered shelf
    (exp fall-off; our estimate: at one clearance back, 1/e of the direct light).
    """

    panel_spacing_m: Num = Field(2.4, gt=0.5, le=20)
    height_m: Num = Field(3.2, gt=2.0, le=12)
    panel_sd: Num = Field(0.1, ge=0, le=1)
    ambient_share: Num = Field(0.35, gt=0, le=1)
    shelf_shade_depth: Num = Field(1.0, gt=0, le=100)


class StoreFile(_Strict):
    """The file as written; `StoreLayout` adds the derived geometry."""

    name: str = Field(min_length=1, max_length=200)
    floor_m: tuple[Num, Num]
    gates: tuple[Gate, ...] = Field(min_length=2)
    gondolas: tuple[Gondola, ...] = Field(min_length=1)
    catalog: tuple[CatalogItem, ...] = Field(min_length=1)
    planogram: dict[str, PlanogramEntry]
    cameras: Cameras = Cameras(grid=CameraGrid(spacing_m=2.5))
    sensors: Sensors = Sensors()
    lighting: LightingSpec = LightingSpec()
    description: str = ""

    @field_validator("floor_m")
    @classmethod
    def _floor(cls, v: tuple[float, float]) -> tuple[float, float]:
        if min(v) < 2 or max(v) > 200:
            raise ValueError("floor sides must be between 2 and 200 m")
        return v


@dataclass(frozen=True)
class Bin:
    """One shelf bin: a plate on its own load cell. Geometry in world metres."""

    id: str
    gondola: str
    shelf: int
    index: int
    center: tuple[float, float, float]  # centre of the plate's top surface
    width_m: float  # along the shelf
    depth_m: float  # from the front edge to the back panel
    clearance_m: float  # free height above the plate
    facing: tuple[float, float]  # outward normal of the shelf front
    right: tuple[float, float]  # direction bins advance (a facing shopper's right)

    @property
    def front(self) -> tuple[float, float]:
        """A floor point at the bin's front edge (where a shopper's hands enter)."""
        return (self.center[0] + self.facing[0] * self.depth_m / 2, self.center[1] + self.facing[1] * self.depth_m / 2)


@dataclass(frozen=True)
class StoreLayout:
    """A validated store: the file plus derived bins."""

    spec: StoreFile
    path: Path

    @property
    def name(self) -> str:
        return self.spec.name

    @cached_property
    def bins(self) -> dict[str, Bin]:
        return {b.id: b for g in self.spec.gondolas for b in gondola_bins(g)}

    @cached_property
    def catalog(self) -> dict[str, CatalogItem]:
        return {c.sku: c for c in self.spec.catalog}

    @property
    def item_count(self) -> int:
        return sum(e.count for e in self.spec.planogram.values())

    def lookalikes(self, sku: str) -> list[str]:
        """SKUs of the same shape, size and nominal weight as `sku`, in catalog order (the hard cases for a
        weight-only checkout)."""
        c = self.catalog[sku]
        return [o.sku for o in self.spec.catalog
                if o.sku != sku and o.shape == c.shape and o.size_mm == c.size_mm and abs(o.weight_g - c.weight_g) < 1e-6]

    def with_sensors(self, overrides: dict) -> "StoreLayout":
        """A copy with scenario sensor overrides merged key by key (pydantic-checked)."""
        merged = self.spec.sensors.model_dump()
        for group, values in overrides.items():
            merged.setdefault(group, {}).update(values)
        spec = self.spec.model_copy(update={"sensors": Sensors.model_validate(merged)})
        return StoreLayout(spec, self.path)


def shelf_clearance_m(g: Gondola) -> float:
    """Free height above each plate of a gondola: the shelf pitch less a plate and a centimetre of lip."""
    return (g.height_m - KICK_M) / g.shelves - PLATE_THICKNESS_M - 0.01


def gondola_bins(g: Gondola) -> list[Bin]:
    fx, fy = FACINGS[g.facing]
    rx, ry = _right_of(fx, fy)
    pitch = (g.height_m - KICK_M) / g.shelves
    bin_w = g.length_m / g.bins_per_shelf
    plate_depth = g.depth_m - BACK_PANEL_M
    # The plate's centre sits forward of the gondola centre by half the back panel.
    cx = g.at[0] + fx * BACK_PANEL_M / 2
    cy = g.at[1] + fy * BACK_PANEL_M / 2
    out = []
    for s in range(1, g.shelves + 1):
        z = KICK_M + (s - 1) * pitch + PLATE_THICKNESS_M
        for k in range(1, g.bins_per_shelf + 1):
            off = -g.length_m / 2 + (k - 0.5) * bin_w
            out.append(
                Bin(
                    id=f"{g.id}-{s}-{k}",
                    gondola=g.id,
                    shelf=s,
                    index=k,
                    center=(cx + rx * off, cy + ry * off, z),
                    width_m=bin_w,
                    depth_m=plate_depth,
                    clearance_m=shelf_clearance_m(g),
                    facing=(fx, fy),
                    right=(rx, ry),
                )
            )
    return out


def _right_of(fx: float, fy: float) -> tuple[float, float]:
    vx, vy = -fx, -fy  # the shopper's view direction
    return (vy, -vx)  # turned clockwise


def bin_capacity(b: Bin, item: CatalogItem) -> int:
    """Items standing upright side by side on the plate, best of the two orientations."""
    if item.size_mm[2] / 1000.0 > b.clearance_m:
        return 0
    w, d, _ = _footprint_on(b, item)
    return math.floor(b.width_m / w + 1e-9) * math.floor(b.depth_m / d + 1e-9)


def load_store(path: Path | str) -> StoreLayout:
    """Read, parse and check a layout file; raise `InputError` on the first problem."""
    path = Path(path)
    data, lines = load_yaml(path)
    return parse_store(data, lines)


def parse_store(data: object, lines: LineMap) -> StoreLayout:
    spec = validated(StoreFile, data, lines, "store keys (name, floor_m, gates, gondolas, catalog, planogram)")
    layout = StoreLayout(spec, lines.path)
    check_store(layout, lines)
    return layout


_Model = TypeVar("_Model", bound=BaseModel)


def validated(model: type[_Model], data: object, lines: LineMap, keys: str) -> _Model:
    """`data` (a YAML document) as `model`, or the one-line `InputError` of its first problem; `keys` names what a
    mapping of this kind holds, for a document that is no mapping at all ("name, store, shoppers or crowd, ...")."""
    if not isinstance(data, dict):
        raise lines.error((), f"expected a mapping of {keys}")
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise pydantic_error(exc, lines, model) from None


def pydantic_error(exc: pydantic.ValidationError, lines: LineMap, model: type[BaseModel] | None = None) -> InputError:
    """One pydantic error as a one-line `InputError` with file, line and key.

    An unknown key is reported first, at its own line, with the key it most likely meant (a required
    key missing beside it, or a close spelling among `model`'s keys at that place): `gondola:` for
    `gondolas:` says so, rather than only "missing key 'gondolas'" at the top of the file.
    """
    errors = [{**e, "loc": tuple(p for p in e["loc"] if not (isinstance(p, str) and p in _PYDANTIC_UNION_TAGS))}
              for e in exc.errors()]
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    err = unknown[0] if unknown else errors[0]
    loc, kind = err["loc"], err["type"]
    if kind == "extra_forbidden":
        missing = [str(e["loc"][-1]) for e in errors if e["type"] == "missing" and e["loc"][:-1] == loc[:-1]]
        known = missing or (_keys_at(model, loc[:-1]) if model is not None else [])
        guess = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        msg = f"unknown key '{loc[-1]}'" + (f" (did you mean '{guess[0]}'?)" if guess else "")
    elif kind == "missing":
        msg = f"missing key '{loc[-1]}'"
    else:
        got = err.get("input")
        shown = repr(got) if not isinstance(got, (dict, list)) or len(repr(got)) <= 60 else type(got).__name__
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        msg = f"{err['msg'].removeprefix('Value error, ')} (got {shown})"
    return lines.error(loc, msg)


def _keys_at(model: object, loc: tuple) -> list[str]:
    """The keys a mapping at `loc` inside `model` may have (models through tuples, dicts and optionals)."""
    t = model
    for part in loc:
        t = _model_or_container(t)
        if isinstance(t, type) and issubclass(t, BaseModel):
            field = t.model_fields.get(str(part))
            if field is None:
                return []
            t = field.annotation
        elif typing.get_origin(t) in (tuple, list, dict):
            t = typing.get_args(t)[-1 if typing.get_origin(t) is dict else 0]
        else:
            return []
    t = _model_or_container(t)
    return list(t.model_fields) if isinstance(t, type) and issubclass(t, BaseModel) else []


def _model_or_container(t: object) -> object:
    """`X | None` -> X (the first model or container among a union's members)."""
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        for arg in typing.get_args(t):
            if (isinstance(arg, type) and issubclass(arg, BaseModel)) or typing.get_origin(arg) in (tuple, list, dict):
                return arg
    return t


_PYDANTIC_UNION_TAGS = {"function-after[_one_form(), Cameras]"}


def check_store(layout: StoreLayout, lines: LineMap) -> None:
    """The checks a schema cannot express: references, geometry, capacity."""
    spec = layout.spec
    _unique(lines, "gates", [g.id for g in spec.gates])
    _unique(lines, "gondolas", [g.id for g in spec.gondolas])
    _unique(lines, "catalog", [c.sku for c in spec.catalog], field="sku")
    kinds = {g.kind for g in spec.gates}
    if kinds != {"entry", "exit"}:
        missing = ({"entry", "exit"} - kinds).pop()
        raise lines.error(("gates",), f"a store needs at least one {missing} gate")
    width, depth = spec.floor_m
    floor = box(0, 0, width, depth)
    for i, g in enumerate(spec.gates):
        _check_gate(g, width, depth, lines, ("gates", i, "at"))
    _check_gates_apart(spec.gates, depth, lines)
    footprints = []
    for i, g in enumerate(spec.gondolas):
        fp = g.footprint()
        if not floor.contains(fp):
            raise lines.error(("gondolas", i, "at"), f"gondola {g.id} reaches outside the {width} x {depth} m floor")
        if (clear := shelf_clearance_m(g)) < MIN_SHELF_CLEARANCE_M:
            most = max(1, int((g.height_m - KICK_M) / (MIN_SHELF_CLEARANCE_M + PLATE_THICKNESS_M + 0.01)))
            raise lines.error(("gondolas", i, "shelves"),
                              f"{g.shelves} shelves in {g.height_m:g} m leave {max(0.0, clear):.2f} m between plates; "
                              f"a hand needs at least {MIN_SHELF_CLEARANCE_M} m (at most {most} shelves)")
        fx, fy = FACINGS[g.facing]
        front = fp.bounds
        reach = {(1.0, 0.0): width - front[2], (-1.0, 0.0): front[0], (0.0, 1.0): depth - front[3], (0.0, -1.0): front[1]}[(fx, fy)]
        if reach < WALL_CLEARANCE_M:
            raise lines.error(("gondolas", i, "facing"), f"gondola {g.id} faces a wall {reach:.2f} m away; shoppers need {WALL_CLEARANCE_M} m")
        for j, (other_id, other) in enumerate(footprints):
            if fp.intersection(other).area > 1e-6:
                raise lines.error(("gondolas", i, "at"), f"gondola {g.id} overlaps gondola {other_id}")
        footprints.append((g.id, fp))
    _check_cameras(spec, lines)
    check_rates(spec.sensors, lines)
    check_faults(layout, lines)
    bins = layout.bins
    catalog = layout.catalog
    for bin_id, entry in spec.planogram.items():
        loc = ("planogram", bin_id)
        if bin_id not in bins:
            raise lines.error(loc, f"no such bin '{bin_id}' (bins are GONDOLA-SHELF-BIN, e.g. {next(iter(bins))})")
        if entry.sku not in catalog:
            raise lines.error(loc + ("sku",), f"SKU '{entry.sku}' is not in the catalog")
        cap = bin_capacity(bins[bin_id], catalog[entry.sku])
        if entry.count > cap:
            b, item = bins[bin_id], catalog[entry.sku]
            why = (
                f"a {item.size_mm[2]:.0f} mm tall item does not fit under the {b.clearance_m * 1000:.0f} mm clearance"
                if cap == 0
                else f"the {b.width_m * 1000:.0f} x {b.depth_m * 1000:.0f} mm plate holds at most {cap} of {entry.sku}"
            )
            raise lines.error(loc + ("count",), f"{entry.count} items do not fit: {why}")


PHYSICS_HZ = 120  # the physics step (sim.clock); every sensor period must be a whole number of steps


def check_rates(sensors: Sensors, lines: LineMap, root: tuple = ("sensors",)) -> None:
    for group, key, hz in (("load_cells", "rate_hz", sensors.load_cells.rate_hz), ("cameras", "fps", sensors.cameras.fps)):
        ticks = PHYSICS_HZ / hz
        if abs(ticks - round(ticks)) > 1e-9:
            raise lines.error(
                root + (group, key),
                f"{hz:g} Hz does not divide the {PHYSICS_HZ} Hz physics step (try one of 120, 60, 40, 30, 24, 20, 15, 12, 10, 8, 6, 5)",
            )


def check_faults(layout: "StoreLayout", lines: LineMap, root: tuple = ("sensors",)) -> None:
    """Faults must name real load cells (bin ids) and come in time order."""
    cells = layout.spec.sensors.load_cells
    for i, cell in enumerate(cells.dead):
        if cell not in layout.bins:
            raise lines.error(root + ("load_cells", "dead", i), f"no load cell '{cell}' (cells are bin ids, e.g. {next(iter(layout.bins))})")
    for i, (cell, start_s, end_s) in enumerate(cells.outages):
        if cell not in layout.bins:
            raise lines.error(root + ("load_cells", "outages", i), f"no load cell '{cell}' (cells are bin ids, e.g. {next(iter(layout.bins))})")
        if not 0 <= start_s < end_s:
            raise lines.error(root + ("load_cells", "outages", i), f"expected [cell, from_s, to_s] with 0 <= from_s < to_s, got [{start_s}, {end_s}]")
    cameras = camera_ids(layout.spec)
    for i, (cam, start_s, end_s) in enumerate(layout.spec.sensors.cameras.outages):
        if cam not in cameras:
            raise lines.error(root + ("cameras", "outages", i), f"no camera '{cam}' (this store's cameras: {_some(cameras)})")
        if not 0 <= start_s < end_s:
            raise lines.error(root + ("cameras", "outages", i), f"expected [camera, from_s, to_s] with 0 <= from_s < to_s, got [{start_s}, {end_s}]")


def grid_shape(floor_m: tuple[float, float], spacing_m: float) -> tuple[int, int]:
    """Cameras along x and along y of a camera grid: one per cell of about `spacing_m`."""
    return max(1, round(floor_m[0] / spacing_m)), max(1, round(floor_m[1] / spacing_m))


def camera_ids(spec: "StoreFile") -> list[str]:
    """The store's camera ids in mount order (grid cameras are cam-1, cam-2, ... south-west first)."""
    if spec.cameras.list is not None:
        return [c.id for c in spec.cameras.list]
    assert spec.cameras.grid is not None, "cameras: neither grid nor list"
    nx, ny = grid_shape(spec.floor_m, spec.cameras.grid.spacing_m)
    return [f"cam-{k + 1}" for k in range(nx * ny)]


def _some(ids: list[str]) -> str:
    return ", ".join(ids[:4]) + (", ..." if len(ids) > 4 else "")


def _check_cameras(spec: "StoreFile", lines: LineMap) -> None:
    """Cameras hang inside the store, above head height, under a ceiling, and look somewhere."""
    width, depth = spec.floor_m
    if spec.cameras.grid is not None:
        n = len(camera_ids(spec))
        if n > MAX_CAMERAS:
            spacing = spec.cameras.grid.spacing_m
            while math.prod(grid_shape(spec.floor_m, spacing)) > MAX_CAMERAS:
                spacing = round(spacing + 0.1, 1)
            given = "cameras" in spec.model_fields_set
            raise lines.error(("cameras", "grid", "spacing_m") if given else (),
                              f"{'the' if given else 'the default'} camera grid puts {n} cameras on the {width:g} x {depth:g} m "
                              f"floor, at most {MAX_CAMERAS}: set cameras.grid.spacing_m to {spacing:g} m or more")
        return
    assert spec.cameras.list is not None
    _unique(lines, ("cameras", "list"), [c.id for c in spec.cameras.list])
    for i, c in enumerate(spec.cameras.list):
        x, y, z = c.at
        if not (0 <= x <= width and 0 <= y <= depth):
            raise lines.error(("cameras", "list", i, "at"), f"camera {c.id} at {list(c.at)} hangs outside the {width:g} x {depth:g} m floor")
        if not 1.5 < z <= 10:
            raise lines.error(("cameras", "list", i, "at"), f"camera {c.id} hangs {z:g} m up; ceiling cameras hang above 1.5 m and at most 10 m")
        if math.dist(c.at, c.look_at) < 0.1:
            raise lines.error(("cameras", "list", i, "look_at"), f"camera {c.id} looks at a point {math.dist(c.at, c.look_at):.2f} m from itself; it needs a direction")


def _unique(lines: LineMap, group: str | tuple, ids: list[str], field: str = "id") -> None:
    seen: set[str] = set()
    root = group if isinstance(group, tuple) else (group,)
    for i, ident in enumerate(ids):
        if ident in seen:
            raise lines.error(root + (i, field), f"duplicate {field} '{ident}'")
        seen.add(ident)


def _check_gates_apart(gates: tuple[Gate, ...], depth: float, lines: LineMap) -> None:
    """Two gates on one wall may not share any of its length (each is a turnstile of its own)."""
    for i, g in enumerate(gates):
        for j in range(i):
            h = gates[j]
            (axis_g, wall_g), (axis_h, wall_h) = _wall_of(g, depth), _wall_of(h, depth)
            if (axis_g, wall_g) == (axis_h, wall_h) and abs(g.at[axis_g] - h.at[axis_h]) < (g.width_m + h.width_m) / 2:
                raise lines.error(("gates", i, "at"), f"gate {g.id}'s opening overlaps gate {h.id}'s on the same wall")


def _wall_of(g: Gate, depth: float) -> tuple[int, float]:
    """(the axis its wall runs along: 0 = x for the south and north walls, 1 = y; the wall's fixed coordinate)."""
    x, y = g.at
    if abs(y) < 1e-6 or abs(y - depth) < 1e-6:
        return 0, round(y, 6)
    return 1, round(x, 6)


def _check_gate(g: Gate, width: float, depth: float, lines: LineMap, loc: tuple) -> None:
    x, y = g.at
    tol = 1e-6
    half = g.width_m / 2
    if abs(y) < tol or abs(y - depth) < tol:
        ok = half <= x <= width - half
    elif abs(x) < tol or abs(x - width) < tol:
        ok = half <= y <= depth - half
    else:
        raise lines.error(loc, f"gate {g.id} at {list(g.at)} is not on a wall of the {width} x {depth} m floor")
    if not ok:
        raise lines.error(loc, f"gate {g.id}'s {g.width_m} m opening runs past the end of its wall")


def item_positions(b: Bin, item: CatalogItem, count: int) -> np.ndarray:
    """Where `count` items stand on a plate: rows from the front, left to right. Shape (count, 3)."""
    w, d, rotated = _footprint_on(b, item)
    h = item.size_mm[2] / 1000.0
    per_row = max(1, math.floor(b.width_m / w + 1e-9))
    gap_w = (b.width_m - per_row * w) / per_row
    out = np.zeros((count, 3))
    fx, fy = b.facing
    rx, ry = b.right
    for n in range(count):
        row, col = divmod(n, per_row)
        off_r = -b.width_m / 2 + (col + 0.5) * (w + gap_w)
        off_f = b.depth_m / 2 - (row + 0.5) * d
        out[n] = (b.center[0] + rx * off_r + fx * off_f, b.center[1] + ry * off_r + fy * off_f, b.center[2] + h / 2)
    return out


def item_yaw(b: Bin, item: CatalogItem) -> float:
    """Yaw that turns an item's width along the shelf (a quarter turn when that fits more)."""
    _, _, rotated = _footprint_on(b, item)
    return math.atan2(b.right[1], b.right[0]) + (math.pi / 2 if rotated else 0.0)


def _footprint_on(b: Bin, item: CatalogItem) -> tuple[float, float, bool]:
    """(along-shelf, depth, rotated): the space an upright item takes, gap included, in the orientation that fits more."""
    w, d = item.size_mm[0] / 1000.0 + ITEM_GAP_M, item.size_mm[1] / 1000.0 + ITEM_GAP_M
    along = math.floor(b.width_m / w + 1e-9) * math.floor(b.depth_m / d + 1e-9)
    across = math.floor(b.width_m / d + 1e-9) * math.floor(b.depth_m / w + 1e-9)
    return (d, w, True) if across > along else (w, d, False)
