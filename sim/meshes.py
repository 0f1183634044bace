"""Product meshes from the catalog's shapes, with their labels, kept in a cache directory.

`textured_product_mesh` writes a shape with texture coordinates and a material that names a label image
(OBJ + MTL + PNG): pybullet loads the image with the mesh, in every client that loads the file, so
render-only copies of a body (`sim.render`) carry its label without further bookkeeping.

The cache is not source: it lives in `$STORE_TWIN_CACHE` (default `.cache/` at
the project root) and is rebuilt when missing. Files are written atomically so
parallel episodes can share one cache.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    path = Path(os.environ.get("STORE_TWIN_CACHE", ROOT / ".cache")) / "meshes"
    path.mkdir(parents=True, exist_ok=True)
    return path


def textured_product_mesh(shape: str, size_mm: tuple[float, float, float], texture: np.ndarray) -> Path:
    """An OBJ of a box or upright cylinder, centred on its middle, in metres, whose every face shows `texture` (H, W, 3 uint8).

    Box: each face maps the whole image. Cylinder: the image wraps once around the side; each cap shows it
    as a disc. The files are named by a hash of the shape, size and image, so equal labels share them.
    """
    w, d, h = (s / 1000.0 for s in size_mm)
    tex = np.ascontiguousarray(texture, dtype=np.uint8)
    key = hashlib.sha256(f"{shape}|{w:.4f}|{d:.4f}|{h:.4f}|{tex.shape}".encode() + tex.tobytes()).hexdigest()[:16]
    stem = f"{shape}_{key}"
    path = cache_dir() / f"{stem}.obj"
    if path.exists():
        return path
    if shape == "box":
        v, vt, vn, faces = _box_uv(w, d, h)
    elif shape == "cylinder":
        v, vt, vn, faces = _cylinder_uv(min(w, d) / 2, h)
    else:
        raise ValueError(f"no mesh for shape '{shape}'")
    lines = [f"mtllib {stem}.mtl", "usemtl label"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in v]
    lines += [f"vt {a:.6f} {b:.6f}" for a, b in vt]
    lines += [f"vn {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vn]
    lines += ["f " + " ".join(f"{i + 1}/{i + 1}/{i + 1}" for i in f) for f in faces]
    pid = os.getpid()
    for name, write in (
        (f"{stem}.png", lambda p: Image.fromarray(tex).save(p, format="PNG")),
        (f"{stem}.mtl", lambda p: p.write_text(f"newmtl label\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nmap_Kd {stem}.png\n")),
        (f"{stem}.obj", lambda p: p.write_text("\n".join(lines) + "\n")),  # last: its presence means all three are there
    ):
        tmp = cache_dir() / f"{name}.{pid}.tmp"
        write(tmp)
        os.replace(tmp, cache_dir() / name)
    return path


def _box_uv(w: float, d: float, h: float) -> tuple[list, list, list, list]:
    half = np.array([w, d, h]) / 2
    v, vt, vn, faces = [], [], [], []
    # (outward normal, u axis, v axis): u x v = normal, so triangles wind counter-clockwise seen from outside
    for n, a, b in (((0, 0, 1), (1, 0, 0), (0, 1, 0)), ((0, 0, -1), (1, 0, 0), (0, -1, 0)),
                    ((1, 0, 0), (0, 1, 0), (0, 0, 1)), ((-1, 0, 0), (0, -1, 0), (0, 0, 1)),
                    ((0, 1, 0), (-1, 0, 0), (0, 0, 1)), ((0, -1, 0), (1, 0, 0), (0, 0, 1))):
        n, a, b = (np.array(x, dtype=float) for x in (n, a, b))
        base = len(v)
        for su, sv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            v.append(n * half + su * a * half + sv * b * half)
            vt.append(((su + 1) / 2, (sv + 1) / 2))
            vn.append(n)
        faces += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    return v, vt, vn, faces


def _cylinder_uv(r: float, h: float, sections: int = 20) -> tuple[list, list, list, list]:
    v, vt, vn, faces = [], [], [], []
    for k in range(sections + 1):  # the seam's column twice, at u = 0 and u = 1
        a = 2 * np.pi * k / sections
        c, s = np.cos(a), np.sin(a)
        for z, tv in ((-h / 2, 0.0), (h / 2, 1.0)):
            v.append((r * c, r * s, z))
            vt.append((k / sections, tv))
            vn.append((c, s, 0.0))
    for k in range(sections):
        i = 2 * k
        faces += [(i, i + 2, i + 3), (i, i + 3, i + 1)]
    for z, sign in ((h / 2, 1.0), (-h / 2, -1.0)):
        centre = len(v)
        v.append((0.0, 0.0, z))
        vt.append((0.5, 0.5))
        vn.append((0.0, 0.0, sign))
        for k in range(sections + 1):
            a = 2 * np.pi * k / sections
            v.append((r * np.cos(a), r * np.sin(a), z))
            vt.append((0.5 + 0.5 * np.cos(a), 0.5 + 0.5 * np.sin(a)))
            vn.append((0.0, 0.0, sign))
        for k in range(sections):
            p, q = centre + 1 + k, centre + 2 + k
            faces.append((centre, p, q) if sign > 0 else (centre, q, p))
    return v, vt, vn, faces
