"""Benchmark: the desktop window's frame rate while a scenario runs (issue 7: >= 20 UI frames/s at 1280x720).

    python -m bench.viewer [SCENARIO|STORE ...] [--frames N] [--size WxH] [--speed X] [--inline]

For each target it opens the real window (SDL's dummy video driver unless a display is set), waits for
the episode to start and the first 3-D render, then measures three phases of N frames each:

- `still`:  the eye rests; the 3-D view refreshes from the moving bodies only;
- `orbit`:  a scripted left-drag turns the eye every frame (the 3-D view renders at half size);
- `follow`: the eye follows a selected shopper (if there is one).

Printed per phase: UI frames per second (frames / wall), the 95th-percentile frame time, how many new
3-D images arrived per second, the sim's speed (sim seconds per wall second) meanwhile as measured here,
the speed the window's header showed at the phase's end (its own moving-window measure: the two should
agree), and how many floor-map labels found no clear place in the last frame.
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TARGETS = [ROOT / "assets" / "scenarios" / "every-action.yaml", ROOT.parent / "shared" / "examples" / "scenarios" / "crowd.yaml"]


def measure(app, frames: int, each=None) -> dict:
    import numpy as np

    renders0, t0_sim = app.view3d.renders, app.t_s
    times = []
    start = time.perf_counter()
    for k in range(frames):
        if each is not None:
            each(app, k)
        a = time.perf_counter()
        app.frame()
        times.append(time.perf_counter() - a)
    wall = time.perf_counter() - start
    return {
        "fps": frames / wall,
        "p95_ms": 1000 * float(np.percentile(times, 95)),
        "view3d_per_s": (app.view3d.renders - renders0) / wall,
        "sim_speed": (app.t_s - t0_sim) / wall,
        "header_speed": app.snapshot.realtime_factor if app.snapshot is not None else None,
        "labels_left_out": len(app.floormap.left_out) if app.floormap is not None else 0,
    }


def bench_target(target: str, frames: int, size: tuple[int, int], speed: float, inline: bool,
                 max_fps: int) -> list[tuple[str, dict]]:
    import pygame

    from viewer.app import App
    from viewer.episode import InlineHost, ProcessHost

    t0 = time.perf_counter()
    host = InlineHost(target, None) if inline else ProcessHost(target, None)
    app = App(host, size, max_fps)
    build_s = time.perf_counter() - t0
    try:
        if speed != 1.0:
            app.speed = speed
            host.send(("speed", speed))
        deadline = time.perf_counter() + 120
        while (app.view3d.image is None or app.t_s < 0.5) and time.perf_counter() < deadline:
            app.frame()
        rows = [("still", measure(app, frames))]
        centre = app.view3d.content.center

        def drag(app, k):
            if k == 0:
                pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=centre, button=1))
            pygame.event.post(pygame.event.Event(pygame.MOUSEMOTION, pos=centre, rel=(3, 0), buttons=(1, 0, 0)))

        rows.append(("orbit", measure(app, frames, drag)))
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=centre, button=1))
        app.frame()
        if app.snapshot is not None and app.snapshot.shoppers:
            app.select(app.snapshot.shoppers[0].id)
            app.view3d.follow = True
            rows.append(("follow", measure(app, frames)))
        print(f"{Path(target).name}: built in {build_s:.1f} s; {len(app.camera_ids)} ceiling cameras; "
              f"{'inline' if inline else 'sim in its own process'}; window {size[0]}x{size[1]}")
        return rows
    finally:
        app.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.viewer", description=__doc__.splitlines()[0])
    p.add_argument("targets", nargs="*", help="scenario or store files (default: every-action and the shared crowd example)")
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--size", default="1280x720")
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--inline", action="store_true", help="sim in the window's process (the test host)")
    p.add_argument("--max-fps", type=int, default=30, help="the UI's frame cap, as in `gui` (default 30)")
    args = p.parse_args(argv)
    if "DISPLAY" not in os.environ and "WAYLAND_DISPLAY" not in os.environ:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    size = tuple(int(v) for v in args.size.lower().split("x"))
    targets = args.targets or [str(t) for t in DEFAULT_TARGETS if t.exists()]
    print(f"viewer benchmark: {args.frames} frames per phase, speed {args.speed:g}x, UI capped at {args.max_fps} fps, "
          f"{os.cpu_count()} CPUs")
    print(f"{'target':<22} {'phase':<7} {'UI fps':>7} {'p95 ms':>7} {'3-D img/s':>9} {'sim x real':>10} "
          f"{'header x':>8} {'labels out':>10}")
    for target in targets:
        for phase, r in bench_target(target, args.frames, size, args.speed, args.inline, args.max_fps):
            header = "n/a" if r["header_speed"] is None else f"{r['header_speed']:.2f}"
            print(f"{Path(target).stem:<22} {phase:<7} {r['fps']:7.1f} {r['p95_ms']:7.1f} {r['view3d_per_s']:9.1f} "
                  f"{r['sim_speed']:10.2f} {header:>8} {r['labels_left_out']:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
