"""Labelled camera frames for training detectors (issue 22): COCO annotations from the renderer's segmentation.

Truth side only: nothing here reaches the stream or the checkout stack. A frame is labelled from pybullet's own
segmentation buffer (`sim.render.render_segmentation`) rendered from the physics world through the
camera's *true* colour imager (the pinhole its pixels were drawn from, not the published calibration), at the
moment the frame was drawn. Each pixel names a body and a link; the caller says which (body, link) belongs to
which instance (`Instance`: a shopper, an item), and this module turns the buffer into one COCO annotation per
instance in view: a run-length-encoded mask (pycocotools' RLE), its box and area, and keypoints projected
through the same pinhole with COCO's visibility flags (2 seen, 1 in the picture but hidden, 0 outside it).

Conventions (written into the dataset's `info` too): pixel coordinates are OpenCV's (the centre of the top-left
pixel is (0, 0)), which is what COCO's tools assume of keypoints; a box is [x, y, w, h] around the mask's pixels.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
from pycocotools import mask as coco_mask

from sim.render import Pinhole

BODY_BITS = 24  # pybullet packs a pixel as body + ((link + 1) << 24); -1 where nothing is drawn
VISIBLE_RADIUS_PX = 1  # a keypoint is seen when its instance covers a pixel this close to it (rasterisation's slack)


def split(seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(body, link) per pixel of a segmentation buffer: body -1 where nothing is drawn, link -1 for a base."""
    seg = seg.astype(np.int64)
    drawn = seg >= 0
    body = np.where(drawn, seg & ((1 << BODY_BITS) - 1), -1)
    link = np.where(drawn, (seg >> BODY_BITS) - 1, -1)
    return body, link


@dataclass(frozen=True)
class Category:
    id: int
    name: str
    supercategory: str
    keypoints: tuple[str, ...] = ()
    skeleton: tuple[tuple[int, int], ...] = ()  # 1-based pairs of `keypoints`, as COCO writes them

    def as_coco(self) -> dict:
        d: dict = {"id": self.id, "name": self.name, "supercategory": self.supercategory}
        if self.keypoints:
            d["keypoints"] = list(self.keypoints)
            d["skeleton"] = [list(p) for p in self.skeleton]
        return d


@dataclass(frozen=True)
class Instance:
    """One thing to label: which (body, link) pixels are its own (`links` None: every link of `body`)."""

    category: int
    body: int
    links: frozenset[int] | None = None
    keypoints_w: np.ndarray | None = field(default=None, compare=False)  # (K, 3) world points, the category's order
    attributes: Mapping[str, object] = field(default_factory=dict, compare=False)  # extra annotation fields


def instance_map(seg: np.ndarray, instances: Sequence[Instance]) -> np.ndarray:
    """(H, W) int32: 1 + the index in `instances` of the instance each pixel shows, 0 for none of them."""
    values, inverse = np.unique(seg, return_inverse=True)
    bodies, links = split(values)
    owner = np.zeros(len(values), dtype=np.int32)
    by_body: dict[int, list[tuple[int, Instance]]] = {}
    for k, inst in enumerate(instances):
        by_body.setdefault(inst.body, []).append((k, inst))
    for j, (b, link) in enumerate(zip(bodies.tolist(), links.tolist())):
        for k, inst in by_body.get(b, ()):
            if inst.links is None or link in inst.links:
                owner[j] = k + 1
                break
    return owner[inverse.reshape(seg.shape)]


def project(cam: Pinhole, points_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel (u, v) per world point through `cam` (OpenCV convention) and whether it lies in front of the camera."""
    R = np.array(cam.R, dtype=float).reshape(3, 3)
    p = np.asarray(points_w, dtype=float) @ R.T + np.array(cam.t, dtype=float)
    front = p[:, 2] > cam.near_m
    z = np.where(front, p[:, 2], 1.0)
    uv = np.stack([cam.fx * p[:, 0] / z + cam.cx, cam.fy * p[:, 1] / z + cam.cy], axis=1)
    return uv, front


def keypoints(cam: Pinhole, owners: np.ndarray, index: int, points_w: np.ndarray) -> list[float]:
    """COCO's flat [u, v, visibility] * K for instance `index` (1-based in `owners`); (0, 0, 0) outside the picture."""
    uv, front = project(cam, points_w)
    h, w = owners.shape
    flat: list[float] = []
    for (u, v), ahead in zip(uv.tolist(), front.tolist()):
        col, row = int(round(u)), int(round(v))
        if not ahead or not (0 <= col < w and 0 <= row < h):
            flat += [0.0, 0.0, 0]
            continue
        r0, r1 = max(row - VISIBLE_RADIUS_PX, 0), min(row + VISIBLE_RADIUS_PX + 1, h)
        c0, c1 = max(col - VISIBLE_RADIUS_PX, 0), min(col + VISIBLE_RADIUS_PX + 1, w)
        seen = bool((owners[r0:r1, c0:c1] == index).any())
        flat += [round(u, 2), round(v, 2), 2 if seen else 1]
    return flat


def annotate(cam: Pinhole, seg: np.ndarray, instances: Sequence[Instance], image_id: int,
             first_id: int) -> list[dict]:
    """One COCO annotation per instance with at least one pixel in view, ids from `first_id` on."""
    owners = instance_map(seg, instances)
    present = np.unique(owners)
    out: list[dict] = []
    for index in present[present > 0].tolist():
        inst = instances[index - 1]
        m = np.asfortranarray((owners == index).astype(np.uint8))
        rle = coco_mask.encode(m)
        ann = {
            "id": first_id + len(out), "image_id": image_id, "category_id": inst.category, "iscrowd": 0,
            "segmentation": {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")},
            "area": float(coco_mask.area(rle)),
            "bbox": [float(x) for x in coco_mask.toBbox(rle)],
        }
        if inst.keypoints_w is not None:
            kps = keypoints(cam, owners, index, inst.keypoints_w)
            ann["keypoints"] = kps
            ann["num_keypoints"] = sum(1 for k in kps[2::3] if k > 0)
        ann.update(inst.attributes)
        out.append(ann)
    return out
