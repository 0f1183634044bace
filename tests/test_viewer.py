"""The desktop window, driven headless (SDL's dummy video driver) by real pygame input events."""
from __future__ import annotations

import dataclasses
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
from viewer.app import STATUS_H, App
from viewer.episode import (SPEEDS, EventView, InlineHost, RateMeter, ReceiptView, ShopperView, Snapshot,
                            count_shelf_events, shelf_event_rows)
from viewer.orbit import OrbitCamera
from viewer.panels.accounts import doing_text, draw_accounts, role_text
from viewer.panels.eventlog import detected_line
from viewer.panels.floormap import coverage_counts, floor_footprint
from viewer.panels.labels import SIDES_CENTRED, Label, overlapping_pairs, place_labels
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


def drawn_text(app: App) -> list[tuple[str, pygame.Rect]]:
    """Draw one frame of the current snapshot; every string drawn, with the rectangle it covers."""
    seen: list[tuple[str, pygame.Rect]] = []
    real = app.text.draw

    def spy(target, s, pos, size=18, color=ui.TEXT, bold=False, right=False):
        width = real(target, s, pos, size, color, bold, right)
        rect = app.text.surface(s, size, color, bold).get_rect(topleft=pos)
        if right:
            rect.x -= width
        seen.append((s, rect))
        return width

    app.text.draw = spy
    try:
        app.draw()
    finally:
        del app.text.draw
    return seen


def drawn_in(drawn: list[tuple[str, pygame.Rect]], area: pygame.Rect) -> list[tuple[str, pygame.Rect]]:
    return [(s, r) for s, r in drawn if area.contains(r)]


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
    assert info["script"] == ["pick cola-330 from A-1-1"]  # in the words of the shopper's "doing" line
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


def test_accounts_panel_never_overprints_its_receipts_with_accounts_that_do_not_fit():
    pygame.display.init()
    pygame.font.init()
    text = ui.Text()
    drawn: list[pygame.Rect] = []
    real = text.draw
    text.draw = lambda target, s, pos, size=18, color=ui.TEXT, bold=False, right=False: (
        drawn.append(text.surface(s, size, color, bold).get_rect(**{"topright" if right else "topleft": pos})),
        real(target, s, pos, size, color, bold, right))[1]
    carts = {f"acct-{k}": {"cola-330": 1, "juice-1l": 1, "lemon-330": 1} for k in range(7)}
    snap = dataclasses.replace(_snapshot(stack=carts, truth=carts), account_state={a: "inside" for a in carts},
                               receipts=[ReceiptView(f"acct-{k}", {}, {}, 0.0, 0.9, False, 1.0, ()) for k in range(3)])
    for height in range(240, 420, 6):  # panel heights that cut the account list at every point of a block
        surf = pygame.Surface((308, height))
        drawn.clear()
        draw_accounts(surf, surf.get_rect(), text, snap, None)
        assert overlapping_pairs(drawn) == [], height


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


# --- what the window says must be true and readable (issue 20) ---------------------------------------------------


def test_header_shows_the_measured_speed_beside_the_asked_one(store_app):
    app = store_app
    for _ in range(3):
        key(app, pygame.K_EQUALS)  # asked 8x
    run_until(app, lambda: app.snapshot.realtime_factor is not None)
    header = pygame.Rect(0, 0, app.screen.get_width(), STATUS_H)
    live = app.snapshot.realtime_factor
    assert f"{live:.2f}x real time (asked 8x)" in [s for s, _ in drawn_in(drawn_text(app), header)]
    app.snapshot = dataclasses.replace(app.snapshot, realtime_factor=0.34)  # a sim that cannot keep up
    strings = [s for s, _ in drawn_in(drawn_text(app), header)]
    assert "0.34x real time (asked 8x)" in strings
    assert not any("8x" in s and "asked" not in s for s in strings)  # the asked speed is never shown as the speed
    app.toast("a long message " * 12)
    drawn = drawn_in(drawn_text(app), header)
    assert overlapping_pairs([r for _, r in drawn]) == [], [s for s, _ in drawn]  # a toast does not overprint it


