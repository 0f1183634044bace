"""Camera benchmark: what a ceiling-camera frame costs, fast path against a full render, and log size.

    .venv/bin/python -m bench.cameras [--store PATH] [--shoppers 10] [--seconds 6] [--compare 2] [--stand-ins]

Reference: the default store (corner_store: 24 ceiling cameras on the 2.5 m grid, 320x240 depth and
320x180 colour from two imagers each, at 10 fps, 2,374 products) with 10 shoppers inside, each walking to and picking three products (real
`agents` shoppers through `agents.build_simulation`; `--stand-ins` uses visual-only articulated
stand-ins instead). The episode runs until all shoppers are inside, then `--seconds` are measured:

- fast: what the production rig pays per camera frame — `StoreRenderer.sync` (shared by the cameras of
  one sample, divided among them) plus `render` of its depth imager and of its colour imager (dynamic
  bodies only, composited over each one's cached background; background re-renders after takes
  included); the colour imager's share is shown apart;
- full: TinyRenderer renders of the whole store from the same two imagers, on `--compare` cameras per
  sample (those that see the most shoppers), and the agreement of the two: pixels whose depth agrees
  within 1 mm, pixels whose colour is identical;
- the store's light and the camera's exposure and white balance on each colour frame (`sim.lighting`, as the
  production rig applies it: only where the picture changed), device model (noise, quantisation) per frame,
  and recording (MCAP, zstd) per frame;
- MB per recorded minute of the whole stream (all cameras, load cells, gates).

Costs are CPU time of the benchmark's thread (`time.thread_time`), so other work on a shared machine
does not inflate them; pybullet renders on the calling thread.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STORE = ROOT / "assets" / "stores" / "corner_store.yaml"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.cameras", description=__doc__.split("\n")[0])
    p.add_argument("--store", default=str(DEFAULT_STORE))
    p.add_argument("--shoppers", type=int, default=10)
    p.add_argument("--seconds", type=float, default=6.0, help="sim seconds measured once every shopper is inside")
    p.add_argument("--compare", type=int, default=2, help="cameras per sample also rendered in full")
    p.add_argument("--stand-ins", action="store_true", help="visual-only stand-in bodies instead of agents shoppers")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from sim.cameras import device_image
    from sim.recording import LogWriter

    t0 = time.perf_counter()
    sim, pose_standins, inside = _episode(args)
    rig = sim.cameras
    assert rig is not None
    renderer = rig.renderer
    n_cams = len(rig.ids)
    print(f"store {sim.layout.name}: {n_cams} cameras {rig.settings.resolution[0]}x{rig.settings.resolution[1]} depth, "
          f"{rig.settings.rgb_resolution[0]}x{rig.settings.rgb_resolution[1]} colour at "
          f"{rig.settings.fps:g} fps, {sim.layout.item_count} products, {sim.world.body_count()} bodies; "
          f"{'stand-ins' if args.stand_ins else 'agents shoppers'}: {args.shoppers}; built in {time.perf_counter() - t0:.1f} s")

    clock = {"sync": 0.0, "render": 0.0, "renders": 0, "rgb_render": 0.0, "light": 0.0}  # the production path, unchanged
    real_sync, real_render = renderer.sync, renderer.render

    rig.lit_cameras = [_TimedLit(lit, clock) for lit in rig.lit_cameras]  # the light on each colour frame

    def timed_sync() -> None:
        t = time.thread_time()
        real_sync()
        clock["sync"] += time.thread_time() - t

    def timed_render(i: int):
        t = time.thread_time()
        out = real_render(i)
        spent = time.thread_time() - t
        clock["render"] += spent
        if i < n_cams:  # a depth imager: one per camera frame
            clock["renders"] += 1
        else:
            clock["rgb_render"] += spent
        return out

    renderer.sync, renderer.render = timed_sync, timed_render  # type: ignore[method-assign]

    t0 = time.perf_counter()
    warm_s = 0.0
    settle_until = None  # then one more second, so every camera has its background cached
    while sim.t_s < 120.0 and (settle_until is None or sim.t_s < settle_until):
        pose_standins(sim.t_s)
        sim.step()
        warm_s = sim.t_s
        if settle_until is None and inside() >= args.shoppers:
            settle_until = sim.t_s + 1.0
    print(f"warm-up: {warm_s:.1f} s of sim until {inside()} shoppers were inside ({time.perf_counter() - t0:.1f} s wall; "
          f"{renderer.background_renders} background renders so far)")

    for k in clock:
        clock[k] = 0
    bg_before = renderer.background_renders
    full_s, fast_cmp_s, device_s, record_s = [], [], [], []
    agree_depth, agree_rgb, compared_px, compared_rgb_px = 0, 0, 0, 0
    worst_depth = 1.0
    frames = 0
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "bench.mcap"
        log = LogWriter(log_path)
        log.write(sim.store_info())
        t_start = sim.t_s
        end_tick = sim.clock.tick + int(round(args.seconds / sim.clock.dt_s))
        while sim.clock.tick < end_tick:
            pose_standins(sim.t_s)
            out = sim.step()
            sampled = any(type(m).__name__ == "CameraFrame" for m in out) or sim.clock.due(rig.period_ticks)
            for m in out:
                t = time.thread_time()
                log.write(m)
                if type(m).__name__ == "CameraFrame":
                    record_s.append(time.thread_time() - t)
                    frames += 1
            if not sampled:
                continue
            for i in _busiest(renderer, n_cams, args.compare):
                t = time.thread_time()
                fast = real_render(n_cams + i)[0], real_render(i)[1]  # colour from its imager, depth from its own
                fast_cmp_s.append(time.thread_time() - t)
                t = time.thread_time()
                full = renderer.render_full(n_cams + i)[0], renderer.render_full(i)[1]
                full_s.append(time.thread_time() - t)
                ok_depth = np.abs(fast[1] - full[1]) <= 0.001
                agree_depth += int(ok_depth.sum())
                agree_rgb += int((fast[0] == full[0]).all(axis=-1).sum())
                compared_px += ok_depth.size
                compared_rgb_px += fast[0].shape[0] * fast[0].shape[1]
                worst_depth = min(worst_depth, float(ok_depth.mean()))
                t = time.thread_time()
                device_image(*fast, rig.settings, np.random.default_rng(0), rig.true_calibrations[i].K[0])
                device_s.append(time.thread_time() - t)
        log.close()
        measured_s = sim.t_s - t_start
        size_mb = log_path.stat().st_size / 1e6
    sim.close()

    fast_ms = (clock["sync"] + clock["render"]) / max(clock["renders"], 1) * 1e3
    full_ms = float(np.mean(full_s)) * 1e3
    print(f"measured {measured_s:.1f} s of sim: {clock['renders']} camera frames, "
          f"{renderer.background_renders - bg_before} background re-renders (takes, settling items)")
    per = max(clock["renders"], 1)
    print(f"full render (TinyRenderer, whole store):     {full_ms:7.2f} ms CPU per frame (depth + colour imager, n={len(full_s)})")
    print(f"fast path (production rig, all cameras):     {fast_ms:7.2f} ms CPU per frame  "
          f"(sync {clock['sync'] / per * 1e3:.2f} + render {clock['render'] / per * 1e3:.2f}, of which the colour imager "
          f"{clock['rgb_render'] / per * 1e3:.2f})")
    print(f"fast path on the compared (busiest) cameras: {np.mean(fast_cmp_s) * 1e3:7.2f} ms per frame")
    print(f"fast / full: {fast_ms / full_ms:.3f}  (target <= 0.2)")
    print(f"agreement on {len(full_s)} frames: depth within 1 mm on {agree_depth / compared_px * 100:.4f} % of pixels "
          f"(worst frame {worst_depth * 100:.3f} %), identical colour on {agree_rgb / max(compared_rgb_px, 1) * 100:.4f} %")
    print(f"store light and camera gains on colour (sim.lighting, production rig): {clock['light'] / per * 1e3:.2f} ms per frame")
    print(f"device model (noise, quantisation): {np.mean(device_s) * 1e3:.2f} ms per frame; "
          f"recording (JSON+base64, zstd): {np.mean(record_s) * 1e3:.2f} ms per frame")
    per_min = size_mb / measured_s * 60.0
    print(f"log: {size_mb:.1f} MB for {measured_s:.1f} s -> {per_min:.0f} MB per recorded minute "
          f"({per_min / n_cams:.0f} MB per camera-minute; {frames} frames, {frames / max(measured_s, 1e-9):.0f} frames/s)")
    return 0


class _TimedLit:
    """A camera's `sim.lighting.LitCamera`, its CPU time added to `clock["light"]`."""

    def __init__(self, lit, clock: dict) -> None:
        self.lit, self.clock = lit, clock

    def __call__(self, rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
        t = time.thread_time()
        out = self.lit(rgb, depth)
        self.clock["light"] += time.thread_time() - t
        return out


def _busiest(renderer, n_cams: int, k: int) -> list[int]:
    """The k cameras (by their depth imagers, the renderer's first `n_cams`) that see the most dynamic bodies now
    (ties: lowest index)."""
    boxes = renderer._dynamic_boxes
    counts = [int(cam.sees_boxes(boxes).sum()) if len(boxes) else 0 for cam in renderer.cameras[:n_cams]]
    return sorted(range(len(counts)), key=lambda i: (-counts[i], i))[:k]


def _episode(args):
    """(simulation, pose hook for stand-ins, how many shoppers are inside) for the reference episode."""
    from sim.layout import load_store

    layout = load_store(args.store)
    if args.stand_ins:
        from bench.standins import StandInShopper, aisle_loops
        from sim.simulation import Simulation

        sim = Simulation(layout, args.seed)
        loops = aisle_loops(layout.spec.floor_m, layout.spec.gondolas)
        standins = [StandInShopper(sim.world.client, loops[k % len(loops)], phase_m=1.7 * k, height_m=1.55 + 0.04 * k,
                                   colour_index=k) for k in range(args.shoppers)]
        for s in standins:
            sim.world.add_dynamic_body(s.body)
        taken = iter(sorted(sim.world.items)[::97])
        rng = np.random.default_rng(args.seed)

        def pose(t_s: float) -> None:  # stand-ins walk; now and then one "takes" an item into its hand
            for s in standins:
                s.pose(t_s)
            if sim.clock.tick % 240 == 0 and sim.clock.tick:
                item = next(taken, None)
                if item is not None:
                    import pybullet as pb

                    hand = standins[int(rng.integers(len(standins)))].hand_world()
                    pb.resetBasePositionAndOrientation(sim.world.items[item].body, hand, [0, 0, 0, 1], physicsClientId=sim.world.client)

        return sim, pose, lambda: len(standins)

    from agents import build_simulation
    from agents.scenario import Scenario

    scenario = Scenario("bench-cameras", str(Path(args.store).resolve()), seed=args.seed, duration_s=600.0)
    bins = [b for b, e in sorted(layout.spec.planogram.items()) if e.count >= 2]
    rng = np.random.default_rng(args.seed)
    for k in range(args.shoppers):
        shopper = scenario.add_shopper(f"s{k + 1}", enter_at_s=1.5 * k)
        for b in rng.choice(len(bins), size=3, replace=False):
            shopper.pick(layout.spec.planogram[bins[b]].sku, bin=bins[b])
        shopper.wait(60.0)
    sim = build_simulation(scenario, seed=args.seed)
    return sim, (lambda t_s: None), (lambda: len(sim.ledger.inside))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
