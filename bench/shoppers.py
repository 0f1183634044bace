"""Benchmark: can the shoppers do what their scripts ask, in every store, without breaking the store?

    .venv/bin/python -m bench.shoppers soundness [SCENARIO|DIR ...] [--seeds 0:10] [--workers 2] [--json F] [--rows F]
    .venv/bin/python -m bench.shoppers reach [STORE ...] [--builds median,p5,p95,child] [--every K] [--workers 2] [--json F] [--rows F]
    .venv/bin/python -m bench.shoppers crowd [SCENARIO] [--seeds 0:3] [--workers 2] [--json F] [--rows F]
    .venv/bin/python -m bench.shoppers plan [STORE ...] [--builds median,p5,p95,child] [--json F]
    .venv/bin/python -m bench.shoppers generated [--stores fresh:50] [--scenarios 8] [--seeds 0:1] [--out DIR] [--workers 2] [--json F]

`soundness` runs every scenario (default: every shipped one, `assets/scenarios/**`) at every seed with
cameras off (what a shopper does does not depend on them) and counts, per run: crashes (an exception out of
the simulation: the run's traceback's last line), scenario faults (a scripted step the shopper could not do),
adapted steps (a put-back into a bin that filled up, a pick from a bin someone emptied: done as people do,
see `agents.actions`), shoppers still inside at the end, exit stalls, and broken plates (`PlateWatch`: a
plate reading more than `BELOW_TARE_G` under its tare, or off what the ledger puts on it by more than
`PLATE_TOL_G` for more than `PLATE_HOLD_S` with no lean on it). Every run is one row; nothing is dropped.

`reach` is the property "a shopper of this build can take from and put back into every bin": per store
(default: every `assets/stores/*.yaml`) and build, one shopper per gondola (a gondola is one shelf face)
takes one item from each bin of its gondola that holds stock at opening, in bin order, and puts it back into
the same bin (a physics episode, cameras off, `PlateWatch` on); a bin passes when the ledger has that
shopper's take from it and put-back into it and no scenario fault concerns it. A bin the scenario check
refuses for the build ("cannot reach bin ...") fails with that message and stays out of the episode. A
fault ends the shopper's script, so the gondola's bins after the failed one are run again in a fresh
episode (at most `REACH_RESTARTS` times per gondola): one unreachable bin does not hide the others. Builds
(`BUILDS`): `median` adult (1.72 m), `p5` and `p95` adults (1.57 m, 1.87 m: the population of
`agents.body.draw_build`), `child` (1.25 m). `--every K` keeps every K-th stocked bin of the store in bin
order (gondola, shelf, bin). Only `median` is expected at 100 %; the other builds' shares are reported. Items
knocked off a shelf (the ledger's drops) are listed with the broken plates: a bin can pass and still do that.

`plan` is the same property without physics: the reach planner's verdict (`agents.reach`, what the load-time
checks and the shoppers use) for every bin, build and hand-in-a-bin action (pick, put back, touch, lean).

`generated` is `soundness` over generated stores (`sim.generate`, `agents.generate`): the stores `--stores`
names (the grammar of the bench's `--seeds`, `bench.seeds`: `fresh:K` draws K store seeds from the operating
system's entropy and keeps them in `OUT/fresh_stores.json`, so the same command over the same `--out` resumes
the same stores; `A:B`, `N,M` name them) are written to `OUT/stores/store-SEED/` with `--scenarios` scenarios
each, and every scenario runs at every `--seeds` seed. Each finished run is a line of `OUT/rows.jsonl`; a rerun
skips the (scenario, seed) pairs already there, crashed ones included (a crash is that run's figure). The
totals are `soundness`'s over every row, plus one line per store.

`crowd` runs a crowd scenario (default `crowd-corner-25`) at each seed, cameras off, and reports per seed and
pooled: shoppers, peak inside, exits, exit throughput (exits per minute from the moment the first shopper's
script is over to the last exit), exit stalls per 100 shoppers (a shopper walking out that has not moved
`STALL_M` in `STALL_S`), and the shoppers left inside at the end.

Each run (a scenario at a seed; a store, build and gondola) is its own spawned process (a crash or a native
fault is that row's alone).
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import re
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "assets" / "scenarios"
STORES = ROOT / "assets" / "stores"
CROWD_SCENARIO = SCENARIOS / "crowd-corner-25.yaml"
STALL_S = 15.0  # a shopper walking out that has not moved STALL_M in this long is stuck
STALL_M = 0.2
WALKOUT_CHECK_S = 0.5
BELOW_TARE_G = 150.0  # nothing on a plate pulls it up: a reading this far under its tare is a hand prying it
PLATE_TOL_G = 300.0  # a plate off the ledger's load by more than this...
PLATE_HOLD_S = 3.0  # ...for this long (a take or a put-back settles within about a second)
WATCH_HZ = 4.0
BUILDS = {"median": (1.72, False), "p5": (1.57, False), "p95": (1.87, False), "child": (1.25, True)}
REACH_WALK_S = 60.0  # a reach episode's time to walk in, to the gondola and out...
REACH_BIN_S = 25.0  # ...and per bin (a pick and a put-back take about 5 to 15 s with the steps between bins)
REACH_RESTARTS = 6  # fresh episodes per gondola after faults, each starting after the failed bin


class _Watch:
    """A look at a running simulation every `period_s`: `check()` may be called at any rate (once per stream
    message, say); it looks (`look`) when a period has passed since its last look, so the rate does not
    depend on which ticks bring messages."""

    def __init__(self, sim, period_s: float) -> None:
        self.sim = sim
        self.every = max(1, int(round(period_s / sim.clock.dt_s)))
        self._next_tick = 0

    def check(self) -> None:
        if self.sim.clock.tick < self._next_tick:
            return
        self._next_tick = self.sim.clock.tick + self.every
        self.look()

    def look(self) -> None:
        raise NotImplementedError


class PlateWatch(_Watch):
    """Reads every plate's noise-free load (`LoadCellRig.true_grams`) at `WATCH_HZ` against what the ledger
    puts on it, and books each plate that the physics broke (pried, jammed, pressed) as an anomaly."""

    def __init__(self, sim) -> None:
        super().__init__(sim, 1.0 / WATCH_HZ)
        self.bins = list(sim.world.bin_ids)
        self.off_since: dict[str, float] = {}
        self.anomalies: list[str] = []
        self._told: set[tuple[str, str]] = set()  # (bin, "below" | "off"): each plate's each anomaly once

    def look(self) -> None:
        sim = self.sim
        t = sim.t_s
        grams = sim.load_cells.true_grams()
        expected = {b: 0.0 for b in self.bins}
        for rec in sim.ledger.items.values():
            if rec.location in expected:
                expected[rec.location] += rec.weight_g
        leaning = {e.bin for e in sim.ledger.events_of("lean") if e.t_s - 1.0 <= t <= e.t_s + (e.seconds or 0.0) + 2.0}
        for b, g in zip(self.bins, grams):
            g = float(g)
            if g < -BELOW_TARE_G and (b, "below") not in self._told:
                self._told.add((b, "below"))
                self.anomalies.append(f"{t:.1f} s plate {b} reads {g:.0f} g, under its tare")
            off = abs(g - expected[b]) > PLATE_TOL_G and b not in leaning
            if not off:
                self.off_since.pop(b, None)
                continue
            since = self.off_since.setdefault(b, t)
            if t - since > PLATE_HOLD_S and (b, "off") not in self._told:
                self._told.add((b, "off"))
                self.anomalies.append(f"{since:.1f} s plate {b} reads {g:.0f} g, the ledger puts {expected[b]:.0f} g on it")


class WalkOutWatch(_Watch):
    """Watches the shoppers whose script is over (they only walk out now): when the first of them set off,
    and each that stalls on the way (has not moved `STALL_M` in `STALL_S`), booked once per stop.

    Reads `sim.shoppers.shoppers` afresh at each look, so crowd shoppers admitted later are watched too."""

    def __init__(self, sim) -> None:
        super().__init__(sim, WALKOUT_CHECK_S)
        self.first_out_s: float | None = None
        self.stalls: list[str] = []
        self._still: dict[str, tuple[float, tuple[float, float], bool]] = {}  # shopper -> (since, where, told)

    def look(self) -> None:
        sim = self.sim
        t = sim.t_s
        for s in sim.shoppers.shoppers.values():
            if not s.script_over:
                continue
            if self.first_out_s is None:
                self.first_out_s = t
            xy_now = s.position()
            if xy_now is None:  # gone
                continue
            since, xy, told = self._still.get(s.id, (t, xy_now, False))
            if math.dist(xy, xy_now) > STALL_M:
                since, xy, told = t, xy_now, False
            elif t - since > STALL_S and not told:
                self.stalls.append(f"{s.id} at ({xy[0]:.2f}, {xy[1]:.2f}) from {since:.0f} s: {s.next_action}")
                told = True
            self._still[s.id] = (since, xy, told)


# -- soundness ----------------------------------------------------------------


def soundness_run(path: str, seed: int) -> dict:
    """One scenario at one seed, cameras off: what went wrong for the shoppers and the store (see the docstring)."""

    def work() -> dict:
        sim, plates, walkout = _watched_episode(path, seed)
        shoppers = sim.shoppers.shoppers
        out = dict(
            sim_s=round(sim.t_s, 3), shoppers=len(shoppers),
            faults=[e.message for e in sim.ledger.faults],
            adapted=[f"{e.t_s:.1f} s {e.shopper}: {e.message}" for e in sim.ledger.events_of("adapted")],
            skipped=[f"{s.id} {why}" for s in shoppers.values() for why in s.skipped],
            left_inside=_left_inside(shoppers), stalls=walkout.stalls, plates=plates.anomalies,
        )
        sim.close()
        return out

    return _guarded({"scenario": _scenario_name(path), "seed": seed}, work)


def soundness(args) -> dict:
    jobs = [(f, s) for f in _scenario_files(args.targets) for s in _seeds(args.seeds)]
    return _soundness_totals(_run_all(soundness_run, jobs, args.workers, _soundness_label, getattr(args, "rows", None)))


def _soundness_label(r: dict) -> str:
    bad = [k for k in ("faults", "left_inside", "stalls", "plates") if r.get(k)]
    return f"{r.get('scenario', r.get('job'))} seed {r.get('seed')}: " + (
        f"CRASH {r['crash']}" if r.get("crash") else (", ".join(f"{k} {len(r[k])}" for k in bad) or "ok"))


def _soundness_totals(rows: list[dict]) -> dict:
    rows = sorted(rows, key=lambda r: (r.get("scenario", ""), r.get("seed", 0)))
    total = {
        "runs": len(rows), "shoppers": sum(r.get("shoppers", 0) for r in rows),
        "crashes": sum(1 for r in rows if r.get("crash")),
        "scenario_faults": sum(len(r.get("faults", [])) for r in rows),
        "runs_with_faults": sum(1 for r in rows if r.get("faults")),
        "adapted_steps": sum(len(r.get("adapted", [])) for r in rows),
        "left_inside": sum(len(r.get("left_inside", [])) for r in rows),
        "exit_stalls": sum(len(r.get("stalls", [])) for r in rows),
        "broken_plates": sum(len(r.get("plates", [])) for r in rows),
        "cpu_s": round(sum(r.get("cpu_s", 0.0) for r in rows), 1),
    }
    return {"totals": total, "rows": rows}


ROWS_FILE = "rows.jsonl"


def generated_jobs(out_dir: str | Path, stores: str, per_store: int, seeds: list[int]) -> tuple[list[tuple], list[dict]]:
    """The (scenario file, seed) runs of `generated` still to do, and the rows `OUT/rows.jsonl` already holds
    for the stores asked for. Each store is generated (deterministic: a resumed run writes the same bytes)."""
    from bench.generated import StorePlan, StoreSpec, parse_store_choice

    folder = Path(out_dir).resolve()
    plan = StorePlan.for_bench(parse_store_choice(stores), folder)
    files: list[str] = []
    for seed, _fresh in plan.seeds(StoreSpec((), per_store)):
        files += [str(f) for f in plan.scenarios(seed, per_store)]
    rows_path = folder / ROWS_FILE
    done: dict[tuple[str, int], dict] = {}
    if rows_path.is_file():
        for line in rows_path.read_text(encoding="utf-8").splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue  # a line cut short when a run was killed mid-write: that run is done again
            if isinstance(r, dict) and "scenario" in r:
                done[r["scenario"], r.get("seed")] = r
            elif isinstance(r, dict) and isinstance(r.get("job"), list) and len(r["job"]) == 2:  # its worker died
                done[_scenario_name(r["job"][0]), r["job"][1]] = r
    wanted = [(f, s) for f in files for s in seeds]
    return ([j for j in wanted if (_scenario_name(j[0]), j[1]) not in done],
            [done[k] for j in wanted if (k := (_scenario_name(j[0]), j[1])) in done])


def generated(args) -> dict:
    """`soundness` over generated stores (see the docstring): totals over every row, and one line per store."""
    seeds = _seeds(args.seeds)
    jobs, kept = generated_jobs(args.out, args.stores, args.scenarios, seeds)
    print(f"{len(kept)} runs already in {Path(args.out) / ROWS_FILE}, {len(jobs)} to run", file=sys.stderr, flush=True)
    new = _run_all(soundness_run, jobs, args.workers, _soundness_label, str(Path(args.out) / ROWS_FILE)) if jobs else []
    out = _soundness_totals(kept + new)
    by_store: dict[str, list[dict]] = {}
    for r in out["rows"]:
        by_store.setdefault(Path(r.get("scenario", r.get("job", ["?"])[0])).parent.parent.name, []).append(r)
    per_store = {store: {"store": store, **_soundness_totals(rows)["totals"]} for store, rows in by_store.items()}
    out["stores"] = list(per_store.values())
    out["totals"]["stores"] = len(per_store)
    return out


# -- reach --------------------------------------------------------------------


def reach(stores: list[str], builds: list[str], every: int = 1, workers: int = 2, rows_to: str | None = None) -> dict:
    """Every sampled stocked bin of every store, for every build: taken from and put back (see the docstring).

    Returns {"summary": one entry per (store, build): tried, passed, share, failing bins with the message,
    broken plates, knocked items, episodes; "rows": one per (store, build, gondola) job}."""
    from sim.layout import load_store

    unknown = [b for b in builds if b not in BUILDS]
    if unknown:
        raise ValueError(f"unknown builds {unknown} (known: {', '.join(BUILDS)})")
    jobs: list[tuple] = []
    for store in stores:
        layout = load_store(store)
        for gondola, bins in reach_sample(layout, every).items():
            jobs += [(str(store), build, gondola, tuple(bins)) for build in builds]
    jobs.sort(key=lambda j: -len(j[3]))  # the longest first, so the pool does not wait on one at the end

    def label(r: dict) -> str:
        head = f"{r.get('store')} {r.get('build')} {r.get('gondola')}" if "store" in r else str(r.get("job"))
        if r.get("crash"):
            return f"{head}: CRASH {r['crash']}"
        return f"{head}: {sum(1 for m in r['bins'].values() if m is None)}/{len(r['bins'])}"

    rows = _run_all(reach_gondola, jobs, workers, label, rows_to)
    for r in rows:
        if "store" not in r:  # the worker died: the row knows only its job
            store, build, gondola, bins = r["job"]
            r.update(store=_store_name(store), build=build, gondola=gondola, sampled=list(bins))
    rank = list(BUILDS).index
    rows.sort(key=lambda r: (r["store"], rank(r["build"]), r["gondola"]))
    pairs = sorted({(r["store"], r["build"]) for r in rows}, key=lambda k: (k[0], rank(k[1])))
    summary = [_reach_summary(store, build, [r for r in rows if (r["store"], r["build"]) == (store, build)])
               for store, build in pairs]
    return {"summary": summary, "rows": rows}


def reach_sample(layout, every: int = 1) -> dict[str, list[str]]:
    """The bins to try, by gondola: every `every`-th bin of the store that holds stock at opening, in bin order
    (gondola, shelf, bin; so `A-1-10` comes after `A-1-9`)."""
    if every < 1:
        raise ValueError(f"every takes a whole number >= 1, not {every}")
    bins = layout.bins
    stocked = sorted((b for b, e in layout.spec.planogram.items() if e.count > 0),
                     key=lambda b: (bins[b].gondola, bins[b].shelf, bins[b].index))
    out: dict[str, list[str]] = {}
    for b in stocked[::every]:
        out.setdefault(bins[b].gondola, []).append(b)
    return out


def reach_gondola(store: str, build: str, gondola: str, bins: tuple[str, ...]) -> dict:
    """One build at one gondola's `bins`: the bins the scenario check refuses fail with its message; the others
    are run in episodes, a fresh one after each fault starting after the failed bin. Row: bin -> None (passed)
    or why it failed, broken plates, items knocked off a shelf, episodes run."""
    row: dict = {"store": _store_name(store), "build": build, "gondola": gondola, "sampled": list(bins)}

    def work() -> dict:
        from sim.layout import load_store

        layout = load_store(store)
        outcome: dict[str, str | None] = {}
        pending = []
        for b in bins:
            refused = reach_refusal(layout, store, build, gondola, b)
            if refused is None:
                pending.append(b)
            else:
                outcome[b] = f"refused at load: {refused}"
        plates: list[str] = []
        knocked: list[str] = []
        episodes = 0
        while pending and episodes <= REACH_RESTARTS:
            ep = reach_episode(layout, store, build, gondola, pending)
            outcome.update(ep.done)
            pending = ep.rest
            episodes += 1
            plates += [f"episode {episodes}, {p}" for p in ep.plates]  # each episode's clock starts at 0
            knocked += [f"episode {episodes}, {k}" for k in ep.knocked]
        for b in pending:
            outcome[b] = f"not tried: {REACH_RESTARTS} restarts after faults used up"
        return {"bins": {b: outcome[b] for b in bins}, "plates": plates, "knocked": knocked, "episodes": episodes}

    return _guarded(row, work)


def reach_scenario(store: str, build: str, gondola: str, bins: Iterable[str], planogram: dict):
    """A scenario of one shopper of `build` taking one item from each of `bins` in turn and putting it back."""
    from agents.scenario import Scenario

    bins = list(bins)
    height_m, child = BUILDS[build]
    path = Path(store).resolve()
    sc = Scenario(f"reach-{build}-{gondola}", store=path.name, seed=0,
                  duration_s=REACH_WALK_S + REACH_BIN_S * len(bins), base_dir=path.parent)
    shopper = sc.add_shopper(_reach_shopper(build, gondola), body={"height_m": height_m, "child": child})
    for b in bins:
        sku = planogram[b].sku
        shopper.pick(sku, bin=b).put_back(sku, bin=b)
    return sc


def reach_refusal(layout, store: str, build: str, gondola: str, bin_id: str) -> str | None:
    """Why the scenario check refuses this build's pick and put-back at `bin_id` (e.g. it cannot reach it), or None."""
    from sim.errors import InputError

    try:
        reach_scenario(store, build, gondola, [bin_id], layout.spec.planogram).check(layout)
    except InputError as exc:
        return exc.message
    return None


