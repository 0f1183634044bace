"""The help overlay: every key and mouse action of the window (drawn over everything, H or F1 toggles)."""
from __future__ import annotations

import pygame

from viewer import ui

KEYS = (
    ("Space", "pause / resume"),
    ("N  or  .", "single physics step (pauses)"),
    ("+ / -", "speed up / down: 0.25x ... 8x"),
    ("click map", "select a shopper (click empty floor: none)"),
    ("Tab", "select the next shopper"),
    ("F", "3-D view follows the selected shopper"),
    ("T / O", "3-D top view / overview"),
    ("3-D mouse", "drag: orbit, right-drag: pan, wheel: zoom"),
    ("C / shift+C", "next / previous ceiling camera"),
    ("D", "camera panel: RGB / depth"),
    ("1 .. 5", "map layers: footprints, coverage, truth, tracks, hands"),
    ("P", "spawn a persona shopper at the entry"),
    ("R / shift+R", "restart with the next seed / the same seed"),
    ("M", "start / stop recording to MCAP"),
    ("H  or  F1", "this help"),
    ("Esc  or  Q", "quit"),
)


def draw(screen: pygame.Surface, text: ui.Text) -> pygame.Rect:
    w, h = 560, 60 + 24 * len(KEYS)
    rect = pygame.Rect(0, 0, w, h)
    rect.center = screen.get_rect().center
    shade = pygame.Surface(rect.size, pygame.SRCALPHA)
    shade.fill((10, 12, 16, 235))
    screen.blit(shade, rect.topleft)
    pygame.draw.rect(screen, ui.ACCENT, rect, 2)
    text.draw(screen, "Keys and mouse", (rect.x + 20, rect.y + 14), 24, ui.TITLE, bold=True)
    y = rect.y + 48
    for key, what in KEYS:
        text.draw(screen, key, (rect.x + 20, y), 20, ui.WARN)
        text.draw(screen, what, (rect.x + 170, y), 20, ui.TEXT)
        y += 24
    return rect
