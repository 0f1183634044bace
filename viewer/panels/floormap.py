"""The floor map: the store's plan with cameras, shoppers' true positions and the stack's tracks side by side.

Place in the data path: reads `StoreInfo` (the operator's floor plan and camera calibrations) for the
static layers and each `Snapshot` for the live ones. Layers (toggled by keys, see `viewer.app`):
camera footprints, a coverage heat map (how many cameras see each floor cell, from the calibrations),
true shoppers, the stack's tracks, and bins with a hand in them (truth).
"""
from __future__ import annotations

import math

import numpy as np
import pygame

from sim.stream import CameraCalibration, StoreInfo
from viewer import ui

PAD_M = 1.2  # floor shown around the store: shoppers appear outside the entry gate
COVERAGE_CELL_M = 0.1
COVERAGE_HEIGHT_M = 0.0  # coverage of the floor itself
PICK_RADIUS_M = 0.7
GONDOLA = (92, 98, 110)
FLOOR = (54, 57, 64)
ENTRY = (90, 220, 120)
EXIT = (240, 110, 90)
HAND_BIN = (255, 150, 40)
COVERAGE_COLOURS = np.array(  # 0 cameras (blind), 1, 2, 3, 4+
    [(200, 40, 40), (40, 90, 200), (40, 170, 150), (150, 200, 60), (250, 220, 70)], dtype=np.uint8
)


def floor_footprint(cal: CameraCalibration, z_m: float = 0.0) -> np.ndarray | None:
    """Where the image corners' rays meet the plane z = `z_m`: (4, 2) world metres, or None if a ray misses it."""
    K_inv = np.linalg.inv(cal.K_matrix())
    R = cal.R_matrix()
    centre = -R.T @ np.array(cal.t)
    corners = np.array([[0, 0, 1], [cal.width - 1, 0, 1], [cal.width - 1, cal.height - 1, 1], [0, cal.height - 1, 1]], float)
    rays = (R.T @ (K_inv @ corners.T)).T
    if np.any(rays[:, 2] >= -1e-6):
        return None
    s = (z_m - centre[2]) / rays[:, 2]
    return centre[:2] + rays[:, :2] * s[:, None]


def coverage_counts(info: StoreInfo, cell_m: float, max_range_m: float, z_m: float = COVERAGE_HEIGHT_M) -> np.ndarray:
    """How many cameras see the centre of each floor cell: (nx, ny) counts, x east, y north."""
    w, d = info.floor_m
    xs = (np.arange(int(math.ceil(w / cell_m))) + 0.5) * cell_m
    ys = (np.arange(int(math.ceil(d / cell_m))) + 0.5) * cell_m
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    pts = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, z_m)], axis=1)
    count = np.zeros(gx.size, dtype=np.int32)
    for cal in info.cameras:
        uv, z = cal.project(pts)
        seen = (z > 0) & (z <= max_range_m) & (uv[:, 0] >= -0.5) & (uv[:, 0] <= cal.width - 0.5)
        seen &= (uv[:, 1] >= -0.5) & (uv[:, 1] <= cal.height - 0.5)
        count += seen
    return count.reshape(gx.shape)