@dataclass(frozen=True)
class ReachEpisode:
    """What one reach episode did: bin -> None (passed) or why it failed; the bins after a fault, still to try;
    the plates `PlateWatch` booked; the items that left a shelf without a grasp (the ledger's drops)."""

    done: dict[str, str | None]
    rest: list[str]
    plates: list[str]
    knocked: list[str]


def reach_episode(layout, store: str, build: str, gondola: str, bins: list[str]) -> ReachEpisode:
    """One physics episode of one shopper of `build` taking from and putting back into each of `bins`."""
    from agents import build_simulation

    sc = reach_scenario(store, build, gondola, bins, layout.spec.planogram)
    sim = build_simulation(sc, seed=0, cameras=False)
    plates = PlateWatch(sim)
    _run_watched(sim, sc.spec.duration_s, plates)
    sid = _reach_shopper(build, gondola)
    shopper = sim.shoppers.shoppers[sid]
    unfinished = None if shopper.done else f"when the episode ended at {sim.t_s:.0f} s the shopper was to {shopper.next_action}"
    done, rest = bin_outcomes(sid, bins, sim.ledger.events, unfinished)
    knocked = [f"{e.t_s:.1f} s item {e.item_id} ({e.sku}) off {e.bin}" + (f" onto {e.to_bin}" if e.to_bin else "")
               for e in sim.ledger.events_of("drop")]
    sim.close()
    return ReachEpisode(done, rest, plates.anomalies, knocked)


