"""The desktop window (`python run_sim.py gui [SCENARIO]`): state, input, layout, and the frame loop.

Place in the data path: the last layer. An episode host (`viewer.episode`) runs the simulation and the
checkout stack and hands back `Snapshot`s; the App keeps the window's own state (paused, speed, selected
shopper, camera, map layers, the 3-D eye), turns keys and mouse into host commands, and draws the panels.
The window never waits for the simulation: with the default `ProcessHost` the sim runs in its own process
at the chosen speed (as fast as it can, up to that), and each UI frame only drains what has arrived.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pygame

from sim.errors import InputError, Where
from viewer import ui
from viewer.episode import SPEEDS, EpisodeInfo, InlineHost, ProcessHost, Snapshot
from viewer.panels import help as help_panel
from viewer.panels.accounts import draw_accounts, draw_inspector
from viewer.panels.camera import CameraPanel
from viewer.panels.eventlog import draw_events, draw_metrics
from viewer.panels.floormap import FloorMap
from viewer.panels.view3d import View3D

MIN_SIZE = (1280, 720)
STATUS_H = 26
MAX_FPS = 30  # the UI's frame cap: above the 20 it must keep, and it leaves the CPU to the sim
LAYERS = ("footprints", "coverage", "truth", "tracks", "hands")


class App:
    def __init__(self, host, size: tuple[int, int] = MIN_SIZE, max_fps: int = MAX_FPS) -> None:
        self.host = host
        self.max_fps = max_fps
        pygame.display.init()  # not pygame.init(): no audio device is needed (or present on CI)
        pygame.font.init()
        pygame.display.set_caption("Store twin")
        self.screen = pygame.display.set_mode(size, pygame.RESIZABLE)
        self.text = ui.Text()
        self.clock = pygame.time.Clock()
        self.running = True
        self.paused = False
        self.speed = 1.0
        self.selected: str | None = None
        self.camera_index = 0
        self.camera_mode = "rgb"
        self.layers = {name: name != "coverage" for name in LAYERS}
        self.help_visible = False
        self.info: EpisodeInfo | None = None
        self.snapshot: Snapshot | None = None
        self.frames = 0
        self.fps = 0.0
        self._frame_times: list[float] = []
        self._toast: tuple[str, float] | None = None
        self._sent_view = None
        self.view3d: View3D | None = None
        self.floormap: FloorMap | None = None
        self.camera: CameraPanel | None = None
        self.rects: dict[str, pygame.Rect] = {}
        self.want_selected: str | None = None  # select this shopper as soon as it is in the store (--select)
        self._layout()
        self._poll()

    # -- state the tests and panels read --------------------------------------------------------------

    @property
    def camera_ids(self) -> list[str]:
        return [c.camera_id for c in self.info.store_info.cameras] if self.info else []

    @property
    def camera_id(self) -> str | None:
        ids = self.camera_ids
        return ids[self.camera_index % len(ids)] if ids else None

    @property
    def t_s(self) -> float:
        return self.snapshot.t_s if self.snapshot else 0.0

    def note(self, part: str) -> str | None:
        return self.info.notes.get(part) if self.info else None

    # -- the loop -------------------------------------------------------------------------------------

    def run(self, frames: int | None = None, screenshot: str | None = None) -> int:
        """Run until closed, or for `frames` frames; then save `screenshot` (a PNG) if asked."""
        while self.running and (frames is None or self.frames < frames):
            self.frame()
        if screenshot:
            self._settle_for_screenshot()
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            pygame.image.save(self.screen, screenshot)
        return 0

    def frame(self) -> None:
        """One UI frame: input, what the host sent, what to ask it for, drawing."""
        for event in pygame.event.get():
            self.handle(event)
        self._poll()
        self._request_view()
        self.draw()
        pygame.display.flip()
        self.clock.tick(self.max_fps)
        self._count_frame()

    def close(self) -> None:
        self.host.close()
        pygame.quit()

    def _poll(self) -> None:
        info, snap = self.host.poll()
        if info is not None:
            self._open(info)
        if snap is not None:
            self.snapshot = snap
            if snap.view3d is not None and self.view3d is not None:
                self.view3d.show(snap.view3d, snap.view_key)
            if snap.camera is not None and self.camera is not None:
                self.camera.show(snap.camera)
            if self.want_selected is not None and any(s.id == self.want_selected for s in snap.shoppers):
                self.select(self.want_selected)
                self.want_selected = None

    def _open(self, info: EpisodeInfo) -> None:
        """A new episode (start or restart): panels that depend on the store are rebuilt."""
        self.info = info
        si = info.store_info
        old = self.view3d
        self.view3d = View3D(si.floor_m)
        if old is not None and old.floor_m == si.floor_m:
            self.view3d.orbit = old.orbit
        self.floormap = FloorMap(si, info.depth_max_m)
        self.camera = CameraPanel(self.camera_ids, info.depth_max_m)
        self.camera_index = min(self.camera_index, max(0, len(self.camera_ids) - 1))
        self._sent_view = None
        self.selected = None
        self.host.send(("select", None))
        self.host.send(("camera", self.camera_id))
        self.host.send(("pause", self.paused))
        self.host.send(("speed", self.speed))
        self._layout()

    def _request_view(self) -> None:
        if self.view3d is None:
            return
        xy = None
        if self.selected is not None and self.snapshot is not None:
            s = next((s for s in self.snapshot.shoppers if s.id == self.selected), None)
            xy = (s.x, s.y) if s is not None else None
        cam = self.view3d.request(xy)
        if cam != self._sent_view:
            self.host.send(("view", cam))
            self._sent_view = cam

    def _count_frame(self) -> None:
        self.frames += 1
        now = time.perf_counter()
        self._frame_times.append(now)
        self._frame_times = self._frame_times[-31:]
        if len(self._frame_times) > 1:
            self.fps = (len(self._frame_times) - 1) / max(1e-9, self._frame_times[-1] - self._frame_times[0])

    def _settle_for_screenshot(self, timeout_s: float = 20.0) -> None:
        """Before a screenshot: keep drawing until the 3-D view is at full resolution and a camera frame is in."""
        end = time.perf_counter() + timeout_s
        while time.perf_counter() < end:
            v = self.view3d
            full = v is not None and v.image is not None and v.image.get_size() == v.content.size and not v.moving
            cam = self.camera is None or not self.camera_ids or self.camera.frame is not None
            if full and cam:
                break
            self.frame()
        self.frame()

    # -- input ----------------------------------------------------------------------------------------

    def handle(self, event: pygame.event.Event) -> None:
        if event.type == pygame.QUIT:
            self.running = False
        elif event.type == pygame.VIDEORESIZE:
            w, h = max(event.w, 640), max(event.h, 400)
            self.screen = pygame.display.set_mode((w, h), pygame.RESIZABLE)
            self._layout()
        elif event.type == pygame.KEYDOWN:
            self._key(event)
        elif self.view3d is not None and self.view3d.handle(event):
            pass
        elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1 and self.floormap is not None:
            if self.floormap.content.collidepoint(event.pos) and self.snapshot is not None:
                self.select(self.floormap.pick(event.pos, self.snapshot.shoppers))

    def _key(self, event: pygame.event.Event) -> None:
        k, shift = event.key, bool(event.mod & pygame.KMOD_SHIFT)
        if k in (pygame.K_ESCAPE, pygame.K_q):
            if self.help_visible and k == pygame.K_ESCAPE:
                self.help_visible = False
            else:
                self.running = False
        elif k in (pygame.K_h, pygame.K_F1):
            self.help_visible = not self.help_visible
        elif k == pygame.K_SPACE:
            self.set_paused(not self.paused)
        elif k in (pygame.K_n, pygame.K_PERIOD):
            self.step()
        elif k in (pygame.K_PLUS, pygame.K_EQUALS, pygame.K_KP_PLUS):
            self.change_speed(+1)
        elif k in (pygame.K_MINUS, pygame.K_KP_MINUS, pygame.K_UNDERSCORE):
            self.change_speed(-1)
        elif k == pygame.K_c:
            self.cycle_camera(-1 if shift else +1)
        elif k == pygame.K_d:
            self.camera_mode = "depth" if self.camera_mode == "rgb" else "rgb"
        elif pygame.K_1 <= k <= pygame.K_5:
            name = LAYERS[k - pygame.K_1]
            self.layers[name] = not self.layers[name]
        elif k == pygame.K_TAB:
            self.select_next()
        elif k == pygame.K_f and self.view3d is not None:
            self.view3d.follow = not self.view3d.follow and self.selected is not None
            if not self.view3d.follow:
                self.toast("follow: select a shopper first" if self.selected is None else "follow off")
        elif k == pygame.K_t and self.view3d is not None:
            self.view3d.top_view()
        elif k == pygame.K_o and self.view3d is not None:
            self.view3d.reset()
        elif k == pygame.K_p:
            self.spawn()
        elif k == pygame.K_r:
            self.restart(same_seed=shift)
        elif k == pygame.K_m:
            self.toggle_recording()

    # -- actions --------------------------------------------------------------------------------------

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.host.send(("pause", paused))

    def step(self) -> None:
        self.paused = True
        self.host.send(("step", 1))

    def change_speed(self, direction: int) -> None:
        i = min(range(len(SPEEDS)), key=lambda j: abs(SPEEDS[j] - self.speed))
        self.speed = SPEEDS[max(0, min(len(SPEEDS) - 1, i + direction))]
        self.host.send(("speed", self.speed))

    def cycle_camera(self, direction: int) -> None:
        if not self.camera_ids:
            return
        self.camera_index = (self.camera_index + direction) % len(self.camera_ids)
        self.host.send(("camera", self.camera_id))

    def show_camera(self, camera_id: str) -> bool:
        if camera_id not in self.camera_ids:
            return False
        self.camera_index = self.camera_ids.index(camera_id)
        self.host.send(("camera", camera_id))
        return True

    def select(self, shopper_id: str | None) -> None:
        self.selected = shopper_id
        self.host.send(("select", shopper_id))
        if shopper_id is None and self.view3d is not None:
            self.view3d.follow = False

    def select_next(self) -> None:
        ids = sorted(s.id for s in self.snapshot.shoppers) if self.snapshot else []
        if not ids:
            self.select(None)
            return
        nxt = ids[(ids.index(self.selected) + 1) % len(ids)] if self.selected in ids else ids[0]
        self.select(nxt)

    def spawn(self) -> None:
        why = self.note("spawn") or self.note("agents")
        if why:
            self.toast(why)
            return
        self.host.send(("spawn", None))
        self.toast("a persona shopper walks in at the entry gate")

    def restart(self, same_seed: bool = False) -> None:
        seed = self.info.seed if same_seed or self.info is None else self.info.seed + 1
        self.host.send(("restart", seed))
        self.toast(f"restarting with seed {seed}")

    def toggle_recording(self) -> None:
        self.host.send(("record", None))

    def toast(self, message: str, seconds: float = 4.0) -> None:
        self._toast = (message, time.perf_counter() + seconds)

    # -- layout and drawing ---------------------------------------------------------------------------

    def _layout(self) -> None:
        w, h = self.screen.get_size()
        body_h = h - STATUS_H
        lw, mw = int(w * 0.47), int(w * 0.29)
        rw = w - lw - mw
        top = STATUS_H
        v_h = int(body_h * 0.56)
        m_h = int(body_h * 0.47)
        a_h, i_h = int(body_h * 0.42), int(body_h * 0.33)
        self.rects = {
            "view3d": pygame.Rect(0, top, lw, v_h),
            "events": pygame.Rect(0, top + v_h, lw, body_h - v_h),
            "floormap": pygame.Rect(lw, top, mw, m_h),
            "camera": pygame.Rect(lw, top + m_h, mw, body_h - m_h),
            "accounts": pygame.Rect(lw + mw, top, rw, a_h),
            "inspector": pygame.Rect(lw + mw, top + a_h, rw, i_h),
            "metrics": pygame.Rect(lw + mw, top + a_h + i_h, rw, body_h - a_h - i_h),
        }
        if self.view3d is not None:
            self.view3d.rect = self.rects["view3d"]
            self.view3d.content = pygame.Rect(self.view3d.rect.x + 1, self.view3d.rect.y + ui.TITLE_H,
                                              self.view3d.rect.w - 2, self.view3d.rect.h - ui.TITLE_H - 1)
        if self.floormap is not None:
            self.floormap.rect = self.rects["floormap"]
            self.floormap.layout(pygame.Rect(self.floormap.rect.x + 1, self.floormap.rect.y + ui.TITLE_H,
                                             self.floormap.rect.w - 2, self.floormap.rect.h - ui.TITLE_H - 1))
        if self.camera is not None:
            self.camera.rect = self.rects["camera"]

    def draw(self) -> None:
        screen = self.screen
        screen.fill(ui.BG)
        snap = self.snapshot
        self._draw_status(screen, snap)
        stack_note = self.note("checkout")
        panels = [
            ("view3d", lambda: self.view3d is not None and self.view3d.draw(screen, self.text, None)),
            ("floormap", lambda: self.floormap is not None and self.floormap.draw(screen, self.text, snap, self)),
            ("camera", lambda: self.camera is not None and self.camera.draw(screen, self.text, self)),
            ("events", lambda: draw_events(screen, self.rects["events"], self.text, snap, stack_note)),
            ("accounts", lambda: draw_accounts(screen, self.rects["accounts"], self.text, snap, stack_note)),
            ("inspector", lambda: draw_inspector(screen, self.rects["inspector"], self.text, snap, self.selected)),
            ("metrics", lambda: draw_metrics(screen, self.rects["metrics"], self.text, snap, self)),
        ]
        for name, draw_panel in panels:
            screen.set_clip(self.rects[name])  # long lines stop at the panel's edge
            draw_panel()
        screen.set_clip(None)
        if self.help_visible:
            help_panel.draw(screen, self.text)

    def _draw_status(self, screen: pygame.Surface, snap: Snapshot | None) -> None:
        pygame.draw.rect(screen, (16, 18, 22), (0, 0, screen.get_width(), STATUS_H))
        x = 8
        title = f"{self.info.title}  |  seed {self.info.seed}" if self.info else "starting..."
        x += self.text.draw(screen, f"Store twin  |  {title}", (x, 5), 19, ui.TEXT, bold=True)
        if snap is not None:
            state = "FINISHED" if snap.finished else ("PAUSED" if self.paused else "RUNNING")
            colour = ui.DIM if snap.finished else (ui.WARN if self.paused else ui.GOOD)
            x += 18
            x += self.text.draw(screen, f"t = {snap.t_s:8.3f} s", (x, 5), 19, ui.TEXT)
            x += 14
            x += self.text.draw(screen, state, (x, 5), 19, colour, bold=True)
            x += 10
            x += self.text.draw(screen, ui.speed_text(snap.realtime_factor, self.speed, self.paused, snap.finished),
                                (x, 5), 19, ui.TEXT)
            x += 14
            x += self.text.draw(screen, f"UI {self.fps:4.1f} fps", (x, 5), 19, ui.DIM)
            if snap.recording:
                x += 14
                x += self.text.draw(screen, "REC " + os.path.basename(snap.recording), (x, 5), 19, ui.BAD, bold=True)
        message = None
        if self._toast and time.perf_counter() < self._toast[1]:
            message = self._toast[0]
        elif self.note("recording") and snap is not None and snap.recording is None:
            message = self.note("recording")
        dead = getattr(self.host, "dead", None)
        if dead:
            message = "the simulation stopped: " + dead.strip().splitlines()[-1]
        right = screen.get_width() - 8
        if message:  # right-aligned in the room the status line leaves: it must not overprint it
            room = right - 80 - (x + 24)
            self.text.draw(screen, ui.fit(self.text, message, 17, room), (right - 80, 6), 17, ui.WARN, right=True)
        self.text.draw(screen, "H: help", (right, 6), 17, ui.TITLE, right=True)


def run_gui(target: str, seed: int | None = None, frames: int | None = None, screenshot: str | None = None,
            size: tuple[int, int] = MIN_SIZE, inline: bool = False, mode: str = "fused", speed: float = 1.0,
            max_fps: int = MAX_FPS, select: str | None = None, camera: str | None = None) -> int:
    """The `gui` command: open the window on `target` (a scenario or a store file)."""
    host = InlineHost(target, seed, mode) if inline else ProcessHost(target, seed, mode)
    app = App(host, size, max_fps)
    app.want_selected = select
    if camera is not None and not app.show_camera(camera):
        app.close()
        raise InputError(Where(Path("--camera")), f"no camera '{camera}' (cameras are {', '.join(app.camera_ids)})")
    if speed != app.speed:
        app.speed = speed
        host.send(("speed", speed))
    try:
        return app.run(frames, screenshot)
    finally:
        app.close()
