"""What products look like: printed labels, per-unit variation, and the reference photos an operator has.

A product is no longer one flat catalog colour. Each SKU is drawn with a **label texture** of several colours,
generated from its catalog entry and nothing else (so the same catalog gives the same store, byte for byte):

- the catalog `color` is the label's *main* colour (the flavour or brand colour, 55-75 % of the print);
- a *design* shared by a family — the SKUs of one shape, size and weight, the look-alikes a shop shelves side by
  side — sets the rest: a band of a secondary colour (white, cream, black, gold, a shade of the main colour...),
  a logo of an accent colour, lines of "text". Flavours of one brand then differ only in their main colour, as
  they do in a shop, and share every other colour of their labels;
- every face of a box, the side and the caps of a cylinder carry the label (`sim.meshes.textured_product_mesh`).

**Per-unit variation**: each unit is printed with a small tint (`UNIT_TINT_SD`: brightness and per-channel
spread of about 1.5 %, ΔE00 of one to two between units): print runs vary, and ISO 12647-2 allows a process
solid a ΔE*ab of 5 from its target (second-hand). Eight variants per SKU, chosen by the unit's id (no random draw:
the physics of a store does not change).

**What the operator has** (`reference_colours`): a product photo shoot, not the render. Each SKU is rendered
alone in a studio — white light from another direction with a different ambient share, no store lighting, no
camera model, from four views (top and three sides at 45°) — through the studio's own camera (`photo_camera`:
its white balance, exposure, saturation and contrast), and its pixels are summarised as a palette of up to
`PALETTE_K` colours with their shares (k-means in Lab, deterministic). `StoreInfo` carries that palette
(`ProductInfo.reference`), never the catalog hex: the stack matches what cameras see in the store against what
a photo under other light showed, as a real operator's stack must. `bench.appearance` measures how far the two
lie apart (CIEDE2000).
"""
from __future__ import annotations

import functools
import hashlib
import zlib

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pybullet as pb
from scipy.cluster.vq import kmeans2
from skimage.color import rgb2lab

from sim.meshes import textured_product_mesh

if TYPE_CHECKING:
    from sim.layout import CatalogItem

TEXTURE_PX = 64  # a label texture's side in texels: a 10 cm face seen at 320x240 from 2 m is ~8 px wide
UNIT_VARIANTS = 8  # distinct per-unit tints of one SKU
UNIT_TINT_SD = (0.015, 0.008)  # brightness sd, per-channel chroma sd of one unit's print (ΔE00 ~1-2; ISO 12647-2 allows ~5)
PALETTE_K = 4  # colours in a reference palette
PALETTE_MIN_SHARE = 0.03  # a cluster holding less of the photos' pixels is dropped from the palette

# Label colours a design draws from (sRGB). Secondaries fill the band; accents draw the logo and text.
SECONDARIES = (
    (244, 243, 236),  # white board
    (236, 226, 196),  # cream
    (28, 28, 30),  # black
    (196, 160, 70),  # gold
    (22, 52, 110),  # navy
    (190, 30, 40),  # red
    (30, 120, 60),  # green
)
ACCENTS = ((20, 20, 20), (250, 250, 250), (210, 40, 40), (30, 60, 150), (240, 200, 30))
MIN_CONTRAST = 70.0  # sRGB distance a design keeps between the main colour and those drawn next to it


def _family_rng(shape: str, size_mm: tuple[float, float, float], weight_g: float) -> np.random.Generator:
    key = f"{shape}|{tuple(round(float(s), 1) for s in size_mm)}|{round(float(weight_g))}".encode()
    return np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))


