"""The bench machinery: planning, the process-pool backend, results rows, resume, error rows, summary and plots.

Episodes here are `bench.probe.load_cell_episode`: a real store built in pybullet
and run for a second of physics, cheap enough for tests; the production path
(`scoring.episode.run_episode`) goes through the very same code.
"""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.batch import (
    EpisodeSpec,
    Progress,
    append_row,
    comparable,
    parse_seeds,
    plan_episodes,
    read_rows,
    run_bench,
)
from sim.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "assets" / "stores" / "tiny_store.yaml")
PROBE = "bench.probe:load_cell_episode"


def _bench(specs, out, **kw):
    kw.setdefault("workers", 2)
    kw.setdefault("episode_fn", PROBE)
    return run_bench(specs, out, progress=False, **kw)


def test_seeds_parse_ranges_lists_and_single_values():
    assert parse_seeds("0:3") == [0, 1, 2]
    assert parse_seeds("5") == [5]
    assert parse_seeds("1,4,7") == [1, 4, 7]
    assert parse_seeds([2, 3]) == [2, 3]
    for bad in ("3:3", "a:b", "-1", ""):
        with pytest.raises(InputError):
            parse_seeds(bad)


def test_suite_file_expands_scenarios_seeds_and_modes(tmp_path):
    suite = tmp_path / "mini.yaml"
    suite.write_text(f"name: mini\nseeds: '0:2'\nscenarios:\n  - {TINY}\n  - {{path: {TINY}, seeds: [7], modes: [weight]}}\n")
    specs = plan_episodes([str(suite)])
    assert [(s.suite, s.seed, s.mode) for s in specs] == [("mini", 0, "fused"), ("mini", 1, "fused"), ("mini", 7, "weight")]
    assert specs[0].scenario == "assets/stores/tiny_store.yaml"  # relative to the project root: a stable resume key
    assert [s.seed for s in plan_episodes([str(suite)], seeds=[4])] == [4, 4]  # --seeds overrides; duplicates dropped


def test_bad_suite_names_file_line_and_key(tmp_path):
    suite = tmp_path / "bad.yaml"
    suite.write_text("name: bad\nscenarios:\n  - path: nowhere.yaml\n")
    with pytest.raises(InputError) as err:
        plan_episodes([str(suite)])
    assert "bad.yaml:3: scenarios[0].path" in str(err.value)
    with pytest.raises(InputError):
        plan_episodes(["no-such-suite"])


