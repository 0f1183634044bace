"""Benchmark: the whole pipeline's cost per simulated second, stage by stage (issue 17's reference).

    .venv/bin/python -m bench.pipeline [--store STORE] [--inside 10] [--seconds 60] [--cameras on|off]
                                       [--seed 0] [--cold] [--json F]

A persona crowd (quick 0.4, browser 0.3, returner 0.3; arrivals fast enough to fill the store in about
half a minute) is held at `--inside` shoppers in the store (the default, corner store: 2,374 items, 310
load cells at 60 Hz, 24 cameras at 320x240 and 10 fps, at the store's sensor defaults); once it first
holds that many, `--seconds` of simulated time are measured. One process runs everything a real episode
runs — physics, shoppers, load cells, gates, rendering, the camera device model, the fused stack,
scoring's truth sampling and the scoring at the end — and each is charged the CPU time it took
(`time.process_time`, so a busy machine does not distort it):

- build: `agents.build_simulation` (the store from the settled-store cache unless `--cold`: `sim.settled`)
- physics: `StoreWorld.step`; shoppers: every actor's `act` (the crowd spawner, the shoppers, the shelf watch)
- load cells, gates: their `sample`; rendering: `StoreRenderer.sync` and `.render`; device model: the rest of
  the camera rig's `sample` (noise, shadows, drops, timestamps)
- perception: the stack's `Perception.process`; stack: the rest of `CheckoutStack.consume` and `finish`
- scoring: `TruthTrace` sampling while the stream runs and `score_episode` at the end.

The fill-up before the measured window is not charged. Printed (and written to `--json`): CPU-s per
sim-s per stage, their total, the real-time factor on one core (sim-s per CPU-s), the build's CPU-s,
shoppers inside (mean, min, max) in the window, and the peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STORE = ROOT / "assets" / "stores" / "corner_store.yaml"
PERSONAS = {"quick": 0.4, "browser": 0.3, "returner": 0.3}  # as crowd-corner-25
STAGES = ("physics", "shoppers", "load cells", "gates", "rendering", "device model", "perception", "stack", "scoring")


class Charges:
    """CPU seconds per stage; `timed(stage, fn)` wraps a callable so that each call is charged to `stage`
    (nested stages are taken out of the outer one: a call inside a timed call charges only the inner)."""

    def __init__(self) -> None:
        self.cpu_s = dict.fromkeys(STAGES, 0.0)
        self._stack: list[list] = []  # [stage, started, inner seconds]

    def timed(self, stage: str, fn):
        def wrapper(*args, **kwargs):
            frame = [stage, time.process_time(), 0.0]
            self._stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                self._stack.pop()
                spent = time.process_time() - frame[1]
                self.cpu_s[stage] += spent - frame[2]
                if self._stack:
                    self._stack[-1][2] += spent
        return wrapper

    def reset(self) -> None:
        self.cpu_s = dict.fromkeys(STAGES, 0.0)


def run(store: Path, inside: int, seconds: float, cameras: bool, seed: int, cold: bool) -> dict:
    from agents import build_simulation
    from agents.scenario import Scenario
    from checkout.stack import CheckoutStack
    from scoring.driver import StreamDriver
    from scoring.episode import TruthTrace, catalog_prices, score_episode

    sc = Scenario("bench-pipeline", str(store), seed=seed, duration_s=3600.0, base_dir=ROOT)
    sc.crowd(arrivals_per_min=max(20.0, inside * 2.0), until_s=3600.0, max_inside=inside, personas=PERSONAS)
    before = os.environ.get("STORE_TWIN_SETTLED")
    if cold:
        os.environ["STORE_TWIN_SETTLED"] = "off"
    try:
        c0 = time.process_time()
        sim = build_simulation(sc, seed=seed, cameras=cameras)
        build_cpu_s = time.process_time() - c0
    finally:  # the setting is this build's, not the calling process's
        if before is None:
            os.environ.pop("STORE_TWIN_SETTLED", None)
        else:
            os.environ["STORE_TWIN_SETTLED"] = before
    charges = Charges()
    sim.world.step = charges.timed("physics", sim.world.step)
    sim.load_cells.sample = charges.timed("load cells", sim.load_cells.sample)
    sim.gates.sample = charges.timed("gates", sim.gates.sample)
    if sim.cameras is not None:
        sim.cameras.sample = charges.timed("device model", sim.cameras.sample)
        sim.cameras.renderer.sync = charges.timed("rendering", sim.cameras.renderer.sync)
        sim.cameras.renderer.render = charges.timed("rendering", sim.cameras.renderer.render)
    sim.step = charges.timed("shoppers", sim.step)  # what the step spends outside physics and sensors: the actors
    stack = CheckoutStack(mode="fused" if cameras else "weight")
    stack.consume = charges.timed("stack", stack.consume)
    stack.tracks = charges.timed("stack", stack.tracks)
    stack.finish = charges.timed("stack", stack.finish)
    trace = TruthTrace(sim)
    trace.saw = charges.timed("scoring", trace.saw)
    window: dict[str, float] = {}  # fill_s: when the crowd first held `inside`; end_s: when the measure ends
    counts: list[int] = []

    def measured():
        """The stream until `seconds` after the crowd first filled up; perception is charged once it exists
        (the stack makes it when the store's StoreInfo arrives)."""
        perception_timed = False
        for msg in sim.run(3600.0, stop_when_done=False):
            if not perception_timed and getattr(stack, "perception", None) is not None:
                stack.perception.process = charges.timed("perception", stack.perception.process)
                perception_timed = True
            yield msg
            if "end_s" in window and sim.t_s >= window["end_s"]:
                return

    def held(_t_s: float) -> None:
        n = len(sim.ledger.inside)
        if "fill_s" not in window and n >= inside:
            window.update(fill_s=sim.t_s, end_s=sim.t_s + seconds)
            charges.reset()
        elif "fill_s" in window:
            counts.append(n)

    driver = StreamDriver({stack.mode: stack})
    driver.run(measured(), trace, on_sample=held)
    lane = driver.lanes[stack.mode]
    charges.timed("scoring", lambda: score_episode(
        scenario=sc.name, seed=seed, mode=stack.mode, truth=trace.truth(), prices=catalog_prices(trace.store_info),
        stack=stack, issued=lane.receipts(), track_frames=lane.track_frames, wall_seconds=0.0, errors=lane.errors(),
        stages={}))()
    fill_s = window.get("fill_s")
    sim.close()
    assert fill_s is not None, f"the crowd never held {inside} inside within an hour"
    per = {k: v / seconds for k, v in charges.cpu_s.items()}
    total = sum(per.values())
    return {
        "store": store.name, "inside": inside, "cameras": cameras, "seed": seed, "seconds": seconds,
        "filled_at_s": round(fill_s, 2), "inside_mean": round(sum(counts) / max(len(counts), 1), 2),
        "inside_min": min(counts, default=0), "inside_max": max(counts, default=0),
        "build_cpu_s": round(build_cpu_s, 3), "build_from_cache": bool(getattr(sim, "settled_from_cache", False)),
        "cpu_s_per_sim_s": {k: round(v, 4) for k, v in per.items()}, "total_cpu_s_per_sim_s": round(total, 4),
        "realtime_factor_one_core": round(1.0 / total, 3) if total > 0 else None,
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3),
        "stack_errors": lane.errors(),  # a stack that faults costs little: its figures are then not the stack's
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE)
    parser.add_argument("--inside", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--cameras", choices=("on", "off"), default="on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cold", action="store_true", help="build the store without the settled-store cache")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    r = run(args.store, args.inside, args.seconds, args.cameras == "on", args.seed, args.cold)
    print(f"{r['store']}, {r['inside']} inside (held: mean {r['inside_mean']}, {r['inside_min']}-{r['inside_max']}; "
          f"full at {r['filled_at_s']} s), cameras {args.cameras}, {r['seconds']:g} s measured")
    print(f"build {r['build_cpu_s']:.2f} CPU-s (store from the cache: {r['build_from_cache']})")
    print("CPU-s per sim-s:")
    for stage, v in r["cpu_s_per_sim_s"].items():
        print(f"  {stage:<13} {v:7.3f}")
    print(f"  {'total':<13} {r['total_cpu_s_per_sim_s']:7.3f}   -> {r['realtime_factor_one_core']:.2f}x real time on one core")
    print(f"peak RSS {r['peak_rss_gb']:.2f} GB")
    if r["stack_errors"]:
        print(f"STACK FAULTS (the stack's figures are not a working stack's): {'; '.join(r['stack_errors'])}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(r, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
