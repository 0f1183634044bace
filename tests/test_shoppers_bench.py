"""The shoppers bench (`bench.shoppers`): its watches on hand-built stand-ins, the reach and crowd figures on the
tiny store, and the property the plate watch stands for: a shopper's hands never break the shelf."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.shoppers import (
    BELOW_TARE_G,
    PLATE_HOLD_S,
    PLATE_TOL_G,
    STALL_S,
    PlateWatch,
    WalkOutWatch,
    bin_outcomes,
    crowd,
    generated_jobs,
    main,
    reach,
    reach_gondola,
    soundness_run,
)
from sim.clock import Clock
from sim.ledger import ItemRecord, Ledger, TruthEvent

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "assets" / "stores" / "tiny_store.yaml"
CROWD_TINY = ROOT / "assets" / "scenarios" / "crowd-tiny.yaml"
SAMPLE_S = 0.1  # the sweep reads the plates at 10 Hz
WITHDRAW_S = 2.0  # after a touch ends, or a take or put-back is booked, the hand is out of the bin by then


# -- the watches, on stand-ins ------------------------------------------------------


class _Plates:
    def __init__(self, grams: dict[str, float]) -> None:
        self.grams = grams

    def true_grams(self) -> np.ndarray:
        return np.array(list(self.grams.values()))


class _StandInSim:
    """What `PlateWatch` and `WalkOutWatch` read of a simulation, set by hand."""

    def __init__(self, grams: dict[str, float]) -> None:
        self.clock = Clock()
        self.load_cells = _Plates(grams)
        self.ledger = Ledger()
        self.world = type("World", (), {"bin_ids": list(grams)})()
        self.shoppers = type("Commons", (), {"shoppers": {}})()

    @property
    def t_s(self) -> float:
        return self.clock.t_s

    def run_for(self, seconds: float, *watches) -> None:
        for _ in range(int(round(seconds / self.clock.dt_s))):
            self.clock.advance()
            for w in watches:
                w.check()


def _stock(sim: _StandInSim, bin_id: str, weight_g: float) -> None:
    sim.ledger.add_item(ItemRecord(len(sim.ledger.items), "cola-330", weight_g, bin_id, bin_id))


def test_plate_watch_flags_a_plate_under_its_tare_and_one_off_the_ledger_too_long_but_not_one_within_tolerance():
    sim = _StandInSim({"A-1-1": 0.0, "A-1-2": 0.0, "A-1-3": 0.0, "A-1-4": 0.0})
    for b in ("A-1-2", "A-1-3", "A-1-4"):
        _stock(sim, b, 1000.0)
    watch = PlateWatch(sim)
    sim.load_cells.grams.update({
        "A-1-1": -BELOW_TARE_G - 50.0,  # an empty plate pried up (off its empty load by less than PLATE_TOL_G)
        "A-1-2": 1000.0 + PLATE_TOL_G + 100.0,  # pressed, and it stays so
        "A-1-3": 1000.0 + PLATE_TOL_G - 50.0,  # within tolerance
        "A-1-4": 1000.0 + PLATE_TOL_G + 100.0,  # off, but only for a moment
    })
    sim.run_for(PLATE_HOLD_S - 1.0, watch)
    sim.load_cells.grams["A-1-4"] = 1000.0
    sim.run_for(3.0, watch)
    flagged = [a.split(" plate ")[1].split(" ")[0] for a in watch.anomalies]
    assert flagged == ["A-1-1", "A-1-2"], watch.anomalies
    assert "under its tare" in watch.anomalies[0] and "the ledger puts 1000 g" in watch.anomalies[1]


def test_plate_watch_lets_a_leaning_hand_press_a_plate():
    sim = _StandInSim({"A-1-1": 0.0})
    _stock(sim, "A-1-1", 500.0)
    sim.ledger.note(0.0, "lean", "ann", "acct-ann", "A-1-1", seconds=10.0)
    watch = PlateWatch(sim)
    sim.load_cells.grams["A-1-1"] = 500.0 + PLATE_TOL_G + 200.0
    sim.run_for(PLATE_HOLD_S + 3.0, watch)
    assert watch.anomalies == []


class _WalkingOut:
    def __init__(self, sid: str, xy: tuple[float, float]) -> None:
        self.id, self.xy, self.script_over = sid, xy, True
        self.next_action = "walk out through out-1"

    def position(self) -> tuple[float, float]:
        return self.xy


def test_walk_out_watch_books_a_shopper_that_stands_still_once_and_one_that_moves_never():
    sim = _StandInSim({"A-1-1": 0.0})
    stuck, walking = _WalkingOut("stuck", (1.0, 1.0)), _WalkingOut("walking", (2.0, 2.0))
    sim.shoppers.shoppers.update(stuck=stuck, walking=walking)
    watch = WalkOutWatch(sim)
    for _ in range(int(2 * STALL_S)):
        walking.xy = (walking.xy[0] + 0.5, walking.xy[1])
        sim.run_for(1.0, watch)
    assert len(watch.stalls) == 1 and watch.stalls[0].startswith("stuck at (1.00, 1.00)"), watch.stalls
    assert watch.first_out_s == pytest.approx(0.0, abs=0.1)


# -- reach: which bin a fault stopped at ---------------------------------------------


def test_a_fault_fails_the_bin_its_step_names_and_leaves_the_later_bins_to_try_again():
    bins = ["A-1-1", "A-1-2", "A-1-3", "A-1-4"]
    events = [
        TruthEvent(5.0, "take", "s", bin="A-1-1"), TruthEvent(8.0, "put_back", "s", bin="A-1-1"),
        TruthEvent(12.0, "take", "s", bin="A-1-2"),
        TruthEvent(20.0, "fault", "s", message="shopper 's' step 4 (put_back): cannot reach bin A-1-2"),
        TruthEvent(21.0, "take", "other", bin="A-1-3"),
    ]
    done, rest = bin_outcomes("s", bins, events)
    assert done == {"A-1-1": None, "A-1-2": "shopper 's' step 4 (put_back): cannot reach bin A-1-2"}
    assert rest == ["A-1-3", "A-1-4"]


def test_bins_the_ledger_has_no_take_or_put_back_for_fail_without_a_fault():
    events = [TruthEvent(5.0, "take", "s", bin="A-1-1"), TruthEvent(9.0, "take", "s", bin="A-1-2"),
              TruthEvent(12.0, "put_back", "s", bin="A-1-2")]
    done, rest = bin_outcomes("s", ["A-1-1", "A-1-2", "A-1-3"], events, unfinished="time ran out")
    assert done["A-1-1"].startswith("the ledger has no put-back") and done["A-1-2"] is None
    assert done["A-1-3"] == "the ledger has no take from it (time ran out)" and rest == []


# -- the figures, on the tiny store ----------------------------------------------------


@pytest.mark.slow
def test_a_median_adult_takes_from_and_puts_back_into_every_bin_sampled_with_nothing_knocked_or_pried():
    # the property on the tiny store (every stocked bin) and a sample of the market store (every 6th); the
    # benchmark command runs every bin of every shipped store for four builds
    summary = (reach([str(TINY)], ["median"], every=1, workers=2)["summary"]
               + reach([str(ROOT / "assets" / "stores" / "market_store.yaml")], ["median"], every=6, workers=2)["summary"])
    assert [s["store"] for s in summary] == ["tiny_store", "market_store"]
    for s in summary:
        assert s["tried"] >= 10, s
        assert s["share"] == 1.0 and not s["failing"], (s["store"], s["failing"])
        assert not s["plates"] and not s["knocked"] and not s["crashes"], (s["store"], s["plates"], s["knocked"])


@pytest.mark.slow
def test_a_large_box_taken_from_the_front_of_a_full_top_bin_goes_back_into_the_gap_it_left():
    # corner store C-5-5, a top bin at 1.57 m: tissue boxes (230 x 120 mm) stocked three deep, 4 mm apart. The gap
    # the taken box leaves is the only free spot in reach (the free one at the back is not); with the usual
    # room kept round an item put back it did not fit, and the shopper reached for the back and failed
    row = reach_gondola(str(ROOT / "assets" / "stores" / "corner_store.yaml"), "median", "C", ("C-5-5",))
    assert row["crash"] is None and row["bins"] == {"C-5-5": None}, row
    assert not row["plates"] and not row["knocked"], row


@pytest.mark.slow
def test_the_tiny_crowd_gets_out_without_stalls_and_the_crowd_bench_gives_its_throughput():
    # crowd-tiny at seed 1, one of the two whole crowd episodes the suite runs (the other, seed 5, in
    # test_agents_runs checks the shelves against the ledger). There crowd-007, walking out, was jostled to where
    # the way to its next route corner cut a gondola's corner, and stood pressed into it for 15 s and more (an
    # exit stall); it re-plans now. Everyone gets out, with no fault and no plate misbehaving.
    out = crowd(str(CROWD_TINY), [1], workers=1)
    (row,) = out["rows"]
    assert row["crash"] is None, row.get("traceback")
    assert row["stalls"] == [] and out["pooled"]["stalls"] == 0, row["stalls"]
    assert row["exits"] == row["shoppers"] >= 8 and row["throughput_per_min"] > 0
    assert row["peak_inside"] >= 1 and row["first_out_s"] <= row["last_exit_s"]
    assert not row["faults"] and not row["left_inside"] and not row["plates"], row
    assert out["pooled"]["exits"] == row["exits"]


def test_a_soundness_run_is_one_row_of_what_went_wrong_for_the_shoppers_and_the_store():
    row = soundness_run(str(ROOT / "assets" / "scenarios" / "pick-one.yaml"), 0)
    assert row["crash"] is None, row.get("traceback")
    assert row["scenario"] == "assets/scenarios/pick-one.yaml" and row["seed"] == 0 and row["shoppers"] == 1
    assert row["sim_s"] > 5 and row["cpu_s"] > 0
    for key in ("faults", "adapted", "skipped", "left_inside", "stalls", "plates"):
        assert row[key] == [], (key, row[key])


# -- hands never break the shelf ------------------------------------------------------------


@pytest.mark.slow
def test_touching_every_bin_leaves_every_other_plate_as_it_was():
    from agents.scenario import Scenario
    from sim.layout import load_store

    layout = load_store(TINY)
    bins = sorted(layout.bins, key=lambda b: (layout.bins[b].gondola, layout.bins[b].shelf, layout.bins[b].index))
    sc = Scenario("touch-every-bin", store=TINY.name, seed=0, duration_s=200, base_dir=TINY.parent)
    adam = sc.add_shopper("adam", body={"height_m": 1.72})
    for b in bins:
        adam.touch(b, seconds=1.0)
    sim, broken = _sweep(sc)
    assert not sim.ledger.faults, [e.message for e in sim.ledger.faults]
    assert [e.bin for e in sim.ledger.events_of("touch")] == bins
    assert not broken, "\n".join(broken)


@pytest.mark.slow
@pytest.mark.parametrize("who", ["adam", "bob"])  # a shopper's body and pace are drawn from its id
def test_picking_and_putting_back_changes_the_worked_plate_by_the_items_weight_only(who):
    from agents.scenario import Scenario
    from sim.layout import load_store

    planogram = load_store(TINY).spec.planogram
    bins = ["A-1-1", "A-2-3", "B-1-1", "B-2-1"]  # both faces, both shelves; cans, bars, a heavy carton
    sc = Scenario("pick-put-back", store=TINY.name, seed=0, duration_s=200, base_dir=TINY.parent)
    adam = sc.add_shopper(who, body={"height_m": 1.72})
    for b in bins:
        adam.pick(planogram[b].sku, bin=b).put_back(planogram[b].sku, bin=b)
    sim, broken = _sweep(sc)
    assert not sim.ledger.faults, [e.message for e in sim.ledger.faults]
    assert [e.bin for e in sim.ledger.events_of("take")] == bins
    assert [e.bin for e in sim.ledger.events_of("put_back")] == bins
    assert not broken, "\n".join(broken)


def _sweep(sc) -> tuple[object, list[str]]:
    """Run `sc` (one shopper), reading every plate noise-free at 10 Hz; return the closed simulation and what
    broke the shelf: each plate whose readings broke the rule (see `_broken_readings`), each item knocked off."""
    from agents import build_simulation

    sim = build_simulation(sc, seed=0, cameras=False)
    base = sim.load_cells.true_grams().copy()
    every = int(round(SAMPLE_S / sim.clock.dt_s))
    end = int(round(sc.spec.duration_s / sim.clock.dt_s))
    times, grams = [], []
    while sim.clock.tick < end and not all(a.done for a in sim.actors):
        sim.step()
        if sim.clock.tick % every == 0:
            times.append(sim.t_s)
            grams.append(sim.load_cells.true_grams().copy())
    assert len(times) > 100, f"the episode ended after {sim.t_s:.1f} s"
    noise_g = sim.layout.spec.sensors.load_cells.noise_g
    broken = _broken_readings(list(sim.world.bin_ids), sim.ledger.events, np.array(times), np.array(grams), base,
                              bound_g=max(3.0, 3.0 * noise_g))
    broken += [f"item {e.item_id} ({e.sku}) knocked off {e.bin} at {e.t_s:.1f} s" for e in sim.ledger.events_of("drop")]
    sim.close()
    return sim, broken


def _broken_readings(bins: list[str], events: list[TruthEvent], times: np.ndarray, grams: np.ndarray,
                     base: np.ndarray, bound_g: float) -> list[str]:
    """Each reading off the rule: a plate reads its opening load, less what the ledger says was taken from it and
    plus what was put back, within `bound_g`; except the plate the shopper works at, which only must not read
    under its tare. The shopper works at one bin at a time: from its previous touch, take or put-back (it walks
    over and reaches in) to `WITHDRAW_S` after this one (it withdraws)."""
    level = np.tile(base, (len(times), 1))
    worked = np.zeros(level.shape, dtype=bool)
    previous_t = 0.0
    for e in (e for e in events if e.kind in ("touch", "take", "put_back")):
        j = bins.index(e.bin)
        if e.kind != "touch":
            level[times >= e.t_s, j] += e.weight_g if e.kind == "put_back" else -e.weight_g
        worked[(times >= previous_t) & (times <= e.t_s + (e.seconds or 0.0) + WITHDRAW_S), j] = True
        previous_t = e.t_s
    bad = np.where(worked, grams < -bound_g, np.abs(grams - level) > bound_g)
    out = []
    for j in np.nonzero(bad.any(axis=0))[0]:  # one line a plate: its first bad reading, and how many there were
        i = int(np.argmax(bad[:, j]))
        why = "under its tare while worked at" if worked[i, j] else f"{grams[i, j] - level[i, j]:+.1f} g off its load"
        out.append(f"plate {bins[j]} at {times[i]:.1f} s reads {grams[i, j]:.1f} g: {why} ({level[i, j]:.1f} g); "
                   f"{int(bad[:, j].sum())} of {len(times)} readings off by more than {bound_g:g} g")
    return out


def test_each_finished_row_is_appended_as_a_json_line_so_a_stopped_sweep_keeps_it(tmp_path):
    from bench.shoppers import _run_all

    rows_to = tmp_path / "rows.jsonl"
    rows_to.write_text('{"earlier": 1}\n')  # a resumed sweep appends
    jobs = [((("seed", 3), ("ok", True)),), ((("seed", 4), ("ok", False)),)]
    rows = _run_all(dict, jobs, 1, label=str, rows_to=str(rows_to))
    lines = [json.loads(x) for x in rows_to.read_text().splitlines()]
    assert lines[0] == {"earlier": 1} and sorted(lines[1:], key=lambda r: r["seed"]) == rows == \
        [{"seed": 3, "ok": True}, {"seed": 4, "ok": False}]


# -- soundness over generated stores: the plan and the resume (the runs themselves are soundness_run's) -------------


def test_the_generated_sweep_draws_its_stores_once_and_resumes_the_runs_its_rows_hold(tmp_path, capsys):
    jobs, kept = generated_jobs(tmp_path, "fresh:1", 2, [0, 1])
    pool = json.loads((tmp_path / "fresh_stores.json").read_text())["fresh_stores"]
    assert len(pool) == 1 and not kept and len(jobs) == 4  # 2 scenarios x 2 seeds
    scenarios = sorted({f for f, _ in jobs})
    assert len(scenarios) == 2 and all(Path(f).is_file() and f"store-{pool[0]}" in f for f in scenarios)
    done = {"scenario": jobs[0][0], "seed": jobs[0][1], "shoppers": 3, "faults": ["cannot reach bin X"], "adapted": [],
            "left_inside": ["a: exit"], "stalls": [], "plates": [], "crash": None, "cpu_s": 10.0}
    died = {"job": list(jobs[1]), "crash": "worker died: BrokenProcessPool: ..."}
    with open(tmp_path / "rows.jsonl", "w") as f:
        f.write(json.dumps(done) + "\n" + json.dumps(died) + "\n" + '{"scenario": "cut sh')  # the last cut mid-write
    again, kept = generated_jobs(tmp_path, "fresh:1", 2, [0, 1])
    assert again == jobs[2:] and kept == [done, died]  # the same store, the two runs it has not done

    # with every run already in the rows, nothing is run and the totals count every row, crashes included
    with open(tmp_path / "rows.jsonl", "a") as f:
        for scenario, seed in again:
            f.write("\n" + json.dumps(dict(done, scenario=scenario, seed=seed, faults=[], left_inside=[])))
    assert main(["generated", "--stores", "fresh:1", "--scenarios", "2", "--seeds", "0:2", "--out", str(tmp_path),
                 "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "4 runs, 9 shoppers: 1 crashes, 1 scenario faults (in 1 runs)" in printed and "1 left inside" in printed
    assert f"store-{pool[0]}: 4 runs, 9 shoppers, 1 crashes, 1 faults" in printed and "1 stores" in printed


def test_the_generated_sweep_names_a_bad_store_choice_and_exits_2(tmp_path, capsys):
    assert main(["generated", "--stores", "fresh:0", "--out", str(tmp_path)]) == 2
    assert "--stores" in capsys.readouterr().err and not (tmp_path / "rows.jsonl").exists()