def test_bench_writes_rows_summary_and_plots_and_matches_a_direct_call(tmp_path):
    from bench.probe import load_cell_episode

    specs = plan_episodes([TINY], seeds=[0, 1, 2])
    result = _bench(specs, tmp_path)
    assert (result.ran, result.errors, result.skipped) == (3, 0, 0)
    rows = read_rows(tmp_path / "results.jsonl")
    assert sorted(r["seed"] for r in rows) == [0, 1, 2]
    assert all(r["status"] == "ok" for r in rows)
    assert len({r["worker"] for r in rows}) == 3  # one fresh process per episode
    direct = load_cell_episode(TINY, 1)
    row1 = next(r for r in rows if r["seed"] == 1)
    assert row1["report"]["stream_sha256"] == direct["stream_sha256"]  # the pool changes nothing
    assert rows[0]["report"]["stream_sha256"] != rows[1]["report"]["stream_sha256"]  # seeds differ
    summary = (tmp_path / "summary.md").read_text()
    # seed 0 is the store's own (development) seed; 1 and 2 are other seeds, so fresh ones, beside it
    assert "| tiny_store (fused, dev) | 1 | 0 |" in summary and "| tiny_store (fused, fresh) | 2 | 0 |" in summary
    assert "±" in summary and [r["seed_set"] for r in sorted(rows, key=lambda r: r["seed"])] == ["dev", "fresh", "fresh"]
    assert (tmp_path / "realtime_factor.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bench = json.loads((tmp_path / "bench.json").read_text())
    assert bench["ran"] == 3 and bench["episodes_per_hour"] > 0


def test_resume_skips_finished_rows_and_survives_a_row_cut_short(tmp_path):
    first = _bench(plan_episodes([TINY], seeds=[0, 1]), tmp_path)
    assert first.ran == 2
    path = tmp_path / "results.jsonl"
    before = path.read_text()
    with path.open("a") as f:  # a kill in the middle of writing a row
        f.write('{"scenario": "assets/stores/tiny_store.yaml", "seed": 2, "mo')
    second = _bench(plan_episodes([TINY], seeds=[0, 1, 2, 3]), tmp_path)
    assert (second.skipped, second.ran) == (2, 2)
    text = path.read_text()
    assert text.startswith(before)  # nothing finished was rerun or rewritten
    rows = read_rows(path)
    assert sorted(r["seed"] for r in rows) == [0, 1, 2, 3]
    third = _bench(plan_episodes([TINY], seeds=[0, 1, 2, 3]), tmp_path)
    assert third.ran == 0 and third.skipped == 4


def test_interrupted_bench_resumes_where_it_stopped(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "run_sim.py", "bench", TINY, "--seeds", "0:6", "--workers", "1",
           "--episode-fn", PROBE, "--no-plots", "--out", str(out)]
    # A shell running the tests in the background (nohup make test &) ignores SIGINT, and a Python started
    # with SIGINT ignored never turns it into KeyboardInterrupt: give the bench a terminal's default.
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    results = out / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(read_rows(results)) < 2:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)  # Ctrl-C in the middle of the bench
    assert proc.wait(timeout=30) == 130
    kept = read_rows(results)
    assert 2 <= len(kept) < 6
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = read_rows(results)
    assert sorted(r["seed"] for r in rows) == list(range(6))  # each episode once: nothing lost, nothing twice
    assert rows[: len(kept)] == kept
    assert f"{len(kept)} resumed" in done.stdout