def bin_outcomes(
    shopper: str, bins: list[str], events: list, unfinished: str | None = None,
) -> tuple[dict[str, str | None], list[str]]:
    """What an episode whose script is "pick then put back, bin after bin" did for each bin, from the ledger's
    events: bin -> None when the shopper took from it and put back into it, else why not; and the bins after
    the one a fault ended the script at (not tried). A fault names its step (`step K (pick): ...`), which
    gives its bin; a fault that names none is put on the first bin not done. `unfinished` says why bins
    were not done when the shopper was still in the store at the end."""
    took = {e.bin for e in events if e.kind == "take" and e.shopper == shopper}
    back = {e.bin for e in events if e.kind == "put_back" and e.shopper == shopper}
    fault = next((e.message for e in events if e.kind == "fault" and e.shopper == shopper), None)
    at = len(bins)
    if fault is not None:
        step = re.search(r"\bstep (\d+) \(", fault)
        if step:
            at = min((int(step.group(1)) - 1) // 2, len(bins) - 1)  # steps 2k+1 and 2k+2 (1-based) are bin k's
        else:
            at = next((i for i, b in enumerate(bins) if b not in took or b not in back), 0)
    out: dict[str, str | None] = {}
    for b in bins[:at]:
        if b in took and b in back:
            out[b] = None
        else:
            out[b] = ("the ledger has no take from it" if b not in took else "the ledger has no put-back into it") + (
                f" ({unfinished})" if unfinished else "")
    if fault is not None:
        out[bins[at]] = fault
    return out, list(bins[at + 1:])


def _reach_summary(store: str, build: str, rows: list[dict]) -> dict:
    """One (store, build) over its gondolas' rows; a crashed row's bins fail with the crash."""
    outcome: dict[str, str | None] = {}
    for r in rows:
        bins = r.get("bins") or {}
        for b in r.get("sampled", []):
            outcome[b] = bins.get(b, f"crash: {r.get('crash')}")
    passed = sum(1 for m in outcome.values() if m is None)
    return {
        "store": store, "build": build, "tried": len(outcome), "passed": passed,
        "share": round(passed / len(outcome), 4) if outcome else None,
        "failing": [{"bin": b, "message": m} for b, m in outcome.items() if m is not None],
        "plates": [f"gondola {r['gondola']} {p}" for r in rows for p in r.get("plates", [])],
        "knocked": [f"gondola {r['gondola']} {k}" for r in rows for k in r.get("knocked", [])],
        "episodes": sum(r.get("episodes", 0) for r in rows),
        "crashes": [r["crash"] for r in rows if r.get("crash")],
        "cpu_s": round(sum(r.get("cpu_s", 0.0) for r in rows), 1),
    }


def _reach_shopper(build: str, gondola: str) -> str:
    return f"{build}-{gondola}"


# -- crowd --------------------------------------------------------------------


def crowd_run(path: str, seed: int) -> dict:
    """One crowd scenario at one seed, cameras off: how the shoppers got out (see the docstring)."""

    def work() -> dict:
        sim, plates, walkout = _watched_episode(path, seed)
        shoppers = sim.shoppers.shoppers
        exits = sorted(sim.ledger.exited.values())
        span_s = exits[-1] - walkout.first_out_s if exits and walkout.first_out_s is not None else 0.0
        out = dict(
            sim_s=round(sim.t_s, 3), shoppers=len(shoppers), peak_inside=peak_inside(sim.ledger.events),
            exits=len(exits), first_out_s=walkout.first_out_s, last_exit_s=exits[-1] if exits else None,
            span_s=round(span_s, 3), throughput_per_min=round(len(exits) / (span_s / 60.0), 3) if span_s > 0 else None,
            stalls=walkout.stalls,
            stalls_per_100=round(100.0 * len(walkout.stalls) / len(shoppers), 2) if shoppers else None,
            left_inside=_left_inside(shoppers),
            faults=[e.message for e in sim.ledger.faults],
            adapted=[f"{e.t_s:.1f} s {e.shopper}: {e.message}" for e in sim.ledger.events_of("adapted")],
            plates=plates.anomalies,
        )
        sim.close()
        return out

    return _guarded({"scenario": _scenario_name(path), "seed": seed}, work)


def crowd(path: str, seeds: list[int], workers: int = 2, rows_to: str | None = None) -> dict:
    """The crowd scenario at every seed (one process each): {"rows": per seed, "pooled": over the seeds}."""

    def label(r: dict) -> str:
        head = f"{r.get('scenario', r.get('job'))} seed {r.get('seed')}: "
        return head + (f"CRASH {r['crash']}" if r.get("crash") else
                       f"{r['exits']} out, {r['throughput_per_min']} /min, {len(r['stalls'])} stalls")

    rows = sorted(_run_all(crowd_run, [(str(path), s) for s in seeds], workers, label, rows_to), key=lambda r: r.get("seed", 0))
    return {"rows": rows, "pooled": _crowd_pooled(rows)}


def peak_inside(events: list) -> int:
    """The most shoppers inside at once (what `len(ledger.inside)` peaked at), from the entry and exit events."""
    inside: set[str] = set()
    peak = 0
    for e in events:
        if e.kind == "entry":
            inside.add(e.shopper)
            peak = max(peak, len(inside))
        elif e.kind == "exit":
            inside.discard(e.shopper)
    return peak


def _crowd_pooled(rows: list[dict]) -> dict:
    ok = [r for r in rows if not r.get("crash")]
    shoppers = sum(r["shoppers"] for r in ok)
    exits = sum(r["exits"] for r in ok)
    span_s = sum(r["span_s"] for r in ok)
    stalls = sum(len(r["stalls"]) for r in ok)
    return {
        "runs": len(rows), "crashes": len(rows) - len(ok), "shoppers": shoppers,
        "peak_inside": max((r["peak_inside"] for r in ok), default=0), "exits": exits,
        "throughput_per_min": round(exits / (span_s / 60.0), 3) if span_s > 0 else None,
        "stalls": stalls, "stalls_per_100": round(100.0 * stalls / shoppers, 2) if shoppers else None,
        "left_inside": sum(len(r["left_inside"]) for r in ok),
        "faults": sum(len(r.get("faults", ())) for r in ok), "adapted": sum(len(r.get("adapted", ())) for r in ok),
        "broken_plates": sum(len(r.get("plates", ())) for r in ok),
        "cpu_s": round(sum(r.get("cpu_s", 0.0) for r in rows), 1),
    }


# -- runs and processes --------------------------------------------------------


def _watched_episode(path: str, seed: int):
    """A scenario at a seed, cameras off, run to its end with a `PlateWatch` and a `WalkOutWatch` on it:
    (the simulation, not yet closed, the plate watch, the walk-out watch)."""
    from agents import build_simulation, load_scenario

    sc = load_scenario(path)
    sim = build_simulation(sc, seed=seed, cameras=False)
    plates, walkout = PlateWatch(sim), WalkOutWatch(sim)
    _run_watched(sim, sc.spec.duration_s, plates, walkout)
    return sim, plates, walkout


def _run_watched(sim, duration_s: float, *watches) -> None:
    """Run `sim` to its end (`Simulation.run`), giving each watch a look after every stream message."""
    for _ in sim.run(duration_s):
        for w in watches:
            w.check()


def _guarded(row: dict, work: Callable[[], dict]) -> dict:
    """`row` with what `work()` returns, or with the crash that came out of it instead (a crash is that row's
    figure, not the bench's end); and the CPU seconds either way."""
    t0 = time.process_time()
    try:
        row.update(work())
        row["crash"] = None
    except Exception as exc:  # noqa: BLE001 - see the docstring
        tb = traceback.format_exc().strip().splitlines()
        row.update(crash=f"{type(exc).__name__}: {exc}", traceback=tb[-6:])
    row["cpu_s"] = round(time.process_time() - t0, 2)
    return row


def _left_inside(shoppers: dict) -> list[str]:
    return [f"{s.id}: {s.next_action}" for s in shoppers.values() if s.spawned and not s.done]


def _scenario_name(path: str) -> str:
    p = Path(path)
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else path


def _store_name(path: str) -> str:
    return Path(path).stem


def _scenario_files(targets: list[str]) -> list[str]:
    out: list[str] = []
    for t in targets or [str(SCENARIOS)]:
        p = Path(t)
        out += sorted(str(f) for f in p.rglob("*.yaml")) if p.is_dir() else [str(p)]
    return out


def _store_files(targets: list[str]) -> list[str]:
    return [str(Path(t).resolve()) for t in targets] or sorted(str(f) for f in STORES.glob("*.yaml"))


def _seeds(text: str) -> list[int]:
    if ":" in text:
        a, b = text.split(":")
        return list(range(int(a), int(b)))
    return [int(s) for s in text.split(",")]


def _pool(workers: int) -> ProcessPoolExecutor:
    from bench.batch import die_with_parent

    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), max_tasks_per_child=1,
                               initializer=die_with_parent, initargs=(os.getpid(),))


