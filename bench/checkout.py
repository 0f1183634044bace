"""Benchmark: the checkout stack's cost per sim second, per stage, on a reference stream.

    python -m bench.checkout [SCENARIO.yaml | STORE.yaml] [--seconds S] [--seed N] [--mode fused|weight|vision]...

The stream is recorded first (simulation cost excluded), then replayed into a
fresh `CheckoutStack` on this one core, once per `--mode` given (repeatable;
default fused), so the ablations are costed on the very same stream; the stack's own per-stage wall clock
(`stack.stage_s`) gives the split. Reference stream (default): the tiny test
store with its default ceiling cameras (RealSense D435 class, 320x240 at
10 fps) and load cells (60 Hz, batches of 12), `--seconds` 20 of an empty store
unless a scenario file is given (then its shoppers walk). A figure below 1.0
wall s per sim s is faster than real time.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "assets" / "stores" / "tiny_store.yaml"


def record(path: Path, seconds: float, seed: int) -> list:
    """The message stream of a store (empty) or a scenario (with shoppers), in memory."""
    import yaml

    data = yaml.safe_load(path.read_text())
    if isinstance(data, dict) and ("shoppers" in data or "crowd" in data):
        from agents import build_simulation
        from agents.scenario import load_scenario

        scenario = load_scenario(path)
        sim = build_simulation(scenario, seed=seed)
        seconds = min(seconds, scenario.duration_s)
    else:
        from sim.layout import load_store
        from sim.simulation import Simulation

        sim = Simulation(load_store(path), seed)
    try:
        return list(sim.run(seconds, stop_when_done=False))
    finally:
        sim.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.checkout", description=__doc__.splitlines()[0])
    ap.add_argument("source", nargs="?", default=str(DEFAULT))
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mode", action="append", choices=["fused", "weight", "vision"],
                    help="stack ablation(s) to cost on the same stream (repeatable; default fused)")
    args = ap.parse_args(argv)
    from checkout.stack import CheckoutStack

    t0 = time.perf_counter()
    msgs = record(Path(args.source), args.seconds, args.seed)
    rec_s = time.perf_counter() - t0
    info = msgs[0]
    sim_s = max(getattr(m, "t_s", 0.0) for m in msgs)
    frames = sum(type(m).__name__ == "CameraFrame" for m in msgs)
    print(f"stream: {Path(args.source).name}, {sim_s:.1f} sim s, {len(info.cameras)} cameras, {frames} frames, "
          f"{len(info.bins)} load cells; recorded in {rec_s:.1f} s")
    for mode in dict.fromkeys(args.mode or ["fused"]):
        stack = CheckoutStack(mode)
        t1 = time.perf_counter()
        receipts = stack.run(msgs)
        wall = time.perf_counter() - t1
        print(f"stack ({mode}): {wall / max(sim_s, 1e-9):.3f} wall s per sim s "
              f"({'faster' if wall < sim_s else 'slower'} than real time), {len(receipts)} receipts")
        for stage, s in sorted(stack.stage_s.items(), key=lambda kv: -kv[1]):
            print(f"  {stage:<15} {s / max(sim_s, 1e-9) * 1000:8.1f} ms per sim s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
