"""The desktop window, driven headless (SDL's dummy video driver) by real pygame input events."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

os.environ["SDL_VIDEODRIVER"] = "dummy"  # before pygame opens a display
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np
import pygame
import pytest

from sim.stream import CameraCalibration, GateInfo, StoreInfo
from viewer.app import App
from viewer.episode import SPEEDS, InlineHost, ReceiptView, Snapshot
from viewer.orbit import OrbitCamera
from viewer.panels.accounts import draw_accounts
from viewer.panels.floormap import coverage_counts, floor_footprint
from viewer import ui

ROOT = Path(__file__).resolve().parent.parent
TINY_STORE = ROOT / "assets" / "stores" / "tiny_store.yaml"
PICK_ONE = ROOT / "assets" / "scenarios" / "pick-one.yaml"  # alice takes a cola from A-1-1 in the tiny store


@pytest.fixture
def store_app():
    app = App(InlineHost(str(TINY_STORE), seed=0), max_fps=1000)
    yield app
    app.close()


@pytest.fixture
def scenario_app():
    app = App(InlineHost(str(PICK_ONE), seed=0), max_fps=1000)
    yield app
    app.close()


def key(app: App, k: int, mod: int = 0, frames: int = 1) -> None:
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=k, mod=mod, unicode="", scancode=0))
    for _ in range(frames):
        app.frame()


def click(app: App, pos: tuple[int, int], button: int = 1) -> None:
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=button))
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=pos, button=button))
    app.frame()


def run_until(app: App, cond, max_frames: int = 600) -> None:
    for _ in range(max_frames):
        app.frame()
        if cond():
            return
    raise AssertionError("condition not met within the frame limit")


def region(app: App, rect: pygame.Rect) -> np.ndarray:
    return pygame.surfarray.array3d(app.screen)[rect.left:rect.right, rect.top:rect.bottom]


def worker(app: App):
    return app.host.worker


# --- controls ---------------------------------------------------------------------------------------------------


def test_space_pauses_the_sim_and_space_again_resumes_it(store_app):
    app = store_app
    run_until(app, lambda: app.t_s > 0)
    key(app, pygame.K_SPACE)
    assert app.paused and worker(app).paused
    frozen = worker(app).sim.clock.tick
    for _ in range(5):
        app.frame()
    assert worker(app).sim.clock.tick == frozen
    key(app, pygame.K_SPACE)
    assert not app.paused and not worker(app).paused
    run_until(app, lambda: worker(app).sim.clock.tick > frozen)


def test_step_key_advances_exactly_one_physics_step(store_app):
    app = store_app
    key(app, pygame.K_SPACE)
    tick, t = worker(app).sim.clock.tick, app.t_s
    key(app, pygame.K_n)
    assert worker(app).sim.clock.tick == tick + 1
    assert app.t_s == pytest.approx(t + worker(app).sim.clock.dt_s, abs=1e-12)
    key(app, pygame.K_PERIOD, frames=3)
    assert worker(app).sim.clock.tick == tick + 2
    assert app.paused


def test_step_while_running_pauses_and_steps_once(store_app):
    app = store_app
    run_until(app, lambda: app.t_s > 0)
    tick = worker(app).sim.clock.tick
    key(app, pygame.K_n)
    assert app.paused
    assert worker(app).sim.clock.tick == tick + 1


def test_speed_keys_walk_the_ladder_and_stop_at_its_ends(store_app):
    app = store_app
    assert app.speed == 1.0
    key(app, pygame.K_EQUALS)
    key(app, pygame.K_PLUS)
    assert app.speed == 4.0 and worker(app).speed == 4.0
    for _ in range(4):
        key(app, pygame.K_EQUALS)
    assert app.speed == max(SPEEDS) == 8.0
    for _ in range(len(SPEEDS) + 2):
        key(app, pygame.K_MINUS)
    assert app.speed == min(SPEEDS) == 0.25 and worker(app).speed == 0.25


def test_sim_never_runs_ahead_of_the_asked_speed(store_app):
    app = store_app
    w = worker(app)
    key(app, pygame.K_SPACE)
    w.handle(("speed", 0.25))
    w.handle(("pause", False))
    t0 = w.sim.t_s
    import time

    start = time.perf_counter()
    for _ in range(20):
        w.advance(budget_s=1.0)
        time.sleep(0.01)
    wall = time.perf_counter() - start
    assert w.sim.t_s - t0 <= 0.25 * wall + w.sim.clock.dt_s + 1e-9


# --- selection and inspection -----------------------------------------------------------------------------------


def test_clicking_a_shopper_on_the_map_selects_and_inspects_it(scenario_app):
    app = scenario_app
    key(app, pygame.K_EQUALS, frames=0)
    key(app, pygame.K_EQUALS, frames=0)
    key(app, pygame.K_EQUALS)  # 8x: alice walks in sooner
    run_until(app, lambda: any(s.id == "alice" and s.inside for s in app.snapshot.shoppers), max_frames=900)
    key(app, pygame.K_SPACE)
    alice = next(s for s in app.snapshot.shoppers if s.id == "alice")
    click(app, app.floormap.to_px(alice.x, alice.y))
    assert app.selected == "alice" and worker(app).selected == "alice"
    app.frame()
    info = app.snapshot.inspect
    assert info["id"] == "alice" and info["account"] == "acct-1"
    assert info["script"] == ["pick sku=cola-330 qty=1 bin=A-1-1"]
    assert info["status"] != "waiting to enter"
    # a click on empty floor, far from anyone, clears the selection
    far = app.floormap.to_px(0.3, 4.7)
    click(app, far)
    assert app.selected is None


def test_tab_selects_the_next_shopper_and_f_makes_the_3d_view_follow_it(scenario_app):
    app = scenario_app
    run_until(app, lambda: bool(app.snapshot.shoppers), max_frames=900)
    key(app, pygame.K_TAB)
    assert app.selected == app.snapshot.shoppers[0].id
    key(app, pygame.K_f)
    assert app.view3d.follow
    s = next(s for s in app.snapshot.shoppers if s.id == app.selected)
    app.frame()
    assert app.view3d.orbit.target[:2] == pytest.approx((s.x, s.y), abs=0.5)


def test_the_window_resizes_and_the_panels_follow(store_app):
    app = store_app
    app.frame()
    small = app.rects["floormap"].copy()
    pygame.event.post(pygame.event.Event(pygame.VIDEORESIZE, w=1600, h=900, size=(1600, 900)))
    app.frame()
    assert app.screen.get_size() == (1600, 900)
    assert app.rects["floormap"].w > small.w and app.rects["floormap"].h > small.h
    assert app.floormap.content.w == app.rects["floormap"].w - 2


def test_spawn_key_walks_a_persona_shopper_in(store_app):
    app = store_app
    before = len(worker(app).sim.actors)
    key(app, pygame.K_p)
    actors = worker(app).sim.actors
    assert len(actors) == before + 1
    assert actors[-1].persona in app.info.personas
    run_until(app, lambda: any(s.id == actors[-1].id for s in app.snapshot.shoppers), max_frames=600)


def test_restart_key_starts_again_with_the_next_seed(store_app):
    app = store_app
    run_until(app, lambda: app.t_s > 0.1)
    seed = app.info.seed
    key(app, pygame.K_r)
    assert app.info.seed == seed + 1 and worker(app).seed == seed + 1
    assert app.t_s < 0.1
    key(app, pygame.K_r, mod=pygame.KMOD_SHIFT)
    assert app.info.seed == seed + 1


# --- panels draw real content -----------------------------------------------------------------------------------


def test_floor_map_draws_gondolas_and_the_coverage_layer_changes_it(store_app):
    app = store_app
    app.frame()
    fm = app.floormap
    gondola = fm.to_px(3.0, 3.0)  # between the two gondolas of the island
    floor = fm.to_px(1.0, 1.0)
    px = pygame.surfarray.array3d(app.screen)
    assert tuple(px[gondola]) != tuple(px[floor])
    before = region(app, fm.content).copy()
    key(app, pygame.K_2)
    assert app.layers["coverage"]
    after = region(app, fm.content)
    assert np.abs(after.astype(int) - before).sum(axis=2).astype(bool).mean() > 0.2
    key(app, pygame.K_1)
    assert not app.layers["footprints"]


def test_camera_keys_cycle_cameras_and_the_panel_shows_that_cameras_frame(store_app):
    app = store_app
    ids = app.camera_ids
    assert len(ids) >= 2
    key(app, pygame.K_c)
    assert app.camera_id == ids[1] and worker(app).camera_id == ids[1]
    key(app, pygame.K_c, mod=pygame.KMOD_SHIFT)
    key(app, pygame.K_c, mod=pygame.KMOD_SHIFT)
    assert app.camera_id == ids[-1]
    run_until(app, lambda: app.camera.frame is not None and app.camera.frame.camera_id == ids[-1])
    app.frame()
    img = region(app, app.camera.content).reshape(-1, 3)
    assert img.std(axis=0).max() > 10  # a picture of the store, not a flat panel
    rgb_view = img.copy()
    key(app, pygame.K_d)
    assert app.camera_mode == "depth"
    assert np.abs(region(app, app.camera.content).reshape(-1, 3).astype(int) - rgb_view).max() > 50


def test_3d_view_shows_the_store_and_follows_the_mouse(store_app):
    app = store_app
    run_until(app, lambda: app.view3d.image is not None)
    app.frame()
    img = region(app, app.view3d.content).reshape(-1, 3)
    assert img.std(axis=0).max() > 20
    orbit = app.view3d.orbit
    centre = app.view3d.content.center
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=centre, button=1))
    pygame.event.post(pygame.event.Event(pygame.MOUSEMOTION, pos=(centre[0] + 40, centre[1]), rel=(40, 10), buttons=(1, 0, 0)))
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(centre[0] + 40, centre[1]), button=1))
    app.frame()
    assert app.view3d.orbit.yaw_rad != orbit.yaw_rad and app.view3d.orbit.pitch_rad != orbit.pitch_rad
    dist = app.view3d.orbit.distance_m
    pygame.event.post(pygame.event.Event(pygame.MOUSEMOTION, pos=centre, rel=(0, 0), buttons=(0, 0, 0)))
    pygame.event.post(pygame.event.Event(pygame.MOUSEWHEEL, x=0, y=2, flipped=False))
    app.frame()
    assert app.view3d.orbit.distance_m == pytest.approx(dist * 0.88 ** 2)
    target = app.view3d.orbit.target
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=centre, button=3))
    pygame.event.post(pygame.event.Event(pygame.MOUSEMOTION, pos=(centre[0] + 30, centre[1]), rel=(30, 0), buttons=(0, 0, 1)))
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(centre[0] + 30, centre[1]), button=3))
    app.frame()
    assert app.view3d.orbit.target != target and app.view3d.orbit.target[2] == target[2]  # panned along the floor
    key(app, pygame.K_t)
    assert app.view3d.orbit.pitch_rad > math.radians(85)


def test_help_overlay_toggles_and_draws_over_the_window(store_app):
    app = store_app
    app.frame()
    centre = pygame.Rect(0, 0, 200, 100)
    centre.center = app.screen.get_rect().center
    before = region(app, centre).copy()
    key(app, pygame.K_h)
    assert app.help_visible
    assert np.abs(region(app, centre).astype(int) - before).max() > 30
    key(app, pygame.K_F1)
    assert not app.help_visible


def test_event_log_and_accounts_show_the_scan_of_a_walking_shopper(scenario_app):
    app = scenario_app
    for _ in range(3):
        key(app, pygame.K_EQUALS, frames=0)
    run_until(app, lambda: any(e.kind == "scan" for e in app.snapshot.truth_events), max_frames=1200)
    app.frame()
    log = region(app, app.rects["events"]).reshape(-1, 3)
    assert (np.abs(log.astype(int) - ui.GOOD).sum(axis=1) < 40).sum() > 20  # the green scan line
    assert "acct-1" in app.snapshot.truth_carts


def test_accounts_panel_marks_a_cart_that_differs_from_the_truth():
    pygame.display.init()
    pygame.font.init()
    surf = pygame.Surface((320, 300))
    text = ui.Text()
    snap = _snapshot(stack={"acct-1": {"cola-330": 1}}, truth={"acct-1": {"cola-330": 1}})
    rect = surf.get_rect()
    draw_accounts(surf, rect, text, snap, None)
    red = lambda s: (np.abs(pygame.surfarray.array3d(s).reshape(-1, 3).astype(int) - ui.BAD).sum(axis=1) < 30).sum()
    assert red(surf) == 0
    draw_accounts(surf, rect, text, _snapshot(stack={"acct-1": {}}, truth={"acct-1": {"cola-330": 1}}), None)
    assert red(surf) > 20


# --- geometry ---------------------------------------------------------------------------------------------------


def test_coverage_of_one_downward_camera_is_its_floor_footprint():
    h, fov, w_px, h_px = 3.0, 90.0, 320, 240
    f = (w_px / 2) / math.tan(math.radians(fov) / 2)
    cal = CameraCalibration("cam-1", w_px, h_px, (f, 0, (w_px - 1) / 2, 0, f, (h_px - 1) / 2, 0, 0, 1), (0.0,) * 5,
                            (1, 0, 0, 0, -1, 0, 0, 0, -1), (-5.0, 5.0, 3.0), 10.0)
    info = StoreInfo(0.0, "t", (10.0, 10.0), (GateInfo("in", "entry", (1, 0), 0.9),), (), (), (), (), (cal,), 60.0, 12)
    fp = floor_footprint(cal)
    assert fp is not None
    half_w, half_h = h * (w_px / 2) / f, h * (h_px / 2) / f
    assert np.allclose(np.sort(fp[:, 0])[[0, -1]], [5 - half_w * (w_px - 1) / w_px, 5 + half_w * (w_px - 1) / w_px], atol=1e-6)
    cell = 0.05
    counts = coverage_counts(info, cell, max_range_m=10.0)
    assert counts.max() == 1
    assert counts.sum() * cell * cell == pytest.approx(4 * half_w * half_h, rel=0.05)
    assert coverage_counts(info, cell, max_range_m=2.0).sum() == 0  # the floor is 3 m away: out of range


def test_orbit_camera_puts_its_target_at_the_image_centre():
    cam = OrbitCamera((2.0, 3.0, 0.5), 0.7, 0.6, 6.0)
    pin = cam.pinhole(400, 300)
    R, t = np.array(pin.R).reshape(3, 3), np.array(pin.t)
    pc = R @ np.array(cam.target) + t
    u, v = pin.fx * pc[0] / pc[2] + pin.cx, pin.fy * pc[1] / pc[2] + pin.cy
    assert pc[2] == pytest.approx(6.0)
    assert (u, v) == pytest.approx((pin.cx, pin.cy))
    above = R @ (np.array(cam.target) + [0, 0, 1.0]) + t
    assert pin.fy * above[1] / above[2] + pin.cy < v  # world up is image up


def test_gui_command_saves_a_screenshot(tmp_path):
    shot = tmp_path / "shot.png"
    env = dict(os.environ, SDL_VIDEODRIVER="dummy")
    out = subprocess.run(
        [sys.executable, "run_sim.py", "gui", str(TINY_STORE), "--frames", "20", "--screenshot", str(shot)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    img = pygame.image.load(str(shot))
    assert img.get_size() == (1280, 720)
    assert pygame.surfarray.array3d(img).reshape(-1, 3).std(axis=0).max() > 20


def test_gui_command_with_a_bad_file_is_one_line_and_exit_2(tmp_path):
    env = dict(os.environ, SDL_VIDEODRIVER="dummy")
    out = subprocess.run([sys.executable, "run_sim.py", "gui", str(tmp_path / "nope.yaml")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "nope.yaml" in out.stderr.strip().splitlines()[-1]


def _snapshot(stack, truth) -> Snapshot:
    return Snapshot(
        episode=1, t_s=1.0, tick=120, paused=False, speed=1.0, finished=False, realtime_factor=1.0, shoppers=[],
        tracks=[], hand_bins=set(), stack_carts=stack, truth_carts=truth, account_state={"acct-1": "inside"},
        receipts=[ReceiptView("acct-1", {"cola-330": 1}, None, 1.2, 0.9, False, 1.0, ())], truth_events=[],
        detected_events=[], metrics={}, inspect=None, recording=None, faults=[],
    )


def test_m_key_records_the_live_stream_to_an_mcap_log_that_replays(store_app, tmp_path, monkeypatch):
    from sim.recording import LogReader
    from sim.stream import LoadCellBatch

    monkeypatch.chdir(tmp_path)
    app = store_app
    key(app, pygame.K_SPACE)
    key(app, pygame.K_m)
    rec = worker(app).recorder
    assert rec is not None and app.snapshot.recording == str(rec.path)
    for _ in range(30):
        key(app, pygame.K_n)  # 30 physics steps: load-cell batches and camera frames
    written = rec.count
    key(app, pygame.K_m)
    assert worker(app).recorder is None and app.snapshot.recording is None
    log = LogReader(tmp_path / rec.path)
    msgs = list(log.messages())
    assert isinstance(msgs[0], StoreInfo)
    assert len(msgs) == written
    assert any(isinstance(m, LoadCellBatch) for m in msgs)
    assert log.truth() is not None


def test_watching_does_not_change_the_episode():
    """The window's 3-D renders, snapshots and stack read the world; the stream equals a headless run's."""
    from agents import build_simulation
    from agents.scenario import load_scenario
    from sim.stream import stream_digest
    from viewer.episode import EpisodeWorker

    steps = 240
    headless = build_simulation(load_scenario(PICK_ONE), seed=0)
    try:
        expected = stream_digest(m for _ in range(steps) for m in headless.step())
    finally:
        headless.close()
    w = EpisodeWorker(str(PICK_ONE), seed=0)
    try:
        seen: list = []
        feed = w._feed
        w._feed = lambda msg: (seen.append(msg), feed(msg))
        orbit = OrbitCamera.overlooking(w.store_info.floor_m)
        for k in range(steps):
            w.step_once()
            if k % 20 == 0:
                w.request_view(orbit.rotated(0.1 * k, 0.0).pinhole(160, 120))
                w.render_view(force=True)
                w.snapshot()
        assert stream_digest(seen) == expected
    finally:
        w.close()


def test_the_window_survives_its_sim_process_ending():
    from viewer.episode import ProcessHost

    app = App(ProcessHost(str(TINY_STORE), seed=0), max_fps=1000)
    try:
        app.frame()
        app.host._proc.kill()
        app.host._proc.join(timeout=10)
        for _ in range(5):
            key(app, pygame.K_SPACE)  # commands to a dead process are dropped, not raised
        assert app.host.dead
        assert app.running
    finally:
        app.close()