def _run_all(fn, jobs: list[tuple], workers: int, label, rows_to: str | None = None) -> list[dict]:
    """Every job in the pool; each row as it finishes is printed (`label`) and, with `rows_to`, appended to
    that file as one JSON line, so a long run stopped early keeps every row it finished."""
    rows: list[dict] = []
    with _pool(workers) as pool:
        futures = {pool.submit(fn, *job): job for job in jobs}
        for k, fut in enumerate(as_completed(futures), 1):
            job = futures[fut]
            try:
                row = fut.result()
            except Exception as exc:  # noqa: BLE001 - the worker itself died (a native crash): a crash row
                row = {"job": list(job), "crash": f"worker died: {type(exc).__name__}: {exc}"}
            rows.append(row)
            print(f"[{k}/{len(jobs)}] {label(row)}", file=sys.stderr, flush=True)
            if rows_to:
                with open(rows_to, "a") as f:
                    f.write(json.dumps(row) + "\n")
    return rows


# -- the command line ------------------------------------------------------------


def _print_soundness(out: dict) -> None:
    for r in out["rows"]:
        for key in ("crash", "faults", "left_inside", "stalls", "plates", "adapted"):
            v = r.get(key)
            for line in ([v] if isinstance(v, str) else v or []):
                print(f"{r.get('scenario')} seed {r.get('seed')} {key}: {line}")
    t = out["totals"]
    print(f"{t['runs']} runs, {t['shoppers']} shoppers: {t['crashes']} crashes, {t['scenario_faults']} scenario faults "
          f"(in {t['runs_with_faults']} runs), {t['adapted_steps']} adapted steps, {t['left_inside']} left inside, "
          f"{t['exit_stalls']} exit stalls, {t['broken_plates']} broken plates; {t['cpu_s']} CPU-s")


