"""Image codecs of the camera path: JPEG for colour (the device's own encoding), 16-bit PNG for depth.

One module for both ends, so that the device model (`sim.cameras`) and a recording's reader
(`sim.recording`) decode the very same bytes with the very same code: a replayed frame is then the live
frame bit for bit. Pillow (libjpeg-turbo, zlib) does the work, with every option pinned: a JPEG's
accurate integer DCT gives the same pixels on every machine the wheel runs on.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

JPEG_SUBSAMPLING = "4:2:0"  # what MJPEG and H.264 cameras send: colour at half the resolution each way


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """(H, W, 3) uint8 -> baseline JPEG bytes at `quality` (1-100), 4:2:0 chroma."""
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(
        out, "JPEG", quality=int(quality), subsampling=JPEG_SUBSAMPLING, optimize=False, progressive=False,
    )
    return out.getvalue()


def decode_jpeg(data: bytes) -> np.ndarray:
    """JPEG bytes -> (H, W, 3) uint8 (writable). Raises ValueError on bytes that are not an RGB JPEG."""
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG",)) as im:
            if im.mode != "RGB":
                raise ValueError(f"a {im.mode} JPEG, not RGB")
            return np.array(im, dtype=np.uint8)
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"not a JPEG ({exc})") from None


def encode_png16(values: np.ndarray) -> bytes:
    """(H, W) uint16 -> 16-bit greyscale PNG bytes (lossless)."""
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(values, dtype="<u2")).save(out, "PNG", compress_level=6)
    return out.getvalue()


def decode_png16(data: bytes) -> np.ndarray:
    """16-bit greyscale PNG bytes -> (H, W) uint16. Raises ValueError on anything else."""
    try:
        with Image.open(io.BytesIO(data), formats=("PNG",)) as im:
            if im.mode not in ("I;16", "I;16B", "I"):
                raise ValueError(f"a {im.mode} PNG, not 16-bit greyscale")
            arr = np.array(im)
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"not a PNG ({exc})") from None
    if arr.ndim != 2 or arr.min(initial=0) < 0 or arr.max(initial=0) > 65535:
        raise ValueError("not 16-bit greyscale values")
    return arr.astype(np.uint16)
