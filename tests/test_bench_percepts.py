"""bench.percepts: a capture replays to the live stack's very receipts; a bad cache is one line and exit 2."""
from __future__ import annotations

import json
import pickle

import pytest

from bench import percepts
from tests.conftest import ROOT


@pytest.mark.slow
def test_replaying_a_capture_gives_the_live_stacks_receipts_and_scores_them(tmp_path, capsys):
    out = tmp_path / "pick-one.pkl"
    summary = percepts.capture(ROOT / "assets" / "scenarios" / "pick-one.yaml", 0, out)
    assert summary["percepts"] > 50 and out.stat().st_size < 5e6  # no pixels kept
    data = percepts.load(out)
    assert data["live"], "the live stack issued receipts"
    stack, receipts, score = percepts.replay(data)
    assert [percepts._summary(r) for r in receipts] == data["live"]
    assert score.accounts == len(data["truth"]) and 0.0 <= score.receipt_accuracy <= 1.0
    # The truth kept for diagnosis: every track followed the scanned shopper's head; a track bound to another
    # account is listed as such, and a capture without poses says it cannot tell.
    found = percepts.identities(stack, data)
    assert found and all(w["true_account"] == w["account"] and w["share"] > 0.9 for w in found)
    next(iter(stack.tracker.tracks.values())).account = "acct-somebody-else"
    assert [w["account"] for w in percepts.identities(stack, data) if w["true_account"] != w["account"]] == ["acct-somebody-else"]
    assert percepts.identities(stack, dict(data, poses={})) is None
    # The weight-only ablation replays on the same capture too (it reads no percept for 'what').
    _, weight, _ = percepts.replay(data, "weight")
    assert [r.account for r in weight] == [r.account for r in receipts]
    # Several captures pool: every account once per capture, each receipt a JSON row; a capture whose stack
    # breaks counts all its accounts wrong, and the rest go on.
    with open(tmp_path / "broken.pkl", "wb") as fh:
        pickle.dump(dict(data, percepts={}), fh)  # perception has nothing to answer with: the stack faults
    rows = tmp_path / "rows.jsonl"
    capsys.readouterr()
    assert percepts.main(["replay", str(out), str(out), str(tmp_path / "broken.pkl"), "--rows", str(rows), "--identities"]) == 0
    n = len(data["truth"]) + len(data["unfinished"])
    right = sum(r["correct"] and r["issued"] for r in score.receipts)  # a receipt never issued is wrong (bench.pooling)
    clean_wrong = sum(not (r["correct"] and r["issued"]) and not r["flagged"] for r in score.receipts)
    unflagged = sum(not r["flagged"] for r in score.receipts)
    written = [json.loads(line) for line in rows.read_text().splitlines()]
    assert len(written) == 2 * len(score.receipts) and sum(r["right"] for r in written) == 2 * right
    assert all(set(r) >= {"right", "flagged", "confidence", "reasons", "truth"} for r in written)
    printed = capsys.readouterr().out.splitlines()
    assert not [line for line in printed if line.startswith("  track ")]  # every track on its shopper's account
    (pooled,) = [line for line in printed if line.startswith("pooled")]
    assert pooled.startswith("pooled (fused): 3 episodes (1 crashed), ") and f"{3 * n} accounts" in pooled
    assert f"accuracy {2 * right / (3 * n):.3f}" in pooled
    # the crashed capture's accounts are wrong and nobody was asked to check them: wrong among unflagged
    assert f"wrong among unflagged {2 * clean_wrong + 2 * len(data['unfinished']) + n}/{2 * unflagged + 2 * len(data['unfinished']) + n}" in pooled


def test_a_missing_or_foreign_cache_is_one_line_and_exit_2(tmp_path, capsys):
    assert percepts.main(["replay", str(tmp_path / "none.pkl")]) == 2
    foreign = tmp_path / "foreign.pkl"
    foreign.write_bytes(pickle.dumps({"format": "something else"}))
    assert percepts.main(["replay", str(foreign)]) == 2
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(b"\x80\x05 not a pickle")
    assert percepts.main(["replay", str(broken)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all("percept cache" in line for line in err)
    assert str(broken) in err[2]


def test_failure_classes_come_from_the_reasons_first_then_the_items_against_the_truth():
    fc = percepts.failure_class
    assert fc({"cola": 1}, {"cola": 1}, ["take of cola at A-1-1 (3.0 s): no hand seen in the bin, nothing on camera supports it"],
              True) == "take no hand on camera supports"
    assert fc({}, {"cola": 1}, ["unexplained load change -351 g at A-1-1"], False) == "unexplained load change"
    assert fc({"cola": 1}, {"cola": 1}, ["confidence 0.70 below 0.85"], True) == "right but unsure (confidence below threshold)"
    assert fc({"cola": 1}, {"lemon": 1}, [], False) == "wrong SKU (look-alike or misplaced item)"
    assert fc({"cola": 2}, {"cola": 1}, [], False).startswith("extra item charged")
    assert fc({}, {"cola": 1}, [], False).startswith("item missed")
    assert fc({"cola": 2}, {"lemon": 1}, [], False) == "several errors"
