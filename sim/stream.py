"""The sensor stream: the only thing the checkout stack ever sees (DESIGN.md section 5).

Frozen message types, in the order a stream carries them: `StoreInfo` first
(layout, catalog, planogram at opening, calibrations, rates — nothing else of
the world), then `CameraFrame`s, `LoadCellBatch`es, `GateScan`s and
`GatePassage`s as sensors produce them. Ground truth never travels here; it
lives in `sim.ledger` on its own channel.

This module depends on numpy and the standard library only, so `checkout/`
may import it and nothing else of `sim/`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import Iterable, Iterator, Union

import numpy as np


@dataclass(frozen=True)
class GateInfo:
    id: str
    kind: str  # "entry" | "exit"
    at: tuple[float, float]
    width_m: float


@dataclass(frozen=True)
class GondolaInfo:
    id: str
    at: tuple[float, float]
    facing: str
    length_m: float
    depth_m: float
    height_m: float
    shelves: int
    bins_per_shelf: int


@dataclass(frozen=True)
class BinInfo:
    """A bin as the store's floor plan gives it; `id` is also its load cell's id."""

    id: str
    gondola: str
    shelf: int
    index: int
    center: tuple[float, float, float]  # top of the plate, world metres
    width_m: float
    depth_m: float
    clearance_m: float
    facing: tuple[float, float]
    right: tuple[float, float]


@dataclass(frozen=True)
class ProductInfo:
    sku: str
    name: str
    price: float
    weight_g: float
    weight_sd_g: float
    shape: str
    size_mm: tuple[float, float, float]
    # What the operator's product photos show (`sim.appearance`): up to four colours (r, g, b in sRGB 0-255) with
    # the share of the product's pixels each stands for, from studio shots under other light than the store's.
    # Never the colour the renderer draws: a stack matches store pixels against photos, as a real one must.
    reference: tuple[tuple[float, float, float, float], ...]


@dataclass(frozen=True)
class CameraCalibration:
    """OpenCV convention: x_cam = R @ x_world + t; camera x right, y down, z forward; depth in metres.

    (u, v) = K @ x_cam / z is the (column, row) of a pixel's centre, row 0 at the top; `dist` is zero
    (the modelled D435 depth stream is rectified, and its colour stream's distortion model is not modelled).
    Built by `sim.cameras.calibrate`. It is a calibration: it differs from the true mount by the error a real
    calibration leaves (`sim.cameras`, "Calibration error").
    """

    camera_id: str
    width: int
    height: int
    K: tuple[float, ...]  # 3x3 row-major
    dist: tuple[float, ...]  # k1 k2 p1 p2 k3
    R: tuple[float, ...]  # 3x3 row-major, world -> camera
    t: tuple[float, ...]  # 3
    fps: float

    def K_matrix(self) -> np.ndarray:
        return np.array(self.K, dtype=float).reshape(3, 3)

    def R_matrix(self) -> np.ndarray:
        return np.array(self.R, dtype=float).reshape(3, 3)

    def project(self, points_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (N, 3) -> pixel coordinates (N, 2) and camera-z depth (N,)."""
        pc = np.asarray(points_w, dtype=float) @ self.R_matrix().T + np.array(self.t)
        uvw = pc @ self.K_matrix().T
        return uvw[:, :2] / uvw[:, 2:3], pc[:, 2]


@dataclass(frozen=True)
class StoreInfo:
    t_s: float
    store: str
    floor_m: tuple[float, float]
    gates: tuple[GateInfo, ...]
    gondolas: tuple[GondolaInfo, ...]
    bins: tuple[BinInfo, ...]
    catalog: tuple[ProductInfo, ...]
    planogram: tuple[tuple[str, str, int], ...]  # (bin, sku, count) at opening
    cameras: tuple[CameraCalibration, ...]  # each ceiling camera's depth imager: `CameraFrame.depth`'s pixels
    load_cell_rate_hz: float
    load_cell_batch: int
    # Each camera's colour imager (`CameraFrame.rgb`'s pixels), same camera ids in the same order: a sensor of its
    # own beside the depth origin, so colour meets depth only through the two calibrations. Empty, or a camera not
    # listed: its colour is registered to its depth pixel for pixel (the same size and pixels).
    rgb_cameras: tuple[CameraCalibration, ...] = ()

    def rgb_calibration(self, camera_id: str) -> CameraCalibration | None:
        """The colour imager's calibration of a camera; None when its colour is registered to its depth."""
        return next((c for c in self.rgb_cameras if c.camera_id == camera_id), None)


@dataclass(frozen=True)
class LoadCellBatch:
    """`grams[i, j]`: sample i of cell `cell_ids[j]`, taken at t_s + i / rate_hz. NaN: no reading (dead cell)."""

    t_s: float
    rate_hz: float
    cell_ids: tuple[str, ...]
    grams: np.ndarray

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LoadCellBatch) and message_bytes(self) == message_bytes(other)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class CameraFrame:
    """One RGB-D frame: rgb (h, w, 3) uint8, depth (H, W) float32 metres along the optical axis, 0 = invalid.

    `t_s` is the device's timestamp (capture time plus jitter, whole microseconds), not the render tick. The
    colour comes from the camera's own colour imager (`StoreInfo.rgb_cameras`: its size and pixels), the depth
    from its depth imager (`StoreInfo.cameras`).
    """

    t_s: float
    camera_id: str
    rgb: np.ndarray
    depth: np.ndarray
    rgb_jpeg: bytes | None = None  # the colour as the camera sent it (JPEG); `rgb` is its decoding. None: raw

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CameraFrame) and message_bytes(self) == message_bytes(other)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class GateScan:
    """An entry gate read an account: every member of its group walks through on this scan."""

    t_s: float
    gate: str
    account: str