def test_rate_meter_reads_sim_seconds_per_wall_second_over_its_window():
    meter = RateMeter(window_s=2.0, min_span_s=0.25)
    meter.add(0.0, 0.0)
    meter.add(0.1, 0.034)
    assert meter.sim_per_wall() is None  # too short a span to say
    for k in range(2, 31):  # 3 s at 0.34x
        meter.add(0.1 * k, 0.034 * k)
    assert meter.sim_per_wall() == pytest.approx(0.34)
    for k in range(1, 31):  # then 3 s at 2x: the window has forgotten the slow part
        meter.add(3.0 + 0.1 * k, 1.02 + 0.2 * k)
    assert meter.sim_per_wall() == pytest.approx(2.0)
    meter.reset()
    assert meter.sim_per_wall() is None


def test_live_speed_is_what_the_sim_clock_did_against_the_wall_clock(store_app):
    import time

    app = store_app
    key(app, pygame.K_MINUS)  # 0.5x; a speed change starts the measurement over
    t0, wall0 = app.t_s, time.perf_counter()
    run_until(app, lambda: time.perf_counter() - wall0 >= 1.0, max_frames=100000)
    measured = (app.t_s - t0) / (time.perf_counter() - wall0)
    assert measured > 0
    assert app.snapshot.realtime_factor == pytest.approx(measured, rel=0.15)
    assert app.snapshot.realtime_factor <= 0.5 * 1.15  # never ahead of the asked speed


