"""`run_sim.py export`: a scenario's camera frames as a labelled dataset in COCO format (issue 22).

Perception teams train detectors on labelled frames; the twin has the labels for free. A scenario runs as `record`
runs it (same seed, same stream: labelling only reads the world between physics steps), and every `every`-th
camera sample of each chosen camera is written out:

    DIR/annotations.json        COCO: images, annotations, categories, plus `cameras` (true and published
                                calibrations) and `info` (scenario, seed, conventions)
    DIR/rgb/CAM/NNNNNN.jpg      the colour frame as the camera sent it (JPEG; PNG if the stream carries raw colour)
    DIR/depth/CAM/NNNNNN.png    its depth frame, millimetres in 16-bit PNG (0 = no reading; `.npy` metres if the
                                frame is off the device's millimetre grid), from the depth imager:
                                another pinhole and size than the colour (see `cameras`), not registered to it

Categories: `person` (the shopper's body, clothes and hair; keypoints: head, shoulders, elbows, wrists and grip
points, `agents.body.KEYPOINTS`), `basket` and `bag` (what the shopper carries items in), and one category per SKU
(supercategory `product`). Annotations carry `track_id` (a shopper's id or an item's), and products their `sku`, so
the set serves tracking as well as detection. Masks come from the renderer's segmentation of the physics world
through the colour imager's true pose (`sim.labels`); the frame's pixels are the device's (noise, light, JPEG).
Nothing of this reaches the checkout stack: no stack runs here, and the stream is not changed.

A run stopped part-way (an error, Ctrl-C) still writes `annotations.json` for the frames already on disk.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from agents.body import BASKET, KEYPOINTS, SKELETON
from scoring.episode import TRACK_SAMPLE_HZ, EpisodeProgress
from sim.codec import encode_png16
from sim.errors import InputError, Where
from sim.labels import Category, Instance, annotate
from sim.recording import depth_millimetres
from sim.stream import CameraCalibration, CameraFrame

PERSON, BASKET_CATEGORY, BAG_CATEGORY = 1, 2, 3
FIRST_SKU_CATEGORY = 10


@dataclass(frozen=True)
class ExportSummary:
    out: Path
    scenario: str
    seed: int
    images: int
    annotations: int
    per_category: dict[str, int]
    sim_seconds: float
    wall_seconds: float


def categories(skus: Sequence[str]) -> list[Category]:
    """The dataset's categories: people, what they carry, then one per SKU in catalog order."""
    fixed = [
        Category(PERSON, "person", "person", KEYPOINTS, SKELETON),
        Category(BASKET_CATEGORY, "basket", "carrier"),
        Category(BAG_CATEGORY, "bag", "carrier"),
    ]
    return fixed + [Category(FIRST_SKU_CATEGORY + k, sku, "product") for k, sku in enumerate(skus)]


def scene_instances(sim, sku_category: dict[str, int]) -> list[Instance]:
    """Everything labelled in the world right now: each shopper inside (carrier first: its link is the body's too)
    and every item (on a shelf, in a hand or a basket, on the floor)."""
    out: list[Instance] = []
    commons = getattr(sim, "shoppers", None)
    for sid, shopper in sorted((commons.shoppers if commons is not None else {}).items()):
        body = shopper.body
        if body is None or not shopper.spawned or shopper.done:
            continue
        carrier = BASKET_CATEGORY if body.build.carrier == "basket" else BAG_CATEGORY
        out.append(Instance(carrier, body.body, frozenset({BASKET}),
                            attributes={"track_id": f"{sid}/{body.build.carrier}", "shopper": sid}))
        out.append(Instance(PERSON, body.body, None, keypoints_w=body.keypoints_world(),
                            attributes={"track_id": sid, "shopper": sid, "account": shopper.account}))
    for item in sim.world.items.values():
        out.append(Instance(sku_category[item.sku], item.body, None,
                            attributes={"track_id": f"item-{item.item_id}", "sku": item.sku}))
    return out


class CocoWriter:
    """Frames and their annotations into a COCO folder; `close()` writes `annotations.json` (whatever was done)."""

    def __init__(self, out: Path, cats: list[Category], info: dict, cameras: list[dict]) -> None:
        self.out = out
        self.cats = cats
        self.info = info
        self.cameras = cameras
        self.images: list[dict] = []
        self.annotations: list[dict] = []
        self._per_camera: dict[str, int] = {}

    def add(self, frame: CameraFrame, cam, seg, instances: Sequence[Instance]) -> None:
        n = self._per_camera.get(frame.camera_id, 0)
        self._per_camera[frame.camera_id] = n + 1
        image_id = len(self.images) + 1
        ext = "jpg" if frame.rgb_jpeg is not None else "png"
        rgb_name = f"rgb/{frame.camera_id}/{n:06d}.{ext}"
        depth_mm = depth_millimetres(frame.depth)  # the device's millimetre grid, as recordings carry it
        depth_name = f"depth/{frame.camera_id}/{n:06d}.{'png' if depth_mm is not None else 'npy'}"
        for name in (rgb_name, depth_name):
            (self.out / name).parent.mkdir(parents=True, exist_ok=True)
        (self.out / rgb_name).write_bytes(frame.rgb_jpeg if frame.rgb_jpeg is not None else _png(frame.rgb))
        if depth_mm is not None:
            (self.out / depth_name).write_bytes(encode_png16(depth_mm))
        else:  # off the grid (a depth unit the device model was not set to): metres as they came, never rounded
            np.save(self.out / depth_name, frame.depth)
        h, w = frame.rgb.shape[:2]
        self.images.append({
            "id": image_id, "file_name": rgb_name, "width": int(w), "height": int(h), "camera_id": frame.camera_id,
            "t_s": frame.t_s, "depth_file": depth_name, "depth_width": int(frame.depth.shape[1]),
            "depth_height": int(frame.depth.shape[0]),
        })
        self.annotations += annotate(cam, seg, instances, image_id, len(self.annotations) + 1)

    def close(self) -> Path:
        path = self.out / "annotations.json"
        doc = {"info": self.info, "images": self.images, "annotations": self.annotations,
               "categories": [c.as_coco() for c in self.cats], "cameras": self.cameras, "licenses": []}
        tmp = path.with_suffix(".json.part")
        tmp.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
        tmp.replace(path)
        return path


