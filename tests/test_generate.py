"""Generated stores and scenarios (issue 15): deterministic, drawn over the ranges the issue names, valid, doable.

The ranges are checked over 50 store seeds (the stores alone are cheap); scenarios over a sample; the slow
tier builds and runs generated scenarios to a report and checks a truth comment against the ledger.
"""
from __future__ import annotations

import math
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from agents.generate import generate
from agents.scenario import load_scenario, validate_file
from agents.script_check import CROWD_VISIT_S
from sim.generate import generate_store, store_text
from sim.layout import camera_ids, load_store

ROOT = Path(__file__).resolve().parent.parent
SEEDS = range(50)
SMALL = (12,)  # one of the smallest generated stores (46 m2): cheap to build and run (`bench.stores` runs all 50)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stores")
    out = {}
    for seed in SEEDS:
        path = folder / f"store-{seed}.yaml"
        path.write_text(store_text(seed))
        out[seed] = load_store(path)  # raises InputError (file, line, key) if the generator drew an invalid store
    return out


def test_same_seed_same_bytes_and_other_seeds_other_stores(tmp_path):
    assert store_text(3) == store_text(3)
    assert len({store_text(s) for s in range(5)}) == 5
    a, b = tmp_path / "a", tmp_path / "b"
    generate(3, a, 4)
    generate(3, b, 4)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*.yaml"))
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*.yaml")) and len(files_a) == 5
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    generate(3, tmp_path / "c", 2)  # fewer scenarios: the same first ones
    assert sorted(p.name for p in (tmp_path / "c" / "scenarios").iterdir()) == sorted(p.name for p in files_a[:2])  # scenarios/ sorts before store.yaml


def test_fifty_stores_span_the_issues_ranges(stores):
    areas, gondolas, skus = [], [], []
    for seed, layout in stores.items():
        s = layout.spec
        w, d = s.floor_m
        areas.append(w * d)
        gondolas.append(len(s.gondolas))
        skus.append(len(s.catalog))
        assert 40 <= w * d <= 400, seed
        assert 2 <= len(s.gondolas) <= 14, seed
        assert all(3 <= g.shelves <= 6 and 2 <= g.bins_per_shelf <= 8 for g in s.gondolas), seed
        assert 15 <= len(s.catalog) <= 120, seed
        per_camera = w * d / len(camera_ids(s))
        assert 5 <= per_camera <= 15 and 2.7 <= s.cameras.grid.height_m <= 3.5, seed
        kinds = Counter(g.kind for g in s.gates)
        assert kinds["entry"] >= 1 and kinds["exit"] >= 1, seed
        stocked = {e.sku for e in s.planogram.values() if e.count > 0}
        assert stocked == {c.sku for c in s.catalog}, seed  # every SKU on a shelf, none on paper only
    # drawn, not templated: the whole range is used
    assert min(areas) < 60 and max(areas) > 300
    assert min(gondolas) <= 4 and max(gondolas) >= 12
    assert min(skus) <= 25 and max(skus) >= 100


def _lookalike_pairs(layout):
    cat = layout.spec.catalog
    same = near = 0
    for i, a in enumerate(cat):
        for b in cat[i + 1:]:
            if a.shape == b.shape and a.size_mm == b.size_mm and a.color != b.color:
                if a.weight_g == b.weight_g:
                    same += 1
                elif abs(a.weight_g - b.weight_g) / a.weight_g <= 0.05:
                    near += 1
    return same, near


def _structures(layout):
    """Which kinds of gondola placement a store has: wall runs, islands (back to back), end caps."""
    w, d = layout.spec.floor_m
    gs = layout.spec.gondolas
    fps = {g.id: g.footprint() for g in gs}
    out = set()
    for g in gs:
        x0, y0, x1, y1 = fps[g.id].bounds
        if min(x0, y0, w - x1, d - y1) < 0.05:
            out.add("wall run")
        for h in gs:
            if h.id == g.id or fps[g.id].distance(fps[h.id]) > 0.01:
                continue
            opposite = {g.facing, h.facing} in ({"north", "south"}, {"east", "west"})
            if opposite:
                out.add("island")
            elif g.length_m < 1.3 and g.depth_m <= 0.45 and ({g.facing, h.facing} not in ({"north", "south"}, {"east", "west"})
                                                             and g.facing != h.facing):
                out.add("end cap")
    return out


