"""Pooled receipt figures count every failure (bench.pooling): each convention pinned on hand-built rows."""
from __future__ import annotations

import json
from pathlib import Path

from bench import pooling
from bench.batch import BenchResult, _row_marks, _row_report, _table_row, write_summary
from scoring.metrics import IssuedReceipt, score_receipts

ROOT = Path(__file__).resolve().parent.parent
GROUP = "assets/scenarios/standard/s09-tiny-group-of-three.yaml"  # scripted: accounts `pair` and `acct-lee`
CROWD = "assets/scenarios/standard/s10-tiny-crowd-6.yaml"  # a persona crowd: no scripted account


def mark(account="a", confidence=0.9, correct=True, flagged=False, issued=True, other_flag=False) -> dict:
    return {"account": account, "confidence": confidence, "correct": correct, "flagged": flagged, "issued": issued,
            "other_flag": other_flag}


def ok_row(marks, *, scenario=GROUP, seed=0, mode="fused", unfinished=(), errors=(), items=(0, 0, 0), suite="s",
           seed_set="dev") -> dict:
    tp, fp, fn = items
    return {"suite": suite, "scenario": scenario, "seed": seed, "seed_set": seed_set, "mode": mode, "status": "ok",
            "error": None, "receipt_marks": list(marks),
            "report": {"accounts": len(marks), "unfinished": list(unfinished), "errors": list(errors),
                       "items": {"true_positive": tp, "false_positive": fp, "false_negative": fn}}}


def error_row(scenario=GROUP, seed=1, mode="fused", suite="s") -> dict:
    return {"suite": suite, "scenario": scenario, "seed": seed, "seed_set": "dev", "mode": mode, "status": "error",
            "error": "RuntimeError: boom", "report": None}


def pooled(rows) -> pooling.Pool:
    scripted = {s: pooling.scenario_accounts(ROOT / s) for s in {r["scenario"] for r in rows}}
    return pooling.pool(rows, pooling.crash_accounts(rows, scripted))


def test_a_crashed_episode_counts_each_scripted_account_as_a_wrong_unflagged_receipt():
    p = pooled([ok_row([mark("pair"), mark("acct-lee")]), error_row()])
    assert (p.episodes, p.crashed, p.crash_accounts) == (2, 1, 2)  # s09 scripts two accounts
    assert (p.receipts, p.right, p.flagged, p.unflagged_wrong) == (4, 2, 0, 2)
    assert p.share("accuracy") == 0.5 and p.missing == 2


def test_a_crashed_crowd_episode_counts_the_most_accounts_any_scored_episode_of_it_had():
    scored = ok_row([mark("c1"), mark("c2"), mark("c3")], scenario=CROWD, unfinished=["c4"])
    p = pooled([scored, error_row(CROWD)])
    assert p.crash_accounts == 4  # three exited and one left inside in the scored episode
    alone = pooled([error_row(CROWD)])
    assert (alone.crash_accounts, alone.receipts, alone.unflagged_wrong) == (1, 1, 1)  # nothing known: at least one
    gone = pooled([error_row("assets/scenarios/no-such-file.yaml")])
    assert gone.crash_accounts == 1


def test_an_account_still_inside_at_the_end_is_a_wrong_receipt_not_dropped():
    p = pooled([ok_row([mark("a"), mark("b")], unfinished=["late"])])
    assert (p.receipts, p.right, p.unfinished, p.unflagged_wrong) == (3, 2, 1, 1)
    assert p.ratio("unflagged_wrong") == (1, 3)


def test_a_receipt_never_issued_is_wrong_even_for_an_account_that_took_nothing():
    # The report scores a never-issued receipt as empty: right when the truth is empty too. Pooled, it is wrong.
    p = pooled([ok_row([mark("a"), mark("idle", confidence=None, correct=True, issued=False)])])
    assert (p.receipts, p.right, p.unissued, p.unflagged_wrong) == (2, 1, 1, 1)


def test_an_episode_with_no_accounts_adds_nothing_to_a_mean_or_a_pool():
    empty = ok_row([], scenario=CROWD, seed=1)
    empty["report"].update(item_precision=1.0, item_recall=1.0, receipt_accuracy=None)
    one = ok_row([mark("a", correct=False)], scenario=CROWD, items=(1, 1, 1))
    one["report"].update(item_precision=0.5, item_recall=0.5, receipt_accuracy=0.0)
    assert pooled([empty]).receipts == 0 and pooled([empty]).share("accuracy") is None
    both = pooled([empty, one])
    assert (both.episodes, both.receipts, both.share("precision")) == (2, 1, 0.5)
    row = _table_row("x", [empty, one], ["item_precision", "item_recall", "receipt_accuracy"])
    assert row == "| x | 2 | 0 | 0.500 | 0.500 | 0.000 |"  # not (0.5 + 1.0) / 2


