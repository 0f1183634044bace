"""report.json carries every key of DESIGN.md section 9; report.md says the same for people."""
from __future__ import annotations

import json

from scoring.metrics import IssuedReceipt, ShelfEvent, match_events, score_receipts, tracking_quality
from scoring.report import REPORT_KEYS, build_report, report_markdown, summary_lines, write_report

PRICES = {"cola-330": 1.20, "water-500": 0.80}
SECTION_9_KEYS = {"scenario", "seed", "sim_seconds", "wall_seconds", "realtime_factor", "accounts",
                  "receipt_accuracy", "item_precision", "item_recall", "item_f1", "billing_error", "review_rate",
                  "receipts", "events"}


def _report(**over):
    truth = {"acct-1": {"cola-330": 1}, "acct-2": {"water-500": 2}}
    issued = [IssuedReceipt("acct-1", {"cola-330": 1}, 0.93), IssuedReceipt("acct-2", {"water-500": 1}, 0.41, True),
              IssuedReceipt("acct-3", {"cola-330": 1}, 0.5)]
    scored = score_receipts(issued, truth, PRICES, unfinished=["acct-3"])
    events = match_events([ShelfEvent(1.0, "take", "A-1-1", "cola-330", 1, "acct-1")],
                          [ShelfEvent(1.4, "take", "A-1-1", "cola-330", 1, "acct-1")])
    frames = [(0.1 * i, {"alice": (1.0, 0.1 * i)}) for i in range(5)]
    kwargs = dict(scenario="one-shopper", seed=3, mode="fused", sim_seconds=60.0, wall_seconds=30.0,
                  receipts=scored, events=events, tracking=tracking_quality(frames, frames),
                  errors=["camera cam-2: outage at 12.0 s"], stages={"perception": 1.5, "tracking": 0.25})
    kwargs.update(over)
    return build_report(**kwargs)


def test_report_has_every_section_9_key_and_is_strict_json(tmp_path):
    report = _report()
    assert SECTION_9_KEYS <= set(report)
    assert set(REPORT_KEYS) <= set(report)
    json_path, md_path = write_report(report, tmp_path / "ep")
    loaded = json.loads(json_path.read_text())
    assert loaded == report
    assert loaded["realtime_factor"] == 2.0
    assert loaded["unfinished"] == ["acct-3"]
    assert {"mota", "idf1", "hota", "deta", "assa"} <= set(loaded["tracking"])
    assert [r["account"] for r in loaded["receipts"]] == ["acct-1", "acct-2"]
    for r in loaded["receipts"]:
        assert {"account", "items", "truth", "correct", "flagged", "confidence"} <= set(r)
    assert md_path.exists()


def test_report_markdown_shows_receipts_events_tracking_and_errors():
    md = report_markdown(_report())
    assert "# Episode report: one-shopper" in md
    assert "| acct-2 | 1× water-500 | 2× water-500 |" in md
    assert "**no**" in md  # acct-2 is wrong
    assert "attribution accuracy 100.0 %" in md
    assert "MOTA 1.000" in md
    assert "HOTA 1.000, DetA 1.000, AssA 1.000" in md
    assert "camera cam-2: outage" in md
    assert "| perception | 1.500 |" in md
    assert "acct-3" in md  # listed as unfinished


def test_nan_figures_become_null():
    report = _report(tracking={"mota": float("nan"), "idf1": None})
    assert report["tracking"]["mota"] is None
    json.dumps(report, allow_nan=False)


def test_summary_names_the_headline_figures():
    text = "\n".join(summary_lines(_report()))
    assert "accuracy 50.0 %" in text and "realtime factor 2.000" in text and "review rate 50.0 %" in text
    assert "HOTA 1.000" in text
