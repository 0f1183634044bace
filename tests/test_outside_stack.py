"""Outside stacks plug in (README, "Outside stacks"): `--stack MODULE:FACTORY` runs any object that consumes the
stream and issues receipts, scored as the built-in stacks are; what it does not report is absent, not zero."""
from __future__ import annotations

import json

import run_sim
from tests.conftest import ROOT

PICK_ONE = str(ROOT / "assets" / "scenarios" / "pick-one.yaml")  # acct-1 takes one cola
NAIVE = "tests.naive_stack:make"  # bills every scanned account nothing


def test_run_with_an_outside_stack_scores_its_receipts_against_the_truth(tmp_path):
    assert run_sim.main(["run", PICK_ONE, "--seed", "1", "--stack", NAIVE, "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["mode"] == NAIVE and report["scored"] is True
    assert report["accounts"] == 1 and report["receipt_accuracy"] == 0.0 and report["item_recall"] == 0.0
    (receipt,) = report["receipts"]
    assert (receipt["account"], receipt["items"], receipt["truth"]) == ("acct-1", {}, {"cola-330": 1})
    assert receipt["correct"] is False and receipt["flagged"] is False and receipt["confidence"] is None
    assert report["billing_error"] == 1.2
    assert report["events"] is None and report["tracking"] is None  # it has no events and no tracks()
    assert "Not measured (the stack reports no shelf events)." in (tmp_path / "report.md").read_text()


def test_bench_runs_an_outside_stack_beside_a_built_in_one_on_the_same_stream(tmp_path):
    out = tmp_path / "bench"
    assert run_sim.main(["bench", PICK_ONE, "--seeds", "1", "--workers", "1", "--mode", "weight", "--stack", NAIVE,
                         "--out", str(out), "--no-plots"]) == 0
    rows = {r["mode"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert set(rows) == {"weight", NAIVE} and all(r["status"] == "ok" for r in rows.values())
    naive, weight = rows[NAIVE]["report"], rows["weight"]["report"]
    assert set(naive) == set(weight)  # the same report, key for key
    assert naive["accounts"] == weight["accounts"] == 1 and naive["unfinished"] == weight["unfinished"] == []
    assert len(rows[NAIVE]["receipt_marks"]) == len(rows["weight"]["receipt_marks"]) == 1
    assert naive["receipt_counts"] == {"receipts": 1, "exact": 0, "flagged": 0, "unflagged": 1, "unflagged_wrong": 1}
    assert weight["receipt_accuracy"] == 1.0 and weight["events"] is not None and naive["events"] is None
    assert NAIVE in (out / "summary.md").read_text()


def test_a_stack_that_does_not_import_is_one_line_and_exit_2(tmp_path, capsys):
    assert run_sim.main(["run", PICK_ONE, "--stack", "tests.no_such_stack:make"]) == 2
    assert run_sim.main(["bench", PICK_ONE, "--stack", "tests.naive_stack:nothing", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("--stack: ") for line in err), err
    assert not (tmp_path / "results.jsonl").exists()