def _far_from(options: tuple[tuple[int, int, int], ...], avoid: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """A colour of `options` (in the design's own random order) at least MIN_CONTRAST from every colour in `avoid`."""
    order = rng.permutation(len(options))
    for k in order:
        c = np.array(options[k], dtype=float)
        if all(np.linalg.norm(c - a) >= MIN_CONTRAST for a in avoid):
            return c
    return np.array(options[order[0]], dtype=float)


def label_texture(shape: str, size_mm: tuple[float, float, float], weight_g: float, rgb: tuple[float, float, float]) -> np.ndarray:
    """The label of a SKU as a (TEXTURE_PX, TEXTURE_PX, 3) uint8 image: `rgb` (0-1) is its main colour."""
    rng = _family_rng(shape, size_mm, weight_g)
    t = TEXTURE_PX
    main = np.array(rgb, dtype=float) * 255.0
    img = np.empty((t, t, 3), dtype=float)
    img[:] = main
    # Colours that sit next to the main one: chosen per family against a mid grey and the main colour, so
    # look-alikes of one family share them unless their own main colour is too close to one.
    shade = np.clip(main * rng.choice([0.55, 1.35]), 0, 255)
    secondary = _far_from(SECONDARIES + (tuple(int(v) for v in shade),), [main], rng)
    accent = _far_from(ACCENTS, [main, secondary], rng)
    # a band of the secondary colour across the label (a fifth to a third of it)
    h = int(rng.integers(t // 5, t // 3 + 1))
    y0 = int(rng.integers(2, t - h - 2))
    img[y0 : y0 + h] = secondary
    # lines of text of the accent colour in the band
    for y in range(y0 + 2, y0 + h - 1, 3):
        x0 = int(rng.integers(2, t // 4))
        img[y, x0 : x0 + int(rng.integers(t // 3, t // 2))] = accent
    # a logo: a disc or a block of the accent colour away from the band
    r = int(rng.integers(t // 10, t // 6 + 1))
    free = [y for y in range(r + 1, t - r - 1) if abs(y - (y0 + h / 2)) > h / 2 + r]
    cy = int(free[int(rng.integers(len(free)))]) if free else t // 2
    cx = int(rng.integers(r + 1, t - r - 1))
    yy, xx = np.mgrid[0:t, 0:t]
    if rng.random() < 0.5:
        img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = accent
    else:
        img[(abs(yy - cy) <= r) & (abs(xx - cx) <= int(1.6 * r))] = accent
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def unit_variant(sku: str, unit_id: int) -> int:
    """Which of the SKU's `UNIT_VARIANTS` prints unit `unit_id` carries (a hash: no random draw)."""
    return zlib.crc32(f"{sku}/{unit_id}".encode()) % UNIT_VARIANTS


@functools.lru_cache(maxsize=4096)
def unit_tints(sku: str) -> np.ndarray:
    """(UNIT_VARIANTS, 3) multipliers of the label's colour, one per print variant of `sku` (the brightest is 1)."""
    rng = np.random.default_rng(zlib.crc32(f"tint/{sku}".encode()))
    bright = np.exp(rng.normal(0.0, UNIT_TINT_SD[0], (UNIT_VARIANTS, 1)))
    chroma = np.exp(rng.normal(0.0, UNIT_TINT_SD[1], (UNIT_VARIANTS, 3)))
    tints = bright * chroma
    out = np.round(tints / tints.max(), 3)  # a colour multiplier cannot brighten past the texture's own value
    out.setflags(write=False)  # cached: shared by every caller
    return out


# -- the operator's reference photos ---------------------------------------------------------------------

STUDIO_LIGHT = dict(  # a softbox from the front left, more fill than the store's directional light
    lightDirection=[-0.5, -0.7, 0.9], lightColor=[1.0, 1.0, 1.0], lightDistance=2.0,
    lightAmbientCoeff=0.65, lightDiffuseCoeff=0.45, lightSpecularCoeff=0.0, shadow=0,
)
STUDIO_VIEWS = ((0.0, 89.0), (30.0, 45.0), (150.0, 45.0), (270.0, 45.0))  # (azimuth, elevation) in degrees
STUDIO_PX = 64
PHOTO_CAST = np.array([1.03, 1.0, 0.955])  # the grey card's residual: ~1.5 deg warm (our estimate)
PHOTO_EXPOSURE = 1.26  # a third of a stop over, for a white background (our estimate)
PHOTO_SATURATION = 1.15  # the maker's saturation boost, on linear light (our estimate, 10-20 % is common)
PHOTO_CONTRAST = 1.08  # a mild contrast curve on the encoded values (our estimate)


def studio_pixels(mesh_file: str, size_mm: tuple[float, float, float]) -> np.ndarray:
    """(n, 3) uint8: the pixels of a product in the studio photos (four views, product only)."""
    c = pb.connect(pb.DIRECT)
    try:
        vis = pb.createVisualShape(pb.GEOM_MESH, fileName=mesh_file, rgbaColor=[1, 1, 1, 1], physicsClientId=c)
        pb.createMultiBody(0.0, -1, vis, [0, 0, 0], [0, 0, 0, 1], physicsClientId=c)
        span = float(np.linalg.norm(np.asarray(size_mm, dtype=float))) / 1000.0
        dist = 1.6 * span + 0.05
        proj = pb.computeProjectionMatrixFOV(40.0, 1.0, 0.01, 10.0)
        out = []
        for az, el in STUDIO_VIEWS:
            a, e = np.radians(az), np.radians(el)
            eye = dist * np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
            up = [0, 0, 1] if el < 85 else [0, 1, 0]
            view = pb.computeViewMatrix(eye.tolist(), [0, 0, 0], up)
            _, _, rgba, _, seg = pb.getCameraImage(
                STUDIO_PX, STUDIO_PX, view, proj, renderer=pb.ER_TINY_RENDERER, physicsClientId=c, **STUDIO_LIGHT,
            )
            rgba = np.asarray(rgba, dtype=np.uint8).reshape(STUDIO_PX, STUDIO_PX, 4)
            mask = np.asarray(seg).reshape(STUDIO_PX, STUDIO_PX) >= 0
            out.append(rgba[..., :3][mask])
        return np.concatenate(out)
    finally:
        pb.disconnect(physicsClientId=c)


def photo_camera(pixels: np.ndarray) -> np.ndarray:
    """The studio's own camera on sRGB pixels (n, 3) uint8 -> float sRGB 0-255: how a photo renders the label.

    An operator's product photos come from a camera with its own colour rendering: white-balanced on a grey card
    (a residual cast, `PHOTO_CAST`), a third of a stop brighter for a clean white background (`PHOTO_EXPOSURE`), and
    the "pleasing" saturation boost and contrast curve consumer cameras apply (Imatest's colour-check notes that
    makers raise saturation on purpose; such cameras score mean ΔE00 of ~3-8 on a ColorChecker, second-hand)."""
    lin = (np.asarray(pixels, dtype=float) / 255.0).reshape(-1, 3)
    lin = np.where(lin <= 0.04045, lin / 12.92, ((lin + 0.055) / 1.055) ** 2.4)
    lin = lin * PHOTO_CAST * PHOTO_EXPOSURE
    luma = lin @ np.array([0.2126, 0.7152, 0.0722])
    lin = np.clip(luma[:, None] + PHOTO_SATURATION * (lin - luma[:, None]), 0.0, 1.0)
    enc = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)
    enc = np.clip(0.5 + PHOTO_CONTRAST * (enc - 0.5), 0.0, 1.0)
    return enc * 255.0


def palette(pixels: np.ndarray, k: int = PALETTE_K) -> tuple[tuple[float, float, float, float], ...]:
    """Up to `k` colours (r, g, b in 0-255, and the share of pixels each stands for), largest share first.

    Clustered in CIE Lab with lightness at half weight, so that one ink lit and in shade is one colour (a box's
    top and its sides) and the palette's places go to the label's inks; each colour is its cluster's mean sRGB."""
    px = np.asarray(pixels, dtype=float).reshape(-1, 3)
    feats = rgb2lab(np.clip(px / 255.0, 0.0, 1.0).reshape(-1, 1, 3)).reshape(-1, 3) * np.array([0.5, 1.0, 1.0])
    distinct = np.unique(np.round(feats, 3), axis=0)
    k = min(k, len(distinct))
    if k <= 1:
        m = px.mean(axis=0)
        return ((round(float(m[0]), 1), round(float(m[1]), 1), round(float(m[2]), 1), 1.0),)
    seeds = distinct[np.linspace(0, len(distinct) - 1, k).astype(int)]
    _, labels = kmeans2(feats, seeds, minit="matrix", iter=20)
    rows = []
    for j in range(k):
        member = labels == j
        share = float(member.mean())
        if share >= PALETTE_MIN_SHARE:
            rows.append((share, px[member].mean(axis=0)))
    rows.sort(key=lambda r: -r[0])
    total = sum(sh for sh, _ in rows)
    return tuple((round(float(c[0]), 1), round(float(c[1]), 1), round(float(c[2]), 1), round(sh / total, 3)) for sh, c in rows)


@functools.lru_cache(maxsize=4096)
def reference_colours(mesh_file: str, size_mm: tuple[float, float, float]) -> tuple[tuple[float, float, float, float], ...]:
    """The palette an operator's studio photos of a product give (cached per process: the mesh file names the label)."""
    return palette(photo_camera(studio_pixels(mesh_file, size_mm)))


def product_label_mesh(item: "CatalogItem") -> Path:
    """The textured mesh of a catalog item: its shape, with its label on every face."""
    return textured_product_mesh(item.shape, item.size_mm, label_texture(item.shape, item.size_mm, item.weight_g, item.rgb))


def product_reference(item: "CatalogItem") -> tuple[tuple[float, float, float, float], ...]:
    """The reference palette an operator publishes for a catalog item (`reference_colours` of its labelled mesh)."""
    return reference_colours(str(product_label_mesh(item)), tuple(float(s) for s in item.size_mm))
