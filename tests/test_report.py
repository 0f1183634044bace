"""report.json carries every key of DESIGN.md section 9; report.md says the same for people; the end of `run` says
per account, in words, what was taken and what was charged."""
from __future__ import annotations

import json

import pytest

from checkout.receipts import ShelfEvent
from scoring.metrics import IssuedReceipt, match_events, score_receipts, tracking_quality
from scoring.report import REPORT_KEYS, build_report, ending_lines, report_markdown, summary_lines, write_report

PRICES = {"cola-330": 1.20, "water-500": 0.80}
SECTION_9_KEYS = {"scenario", "seed", "sim_seconds", "wall_seconds", "realtime_factor", "accounts",
                  "receipt_accuracy", "item_precision", "item_recall", "item_f1", "billing_error", "review_rate",
                  "receipts", "events"}


def _report(**over):
    truth = {"acct-1": {"cola-330": 1}, "acct-2": {"water-500": 2}}
    issued = [IssuedReceipt("acct-1", {"cola-330": 1}, 0.93), IssuedReceipt("acct-2", {"water-500": 1}, 0.41, True),
              IssuedReceipt("acct-3", {"cola-330": 1}, 0.5)]
    scored = score_receipts(issued, truth, PRICES, unfinished=["acct-3"])
    events = match_events([ShelfEvent(1.0, "A-1-1", "take", "cola-330", 1, "acct-1")],
                          [ShelfEvent(1.4, "A-1-1", "take", "cola-330", 1, "acct-1")])
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


NAMES = {"cola-330": "Cola can 330 ml", "water-500": "Still water 500 ml"}


def test_the_ending_says_per_account_who_took_what_what_was_charged_right_or_wrong_and_flagged():
    report = _report(receipts=score_receipts(
        [IssuedReceipt("acct-1", {"cola-330": 1}, 0.93),
         IssuedReceipt("acct-2", {"water-500": 1}, 0.41, True, reasons=("two hands in bin B-1-2",))],
        {"acct-1": {"cola-330": 1}, "acct-2": {"water-500": 2}}, PRICES, unfinished=["acct-3"]))
    lines = ending_lines(report, members={"acct-1": ["alice"], "acct-2": ["bob", "kid"]}, item_names=NAMES)
    text = "\n".join(lines)
    first = lines.index("acct-1 (alice): right, not flagged (stack's confidence 0.93)")
    assert lines[first + 1:first + 3] == ["  left with  1 × Cola can 330 ml  (1.20)",
                                          "  charged    1 × Cola can 330 ml  (1.20)"]
    second = lines.index("acct-2 (bob, kid): wrong, flagged for review: two hands in bin B-1-2 "
                         "(stack's confidence 0.41)")
    assert lines[second + 1:second + 4] == ["  left with  2 × Still water 500 ml  (1.60)",
                                            "  charged    1 × Still water 500 ml  (0.80)",
                                            "  not charged for 1 × Still water 500 ml; 0.80 too little"]
    assert "Overall: 1 of 2 bills right, 1 wrong (0 of them not flagged), 1 flagged for review; " \
           "charges off by 0.80 in all." in lines
    assert "Still inside when the run ended, not checked: acct-3." in lines
    assert "MOTA" in text and "never mixed two shoppers up" in text  # the figure, said in words too
    assert "IDF1" not in text and "HOTA" not in text  # those stay in report.md


def test_the_ending_calls_out_a_wrong_bill_nobody_flagged_and_a_bill_for_an_unknown_account():
    report = _report(receipts=score_receipts(
        [IssuedReceipt("acct-1", {"cola-330": 1, "water-500": 1}, 0.9), IssuedReceipt("ghost", {"cola-330": 1}, 0.5),
         ], {"acct-1": {"cola-330": 1}, "acct-2": {}}, PRICES))
    lines = ending_lines(report)
    wrong = lines.index("acct-1: wrong, NOT flagged, so this bill would go out unchecked (stack's confidence 0.90)")
    assert lines[wrong + 1:wrong + 4] == ["  left with  1 × cola-330  (1.20)",
                                          "  charged    1 × cola-330 + 1 × water-500  (2.00)",
                                          "  charged for 1 × water-500, not taken; 0.80 too much"]
    empty = lines.index("acct-2: right, not flagged")  # took nothing, no receipt: nothing owed, nothing charged
    assert lines[empty + 1:empty + 3] == ["  left with  nothing", "  charged    nothing: no receipt issued"]
    assert any(line.startswith("ghost, an account no shopper left the store on: wrong") for line in lines)
    assert lines[lines.index("  left with  nothing", empty + 3) - 1].startswith("ghost")
    assert any(line.startswith("Overall: 1 of 2 bills right, 1 wrong (1 of them not flagged), none flagged for "
                               "review; charges off by 2.00 in all. 1 bill for") for line in lines)


def test_the_ending_says_where_the_report_is_or_how_to_write_one_and_what_to_try_next(tmp_path):
    steps = [("python run_sim.py gui", "watch these shoppers in the window"), ("make bench-suites", "the suites")]
    written = ending_lines(_report(), report_dir=tmp_path / "ep", next_steps=steps)
    assert f"Report: {tmp_path / 'ep' / 'report.md'} (for people, every figure) and {tmp_path / 'ep' / 'report.json'}." \
        in written
    assert written[-3:] == ["Next:", "  python run_sim.py gui   # watch these shoppers in the window",
                            "  make bench-suites   # the suites"]
    unwritten = ending_lines(_report())
    assert unwritten[-1] == "No report written: add --out DIR to write report.md and report.json."
    assert ending_lines(_report(receipts=score_receipts([], {}, PRICES)))[2] == \
        "No shopper left the store, so no bill was checked."


@pytest.mark.slow
def test_run_of_a_shipped_scenario_ends_with_its_account_in_words_and_the_report_written(tmp_path, capsys):
    import run_sim

    assert run_sim.main(["run", "assets/scenarios/pick-one.yaml", "--out", str(tmp_path / "r")]) == 0
    lines = capsys.readouterr().out.splitlines()
    block = lines.index(next(line for line in lines if line.startswith("acct-1 (alice): right, not flagged")))
    assert lines[block + 1] == "  left with  1 × Cola can 330 ml  (1.20)"  # the catalog's name, not the SKU
    assert lines[block + 2] == "  charged    1 × Cola can 330 ml  (1.20)"
    assert f"Report: {tmp_path / 'r' / 'report.md'} (for people, every figure) and {tmp_path / 'r' / 'report.json'}." in lines
    assert "  python run_sim.py gui assets/scenarios/pick-one.yaml   # watch these shoppers in the window" in lines
    assert (tmp_path / "r" / "report.md").exists()
