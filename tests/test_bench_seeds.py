"""Development and fresh seeds (bench.seeds): what --seeds names, how rows are labelled, fresh seeds kept per folder."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.batch import plan_bench, plan_episodes, read_rows, run_bench
from bench.seeds import FRESH_FILE, SeedChoice, parse_seed_choice
from sim.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
TINY_SCENARIO = ROOT / "assets" / "scenarios" / "standard" / "s01-tiny-bottom-shelf.yaml"
STAND_IN = "tests.test_bench_seeds:stand_in_episode"


def stand_in_episode(scenario_path: str, seed: int, *, modes, out_dir=None) -> dict:
    """No simulation: one receipt per mode, right on even seeds (a worker imports it)."""
    receipt = {"account": "a", "items": {}, "truth": {}, "correct": seed % 2 == 0, "flagged": False,
               "confidence": 0.9, "issued": True, "phantom": False, "reasons": []}
    return {m: {"scenario": scenario_path, "seed": seed, "mode": m, "accounts": 1, "receipts": [receipt],
                "unfinished": [], "errors": []} for m in modes}


def suite(tmp_path: Path, seeds_line: str = "dev_seeds: '0:2'") -> Path:
    path = tmp_path / "mini.yaml"
    path.write_text(f"name: mini\n{seeds_line}\nscenarios:\n  - {TINY_SCENARIO}\n")
    return path


def test_seeds_option_joins_development_fresh_and_named_seeds():
    assert parse_seed_choice(None) == SeedChoice(dev=True, fresh=None)  # the default: dev+fresh
    assert parse_seed_choice("dev+fresh:2") == SeedChoice(dev=True, fresh=2)
    assert parse_seed_choice("0:3") == SeedChoice(dev=False, fresh=0, named=(0, 1, 2))
    assert parse_seed_choice("dev+123456,789") == SeedChoice(dev=True, fresh=0, named=(123456, 789))
    for bad in ("", "dev+", "fresh:0", "fresh:x", "3:1", "abc"):
        with pytest.raises(InputError):
            parse_seed_choice(bad)


def test_a_suite_names_its_development_seeds_under_dev_seeds_or_the_older_seeds(tmp_path):
    new = plan_episodes([str(suite(tmp_path))])
    (tmp_path / "old").mkdir()
    old = plan_episodes([str(suite(tmp_path / "old", "seeds: '0:2'"))])
    assert [(s.seed, s.seed_set) for s in new] == [(s.seed, s.seed_set) for s in old] == [(0, "dev"), (1, "dev")]
    with pytest.raises(InputError) as err:
        plan_episodes([str(suite(tmp_path, "dev_seeds: '0:2'\nseeds: '0:2'"))])
    assert "mini.yaml:3: seeds" in str(err.value)


def test_named_seeds_are_development_seeds_only_when_the_suite_says_so(tmp_path):
    specs = plan_episodes([str(suite(tmp_path))], seeds=[1, 7])
    assert [(s.seed, s.seed_set) for s in specs] == [(1, "dev"), (7, "fresh")]


def test_fresh_seeds_are_drawn_once_per_folder_recorded_and_reused(tmp_path):
    target, out = [str(suite(tmp_path))], tmp_path / "out"
    specs, pool = plan_bench(target, parse_seed_choice("dev+fresh"), out)  # as many fresh as dev: two
    fresh = [s.seed for s in specs if s.seed_set == "fresh"]
    assert fresh == pool and len(pool) == 2 and all(2 <= s < 2**31 for s in pool)
    assert not (out / FRESH_FILE).exists()  # planning writes nothing
    result = run_bench(specs, out, workers=2, episode_fn=STAND_IN, progress=False, plots=False, fresh_seeds=pool)
    assert result.ran == 4
    rows = read_rows(out / "results.jsonl")
    assert sorted((r["seed_set"], r["seed"]) for r in rows) == sorted([("dev", 0), ("dev", 1)] + [("fresh", s) for s in pool])
    assert json.loads((out / FRESH_FILE).read_text())["fresh_seeds"] == pool
    again, same = plan_bench(target, parse_seed_choice(None), out)
    assert same == pool and run_bench(again, out, episode_fn=STAND_IN, progress=False, plots=False,
                                      fresh_seeds=same).ran == 0  # the same command resumes: nothing new
    more, grown = plan_bench(target, parse_seed_choice("fresh:3"), out)
    assert grown[:2] == pool and len(grown) == 3 and [s.seed for s in more] == grown
    (out / FRESH_FILE).unlink()  # the rows alone still say which seeds were fresh
    assert sorted(plan_bench(target, parse_seed_choice(None), out)[1]) == sorted(pool)


def test_rerunning_the_same_bench_command_reuses_its_fresh_seeds(tmp_path):
    cmd = [sys.executable, "run_sim.py", "bench", str(TINY_SCENARIO), "--workers", "1", "--episode-fn", STAND_IN,
           "--no-plots", "--out", str(tmp_path)]
    first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    rows = read_rows(tmp_path / "results.jsonl")
    assert sorted(r["seed_set"] for r in rows) == ["dev", "fresh"]  # the scenario's own seed and one drawn
    second = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and "0 episodes run" in second.stdout and "2 resumed" in second.stdout
    assert read_rows(tmp_path / "results.jsonl") == rows
    fresh = next(r["seed"] for r in rows if r["seed_set"] == "fresh")
    assert f"--seeds {fresh}` reruns" in (tmp_path / "summary.md").read_text()