def _print_reach(out: dict) -> None:
    print(f"{'store':<16}{'build':<8}{'bins':>6}{'passed':>8}{'share':>8}{'plates':>8}{'knocked':>9}{'episodes':>10}"
          f"{'CPU-s':>8}")
    for s in out["summary"]:
        share = "-" if s["share"] is None else f"{100 * s['share']:.1f}%"
        print(f"{s['store']:<16}{s['build']:<8}{s['tried']:>6}{s['passed']:>8}{share:>8}{len(s['plates']):>8}"
              f"{len(s['knocked']):>9}{s['episodes']:>10}{s['cpu_s']:>8}")
    for s in out["summary"]:
        for f in s["failing"]:
            print(f"{s['store']} {s['build']} {f['bin']}: {f['message']}")
        for p in s["plates"]:
            print(f"{s['store']} {s['build']} broken plate: {p}")
        for k in s["knocked"]:
            print(f"{s['store']} {s['build']} knocked off a shelf: {k}")


def _print_crowd(out: dict) -> None:
    def line(name: str, r: dict) -> str:
        thru = "-" if r["throughput_per_min"] is None else f"{r['throughput_per_min']:.2f}"
        per100 = "-" if r["stalls_per_100"] is None else f"{r['stalls_per_100']:.1f}"
        left = r["left_inside"] if isinstance(r["left_inside"], int) else len(r["left_inside"])
        stalls = r["stalls"] if isinstance(r["stalls"], int) else len(r["stalls"])
        return (f"{name:<10}{r['shoppers']:>9}{r['peak_inside']:>6}{r['exits']:>7}{thru:>10}{stalls:>8}{per100:>12}"
                f"{left:>6}{r.get('cpu_s', 0.0):>8}")

    rows = out["rows"]
    print(f"{rows[0].get('scenario') if rows else ''}")
    print(f"{'seed':<10}{'shoppers':>9}{'peak':>6}{'exits':>7}{'exit/min':>10}{'stalls':>8}{'stalls/100':>12}"
          f"{'left':>6}{'CPU-s':>8}")
    for r in rows:
        print(f"{str(r.get('seed', r.get('job'))):<10}CRASH {r['crash']}" if r.get("crash") else line(str(r["seed"]), r))
    print(line("pooled", out["pooled"]))
    p = out["pooled"]
    print(f"pooled: {p['faults']} scenario faults, {p['adapted']} adapted steps, {p['broken_plates']} broken plates, "
          f"{p['crashes']} crashes")
    for r in rows:
        for key in ("stalls", "left_inside", "faults", "adapted", "plates"):
            for what in r.get(key) or []:
                print(f"seed {r['seed']} {key}: {what}")