def lingering_episode(scenario_path: str, seed: int, *, mode: str = "fused", out_dir=None, record=None) -> dict:
    """An episode that takes a minute: what a bench's worker is doing when the bench is stopped."""
    time.sleep(60)
    return {"scenario": scenario_path, "seed": seed, "mode": mode}


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process parents from /proc")
def test_terminated_bench_ends_its_running_episodes_workers(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "run_sim.py", "bench", TINY, "--seeds", "0:4", "--workers", "2",
           "--episode-fn", "tests.test_bench:lingering_episode", "--no-plots", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while time.monotonic() < deadline and len(workers) < 2:  # two episodes' worker processes started
        time.sleep(0.2)
        workers = [c for c in _children(proc.pid) if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()]
    assert len(workers) >= 2
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "a worker ran its episode on after the bench was stopped"
    assert (out / "summary.md").exists()


def test_erroring_episode_becomes_an_error_row_and_the_bench_goes_on(tmp_path):
    bad = tmp_path / "broken_store.yaml"
    bad.write_text(Path(TINY).read_text().replace("length_m: 2.4", "length_m: -2.4", 1))
    specs = plan_episodes([TINY, str(bad)], seeds=[0, 1])
    result = _bench(specs, tmp_path / "out")
    assert (result.ran, result.errors) == (4, 2)
    rows = read_rows(tmp_path / "out" / "results.jsonl")
    errors = [r for r in rows if r["status"] == "error"]
    assert {r["seed"] for r in errors} == {0, 1}
    assert all("broken_store.yaml" in r["error"] and "length_m" in r["error"] for r in errors)
    assert all(r["report"] is None for r in errors)
    assert sum(r["status"] == "ok" for r in rows) == 2
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| broken_store (fused, dev) | 0 | 1 |" in summary and "| broken_store (fused, fresh) | 0 | 1 |" in summary
    assert "Errors:" in summary
    # An error row counts as done on resume, unless asked to retry.
    assert _bench(specs, tmp_path / "out").ran == 0
    assert _bench(specs, tmp_path / "out", retry_errors=True).ran == 2


def test_append_row_starts_a_new_line_after_a_torn_row(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"scenario": "x", "se')
    append_row(path, {"scenario": "x", "seed": 0, "mode": "fused", "status": "ok"})
    assert [r["seed"] for r in read_rows(path)] == [0]


def test_comparable_drops_only_timing_and_worker_fields():
    row = {"scenario": "s", "seed": 1, "mode": "fused", "status": "ok", "elapsed_s": 3.0, "worker": "h:1",
           "report": {"receipt_accuracy": 0.5, "wall_seconds": 2.0, "realtime_factor": 9.0, "stages": {"build": 1}}}
    assert comparable(row) == {"scenario": "s", "seed": 1, "mode": "fused", "status": "ok",
                               "report": {"receipt_accuracy": 0.5}}


def test_bench_command_rejects_bad_arguments_in_one_line(tmp_path):
    for args in (["bench", "no-such-suite"], ["bench", TINY, "--seeds", "x"], ["bench", TINY, "--workers", "0"]):
        done = subprocess.run([sys.executable, "run_sim.py", *args, "--out", str(tmp_path)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_episode_spec_key_is_scenario_seed_mode():
    assert EpisodeSpec("suite", "a.yaml", 3, "weight").key == ("a.yaml", 3, "weight")


def test_summary_and_plots_from_episode_reports(tmp_path):
    from bench.batch import BenchResult, write_summary
    from scoring.metrics import IssuedReceipt, match_events, score_receipts
    from scoring.report import build_report

    rows = []
    for scenario, shoppers, noise, cams, depth in (("a.yaml", 2, 1.0, 6, 0.005), ("b.yaml", 8, 4.0, 12, 0.01)):
        for seed in range(3):
            wrong = seed if shoppers > 2 else 0  # the crowded scenario gets receipts wrong
            truth = {f"acct-{i}": {"cola-330": 1} for i in range(4)}
            issued = [IssuedReceipt(a, {} if i < wrong else items, 0.9) for i, (a, items) in enumerate(truth.items())]
            report = build_report(scenario=scenario, seed=seed, mode="fused", sim_seconds=60, wall_seconds=30,
                                  receipts=score_receipts(issued, truth, {"cola-330": 1.2}),
                                  events=match_events([], []), tracking=None,
                                  extra={"shoppers_peak": shoppers, "cameras": cams, "load_cell_noise_g": noise,
                                         "depth_noise_m": depth})
            rows.append({"suite": "s", "scenario": scenario, "seed": seed, "mode": "fused", "status": "ok",
                         "error": None, "report": {k: v for k, v in report.items() if k != "receipts"}})
    rows.append({"suite": "s", "scenario": "b.yaml", "seed": 9, "mode": "fused", "status": "error",
                 "error": "RuntimeError: boom", "report": None})
    write_summary(tmp_path, rows, BenchResult(tmp_path, 7, 0, 7, 1, 10.0), backend="local", workers=2)
    summary = (tmp_path / "summary.md").read_text()
    assert "| a (fused) | 3 | 0 | 1.000 ± 0.000 [1.000–1.000]" in summary
    assert "| b (fused) | 3 | 1 | 0.750 ± 0.250 [0.500–1.000]" in summary
    assert "| **all** | 6 | 1 |" in summary and "RuntimeError: boom" in summary
    assert "2520.0 episodes per hour" in summary
    for png in ("accuracy_per_scenario", "accuracy_vs_shoppers", "accuracy_vs_cameras",
                "accuracy_vs_load_cell_noise", "accuracy_vs_depth_noise", "realtime_factor"):
        assert (tmp_path / f"{png}.png").stat().st_size > 1000, png
    # A second suite: each suite is plotted on its own (a factor across suites mixes stores), and a factor that does
    # not vary within a suite (here its cameras) draws no line at all.
    other = [dict(r, suite="t", scenario="c.yaml") for r in rows if r["scenario"] == "a.yaml"]
    for k, r in enumerate(other):
        r["report"] = dict(r["report"], shoppers_peak=1 + k)
    for png in tmp_path.glob("*.png"):
        png.unlink()
    write_summary(tmp_path, rows + other, BenchResult(tmp_path, 10, 0, 10, 1, 10.0), backend="local", workers=2)
    made = {p.name for p in tmp_path.glob("*.png")}
    assert {"accuracy_vs_cameras-s.png", "accuracy_vs_shoppers-s.png", "accuracy_vs_shoppers-t.png",
            "accuracy_per_scenario-t.png", "realtime_factor.png"} <= made
    assert "accuracy_vs_cameras-t.png" not in made and "accuracy_vs_cameras.png" not in made


# --- one job per (scenario, seed): several stacks on one stream -------------------------------------------------

MODES_PROBE = "tests.test_bench:modes_probe"


def modes_probe(scenario_path: str, seed: int, *, modes, out_dir=None) -> dict:
    """An episode function taking `modes`: one real probe simulation shared by every mode (a worker imports it)."""
    from bench.probe import load_cell_episode

    if "broken" in Path(scenario_path).name:
        raise RuntimeError("store would not build")
    base = load_cell_episode(scenario_path, seed)
    return {m: {**base, "mode": m, "modes_in_job": list(modes)} for m in modes}


def test_one_job_per_scenario_and_seed_yields_a_row_per_mode(tmp_path):
    from bench.batch import group_jobs

    specs = plan_episodes([TINY], seeds=[0, 1], modes=["fused", "weight", "vision"])
    assert len(specs) == 6 and len(group_jobs(specs)) == 2
    result = _bench(specs, tmp_path, episode_fn=MODES_PROBE)
    assert (result.ran, result.errors) == (6, 0)
    rows = read_rows(tmp_path / "results.jsonl")
    assert sorted((r["seed"], r["mode"]) for r in rows) == sorted((s, m) for s in (0, 1)
                                                                  for m in ("fused", "weight", "vision"))
    for seed in (0, 1):
        same = [r for r in rows if r["seed"] == seed]
        assert len({r["worker"] for r in same}) == 1  # one process ...
        assert len({r["report"]["stream_sha256"] for r in same}) == 1  # ... one simulated stream for the three
        assert all(r["report"]["modes_in_job"] == ["fused", "weight", "vision"] for r in same)
    assert rows[0]["report"]["stream_sha256"] != rows[-1]["report"]["stream_sha256"]
    summary = (tmp_path / "summary.md").read_text()
    for mode in ("fused", "weight", "vision"):
        assert f"| tiny_store ({mode}, dev) | 1 | 0 |" in summary and f"| **all ({mode}, fresh)** | 1 | 0 |" in summary


def test_resume_runs_only_the_missing_modes_of_a_scenario_and_seed(tmp_path):
    _bench(plan_episodes([TINY], seeds=[0], modes=["fused"]), tmp_path, episode_fn=MODES_PROBE)
    both = plan_episodes([TINY], seeds=[0, 1], modes=["fused", "weight"])
    second = _bench(both, tmp_path, episode_fn=MODES_PROBE)
    assert (second.skipped, second.ran) == (1, 3)
    rows = read_rows(tmp_path / "results.jsonl")
    assert sorted((r["seed"], r["mode"]) for r in rows) == [(0, "fused"), (0, "weight"), (1, "fused"), (1, "weight")]
    by_key = {(r["seed"], r["mode"]): r["report"]["modes_in_job"] for r in rows}
    assert by_key[(0, "weight")] == ["weight"]  # seed 0's fused stack was done: only weight ran again
    assert by_key[(1, "fused")] == ["fused", "weight"]
    assert _bench(both, tmp_path, episode_fn=MODES_PROBE).ran == 0


def test_a_failing_job_gives_an_error_row_for_each_of_its_modes(tmp_path):
    bad = tmp_path / "broken_store.yaml"
    bad.write_text(Path(TINY).read_text())
    specs = plan_episodes([TINY, str(bad)], seeds=[0], modes=["fused", "vision"])
    result = _bench(specs, tmp_path / "out", episode_fn=MODES_PROBE)
    assert (result.ran, result.errors) == (4, 2)
    rows = read_rows(tmp_path / "out" / "results.jsonl")
    errors = [r for r in rows if r["status"] == "error"]
    assert sorted(r["mode"] for r in errors) == ["fused", "vision"]
    assert all("store would not build" in r["error"] and "broken_store" in r["scenario"] for r in errors)


def test_summary_pools_receipts_per_suite_and_modality(tmp_path):
    from bench.batch import BenchResult, write_summary

    def row(seed, mode, exact, flagged, unflagged_wrong, tp, fp, fn):
        n = 4
        return {"suite": "hard", "scenario": "x.yaml", "seed": seed, "mode": mode, "status": "ok", "error": None,
                "report": {"receipt_accuracy": exact / n, "item_f1": 1.0,
                           "receipt_counts": {"receipts": n, "exact": exact, "flagged": flagged,
                                              "unflagged": n - flagged, "unflagged_wrong": unflagged_wrong},
                           "items": {"true_positive": tp, "false_positive": fp, "false_negative": fn}}}

    rows = [row(0, "fused", 4, 0, 0, 8, 0, 0), row(1, "fused", 3, 1, 0, 7, 0, 1),
            row(0, "weight", 2, 0, 2, 6, 2, 2), row(1, "weight", 4, 0, 0, 8, 0, 0)]
    write_summary(tmp_path, rows, BenchResult(tmp_path, 4, 0, 4, 0, 10.0), backend="local", workers=2, plots=False)
    summary = (tmp_path / "summary.md").read_text()
    # fused: 7/8 exact, precision 15/15, recall 15/16, 1/8 flagged, 0/7 unflagged wrong
    assert "| hard | fused | dev | 2 | 0 | 8 | 0 | 0.875 (7/8) | 1.0000 | 0.9375 | 0.9677 | 0.125 (1/8) | 0.000 (0/7) |" in summary
    assert "| hard | weight | dev | 2 | 0 | 8 | 0 | 0.750 (6/8) | 0.8750 | 0.8750 | 0.8750 | 0.000 (0/8) | 0.250 (2/8) |" in summary


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _rows(*statuses: str) -> list[dict]:
    return [{"scenario": "assets/scenarios/pick-one.yaml", "seed": i, "mode": "fused", "status": s, "elapsed_s": 1.5}
            for i, s in enumerate(statuses)]


def test_progress_off_a_terminal_is_one_plain_line_per_episode_with_done_total_and_errors():
    log = io.StringIO()
    bar = Progress(3, stream=log)
    for row in _rows("ok", "error", "ok"):
        bar.update(row)
    bar.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 4, lines
    assert lines[0] == "bench: 3 episodes to run"
    assert lines[2].startswith("bench [2/3]  67% | elapsed ") and "1 errors, pick-one seed 1 fused: error (1.5 s)" in lines[2]
    assert lines[3].startswith("bench [3/3] 100% |") and "1 errors, pick-one seed 2 fused: ok" in lines[3]


def test_progress_on_a_terminal_is_a_tqdm_bar_ending_at_the_total_with_errors_and_the_last_episode(monkeypatch):
    # a terminal 200 wide (tqdm reads COLUMNS where the stream has no size): at 80 the postfix was cut short or not,
    # by how many digits the episode rate happened to take
    monkeypatch.setenv("COLUMNS", "200")
    term = _Terminal()
    bar = Progress(3, stream=term)
    for row in _rows("ok", "error", "error"):
        bar.update(row)
    bar.close()
    last = term.getvalue().rstrip("\n").split("\r")[-1]
    assert last.startswith("bench: 100%|") and " 3/3 [" in last, last
    assert "2 errors, pick-one seed 2 fused: error (1.5 s)" in last, last


def test_progress_turned_off_writes_nothing_even_on_a_terminal():
    term = _Terminal()
    bar = Progress(2, enabled=False, stream=term)
    for row in _rows("ok", "error"):
        bar.update(row)
    bar.close()
    assert term.getvalue() == "" and (bar.done, bar.errors) == (2, 1)
