"""Benchmark: the cost of building a store and of one physics step with every item resting.

    .venv/bin/python -m bench.physics [STORE] [--seconds S] [--seed N]

Prints the build cost (creating bodies, settling, putting them to sleep; then a whole `Simulation()` built
cold, on a settled-store cache miss and on its hit: `sim.settled`), then
the cost per physics step (120 Hz) over S seconds of sim time, split into the
pybullet step itself and each sensor (load cells sampled at their rate, gates;
cameras only with --cameras, their own benchmark is bench.cameras), and the
realtime factor of the bare store. The default store is the realistic default
(assets/stores/corner_store.yaml). One process, one core; CPU time of this
process is reported beside wall time, since other work on the machine inflates
wall time.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    from sim.layout import load_store
    from sim.seeding import generator
    from sim.simulation import Simulation
    from sim.world import StoreWorld

    parser = argparse.ArgumentParser(prog="bench.physics")
    parser.add_argument("store", nargs="?", default=str(ROOT / "assets" / "stores" / "corner_store.yaml"))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cameras", action="store_true", help="render the ceiling cameras too")
    args = parser.parse_args(argv)

    layout = load_store(args.store)
    t0 = time.perf_counter()
    world = StoreWorld(layout, generator(args.seed, "item_weights"), 1.0 / 120)
    create_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    settle_sim_s = world.settle_and_sleep()
    settle_s = time.perf_counter() - t0
    world.close()

    # The settled-store cache (sim.settled): a cold build (cache off: settle, snapshot, restore into a fresh
    # world), then the same store built again from a cache (first a miss that fills it, then the hit).
    builds = {}
    with tempfile.TemporaryDirectory() as cache:
        os.environ["STORE_TWIN_CACHE"] = cache  # an empty cache of our own (product meshes rebuilt in it too)
        for what, setting in (("cold (cache off)", "off"), ("cache miss", "on"), ("cache hit", "on")):
            os.environ["STORE_TWIN_SETTLED"] = setting
            t0, c0 = time.perf_counter(), time.process_time()
            sim = Simulation(layout, args.seed, cameras=args.cameras)
            builds[what] = (time.perf_counter() - t0, time.process_time() - c0, sim.settled_from_cache)
            if what != "cache hit":
                sim.close()
    n_steps = int(round(args.seconds * 120))
    physics = np.empty(n_steps)
    cpu = np.empty(n_steps)
    per_sensor = {type(s).__name__: np.zeros(n_steps) for s in sim.sensors}
    for k in range(n_steps):
        c0 = time.process_time()
        a = time.perf_counter()
        sim.world.step()
        sim.clock.advance()
        physics[k] = time.perf_counter() - a
        for sensor in sim.sensors:
            if sim.clock.due(sensor.period_ticks):
                b = time.perf_counter()
                sensor.sample()
                per_sensor[type(sensor).__name__][k] = time.perf_counter() - b
        cpu[k] = time.process_time() - c0
    sensors = sum(per_sensor.values())
    total = physics + sensors
    truth = np.array([sum(sim.ledger.items[i].weight_g for i in sim.ledger.items_in(b)) for b in sim.world.bin_ids])
    err = np.abs(sim.load_cells.true_grams() - truth)
    sim.close()

    print(f"store {layout.name}: {len(layout.spec.gondolas)} gondolas, {len(layout.bins)} load cells, "
          f"{layout.item_count} items, {len(layout.spec.catalog)} SKUs")
    print(f"build: create bodies {create_s:.2f} s + settle {settle_s:.2f} s wall ({settle_sim_s:.2f} s of physics) "
          f"= {create_s + settle_s:.2f} s")
    for what, (wall_s, cpu_s, cached) in builds.items():
        print(f"  Simulation(), {what:<16} {wall_s:6.2f} s wall, {cpu_s:6.2f} s CPU (from the cache: {cached})")
    print(f"per physics step over {args.seconds:g} s sim ({n_steps} steps, all items resting):")
    print(f"  pybullet step    mean {physics.mean() * 1e3:.3f} ms   median {np.median(physics) * 1e3:.3f} ms")
    for name, cost in per_sensor.items():
        print(f"  {name:<16} mean {cost.mean() * 1e3:.3f} ms per step")
    print(f"  total            mean {total.mean() * 1e3:.3f} ms   median {np.median(total) * 1e3:.3f} ms   "
          f"p95 {np.percentile(total, 95) * 1e3:.3f} ms wall;  CPU {cpu.mean() * 1e3:.3f} ms")
    print(f"  -> realtime factor {1.0 / 120 / total.mean():.1f} (wall), {1.0 / 120 / cpu.mean():.1f} (CPU)")
    print(f"resting plates: |physics reading - true weight| max {err.max():.3f} g, mean {err.mean():.3f} g")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