@dataclass(frozen=True)
class GatePassage:
    """Someone walked out through an exit gate. No identity."""

    t_s: float
    gate: str


Message = Union[StoreInfo, CameraFrame, LoadCellBatch, GateScan, GatePassage]
MESSAGE_TYPES: dict[str, type] = {
    cls.__name__: cls for cls in (StoreInfo, CameraFrame, LoadCellBatch, GateScan, GatePassage)
}


def message_bytes(msg: object) -> bytes:
    """A canonical byte encoding of a message: equal messages give equal bytes."""
    parts: list[bytes] = [type(msg).__name__.encode()]
    for f in fields(msg):  # type: ignore[arg-type]
        value = getattr(msg, f.name)
        if isinstance(value, np.ndarray):
            arr = np.ascontiguousarray(value)
            parts.append(f"{f.name}:{arr.dtype.str}:{arr.shape}".encode())
            parts.append(arr.tobytes())
        elif isinstance(value, bytes):
            parts.append(f"{f.name}:bytes:{len(value)}".encode())
            parts.append(value)
        else:
            parts.append(f"{f.name}:".encode() + json.dumps(_plain(value), sort_keys=True).encode())
    return b"\x00".join(parts)


class StreamDigest:
    """SHA-256 over a stream, taken as it flows past (`through`), so a long stream need not be held."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def update(self, msg: object) -> None:
        b = message_bytes(msg)
        self._h.update(len(b).to_bytes(8, "little"))
        self._h.update(b)

    def through(self, messages: Iterable[object]) -> Iterator[object]:
        for m in messages:
            self.update(m)
            yield m

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def stream_digest(messages: Iterable[object]) -> str:
    """SHA-256 over a whole stream, for determinism checks."""
    d = StreamDigest()
    for m in messages:
        d.update(m)
    return d.hexdigest()


def _plain(value: object) -> object:
    if is_dataclass(value):
        return asdict(value)  # type: ignore[arg-type]
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
