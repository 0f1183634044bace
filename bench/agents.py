"""Benchmark: the agents' cost per shopper per tick, and the whole simulation's real-time factor, with N shoppers inside.

    .venv/bin/python -m bench.agents [--store corner_store] [--inside 10 30] [--seconds 20] [--cameras off|on|both]
                                     [--profile]

For each N, N persona shoppers (quick/browser/returner, each lingering a while
after its script so the store stays full) are let in together; once they are
all inside (they appear one by one at the gates), `Simulation.step()` is timed
for `--seconds` of sim. Each tick's wall time is split by wrapping the stages
in place: agents (every shopper's `act`: pedestrian model, routing, IK, motor
commands, carried items, pose truth), physics (`StoreWorld.step`), cameras
(the camera rig's `sample`: render, depth, noise) and the other sensors (load
cells, gates). The real-time factor is sim seconds per wall second of the
whole `step()`. `--cameras both` runs every N with cameras off and on.
`--profile` adds the agents' top functions by own time (cProfile).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

from agents import build_simulation
from agents.scenario import Scenario

PERSONAS = ("quick", "browser", "returner")
LINGER_S = 600.0  # a bench shopper waits this long before leaving, so N stay inside while the clock runs


def bench_scenario(store: str, inside: int, seed: int = 0) -> Scenario:
    from agents.personas import PERSONAS as REGISTRY, register_persona

    for p in PERSONAS:  # the built-in personas, then a long wait
        name = f"bench-{p}"
        if name not in REGISTRY:
            base = REGISTRY[p]

            def lingering(script, stock, rng, _base=base):
                _base(script, stock, rng)
                script.wait(LINGER_S)

            register_persona(name)(lingering)
    sc = Scenario(name=f"bench-{inside}", store=store, seed=seed, duration_s=3600)
    for k in range(inside):
        sc.add_shopper(f"s{k:02d}", enter_at_s=0.0, persona=f"bench-{PERSONAS[k % 3]}")
    return sc


def measure(store: str, inside: int, seconds: float, cameras: bool, seed: int = 0, profile: bool = False) -> dict:
    sim = build_simulation(bench_scenario(store, inside, seed), cameras=cameras)
    shoppers = list(sim.shoppers.shoppers.values())
    warm_end = sim.t_s + 180.0
    while sim.t_s < warm_end and sum(s.spawned and not s.done for s in shoppers) < inside:
        sim.step()
    spent = {"agents": 0.0, "physics": 0.0, "cameras": 0.0, "other sensors": 0.0}
    prof = cProfile.Profile() if profile else None

    def timed(fn, stage, with_profile=False):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            if with_profile and prof is not None:
                prof.enable()
            try:
                return fn(*args, **kwargs)
            finally:
                if with_profile and prof is not None:
                    prof.disable()
                spent[stage] += time.perf_counter() - t0
        return wrapper

    for s in shoppers:
        s.act = timed(s.act, "agents", with_profile=True)
    sim.world.step = timed(sim.world.step, "physics")
    for sensor in sim.sensors:
        stage = "cameras" if sensor is sim.cameras else "other sensors"
        sensor.sample = timed(sensor.sample, stage)
    ticks, inside_ticks = 0, 0
    t0 = time.perf_counter()
    end = sim.t_s + seconds
    while sim.t_s < end:
        sim.step()
        ticks += 1
        inside_ticks += sum(1 for s in shoppers if s.spawned and not s.done)
    wall = time.perf_counter() - t0
    sim.close()
    out = {
        "inside_target": inside,
        "mean_inside": inside_ticks / max(ticks, 1),
        "cameras": cameras,
        "sim_s": seconds,
        "wall_s": wall,
        "realtime_factor": seconds / wall,
        "agent_us_per_shopper_tick": 1e6 * spent["agents"] / max(inside_ticks, 1),
        "ms_per_tick": {k: 1e3 * v / max(ticks, 1) for k, v in spent.items()},
    }
    if prof is not None:
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(12)
        out["profile"] = buf.getvalue()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default="corner_store")
    ap.add_argument("--inside", type=int, nargs="+", default=[10, 30])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--cameras", choices=("off", "on", "both"), default="off")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.cameras]
    print(f"store {args.store}, {args.seconds:.0f} s of sim per row, 120 Hz physics, agents at 20 Hz; "
          f"cameras as the store's sensors say when on")
    print(f"{'inside':>6} {'mean in':>7} {'cameras':>7} {'wall s':>7} {'RTF':>6} {'agents us/shopper/tick':>23} "
          f"{'ms/tick: agents':>15} {'physics':>8} {'cameras':>8} {'other':>6}")
    for n in args.inside:
        for cams in modes:
            r = measure(args.store, n, args.seconds, cams, profile=args.profile)
            ms = r["ms_per_tick"]
            print(f"{n:>6} {r['mean_inside']:>7.1f} {'on' if cams else 'off':>7} {r['wall_s']:>7.1f} "
                  f"{r['realtime_factor']:>6.2f} {r['agent_us_per_shopper_tick']:>23.0f} {ms['agents']:>15.2f} "
                  f"{ms['physics']:>8.2f} {ms['cameras']:>8.2f} {ms['other sensors']:>6.2f}", flush=True)
            if "profile" in r:
                print(r["profile"])


if __name__ == "__main__":
    main()