def test_stack_exceptions_and_scenario_faults_are_counted_per_suite_and_listed(tmp_path):
    fault = "scenario fault: jo at 3.0 s: bin A-2-1 is empty"
    rows = [ok_row([mark("pair")], mode=m, errors=[fault]) for m in ("fused", "weight", "vision")]
    rows[1]["report"]["errors"].append("stack fault on LoadCellBatch: ValueError: bad batch (x3)")
    rows.append(ok_row([mark("pair")], seed=2, errors=["stack fault on finish(): KeyError: 'x'"]))
    f = pooling.failures(rows)
    assert f.counts["scenario_faults"] == 1  # one stream, three stacks: the shopper failed once
    assert f.counts["stack_exceptions"] == 4  # three on one batch, one at finish
    assert f.stack[0] == "s09-tiny-group-of-three seed 0 (weight): stack fault on LoadCellBatch: ValueError: bad batch (x3)"
    write_summary(tmp_path, rows + [error_row()], BenchResult(tmp_path, 5, 0, 5, 1, 1.0), backend="local", workers=1,
                  plots=False)
    summary = (tmp_path / "summary.md").read_text()
    assert "| s | 1 | 0 | 0 | 4 | 1 |" in summary  # crashed rows, left inside, never issued, exceptions, faults
    assert "- s09-tiny-group-of-three seed 0: jo at 3.0 s: bin A-2-1 is empty" in summary
    assert "- s09-tiny-group-of-three seed 1 (fused): RuntimeError: boom" in summary


def test_receipt_marks_keep_confidence_and_tell_other_flags_from_the_threshold_flag():
    issued = [IssuedReceipt("a", {"cola": 1}, 0.70, True, reasons=("confidence 0.70 below 0.85",)),
              IssuedReceipt("b", {"cola": 2}, 0.50, True, reasons=("dead load cell A-1-1: from the cameras alone",
                                                                   "confidence 0.50 below 0.85")),
              IssuedReceipt("ghost", {"cola": 1}, 0.99)]
    score = score_receipts(issued, {"a": {"cola": 1}, "b": {"cola": 1}, "c": {}}, {"cola": 1.0})
    marks = pooling.receipt_marks(score.receipts)
    assert [m["account"] for m in marks] == ["a", "b", "c"]  # the phantom receipt is no account's
    assert [(m["confidence"], m["correct"], m["flagged"], m["issued"], m["other_flag"]) for m in marks] == [
        (0.70, True, True, True, False), (0.50, False, True, True, True), (None, True, False, False, False)]
    report = {"accounts": 3, "receipts": score.receipts}
    assert "receipts" not in _row_report(report) and _row_marks(report) == {"receipt_marks": marks}


def test_fresh_and_development_seeds_pool_side_by_side_with_their_gap(tmp_path):
    rows = [ok_row([mark("pair"), mark("acct-lee")]),
            ok_row([mark("pair"), mark("acct-lee", correct=False)], seed=77, seed_set="fresh")]
    write_summary(tmp_path, rows, BenchResult(tmp_path, 2, 0, 2, 0, 1.0), backend="local", workers=1, plots=False)
    summary = (tmp_path / "summary.md").read_text()
    assert "| s | fused | dev | 1 | 0 | 2 | 0 | 1.000 (2/2) |" in summary
    assert "| s | fused | fresh | 1 | 0 | 2 | 0 | 0.500 (1/2) |" in summary
    assert "| s | fused | **fresh − dev** | | | | | -0.500 |" in summary
    assert "| s09-tiny-group-of-three (fused, fresh) | 1 | 0 |" in summary and "`--seeds 77`" in summary


def test_a_row_written_without_marks_takes_them_from_its_episode_report(tmp_path):
    receipts = score_receipts([IssuedReceipt("a", {"cola": 1}, 0.9)], {"a": {"cola": 1}, "idle": {}},
                              {"cola": 1.0}).receipts
    folder = tmp_path / "episodes" / "s09-tiny-group-of-three" / "seed-0" / "fused"
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps({"seed": 0, "mode": "fused", "receipts": receipts}))
    row = ok_row([])
    del row["receipt_marks"]
    row["report"].update(accounts=2, receipt_counts={"receipts": 2, "exact": 2, "flagged": 0, "unflagged": 2,
                                                     "unflagged_wrong": 0})
    write_summary(tmp_path, [row], BenchResult(tmp_path, 1, 0, 1, 0, 1.0), backend="local", workers=1, plots=False)
    summary = (tmp_path / "summary.md").read_text()
    assert "| s | fused | dev | 1 | 0 | 2 | 1 | 0.500 (1/2) |" in summary  # `idle` was never issued: wrong