class FloorMap:
    def __init__(self, info: StoreInfo, depth_max_m: float) -> None:
        self.info = info
        self.floor_m = info.floor_m
        self.rect = pygame.Rect(0, 0, 1, 1)
        self.content = pygame.Rect(0, 0, 1, 1)
        self.footprints = {c.camera_id: floor_footprint(c) for c in info.cameras}
        self.coverage = coverage_counts(info, COVERAGE_CELL_M, depth_max_m)
        self._static: pygame.Surface | None = None
        self._heat: pygame.Surface | None = None
        self._size = None
        self.scale = 1.0
        self.origin = (0.0, 0.0)

    # -- geometry -------------------------------------------------------------------------------------

    def layout(self, content: pygame.Rect) -> None:
        if content.size == self._size and content.topleft == self.content.topleft:
            return
        self.content = content
        self._size = content.size
        w, d = self.floor_m
        self.scale = min(content.w / (w + 2 * PAD_M), content.h / (d + 2 * PAD_M))
        self.origin = (content.x + (content.w - w * self.scale) / 2, content.y + content.h - (content.h - d * self.scale) / 2)
        self._static = self._heat = None

    def to_px(self, x: float, y: float) -> tuple[int, int]:
        return int(round(self.origin[0] + x * self.scale)), int(round(self.origin[1] - y * self.scale))

    def to_world(self, px: int, py: int) -> tuple[float, float]:
        return (px - self.origin[0]) / self.scale, (self.origin[1] - py) / self.scale

    def pick(self, pos: tuple[int, int], shoppers) -> str | None:
        """The shopper nearest a click on the map (within `PICK_RADIUS_M`), or None."""
        if not self.content.collidepoint(pos):
            return None
        x, y = self.to_world(*pos)
        best = min(shoppers, key=lambda s: math.hypot(s.x - x, s.y - y), default=None)
        if best is None or math.hypot(best.x - x, best.y - y) > PICK_RADIUS_M:
            return None
        return best.id

    # -- drawing --------------------------------------------------------------------------------------

    def _build_static(self) -> pygame.Surface:
        surf = pygame.Surface(self.content.size)
        surf.fill(ui.PANEL)
        off = pygame.Vector2(self.content.topleft)

        def px(x, y):
            return pygame.Vector2(self.to_px(x, y)) - off

        w, d = self.floor_m
        pygame.draw.polygon(surf, FLOOR, [px(0, 0), px(w, 0), px(w, d), px(0, d)])
        pygame.draw.polygon(surf, (150, 150, 140), [px(0, 0), px(w, 0), px(w, d), px(0, d)], 2)
        for g in self.info.gondolas:
            fx, fy = {"north": (0, 1), "south": (0, -1), "east": (1, 0), "west": (-1, 0)}[g.facing]
            hl, hd = g.length_m / 2, g.depth_m / 2
            ext = (hd, hl) if fx else (hl, hd)
            a, b = px(g.at[0] - ext[0], g.at[1] + ext[1]), px(g.at[0] + ext[0], g.at[1] - ext[1])
            pygame.draw.rect(surf, GONDOLA, pygame.Rect(a, b - a))
        for b in self.info.bins:  # the front edge of each bin (shelves stack, so the plan shows one tick per bin)
            if b.shelf != 1:
                continue
            cx, cy = b.center[0] + b.facing[0] * b.depth_m / 2, b.center[1] + b.facing[1] * b.depth_m / 2
            hw = b.width_m / 2 - 0.02
            p0 = px(cx - b.right[0] * hw, cy - b.right[1] * hw)
            p1 = px(cx + b.right[0] * hw, cy + b.right[1] * hw)
            pygame.draw.line(surf, (175, 180, 190), p0, p1, 3)
        for g in self.info.gondolas:
            text_pos = px(*g.at)
            f = pygame.font.Font(None, 20)
            label = f.render(g.id, True, (230, 230, 235))
            surf.blit(label, label.get_rect(center=text_pos))
        for gate in self.info.gates:
            x, y = gate.at
            along = (1, 0) if abs(y) < 1e-6 or abs(y - d) < 1e-6 else (0, 1)
            h = gate.width_m / 2
            colour = ENTRY if gate.kind == "entry" else EXIT
            pygame.draw.line(surf, colour, px(x - along[0] * h, y - along[1] * h), px(x + along[0] * h, y + along[1] * h), 5)
            f = pygame.font.Font(None, 16)
            label = f.render(gate.id, True, colour)
            p = px(x, y)
            surf.blit(label, label.get_rect(center=(p.x, p.y + (10 if y < 1e-6 else -10))))
        return surf

    def _build_heat(self) -> pygame.Surface:
        counts = np.clip(self.coverage, 0, len(COVERAGE_COLOURS) - 1)
        rgb = COVERAGE_COLOURS[counts]  # (nx, ny, 3), x east, y north
        small = pygame.surfarray.make_surface(np.ascontiguousarray(rgb[:, ::-1]))  # pygame rows go down = south
        w, d = self.floor_m
        size = (max(1, int(round(w * self.scale))), max(1, int(round(d * self.scale))))
        heat = pygame.transform.scale(small, size)
        heat.set_alpha(120)
        return heat

    def draw(self, screen: pygame.Surface, text: ui.Text, snap, app) -> None:
        note = "1 footprints  2 coverage  3 truth  4 tracks  5 hands"
        self.layout(ui.panel(screen, self.rect, "Floor map", text, note))
        if self._static is None:
            self._static = self._build_static()
        screen.blit(self._static, self.content.topleft)
        layers = app.layers
        w, d = self.floor_m
        clip = screen.get_clip()
        screen.set_clip(self.content)
        if layers["coverage"]:
            if self._heat is None:
                self._heat = self._build_heat()
            screen.blit(self._heat, self.to_px(0, d))
        if layers["footprints"]:
            selected_cam = app.camera_id
            for cam, fp in self.footprints.items():
                if fp is None:
                    continue
                pts = [self.to_px(*p) for p in fp]
                sel = cam == selected_cam
                pygame.draw.polygon(screen, ui.ACCENT if sel else (95, 110, 140), pts, 2 if sel else 1)
                c = self.to_px(*fp.mean(axis=0))
                text.draw(screen, cam, (c[0] - 14, c[1] - 6), 15, ui.ACCENT if sel else (120, 135, 165))
        if snap is not None:
            self._draw_live(screen, text, snap, app)
        screen.set_clip(clip)
        if layers["coverage"]:
            self._legend(screen, text)

    def _draw_live(self, screen: pygame.Surface, text: ui.Text, snap, app) -> None:
        layers = app.layers
        if layers["hands"]:
            bins = {b.id: b for b in self.info.bins}
            for bin_id in snap.hand_bins:
                b = bins.get(bin_id)
                if b is None:
                    continue
                cx, cy = b.center[0], b.center[1]
                hw, hd = b.width_m / 2, b.depth_m / 2
                corners = [(cx + sr * b.right[0] * hw + sf * b.facing[0] * hd, cy + sr * b.right[1] * hw + sf * b.facing[1] * hd)
                           for sr, sf in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
                pygame.draw.polygon(screen, HAND_BIN, [self.to_px(*p) for p in corners])
        r = max(4, int(0.25 * self.scale))
        if layers["truth"]:
            for s in snap.shoppers:
                p = self.to_px(s.x, s.y)
                colour = ui.colour_for(s.account)
                pygame.draw.circle(screen, colour, p, r)
                pygame.draw.circle(screen, ui.TRUTH, p, r, 1)
                if s.id == app.selected:
                    pygame.draw.circle(screen, (255, 255, 0), p, r + 5, 2)
                text.draw(screen, s.id, (p[0] - r, p[1] - r - 15), 15, ui.TEXT)
        if layers["tracks"] and snap.tracks is not None:
            for tid, acct, x, y in snap.tracks:
                p = self.to_px(x, y)
                colour = ui.colour_for(acct) if acct else ui.TRACK
                rect = pygame.Rect(0, 0, 2 * r + 4, 2 * r + 4)
                rect.center = p
                pygame.draw.rect(screen, ui.TRACK, rect, 2)
                pygame.draw.line(screen, colour, (rect.left, rect.bottom), (rect.right, rect.top), 2)
                text.draw(screen, f"T{tid}", (p[0] + r + 3, p[1] + 2), 14, ui.TRACK)

    def _legend(self, screen: pygame.Surface, text: ui.Text) -> None:
        x, y = self.content.x + 6, self.content.bottom - 18
        text.draw(screen, "cameras:", (x, y + 1), 15, ui.DIM)
        x += 52
        for k, c in enumerate(COVERAGE_COLOURS):
            pygame.draw.rect(screen, tuple(int(v) for v in c), (x, y, 14, 14))
            label = f"{k}+" if k == len(COVERAGE_COLOURS) - 1 else str(k)
            text.draw(screen, label, (x + 17, y + 1), 15, ui.TEXT)
            x += 36
