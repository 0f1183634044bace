"""Camera coverage of a store: how much of its floor the ceiling cameras see, at head, shoulder and hand height.

    python -m bench.coverage [STORE.yaml ...] [--heights 1.7,1.2,0.8] [--resolution 320x240]

For each store (default: the three shipped ones), the cameras as the layout places them (`sim.cameras.
camera_mounts`) and their calibrations at the given resolution: the fraction of floor points (a 10 cm grid)
that project inside at least one camera's image, and inside two, at each height. Occlusion by gondolas and
people is not counted: this is the best the deployment can do. Floor area per camera is printed beside it, to
compare with real deployments (REFERENCE.md: Standard Cognition 6.5 m2 per camera, Trigo 2.5 m2).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
STORES = ROOT / "assets" / "stores"


def coverage(store_path: str | Path, heights_m: tuple[float, ...] = (1.7, 1.2, 0.8),
             resolution: tuple[int, int] = (320, 240), step_m: float = 0.1) -> dict:
    """{'cameras', 'floor_m2', 'm2_per_camera', 'seen': {h: (fraction >= 1 camera, fraction >= 2)}}."""
    from sim.cameras import calibrate, camera_mounts
    from sim.layout import load_store

    layout = load_store(store_path)
    cams = [calibrate(m, resolution, 10.0) for m in camera_mounts(layout)]
    w, d = layout.spec.floor_m
    xs, ys = np.arange(step_m / 2, w, step_m), np.arange(step_m / 2, d, step_m)
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    seen = {}
    for h in heights_m:
        P = np.stack([X.ravel(), Y.ravel(), np.full(X.size, h)], axis=1)
        n = np.zeros(len(P), dtype=int)
        for c in cams:
            uv, z = c.project(P)
            n += (z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < c.width) & (uv[:, 1] >= 0) & (uv[:, 1] < c.height)
        seen[h] = (float(np.mean(n >= 1)), float(np.mean(n >= 2)))
    return {"cameras": len(cams), "floor_m2": w * d, "m2_per_camera": w * d / max(len(cams), 1), "seen": seen}


def main(argv: list[str] | None = None) -> int:
    from sim.errors import InputError

    ap = argparse.ArgumentParser(prog="bench.coverage", description=__doc__.splitlines()[0])
    ap.add_argument("stores", nargs="*", default=[str(p) for p in sorted(STORES.glob("*.yaml"))])
    ap.add_argument("--heights", default="1.7,1.2,0.8")
    ap.add_argument("--resolution", default="320x240")
    args = ap.parse_args(argv)
    heights = tuple(float(x) for x in args.heights.split(","))
    res = tuple(int(x) for x in args.resolution.lower().split("x"))
    for path in args.stores:
        try:
            c = coverage(path, heights, res)  # type: ignore[arg-type]
        except InputError as exc:
            print(str(exc), file=sys.stderr)
            return 2
        cells = ", ".join(f"{h:.1f} m: {a:.0%} ({b:.0%} by two)" for h, (a, b) in c["seen"].items())
        print(f"{Path(path).name}: {c['cameras']} cameras, {c['m2_per_camera']:.1f} m2 each; floor seen at {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