def test_label_placer_moves_a_label_off_another_and_leaves_out_the_least_important():
    pygame.font.init()
    font = pygame.font.Font(None, 15)
    measure = lambda s, size: font.size(s)  # noqa: E731
    bounds = pygame.Rect(0, 0, 400, 300)
    cam = Label("cam-3", (200, 150), priority=0, colour=ui.TEXT, gap_px=0, sides=SIDES_CENTRED, short="3")
    alice = Label("alice", (200, 150), priority=5, colour=ui.TEXT, gap_px=4)
    placed, left_out = place_labels([cam, alice], measure, bounds)
    assert [p.label.text for p in placed] == ["alice", "cam-3"]  # the shopper first, though listed second
    assert overlapping_pairs([p.rect for p in placed]) == [] and not left_out
    # a panel so small that only one name fits: the camera goes
    tight = placed[0].rect.inflate(12, 8)
    tight.center = (200, 150 - placed[0].rect.h // 2 - 4)
    placed, left_out = place_labels([cam, alice], measure, tight)
    assert [p.text for p in placed] == ["alice"] and left_out == [cam]
    # nothing but the short form fits in a slot too narrow for the full one
    slot = pygame.Rect(0, 0, font.size("3")[0] + 4, font.size("3")[1] + 2)
    slot.center = (200, 150)
    placed, _ = place_labels([cam], measure, slot)
    assert [p.text for p in placed] == ["3"]


def test_floor_map_labels_never_overprint_and_shoppers_names_win(store_app):
    app = store_app
    app.frame()
    key(app, pygame.K_SPACE)
    fm = app.floormap
    cam_xy = next(fp for fp in fm.footprints.values() if fp is not None).mean(axis=0)
    gate = next(g for g in app.info.store_info.gates if g.id == "in-1")
    people = [("alice", *cam_xy), ("viewer-01", *gate.at), ("viewer-02", *gate.at), ("viewer-03", gate.at[0], -0.2),
              ("bob", gate.at[0] + 0.2, gate.at[1])]
    shoppers = [ShopperView(sid, f"acct-{sid}", float(x), float(y), True, ()) for sid, x, y in people]
    app.snapshot = dataclasses.replace(app.snapshot, shoppers=shoppers, tracks=[(1, "acct-bob", gate.at[0], 0.1)])
    drawn = drawn_in(drawn_text(app), fm.content)
    names = [s for s, _ in drawn]
    assert overlapping_pairs([r for _, r in drawn]) == [], names
    assert {sid for sid, *_ in people} <= set(names)  # every shopper named
    assert "in-1" in names and "A" in names and "B" in names  # the store's names too, where they fit
    assert all(r.colliderect(p.rect) is False for p in fm.placed for s in shoppers
               for r in [pygame.Rect(*fm.to_px(s.x, s.y), 1, 1)])  # no name over a shopper's dot
    assert drawn_in(drawn_text(app), fm.content) == drawn  # the same frame is laid out the same way


def test_a_scripted_shoppers_panel_says_scripted_and_which_step_of_how_many(scenario_app):
    app = scenario_app
    for _ in range(3):
        key(app, pygame.K_EQUALS, frames=0)
    app.want_selected = "alice"
    run_until(app, lambda: (app.snapshot.inspect or {}).get("step_index") == 0, max_frames=1500)
    key(app, pygame.K_SPACE)
    strings = [s for s, _ in drawn_in(drawn_text(app), app.rects["inspector"])]
    assert any(s.startswith("acct-1  scripted  (") for s in strings), strings
    assert "doing: step 1 of 1: pick cola-330 from A-1-1" in strings
    assert not any("persona -" in s or s.endswith(" -") for s in strings)


def test_a_persona_shoppers_panel_names_its_persona(store_app):
    app = store_app
    key(app, pygame.K_p)
    spawned = worker(app).sim.actors[-1]
    app.select(spawned.id)
    app.frame()
    info = app.snapshot.inspect
    assert role_text(info) == f"persona {spawned.persona}"
    strings = [s for s, _ in drawn_in(drawn_text(app), app.rects["inspector"])]
    assert any(f"persona {spawned.persona}" in s for s in strings)
    assert doing_text(info).startswith("doing: enter")  # not in yet: its script is drawn as it enters


def test_event_log_prints_a_quantity_as_a_count_and_a_sku():
    e = EventView(12.4, "take", "A-1-3", "water-500", 2, "acct-1", confidence=0.93)
    line = detected_line(e)
    assert "2 × water-500" in line and "2xwater" not in line
    assert "conf 0.93" in line and line.endswith("acct-1")
    assert "water-500" in detected_line(dataclasses.replace(e, qty=1)) and "×" not in detected_line(dataclasses.replace(e, qty=1))
    assert "put back" in detected_line(dataclasses.replace(e, kind="put_back"))


def test_shelf_event_counts_are_in_items_so_matched_never_exceeds_detected_or_true():
    from checkout.receipts import ShelfEvent

    truth = [EventView(5.0, "take", "A-1-1", "cola-330", 1, "acct-1"),
             EventView(9.0, "take", "A-1-3", "water-500", 1, "acct-1"),
             EventView(9.0, "take", "A-1-3", "water-500", 1, "acct-1")]
    detected = [ShelfEvent(5.1, "A-1-1", "take", "cola-330", 1, "acct-1", 0.9),
                ShelfEvent(9.1, "A-1-3", "take", "water-500", 2, "acct-1", 0.9)]  # one event, two items
    c = count_shelf_events(truth, detected)
    assert (c.true_items, c.detected_items, c.detected_events, c.matched) == (3, 3, 2, 3)
    assert c.matched <= min(c.true_items, c.detected_items)
    rows = shelf_event_rows(c)
    assert rows["true shelf events"] == "3 items (truth)"
    assert rows["detected by the stack"] == "3 items in 2 events"
    assert rows["matched to truth"] == "3 (0 missed, 0 spurious)"
    knocked = detected + [ShelfEvent(9.5, "B-1-1", "drop", "juice-1l", 1, "acct-1", 0.8)]
    c = count_shelf_events(truth[:1], knocked)  # the drop is no shelf event; one true water take is missing
    assert (c.true_items, c.detected_items, c.matched, c.missed, c.spurious, c.knocked_off) == (1, 3, 1, 0, 2, 1)
    assert shelf_event_rows(c)["detected by the stack"] == "3 items in 2 events"
    assert shelf_event_rows(c)["takes found knocked off"] == "1 item"


def test_live_metrics_follow_a_stack_event_revised_in_place(store_app):
    from checkout.receipts import ShelfEvent

    app = store_app
    key(app, pygame.K_SPACE)
    stack = worker(app).stack
    stack.events.append(ShelfEvent(0.5, "A-1-3", "take", "water-500", 2, None, 0.9))
    key(app, pygame.K_n)
    assert app.snapshot.metrics["detected by the stack"] == "2 items in 1 event"
    stack.events[-1] = dataclasses.replace(stack.events[-1], kind="drop", qty=1)  # same length, new content
    key(app, pygame.K_n)
    assert app.snapshot.metrics["detected by the stack"] == "0 items in 0 events"
    assert app.snapshot.metrics["takes found knocked off"] == "1 item"
    strings = [s for s, _ in drawn_in(drawn_text(app), app.rects["metrics"])]
    assert {"true shelf events", "0 items (truth)", "detected by the stack", "0 items in 0 events"} <= set(strings)
