"""Benchmark: the agents' cost per shopper per tick, and the whole simulation's real-time factor, with N shoppers inside.

    .venv/bin/python -m bench.agents [--store corner_store] [--inside 10 30] [--seconds 20] [--cameras off|on|both]
                                     [--profile]
    .venv/bin/python -m bench.agents --scenario assets/scenarios/crowd-corner-25.yaml [--seed N]

For each N, N persona shoppers (quick/browser/returner, each lingering a while
after its script so the store stays full) are let in together; once they are
all inside (they appear one by one at the gates), `Simulation.step()` is timed
for `--seconds` of sim. Each tick's wall time is split by wrapping the stages
in place: agents (every shopper's `act`: pedestrian model, routing, IK, motor
commands, carried items, pose truth; and the shelf watch over loose items), physics (`StoreWorld.step`), cameras
(the camera rig's `sample`: render, depth, noise) and the other sensors (load
cells, gates). The real-time factor is sim seconds per wall second of the
whole `step()`. `--cameras both` runs every N with cameras off and on.
`--profile` adds the agents' top functions by own time (cProfile).

`--scenario` runs one whole scenario with cameras off instead and reports
its soundness: peak inside, exit stalls (a shopper walking out that has not
moved 0.2 m in `STALL_S`), shoppers still inside at the end, faults and
skipped persona steps, drops (items off their plates without a grasp), the
ledger-vs-physics mismatches at the end (`ledger_vs_world`), and the RTF.
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
STALL_S = 15.0
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

    for actor in sim.actors:  # the shoppers and agents.shelves.ShelfWatch (which books knocked items)
        actor.act = timed(actor.act, "agents", with_profile=True)
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


def ledger_vs_world(sim) -> list[str]:
    """Every disagreement between the ledger and the physical world: an item the ledger puts in bin B (or on the
    floor) that does not lie there (`sim.manipulation.resting_place`), an item in a hand no grip holds, an item
    in a basket that does not ride with its shopper."""
    from sim.manipulation import resting_place

    out = []
    shoppers = sim.shoppers.shoppers
    for rec in sim.ledger.items.values():
        loc = rec.location
        if loc in sim.layout.bins or loc == "floor":
            where = resting_place(sim.world, rec.item_id)
            if where != loc:
                out.append(f"item {rec.item_id} ({rec.sku}): ledger {loc}, lies on {where}")
            continue
        kind, who = loc.split(":", 1)
        s = shoppers[who]
        if kind == "hand" and rec.item_id not in s.grips:
            out.append(f"item {rec.item_id} ({rec.sku}): ledger {loc}, not gripped")
        if kind == "basket" and rec.item_id not in s.carried:
            out.append(f"item {rec.item_id} ({rec.sku}): ledger {loc}, not in the basket")
    return out


def crowd_report(path: str, seed: int | None = None) -> dict:
    """Run a scenario with cameras off and measure how sound its crowd is (see the module docstring)."""
    import math

    from agents import load_scenario

    sc = load_scenario(path)
    sim = build_simulation(sc, seed=seed, cameras=False)
    shoppers = sim.shoppers.shoppers
    still: dict[str, tuple[float, tuple[float, float], bool]] = {}
    stalls: list[str] = []
    peak = 0
    t0 = time.perf_counter()
    for _ in sim.run(sc.spec.duration_s):
        if sim.clock.tick % 60:
            continue
        peak = max(peak, len(sim.ledger.inside))
        for s in shoppers.values():
            if not s.spawned or s.done or not s.script_over:
                continue
            since, xy, told = still.get(s.id, (sim.t_s, s._xy, False))
            if math.dist(xy, s._xy) > 0.2:
                since, xy, told = sim.t_s, s._xy, False
            elif sim.t_s - since > STALL_S and not told:
                stalls.append(f"{s.id} at ({xy[0]:.2f}, {xy[1]:.2f}) from {since:.0f} s: {s.next_action}")
                told = True
            still[s.id] = (since, xy, told)
    wall = time.perf_counter() - t0
    out = {
        "scenario": sc.spec.name, "sim_s": sim.t_s, "wall_s": wall, "realtime_factor": sim.t_s / wall,
        "shoppers": len(shoppers), "peak_inside": peak,
        "left_inside": [f"{s.id}: {s.next_action}" for s in shoppers.values() if s.spawned and not s.done],
        "exit_stalls": stalls, "faults": [e.message for e in sim.ledger.faults],
        "skipped": [f"{s.id} {why}" for s in shoppers.values() for why in s.skipped],
        "takes": len(sim.ledger.events_of("take")), "put_backs": len(sim.ledger.events_of("put_back")),
        "drops": [f"{e.t_s:.1f} s item {e.item_id} ({e.sku}) {e.bin} -> {e.to_bin or 'floor'} by {e.shopper}"
                  for e in sim.ledger.events_of("drop")],
        "mismatches": ledger_vs_world(sim),
    }
    sim.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default="corner_store")
    ap.add_argument("--inside", type=int, nargs="+", default=[10, 30])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--cameras", choices=("off", "on", "both"), default="off")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--scenario", help="run this scenario (cameras off) and report its crowd's soundness instead")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    if args.scenario:
        r = crowd_report(args.scenario, args.seed)
        for k, v in r.items():
            if isinstance(v, list):
                print(f"{k}: {len(v)}")
                for line in v:
                    print(f"    {line}")
            else:
                print(f"{k}: {v:.2f}" if isinstance(v, float) else f"{k}: {v}")
        return
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