def export_scenario(target: str | Path, out: str | Path, *, seed: int | None = None, seconds: float | None = None,
                    every: int = 5, cameras: Sequence[str] | None = None,
                    progress: Callable[[EpisodeProgress], None] | None = None) -> ExportSummary:
    """Run `target` (a scenario, or a store alone) and write every `every`-th frame of `cameras` (all by default)."""
    from scoring.replay import build_target

    out = Path(out)
    if (out / "annotations.json").exists():
        raise InputError(Where(out), "holds an export already; name a new folder (nothing was written)")
    if every < 1:
        raise InputError(Where(out, key="every"), f"expected a whole number of samples of at least 1, got {every}")
    t0 = time.perf_counter()
    sim, duration_s, name, seed = build_target(Path(target), seed, seconds)
    try:
        rig = sim.cameras
        if rig is None:
            raise InputError(Where(Path(target)), "has no cameras to export frames from")
        chosen = tuple(rig.ids) if not cameras else tuple(cameras)
        unknown = [c for c in chosen if c not in rig.ids]
        if unknown:
            raise InputError(Where(Path(target), key="cameras"),
                             f"no camera {', '.join(repr(c) for c in unknown)} (cameras are {', '.join(rig.ids)})")
        skus = [c.sku for c in sim.layout.spec.catalog]
        cats = categories(skus)
        sku_category = {sku: FIRST_SKU_CATEGORY + k for k, sku in enumerate(skus)}
        info = {
            "description": f"store twin labelled frames: {name}, seed {seed}", "scenario": name, "seed": seed,
            "store": sim.layout.name, "every_nth_sample": every,
            "pixel_convention": "OpenCV: the centre of the top-left pixel is (0, 0); boxes [x, y, w, h]",
            "keypoint_visibility": "2 seen, 1 in the picture but hidden, 0 outside it (u = v = 0)",
            "depth": "millimetres, 16-bit PNG, 0 = no reading; the depth imager's own pinhole (see cameras)",
        }
        cams = [_calibration(c, "depth", "true") for c in rig.true_calibrations] + \
               [_calibration(c, "rgb", "true") for c in rig.true_rgb_calibrations] + \
               [_calibration(c, "depth", "published") for c in rig.calibrations] + \
               [_calibration(c, "rgb", "published") for c in rig.rgb_calibrations]
        out.mkdir(parents=True, exist_ok=True)
        writer = CocoWriter(out, cats, info, cams)
        n_ids = len(rig.ids)
        sample = -1
        last_t = None
        report_every = max(1, int(round(1.0 / (TRACK_SAMPLE_HZ * sim.clock.dt_s))))
        try:
            for msg in sim.run(duration_s):
                if progress is not None and sim.clock.tick % report_every == 0:
                    progress(EpisodeProgress(sim.t_s, duration_s, len(sim.ledger.inside)))
                if not isinstance(msg, CameraFrame):
                    continue
                if sim.clock.tick != last_t:  # the first frame of a camera sample (all cameras share one tick)
                    last_t = sim.clock.tick
                    sample += 1
                    instances = None
                if sample % every or msg.camera_id not in chosen:
                    continue
                if instances is None:
                    instances = scene_instances(sim, sku_category)
                index = rig.ids.index(msg.camera_id)
                rgb_index = n_ids + index  # the renderer's colour imagers follow the depth ones
                seg = rig.renderer.segment_full(rgb_index)
                writer.add(msg, rig.renderer.cameras[rgb_index], seg, instances)
        finally:
            writer.close()
        sim_s = sim.t_s
    finally:
        sim.close()
    per_category: dict[str, int] = {}
    names = {c.id: c.name for c in cats}
    for a in writer.annotations:
        key = names[a["category_id"]] if a["category_id"] < FIRST_SKU_CATEGORY else "product"
        per_category[key] = per_category.get(key, 0) + 1
    return ExportSummary(out, name, seed, len(writer.images), len(writer.annotations), per_category, sim_s,
                         time.perf_counter() - t0)


def _calibration(c: CameraCalibration, imager: str, which: str) -> dict:
    return {"camera_id": c.camera_id, "imager": imager, "calibration": which, "width": c.width, "height": c.height,
            "K": list(c.K), "dist": list(c.dist), "R": list(c.R), "t": list(c.t)}


def _png(rgb) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()
