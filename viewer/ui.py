"""Drawing helpers shared by the panels: colours, cached text, panel frames, image conversion.

Place in the data path: the last step, pixels on the screen. Text is cached by (string, size, colour)
because pygame's font rendering is the dearest thing a panel does each frame.
"""
from __future__ import annotations

import zlib

import numpy as np
import pygame

BG = (24, 26, 31)
PANEL = (33, 36, 43)
PANEL_EDGE = (58, 62, 72)
TITLE = (150, 200, 255)
TEXT = (222, 224, 230)
DIM = (140, 145, 155)
GOOD = (110, 210, 120)
BAD = (240, 90, 80)
WARN = (245, 190, 70)
ACCENT = (90, 170, 255)
TRUTH = (255, 255, 255)
TRACK = (0, 230, 230)

TITLE_H = 22


class Text:
    """Cached font rendering; `draw` returns the width drawn."""

    def __init__(self) -> None:
        self._fonts: dict[int, pygame.font.Font] = {}
        self._cache: dict[tuple, pygame.Surface] = {}

    def font(self, size: int) -> pygame.font.Font:
        if size not in self._fonts:
            self._fonts[size] = pygame.font.Font(None, size)
        return self._fonts[size]

    def surface(self, s: str, size: int = 18, color=TEXT, bold: bool = False) -> pygame.Surface:
        key = (s, size, color, bold)
        surf = self._cache.get(key)
        if surf is None:
            if len(self._cache) > 4000:
                self._cache.clear()
            f = self.font(size)
            f.set_bold(bold)
            surf = self._cache[key] = f.render(s, True, color)
            f.set_bold(False)
        return surf

    def draw(self, target: pygame.Surface, s: str, pos: tuple[int, int], size: int = 18, color=TEXT,
             bold: bool = False, right: bool = False) -> int:
        surf = self.surface(s, size, color, bold)
        x, y = pos
        if right:
            x -= surf.get_width()
        target.blit(surf, (x, y))
        return surf.get_width()


def panel(screen: pygame.Surface, rect: pygame.Rect, title: str, text: Text, right_note: str = "") -> pygame.Rect:
    """Draw a panel frame with its title bar; return the content rect."""
    pygame.draw.rect(screen, PANEL, rect)
    pygame.draw.rect(screen, PANEL_EDGE, rect, 1)
    text.draw(screen, title, (rect.x + 8, rect.y + 4), 18, TITLE, bold=True)
    if right_note:
        text.draw(screen, right_note, (rect.right - 8, rect.y + 5), 16, DIM, right=True)
    return pygame.Rect(rect.x + 1, rect.y + TITLE_H, rect.w - 2, rect.h - TITLE_H - 1)


def not_available(screen: pygame.Surface, rect: pygame.Rect, why: str, text: Text) -> None:
    """An honest empty panel: says what is missing and why."""
    lines = wrap(why, max(10, rect.w // 8))
    y = rect.centery - 10 * len(lines)
    for line in ["not available"] + lines:
        w = text.surface(line, 18, WARN if line == "not available" else DIM).get_width()
        text.draw(screen, line, (rect.centerx - w // 2, y), 18, WARN if line == "not available" else DIM)
        y += 20


def wrap(s: str, width: int) -> list[str]:
    out, line = [], ""
    for word in s.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        out.append(line)
    return out


def fit(text: Text, s: str, size: int, width_px: int) -> str:
    """`s`, cut at a word and ended with "..." if it is wider than `width_px` at `size`; "" if nothing fits."""
    font = text.font(size)
    if font.size(s)[0] <= width_px:
        return s
    words = s.split()
    while words and font.size(" ".join(words) + " ...")[0] > width_px:
        words.pop()
    return " ".join(words) + " ..." if words else ""


def speed_text(measured: float | None, asked: float, paused: bool, finished: bool) -> str:
    """The sim's measured speed beside the asked one: "0.34x real time (asked 8x)"."""
    if finished:
        return f"finished (asked {asked:g}x)"
    if paused:
        return f"paused (asked {asked:g}x)"
    if measured is None:
        return f"measuring (asked {asked:g}x)"
    return f"{measured:.2f}x real time (asked {asked:g}x)"


def rgb_surface(rgb: np.ndarray) -> pygame.Surface:
    """(H, W, 3) uint8 -> a pygame surface (pygame wants (W, H, 3))."""
    return pygame.surfarray.make_surface(np.ascontiguousarray(rgb).swapaxes(0, 1))


def colour_for(key: str) -> tuple[int, int, int]:
    """A stable, distinct colour per account or shopper id."""
    h = zlib.crc32(key.encode()) % 360
    c = pygame.Color(0)
    c.hsva = (h, 65, 95, 100)
    return (c.r, c.g, c.b)


DEPTH_ANCHORS = np.array([  # turbo-like, far (index 1) to near (255): dark blue, cyan, green, yellow, red
    (48, 18, 59), (65, 110, 240), (30, 200, 220), (70, 245, 120), (190, 245, 50), (250, 185, 40), (235, 90, 20), (122, 4, 3),
], dtype=float)


def depth_lut() -> np.ndarray:
    """256 x 3 uint8 colour map for depth; index 0 is reserved for 'no reading' (black)."""
    x = np.linspace(0.0, 1.0, len(DEPTH_ANCHORS))
    t = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(t, x, DEPTH_ANCHORS[:, c]) for c in range(3)], axis=1).astype(np.uint8)
    lut[0] = 0
    return lut


def colourise_depth(depth_m: np.ndarray, max_m: float, lut: np.ndarray) -> np.ndarray:
    """Depth (H, W) metres, 0 = invalid -> (H, W, 3) uint8; near is red, far is blue."""
    idx = np.clip(255 - depth_m / max_m * 254, 1, 255).astype(np.uint8)
    idx[depth_m <= 0] = 0
    return lut[idx]
