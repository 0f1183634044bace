"""The 3-D view: the live pybullet store from an orbit camera, drawn by the episode host's `ViewRenderer`.

Place in the data path: mouse and keys move the `OrbitCamera`; the panel asks the host for a render from
there (at half resolution while the eye moves, full resolution once it rests) and shows the newest image.
"""
from __future__ import annotations

import math
import time

import pygame

from viewer import ui
from viewer.orbit import OrbitCamera

MOVING_SCALE = 0.5  # resolution of the render while the eye moves
REST_S = 0.25  # the eye counts as still this long after the last mouse move


class View3D:
    def __init__(self, floor_m: tuple[float, float]) -> None:
        self.floor_m = floor_m
        self.orbit = OrbitCamera.overlooking(floor_m)
        self.follow = False
        self.rect = pygame.Rect(0, 0, 1, 1)
        self.content = pygame.Rect(0, 0, 1, 1)
        self.image: pygame.Surface | None = None
        self.image_key = None
        self._scaled: pygame.Surface | None = None
        self._moved_at = -1e9
        self._drag: int | None = None  # mouse button held over the view
        self._mouse: tuple[int, int] | None = None
        self.renders = 0

    # -- input ----------------------------------------------------------------------------------------

    def handle(self, event: pygame.event.Event) -> bool:
        """Orbit on left-drag, pan on right-drag, zoom on the wheel; True if the event was the view's."""
        if event.type == pygame.MOUSEBUTTONDOWN and self.content.collidepoint(event.pos) and event.button in (1, 3):
            self._drag = event.button
            return True
        if event.type == pygame.MOUSEBUTTONUP and self._drag == event.button:
            self._drag = None
            return True
        if event.type == pygame.MOUSEMOTION:
            self._mouse = event.pos  # wheel events carry no position: zoom where the pointer last was
        if event.type == pygame.MOUSEMOTION and self._drag is not None:
            dx, dy = event.rel
            if self._drag == 1:
                self.set_orbit(self.orbit.rotated(-dx * 0.008, dy * 0.006))
            else:
                per_px = 2 * self.orbit.distance_m * math.tan(math.radians(self.orbit.fov_deg) / 2) / max(1, self.content.h)
                self.follow = False
                self.set_orbit(self.orbit.panned(-dx * per_px, dy * per_px))
            return True
        if event.type == pygame.MOUSEWHEEL and self.content.collidepoint(self._mouse or pygame.mouse.get_pos()):
            self.set_orbit(self.orbit.zoomed(0.88 ** event.y))
            return True
        return False

    def set_orbit(self, orbit: OrbitCamera) -> None:
        if orbit != self.orbit:
            self.orbit = orbit
            self._moved_at = time.perf_counter()

    def top_view(self) -> None:
        self.follow = False
        self.set_orbit(OrbitCamera.top_view(self.floor_m, self.content.w / max(1, self.content.h), self.orbit.fov_deg))

    def reset(self) -> None:
        self.follow = False
        self.set_orbit(OrbitCamera.overlooking(self.floor_m))

    @property
    def moving(self) -> bool:
        return self._drag is not None or time.perf_counter() - self._moved_at < REST_S

    def request(self, selected_xy: tuple[float, float] | None):
        """The pinhole to render from now (follows the selected shopper when asked)."""
        if self.follow and selected_xy is not None:
            self.set_orbit(self.orbit.following(selected_xy))
        scale = MOVING_SCALE if self.moving else 1.0
        w = max(16, int(self.content.w * scale))
        h = max(16, int(self.content.h * scale))
        return self.orbit.pinhole(w, h)

    # -- drawing --------------------------------------------------------------------------------------

    def show(self, rgb, key) -> None:
        self.image = ui.rgb_surface(rgb)
        self.image_key = key
        self._scaled = None
        self.renders += 1

    def draw(self, screen: pygame.Surface, text: ui.Text, note: str | None) -> None:
        mode = "follow" if self.follow else ("moving" if self.moving else "")
        self.content = ui.panel(screen, self.rect, "3-D view", text, f"{mode}  drag: orbit  right-drag: pan  wheel: zoom")
        if self.image is None:
            ui.not_available(screen, self.content, note or "waiting for the first render", text) if note else \
                text.draw(screen, "rendering...", (self.content.x + 10, self.content.y + 10), 18, ui.DIM)
            return
        if self._scaled is None or self._scaled.get_size() != self.content.size:
            if self.image.get_size() == self.content.size:
                self._scaled = self.image
            else:
                self._scaled = pygame.transform.smoothscale(self.image, self.content.size)
        screen.blit(self._scaled, self.content.topleft)
