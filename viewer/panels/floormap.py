"""The floor map: the store's plan with cameras, shoppers' true positions and the stack's tracks side by side.

Place in the data path: reads `StoreInfo` (the operator's floor plan and camera calibrations) for the
static layers and each `Snapshot` for the live ones. Layers (toggled by keys, see `viewer.app`):
camera footprints, a coverage heat map (how many cameras see each floor cell, from the calibrations),
true shoppers, the stack's tracks, and bins with a hand in them (truth). Every name on the map goes
through `viewer.panels.labels.place_labels`, so none overprints another (shoppers' names win).
"""
from __future__ import annotations

import math

import numpy as np
import pygame

from sim.stream import CameraCalibration, StoreInfo
from viewer import ui
from viewer.panels.labels import SIDES_AROUND, SIDES_CENTRED, SIDES_CORNERS, Label, Placed, place_labels

PAD_M = 1.2  # floor shown around the store: shoppers appear outside the entry gate
COVERAGE_CELL_M = 0.1
COVERAGE_HEIGHT_M = 0.0  # coverage of the floor itself
PICK_RADIUS_M = 0.7
GONDOLA = (92, 98, 110)
FLOOR = (54, 57, 64)
ENTRY = (90, 220, 120)
EXIT = (240, 110, 90)
HAND_BIN = (255, 150, 40)
# Which label wins a spot when two would overprint: the people first, then the stack's tracks, then the
# store's fixed names; the selected shopper and camera above their kind.
PRIORITY = {"selected shopper": 6, "shopper": 5, "track": 4, "gate": 3, "gondola": 2, "selected camera": 1, "camera": 0}
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
        self.placed: list[Placed] = []  # this frame's labels as drawn (for tests and the benchmark)
        self.left_out: list[Label] = []  # ... and those that fit nowhere
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
        for gate in self.info.gates:
            x, y = gate.at
            along = (1, 0) if abs(y) < 1e-6 or abs(y - d) < 1e-6 else (0, 1)
            h = gate.width_m / 2
            colour = ENTRY if gate.kind == "entry" else EXIT
            pygame.draw.line(surf, colour, px(x - along[0] * h, y - along[1] * h), px(x + along[0] * h, y + along[1] * h), 5)
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
        labels = self._static_labels()
        blocked: list[pygame.Rect] = []
        if layers["coverage"]:
            if self._heat is None:
                self._heat = self._build_heat()
            screen.blit(self._heat, self.to_px(0, d))
            blocked.append(self._legend_rect())
        if layers["footprints"]:
            labels += self._draw_footprints(screen, app.camera_id)
        if snap is not None:
            labels += self._draw_live(screen, snap, app, blocked)
        self.placed, self.left_out = place_labels(labels, lambda s, size: text.font(size).size(s), self.content, blocked)
        for p in self.placed:
            text.draw(screen, p.text, p.rect.topleft, p.label.size, p.label.colour)
        screen.set_clip(clip)
        if layers["coverage"]:
            self._legend(screen, text)

    def _static_labels(self) -> list[Label]:
        """Gondola ids on their footprints; gate ids just outside the wall they are in."""
        out = [Label(g.id, self.to_px(*g.at), PRIORITY["gondola"], (230, 230, 235), 20, 0, _along_gondola(g.facing))
               for g in self.info.gondolas]
        for gate in self.info.gates:
            x, y = gate.at
            colour = ENTRY if gate.kind == "entry" else EXIT
            out.append(Label(gate.id, self.to_px(x, y), PRIORITY["gate"], colour, 16, 4, _gate_sides(gate.at, self.floor_m)))
        return out

    def _draw_footprints(self, screen: pygame.Surface, selected_cam: str | None) -> list[Label]:
        labels = []
        for cam, fp in self.footprints.items():
            if fp is None:
                continue
            sel = cam == selected_cam
            pygame.draw.polygon(screen, ui.ACCENT if sel else (95, 110, 140), [self.to_px(*p) for p in fp], 2 if sel else 1)
            short = cam.rsplit("-", 1)[-1] if "-" in cam else None
            labels.append(Label(cam, self.to_px(*fp.mean(axis=0)), PRIORITY["selected camera" if sel else "camera"],
                                ui.ACCENT if sel else (120, 135, 165), 15, 2, SIDES_CENTRED, short))
        return labels

    def _draw_live(self, screen: pygame.Surface, snap, app, blocked: list[pygame.Rect]) -> list[Label]:
        """The live marks (hands in bins, shoppers, tracks); returns their labels and adds the marks to `blocked`."""
        layers = app.layers
        labels: list[Label] = []
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
                pygame.draw.circle(screen, ui.colour_for(s.account), p, r)
                pygame.draw.circle(screen, ui.TRUTH, p, r, 1)
                sel = s.id == app.selected
                if sel:
                    pygame.draw.circle(screen, (255, 255, 0), p, r + 5, 2)
                mark = r + (6 if sel else 0)  # the dot, or the ring around the selected one
                blocked.append(pygame.Rect(p[0] - mark, p[1] - mark, 2 * mark, 2 * mark))
                labels.append(Label(s.id, p, PRIORITY["selected shopper" if sel else "shopper"], ui.TEXT, 15, mark + 2))
        if layers["tracks"] and snap.tracks is not None:
            for tid, acct, x, y in snap.tracks:
                p = self.to_px(x, y)
                colour = ui.colour_for(acct) if acct else ui.TRACK
                rect = pygame.Rect(0, 0, 2 * r + 4, 2 * r + 4)
                rect.center = p
                pygame.draw.rect(screen, ui.TRACK, rect, 2)
                pygame.draw.line(screen, colour, (rect.left, rect.bottom), (rect.right, rect.top), 2)
                blocked.append(rect)
                labels.append(Label(f"T{tid}", p, PRIORITY["track"], ui.TRACK, 14, r + 4, SIDES_CORNERS))
        return labels

    def _legend_rect(self) -> pygame.Rect:
        x, y = self.content.x + 6, self.content.bottom - 18
        return pygame.Rect(x, y, 52 + 36 * len(COVERAGE_COLOURS), 16)

    def _legend(self, screen: pygame.Surface, text: ui.Text) -> None:
        x, y = self.content.x + 6, self.content.bottom - 18
        text.draw(screen, "cameras:", (x, y + 1), 15, ui.DIM)
        x += 52
        for k, c in enumerate(COVERAGE_COLOURS):
            pygame.draw.rect(screen, tuple(int(v) for v in c), (x, y, 14, 14))
            label = f"{k}+" if k == len(COVERAGE_COLOURS) - 1 else str(k)
            text.draw(screen, label, (x + 17, y + 1), 15, ui.TEXT)
            x += 36


def _along_gondola(facing: str) -> tuple[tuple[int, int], ...]:
    """A gondola's label candidates: its centre, then along its length (it stays on the gondola it names)."""
    step = (0, 1) if facing in ("east", "west") else (1, 0)
    return ((0, 0),) + tuple((k * step[0], k * step[1]) for n in (1, 2, 3, 4) for k in (-n, n))


def _gate_sides(at: tuple[float, float], floor_m: tuple[float, float]) -> tuple[tuple[int, int], ...]:
    """A gate's label candidates: just outside its wall first, then sliding along the wall, then further out
    and inside; people queue at a gate, so its label needs more places to go than one beside it."""
    x, y = at
    w, d = floor_m
    ox, oy = (0, 1) if y < 1e-6 else (0, -1) if abs(y - d) < 1e-6 else (-1, 0) if x < 1e-6 else (1, 0)
    ax, ay = abs(oy), abs(ox)  # along the wall (pixel y points south, so "outward" south is +1)
    sides = [(ox + k * ax, oy + k * ay) for k in (0, 1, -1, 2, -2)]
    sides += [(2 * ox + k * ax, 2 * oy + k * ay) for k in (0, 1, -1)]
    return tuple(sides) + tuple(s for s in SIDES_AROUND if s not in sides)