def test_stores_have_lookalike_families_heavy_beside_light_and_every_placement(stores):
    with_same = with_near = heavy_light = 0
    placements = Counter()
    for layout in stores.values():
        same, near = _lookalike_pairs(layout)
        with_same += same > 0
        with_near += near > 0
        weights = {b: layout.catalog[e.sku].weight_g for b, e in layout.spec.planogram.items()}
        for b, wt in weights.items():
            g, s, k = b.rsplit("-", 2)
            other = weights.get(f"{g}-{s}-{int(k) + 1}")
            if other is not None and max(wt, other) >= 1000 and min(wt, other) <= 200:
                heavy_light += 1
                break
        placements.update(_structures(layout))
    assert with_same >= 45  # equal weight and size, other colour: in (nearly) every store
    assert with_near >= 10  # near-equal weights too
    assert heavy_light >= 25  # a 1 kg+ pack beside a 200 g one on one shelf
    assert placements["wall run"] >= 30 and placements["island"] >= 30 and placements["end cap"] >= 10, placements


@pytest.fixture(scope="module")
def scenario_sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generated")
    out = []
    for seed in range(0, 50, 5):
        _, scs = generate(seed, folder / f"store-{seed}", 8)
        out += [(folder / f"store-{seed}" / "scenarios" / f"{sc.name}.yaml", sc) for sc in scs]
    return out


def test_generated_scenarios_validate_and_use_every_action_groups_handfuls_and_crowds(scenario_sample):
    actions, people, crowd_arrivals = Counter(), Counter(), []
    groups = handfuls = children = 0
    for path, sc in scenario_sample:
        scenario, _ = validate_file(path)  # what `run` and `validate` do: raises on any problem
        spec = scenario.spec
        assert re.search(r"^# truth: ", path.read_text(), re.M), path.name
        if spec.crowd is not None:
            assert sc.truth is None
            crowd_arrivals.append(spec.crowd.arrivals_per_min * spec.crowd.until_s / 60)
            assert 1 <= spec.crowd.max_inside <= 25
            assert not scenario.notes, scenario.notes  # room for the last arrivals to finish (script_check)
            queue = math.ceil(round(crowd_arrivals[-1]) / spec.crowd.max_inside)  # the arrivals drawn, before rounding
            assert spec.duration_s >= spec.crowd.until_s + CROWD_VISIT_S * queue, (path.name, spec.duration_s)
            continue
        people[len(spec.shoppers)] += 1
        accounts = Counter(s.account_id for s in spec.shoppers)
        groups += any(n > 1 for n in accounts.values())
        children += any(s.body.child for s in spec.shoppers)
        for s in spec.shoppers:
            for step in s.script:
                actions[step.action] += 1
                handfuls += step.action == "pick" and step.args.qty > 1
        assert set(sc.truth) == set(accounts)
    assert set(actions) == {"pick", "put_back", "touch", "lean", "give", "sync", "wait", "walk_to"}, actions
    assert actions["pick"] > actions["put_back"] > 0 and handfuls > 0 and groups > 0 and children > 0
    assert set(people) >= {1, 2, 3}
    assert crowd_arrivals and min(crowd_arrivals) < 8 and max(crowd_arrivals) > 15
    shares = Counter(sc.kind for _, sc in scenario_sample)
    assert 0.08 <= shares["crowd"] / len(scenario_sample) <= 0.35  # the suites' 7 crowds in 41


def test_generate_command_writes_deterministic_files_and_refuses_a_folder_holding_another_store(tmp_path):
    run = [sys.executable, str(ROOT / "run_sim.py"), "generate", "--seed", "12", "--out", str(tmp_path / "g"),
           "--scenarios", "3"]
    first = subprocess.run(run, capture_output=True, text=True, cwd=ROOT)
    assert first.returncode == 0, first.stderr
    before = {p: p.read_bytes() for p in (tmp_path / "g").rglob("*.yaml")}
    assert len(before) == 4 and "store: " in first.stdout
    again = subprocess.run(run, capture_output=True, text=True, cwd=ROOT)
    assert again.returncode == 0 and {p: p.read_bytes() for p in before} == before
    other = subprocess.run(run[:4] + ["13"] + run[5:], capture_output=True, text=True, cwd=ROOT)
    assert other.returncode == 2 and "holds another store" in other.stderr and len(other.stderr.splitlines()) == 1
    assert {p: p.read_bytes() for p in before} == before  # nothing already written is lost


