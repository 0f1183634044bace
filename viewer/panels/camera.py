"""The camera panel: the selected ceiling camera's newest `CameraFrame`, RGB or depth, as the stack receives it.

Place in the data path: frames come off the sensor stream (noise, drops and outages included), not from a
separate clean render, so what is shown is what the checkout stack sees.
"""
from __future__ import annotations

import pygame

from viewer import ui


class CameraPanel:
    def __init__(self, camera_ids: list[str], depth_max_m: float) -> None:
        self.camera_ids = camera_ids
        self.depth_max_m = depth_max_m
        self.rect = pygame.Rect(0, 0, 1, 1)
        self.content = pygame.Rect(0, 0, 1, 1)
        self.frame = None
        self.image: pygame.Surface | None = None
        self._image_for = None
        self._lut = None

    def show(self, frame) -> None:
        self.frame = frame

    def draw(self, screen: pygame.Surface, text: ui.Text, app) -> None:
        if not self.camera_ids:
            self.content = ui.panel(screen, self.rect, "Camera", text)
            ui.not_available(screen, self.content, "this store has no ceiling cameras", text)
            return
        cam = app.camera_id
        mode = app.camera_mode
        n = self.camera_ids.index(cam) + 1 if cam in self.camera_ids else 0
        self.content = ui.panel(screen, self.rect, f"Camera {cam} ({n}/{len(self.camera_ids)})", text,
                                f"{mode.upper()}  C/shift+C: cycle  D: rgb/depth")
        f = self.frame
        if f is None or f.camera_id != cam:
            text.draw(screen, "waiting for this camera's next frame...", (self.content.x + 10, self.content.y + 10), 18, ui.DIM)
            return
        key = (f.camera_id, f.t_s, mode)
        if self._image_for != key:
            if mode == "depth":
                if self._lut is None:
                    self._lut = ui.depth_lut()
                rgb = ui.colourise_depth(f.depth, self.depth_max_m_view(f), self._lut)
            else:
                rgb = f.rgb
            self.image = ui.rgb_surface(rgb)
            self._image_for = key
        iw, ih = self.image.get_size()
        s = min((self.content.w - 8) / iw, (self.content.h - 24) / ih)
        size = (max(1, int(iw * s)), max(1, int(ih * s)))
        img = pygame.transform.scale(self.image, size)
        x = self.content.x + (self.content.w - size[0]) // 2
        screen.blit(img, (x, self.content.y + 2))
        caption = f"t = {f.t_s:7.2f} s   {iw}x{ih}"
        if mode == "depth":
            caption += f"   0-{self.depth_max_m_view(f):.1f} m (red near, black: no reading)"
        text.draw(screen, caption, (self.content.x + 8, self.content.y + size[1] + 6), 16, ui.DIM)

    def depth_max_m_view(self, frame) -> float:
        """Colour scale: up to the farthest valid reading in view (the floor), not the device's 10 m."""
        valid = frame.depth[frame.depth > 0]
        return float(min(self.depth_max_m, valid.max())) if valid.size else self.depth_max_m
