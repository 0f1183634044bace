"""Product meshes made with trimesh from the catalog's shapes, kept in a cache directory.

The cache is not source: it lives in `$STORE_TWIN_CACHE` (default `.cache/` at
the project root) and is rebuilt when missing. Files are written atomically so
parallel episodes can share one cache.
"""
from __future__ import annotations

import os
from pathlib import Path

import trimesh

ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    path = Path(os.environ.get("STORE_TWIN_CACHE", ROOT / ".cache")) / "meshes"
    path.mkdir(parents=True, exist_ok=True)
    return path


def product_mesh(shape: str, size_mm: tuple[float, float, float]) -> Path:
    """An OBJ of a box or upright cylinder, centred on its middle, in metres."""
    w, d, h = (s / 1000.0 for s in size_mm)
    path = cache_dir() / f"{shape}_{w:.4f}_{d:.4f}_{h:.4f}.obj"
    if path.exists():
        return path
    if shape == "box":
        mesh = trimesh.creation.box(extents=(w, d, h))
    elif shape == "cylinder":
        mesh = trimesh.creation.cylinder(radius=min(w, d) / 2, height=h, sections=20)
    else:
        raise ValueError(f"no mesh for shape '{shape}'")
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(trimesh.exchange.obj.export_obj(mesh, include_normals=True, include_texture=False))
    os.replace(tmp, path)
    return path