def test_generated_suite_plans_dev_and_fresh_stores_and_reuses_the_fresh_ones(tmp_path):
    from bench.batch import plan_bench
    from bench.generated import FRESH_STORES_FILE, parse_store_choice
    from bench.seeds import parse_seed_choice

    specs, _ = plan_bench(["generated"], parse_seed_choice("dev"), tmp_path, modes=["fused"],
                          stores=parse_store_choice("dev+fresh:1"))
    by_set = Counter(s.seed_set for s in specs)
    assert by_set == {"dev": 9, "fresh": 3}  # 3 development stores and 1 fresh, 3 scenarios each
    fresh_stores = {Path(s.scenario).parts[-3] for s in specs if s.seed_set == "fresh"}
    assert len(fresh_stores) == 1 and (tmp_path / FRESH_STORES_FILE).is_file()
    again, _ = plan_bench(["generated"], parse_seed_choice("dev"), tmp_path, modes=["fused"],
                          stores=parse_store_choice("fresh:1"))
    assert [s.scenario for s in again] == [s.scenario for s in specs if s.seed_set == "fresh"]
    for s in again:
        validate_file(s.scenario)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SMALL)
def test_a_small_generated_store_builds_and_runs_its_cheapest_scenario_to_a_report(seed, tmp_path):
    from bench.stores import store_run

    row = store_run(seed, 4, str(tmp_path))
    assert not row.get("crash"), row
    assert row["stage"] == "done" and row["validated"] == row["scenarios"] == 4
    report = yaml.safe_load(Path(row["report"]).read_text())  # JSON is YAML
    assert report["receipts"] and report["tracking"] is not None and 0 <= report["tracking"]["hota"] <= 1
    assert not row["faults"] and not row["stack_errors"]


@pytest.mark.slow
@pytest.mark.parametrize("seed, kind", [
    (12, "misplaced"),  # gen12-01: the first to enter waits at a sync just inside the entrance, the other comes in
])
def test_a_generated_scripted_scenarios_truth_comment_matches_the_ledger(seed, kind, tmp_path):
    from agents import build_simulation

    _, scs = generate(seed, tmp_path, 8)
    sc = next(s for s in scs if s.kind == "scripted" and s.name.endswith(kind))
    path = tmp_path / "scenarios" / f"{sc.name}.yaml"
    m = re.search(r"^# truth: (.*)$", path.read_text(), re.M)
    written = {a: {k: int(v) for k, v in (yaml.safe_load(i) or {}).items()}
               for a, i in re.findall(r"(\S+) (\{[^}]*\})", m.group(1))}
    assert written == sc.truth
    scenario = load_scenario(path)
    sim = build_simulation(scenario, seed=0, cameras=False)
    try:
        for _ in sim.run(scenario.spec.duration_s):
            pass
        assert not sim.ledger.faults, [f.message for f in sim.ledger.faults]
        assert not [a for a in sim.ledger.members if a not in sim.ledger.closed]
        got = {a: {k: v for k, v in items.items() if v} for a, items in sim.ledger.closed_receipts.items()}
        assert got == written
    finally:
        sim.close()


def test_generated_store_dict_round_trips_through_the_schema():
    d = generate_store(7)
    assert yaml.safe_load(store_text(7)) == d


def test_store_bench_counts_every_failure_and_resumes_without_rerunning_finished_stores(tmp_path):
    import json

    from bench.stores import ROWS_FILE, main, summarise

    rows = [{"store": 1, "stage": "done", "validated": 8, "scenarios": 8, "receipts": 2, "right": 1, "flagged": 1,
             "missing": 1, "faults": ["scenario fault: x"], "stack_errors": [], "cpu_s": 3.0},
            {"store": 2, "stage": "run", "validated": 8, "scenarios": 8, "crash": "RuntimeError: boom", "cpu_s": 1.0},
            {"store": 3, "stage": "generate", "crash": "InputError: bad", "cpu_s": 0.5}]
    s = summarise(rows)
    assert s["stores"] == 3 and s["reports"] == 1 and s["validated"] == 2 and len(s["crashes"]) == 2
    assert (s["receipts"], s["right"], s["missing"], s["scenario_faults"]) == (2, 1, 1, 1)
    (tmp_path / ROWS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"store": 4, "sta')  # torn line
    out = tmp_path / "summary.json"
    assert main(["--stores", "1:4", "--out", str(tmp_path), "--json", str(out)]) == 1  # crashes: not a clean run
    assert json.loads(out.read_text())["summary"] == s  # every store resumed, none rerun