def plan(stores: list[str], builds: list[str]) -> dict:
    """The reach planner's verdict (`agents.reach.bin_problem`, what load-time checks and shoppers use) for every
    bin of every store, for every build and every hand-in-a-bin action: no physics, a second or two."""
    from agents.reach import HAND_IN_BIN, bin_problem, median_build
    from sim.layout import load_store

    summary = []
    for store in stores:
        layout = load_store(store)
        for name in builds:
            height, child = BUILDS[name]
            build = median_build(height, child)
            failing = []
            for b in sorted(layout.bins.values(), key=lambda b: (b.gondola, b.shelf, b.index)):
                why = next((f"{action}: {w}" for action in HAND_IN_BIN
                            if (w := bin_problem(build, b, None, layout, action)) is not None), None)
                if why is not None:
                    failing.append({"bin": b.id, "plate_m": round(b.center[2], 3), "message": why})
            n = len(layout.bins)
            summary.append({"store": _store_name(store), "build": name, "bins": n, "passed": n - len(failing),
                            "share": round((n - len(failing)) / n, 4), "failing": failing})
    return {"summary": summary}


def _print_plan(out: dict) -> None:
    print(f"{'store':<15} {'build':<7} {'bins':>5} {'plannable':>9} {'share':>7}  first failing")
    for s in out["summary"]:
        first = f"{s['failing'][0]['bin']} at {s['failing'][0]['plate_m']:.2f} m: {s['failing'][0]['message']}" if s["failing"] else ""
        print(f"{s['store']:<15} {s['build']:<7} {s['bins']:>5} {s['passed']:>9} {s['share']:>7.1%}  {first}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("soundness", help="every scenario at every seed: crashes, faults, stalls, broken plates")
    s.add_argument("targets", nargs="*")
    s.add_argument("--seeds", default="0:10")
    r = sub.add_parser("reach", help="can each build take from and put back into every bin")
    r.add_argument("targets", nargs="*", help="store files (default: every assets/stores/*.yaml)")
    r.add_argument("--builds", default=",".join(BUILDS), help=f"comma-separated, of {', '.join(BUILDS)}")
    r.add_argument("--every", type=int, default=1, help="keep every K-th stocked bin (in bin order)")
    g = sub.add_parser("plan", help="the reach planner's verdict for every bin, build and action (no physics)")
    g.add_argument("targets", nargs="*", help="store files (default: every assets/stores/*.yaml)")
    g.add_argument("--builds", default=",".join(BUILDS), help=f"comma-separated, of {', '.join(BUILDS)}")
    g.add_argument("--json", default=None)
    e = sub.add_parser("generated", help="soundness over generated stores: every scenario of each, resumable")
    e.add_argument("--stores", default="fresh:50", help="store seeds: fresh:K (kept in OUT/fresh_stores.json), A:B, N,M")
    e.add_argument("--scenarios", type=int, default=8, help="scenarios generated per store")
    e.add_argument("--seeds", default="0:1", help="episode seeds of each scenario")
    e.add_argument("--out", default="out/bench-shoppers-generated")
    c = sub.add_parser("crowd", help="exit throughput, stalls and who is left inside in a crowd")
    c.add_argument("target", nargs="?", default=str(CROWD_SCENARIO))
    c.add_argument("--seeds", default="0:3")
    for p in (s, r, c, e):
        p.add_argument("--workers", type=int, default=2)
        p.add_argument("--json", default=None)
    for p in (s, r, c):
        p.add_argument("--rows", default=None, help="append each finished row to this file as a JSON line")
    args = ap.parse_args(argv)
    if args.cmd == "soundness":
        out = soundness(args)
        _print_soundness(out)
    elif args.cmd == "generated":
        if not 1 <= args.scenarios <= 50:
            ap.error("--scenarios takes a whole number from 1 to 50")
        from sim.errors import InputError

        try:
            out = generated(args)
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        _print_soundness(out)
        for st in out["stores"]:
            print(f"{st['store']}: {st['runs']} runs, {st['shoppers']} shoppers, {st['crashes']} crashes, "
                  f"{st['scenario_faults']} faults, {st['adapted_steps']} adapted, {st['left_inside']} left inside, "
                  f"{st['exit_stalls']} stalls, {st['broken_plates']} broken plates; {st['cpu_s']} CPU-s")
        print(f"{out['totals']['stores']} stores")
    elif args.cmd == "plan":
        builds = [b for b in args.builds.split(",") if b]
        if any(b not in BUILDS for b in builds):
            ap.error(f"--builds takes names from {', '.join(BUILDS)}")
        out = plan(_store_files(args.targets), builds)
        _print_plan(out)
    elif args.cmd == "reach":
        builds = [b for b in args.builds.split(",") if b]
        if any(b not in BUILDS for b in builds) or args.every < 1:
            ap.error(f"--builds takes names from {', '.join(BUILDS)}; --every a whole number >= 1")
        out = reach(_store_files(args.targets), builds, args.every, args.workers, args.rows)
        _print_reach(out)
    else:
        out = crowd(args.target, _seeds(args.seeds), args.workers, args.rows)
        _print_crowd(out)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
