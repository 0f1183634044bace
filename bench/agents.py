"""Benchmark: the agents' cost per shopper per tick, and the whole simulation's real-time factor, with N shoppers inside.

    .venv/bin/python -m bench.agents [--store corner_store] [--inside 10 30] [--seconds 20]

For each N, N persona shoppers (quick/browser/returner) enter the store together
and the benchmark times `Simulation.step()` while they shop: the agents' share
(shopper `act` calls: pedestrian model, IK, motor commands, carried items, pose
truth) per shopper per physics tick, and the whole sim's real-time factor
(sim seconds per wall second; load cells and gates included, no cameras).
"""
from __future__ import annotations

import argparse
import time

from agents import build_simulation
from agents.scenario import Scenario


def measure(store: str, inside: int, seconds: float, seed: int = 0) -> dict:
    sc = Scenario(name=f"bench-{inside}", store=store, seed=seed, duration_s=3600)
    personas = ["quick", "browser", "returner"]
    for k in range(inside):
        sc.add_shopper(f"s{k:02d}", enter_at_s=0.0, persona=personas[k % 3])
    sim = build_simulation(sc)
    shoppers = list(sim.shoppers.shoppers.values())
    # let them all walk in first (they appear one by one at the gates)
    warm_end = sim.t_s + 90.0
    while sim.t_s < warm_end and sum(s.spawned and not s.done for s in shoppers) < inside:
        sim.step()
    agent_s = 0.0
    timed = {}
    for s in shoppers:  # wrap each shopper's act to time it
        orig = s.act

        def timed_act(sim_, _orig=orig):
            nonlocal agent_s
            t0 = time.perf_counter()
            _orig(sim_)
            agent_s += time.perf_counter() - t0

        timed[s.id] = orig
        s.act = timed_act
    ticks, inside_ticks = 0, 0
    t0 = time.perf_counter()
    end = sim.t_s + seconds
    while sim.t_s < end:
        sim.step()
        ticks += 1
        inside_ticks += sum(1 for s in shoppers if s.spawned and not s.done)
    wall = time.perf_counter() - t0
    sim.close()
    return {
        "inside_target": inside,
        "mean_inside": inside_ticks / max(ticks, 1),
        "sim_s": seconds,
        "wall_s": wall,
        "realtime_factor": seconds / wall,
        "agent_us_per_shopper_tick": 1e6 * agent_s / max(inside_ticks, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default="corner_store")
    ap.add_argument("--inside", type=int, nargs="+", default=[10, 30])
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    print(f"store {args.store}, {args.seconds:.0f} s of sim per row, 120 Hz physics, agents at 20 Hz, no cameras")
    print(f"{'inside':>7} {'mean in':>8} {'wall s':>8} {'RTF':>6} {'agents us/shopper/tick':>24}")
    for n in args.inside:
        r = measure(args.store, n, args.seconds)
        print(f"{n:>7} {r['mean_inside']:>8.1f} {r['wall_s']:>8.1f} {r['realtime_factor']:>6.2f} {r['agent_us_per_shopper_tick']:>24.0f}")


if __name__ == "__main__":
    main()
