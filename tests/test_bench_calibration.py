"""Confidence against correctness (bench.calibration): reliability bins, ECE and the suggested review threshold."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from bench import calibration
from bench.batch import BenchResult, write_summary
from bench.calibration import at_threshold, expected_calibration_error, reliability, suggest_threshold


def test_reliability_bins_receipts_by_confidence_with_their_share_right():
    table = reliability([0.02, 0.50, 0.54, 0.97, 1.0], [False, True, False, True, True], bins=20)
    assert len(table) == 20 and sum(b.count for b in table) == 5
    assert (table[0].count, table[0].share_right) == (1, 0.0)
    assert table[10].count == 2 and table[10].share_right == 0.5 and table[10].mean_confidence == pytest.approx(0.52)
    assert table[19].count == 2 and table[19].share_right == 1.0  # a confidence of 1.0 falls in the last bin
    assert table[5].count == 0 and table[5].share_right is None


def test_expected_calibration_error_is_the_count_weighted_gap_between_share_right_and_confidence():
    table = reliability([0.9] * 10 + [0.6] * 10, [True] * 9 + [False] + [True] * 3 + [False] * 7, bins=10)
    # 0.9-bin: right 0.9, confidence 0.9, gap 0; 0.6-bin: right 0.3, confidence 0.6, gap 0.3; half the receipts each
    assert expected_calibration_error(table) == pytest.approx(0.15)
    assert expected_calibration_error(reliability([], [])) is None


def test_suggested_threshold_is_the_lowest_whose_passing_receipts_are_within_the_target():
    conf = [0.30, 0.60, 0.70, 0.80, 0.90, 0.95]
    right = [False, False, True, True, True, True]
    t = suggest_threshold(conf, right, [False] * 6, target=0.01)
    assert t.value == pytest.approx(0.65)  # between the 0.60 it flags and the 0.70 it passes
    assert (t.flagged, t.unflagged, t.unflagged_wrong) == (2, 4, 0)
    # A looser target lets one wrong receipt in five through, so a lower threshold does.
    loose = suggest_threshold(conf, right, [False] * 6, target=0.2)
    assert loose.value == pytest.approx(0.45) and loose.wrong_share == pytest.approx(0.2)


def test_a_receipt_flagged_for_another_reason_does_not_push_the_threshold_up():
    conf, right = [0.5, 0.97, 0.99], [True, False, True]
    assert suggest_threshold(conf, right, [False, True, False]).value == 0.0  # the stack flags the 0.97 anyway
    everything = suggest_threshold(conf, right, [False, False, False])
    assert everything.value == pytest.approx(0.98) and everything.flagged == 2


def test_when_the_most_confident_receipt_is_wrong_only_flagging_every_receipt_meets_the_target():
    t = suggest_threshold([0.5, 0.99], [True, False], [False, False])
    assert t.value is None and t.flagged == 2 and t.review_rate == 1.0 and t.wrong_share is None


def test_the_development_threshold_is_applied_unchanged_to_the_fresh_seeds():
    marks = {"dev": [SimpleNamespace(confidence=c, right=r, other_flag=False, issued=True)
                     for c, r in ((0.6, False), (0.8, True), (0.9, True))],
             "fresh": [SimpleNamespace(confidence=c, right=r, other_flag=False, issued=True)
                       for c, r in ((0.65, True), (0.75, False), (0.95, True))]
             + [SimpleNamespace(confidence=None, right=False, other_flag=False, issued=False)]}
    c = calibration.calibrate("fused", "all suites", marks)
    assert c.threshold.value == pytest.approx(0.7)
    fresh = c.applied["fresh"]
    assert (fresh.receipts, fresh.flagged, fresh.unflagged_wrong) == (3, 1, 1)  # the 0.75 passes and is wrong
    assert fresh == at_threshold(0.7, [0.65, 0.75, 0.95], [True, False, True], [False] * 3)


def test_the_summary_reports_reliability_ece_and_the_threshold_with_a_plot(tmp_path):
    def row(seed, seed_set, conf, right):
        marks = [{"account": f"a{i}", "confidence": c, "correct": r, "flagged": c < 0.85, "issued": True,
                  "other_flag": False} for i, (c, r) in enumerate(zip(conf, right))]
        return {"suite": "s", "scenario": "x.yaml", "seed": seed, "seed_set": seed_set, "mode": "fused",
                "status": "ok", "error": None, "receipt_marks": marks, "report": {"accounts": len(marks)}}

    rows = [row(0, "dev", [0.6, 0.8, 0.9], [False, True, True]), row(5, "fresh", [0.65, 0.75, 0.95], [True, False, True])]
    write_summary(tmp_path, rows, BenchResult(tmp_path, 2, 0, 2, 0, 1.0), backend="local", workers=1)
    summary = (tmp_path / "summary.md").read_text()
    assert "## Calibration of the receipts' confidence" in summary
    assert "| fused | all suites | 3 / 3 |" in summary and "| 0.7000 | 0.333 (1/3) | 0.000 (0/2) | 0.333 (1/3) | 0.500 (1/2) |" in summary
    assert "| 0.60–0.65 | 1 | 0.600 | 0.000 | 0 | n/a | n/a |" in summary
    assert (tmp_path / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bench = json.loads((tmp_path / "bench.json").read_text())
    assert bench["calibration"][0]["suggested_threshold"] == pytest.approx(0.7)
    assert bench["fresh_seeds"] == [5]
