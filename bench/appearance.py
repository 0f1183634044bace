"""How far what the cameras see of a product lies from the reference an operator has (CIEDE2000).

    python -m bench.appearance [--stores dev|fresh:K|dev+fresh:K] [--seed N] [--out DIR]

For each store (the shipped ones; `fresh:K` adds K generated stores, seeds 9000.. that nothing was tuned on),
one frame of every camera of the empty store is taken from the sensor stream — labels, store light, exposure,
white balance, read noise and JPEG included. A segmentation render of the same camera (ground truth: the
benchmark may look, the stack never does) says which pixels show which unit; each unit's interior pixels (its
mask eroded by one pixel, so that no pixel mixes a neighbour) are compared with its SKU's reference palette
(`ProductInfo.reference`, the operator's studio photos) in CIE Lab:

- ΔE00 to the nearest colour of its own palette: the distribution (median, quartiles, 90th percentile);
- how often a pixel's nearest palette colour over the whole catalog is another SKU's: how much colour alone
  can tell, pixel by pixel.

For comparison (second-hand, not measured here): consumer cameras photographing a ColorChecker under one
standard illuminant score a mean ΔE00 of roughly 3-8 in Imatest-style tests; store pixels against studio
photos add shading, the store's light and the camera's cast on top, so larger values are the honest outcome.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np
import pybullet as pb
from scipy.ndimage import binary_erosion
from skimage.color import deltaE_ciede2000, rgb2lab

from sim.generate import store_text
from sim.layout import StoreLayout, load_store
from sim.simulation import Simulation
from sim.stream import CameraFrame, StoreInfo

ROOT = Path(__file__).resolve().parent.parent
DEV_STORES = ("corner_store.yaml", "market_store.yaml", "tiny_store.yaml")
FRESH_SEED0 = 9000


def lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB 0-255 (..., 3) -> CIE Lab (D65)."""
    return rgb2lab(np.asarray(rgb, dtype=float).reshape(-1, 1, 3) / 255.0).reshape(-1, 3)


def unit_pixels(sim: Simulation, frames: dict[str, CameraFrame]) -> list[tuple[str, np.ndarray]]:
    """(sku, interior pixels (n, 3) uint8) per unit seen by each camera in `frames`."""
    rig = sim.cameras
    assert rig is not None, "the benchmark needs cameras"
    world = sim.world
    out = []
    for i, cam_id in enumerate(rig.ids):
        frame = frames.get(cam_id)
        if frame is None:
            continue
        cam = rig.renderer.cameras[len(rig.ids) + i]  # the colour imager's own pinhole: the frame's colour is its
        _, _, _, _, seg = pb.getCameraImage(cam.width, cam.height, cam.view_matrix(), cam.projection_matrix("tiny"),
                                            renderer=pb.ER_TINY_RENDERER, physicsClientId=world.client)
        body = np.asarray(seg, dtype=np.int64).reshape(cam.height, cam.width) & ((1 << 24) - 1)
        for b in np.unique(body):
            item = world.item_at(int(b)) if b >= 0 else None
            if item is None:
                continue
            mask = binary_erosion(body == b)
            if mask.sum() >= 2:
                out.append((world.items[item].sku, frame.rgb[mask]))
    return out


def seen_units(layout: StoreLayout, seed: int) -> tuple[StoreInfo, list[tuple[str, np.ndarray]]]:
    """The empty store's `StoreInfo` and, from the first frame of every camera, each unit's pixels (`unit_pixels`)."""
    sim = Simulation(layout, seed)
    try:
        info = sim.store_info()
        frames: dict[str, CameraFrame] = {}
        for msg in sim.run(0.35, stop_when_done=False):
            if isinstance(msg, CameraFrame):
                frames.setdefault(msg.camera_id, msg)
        return info, unit_pixels(sim, frames)
    finally:
        sim.close()


def measure_store(layout: StoreLayout, seed: int) -> dict:
    """The ΔE00 figures of one store at one seed."""
    return measure(layout.name, seed, *seen_units(layout, seed))


def measure(store: str, seed: int, info: StoreInfo, units: list[tuple[str, np.ndarray]]) -> dict:
    """The ΔE00 figures of the units seen (`seen_units`) against the references `info` publishes."""
    refs = {p.sku: lab(np.array([c[:3] for c in p.reference])) for p in info.catalog}
    skus = list(refs)
    all_ref = np.concatenate([refs[s] for s in skus])
    owner = np.concatenate([[k] * len(refs[s]) for k, s in enumerate(skus)])
    own_de, other_nearer = [], 0
    for sku, px in units:
        p = lab(px)
        d_all = deltaE_ciede2000(p[:, None, :], all_ref[None, :, :])  # (n, colours of the whole catalog)
        mine = owner == skus.index(sku)
        own = d_all[:, mine].min(axis=1)
        own_de.append(own)
        other_nearer += int((d_all[:, ~mine].min(axis=1) < own).sum()) if (~mine).any() else 0
    de = np.concatenate(own_de) if own_de else np.zeros(0)
    q = np.percentile(de, [25, 50, 75, 90]) if len(de) else [float("nan")] * 4
    return {
        "store": store, "seed": seed, "units": len(units), "pixels": int(len(de)),
        "de00_p25": round(float(q[0]), 2), "de00_median": round(float(q[1]), 2), "de00_p75": round(float(q[2]), 2),
        "de00_p90": round(float(q[3]), 2), "another_sku_nearer": round(other_nearer / max(len(de), 1), 3),
    }


def stores(which: str, tmp: Path) -> list[StoreLayout]:
    """The stores `which` names: dev (the shipped three), fresh:K (K generated), dev+fresh:K."""
    out = []
    for part in which.split("+"):
        if part == "dev":
            out += [load_store(ROOT / "assets" / "stores" / name) for name in DEV_STORES]
        elif part.startswith("fresh:"):
            for k in range(int(part.split(":", 1)[1])):
                path = tmp / f"fresh-{FRESH_SEED0 + k}.yaml"
                path.write_text(store_text(FRESH_SEED0 + k))
                out.append(load_store(path))
        else:
            raise SystemExit(f"--stores: expected dev, fresh:K or dev+fresh:K, got '{part}'")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stores", default="dev+fresh:3")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="write appearance.json here")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for layout in stores(args.stores, Path(tmp)):
            row = measure_store(layout, args.seed)
            rows.append(row)
            print(f"{row['store']:<28} {row['units']:>5} units {row['pixels']:>7} px   ΔE00 median {row['de00_median']:5.1f}"
                  f"  IQR {row['de00_p25']:.1f}-{row['de00_p75']:.1f}  p90 {row['de00_p90']:5.1f}"
                  f"   another SKU's palette nearer: {100 * row['another_sku_nearer']:4.1f} %", flush=True)
    if rows:
        print(f"all stores: median of medians {statistics.median(r['de00_median'] for r in rows):.1f},"
              f" pixels nearer another SKU {100 * statistics.fmean(r['another_sku_nearer'] for r in rows):.1f} %")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "appearance.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
