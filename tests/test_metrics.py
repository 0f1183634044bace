"""Scoring figures on hand-made receipts, truths, events and tracks."""
from __future__ import annotations

import json

import pytest

from checkout.receipts import ShelfEvent
from scoring.metrics import IssuedReceipt, match_events, score_receipts, tracking_quality, visit_times
from sim.ledger import TruthEvent

PRICES = {"cola-330": 1.20, "water-500": 0.80, "crisps-salt": 1.50, "lemon-330": 1.10}


def _issued(**accounts: dict) -> list[IssuedReceipt]:
    return [IssuedReceipt(a, items, confidence=0.9) for a, items in accounts.items()]


def test_exact_receipts_score_perfectly():
    truth = {"acct-1": {"cola-330": 2, "crisps-salt": 1}, "acct-2": {"water-500": 1}}
    s = score_receipts(_issued(**truth), truth, PRICES)
    assert s.accounts == 2
    assert s.receipt_accuracy == 1.0
    assert (s.item_precision, s.item_recall, s.item_f1) == (1.0, 1.0, 1.0)
    assert s.billing_error == 0.0
    assert all(r["correct"] for r in s.receipts)


def test_missing_item_lowers_recall_not_precision():
    truth = {"acct-1": {"cola-330": 2, "crisps-salt": 1}}
    s = score_receipts(_issued(**{"acct-1": {"cola-330": 2}}), truth, PRICES)
    assert s.receipt_accuracy == 0.0
    assert s.item_precision == 1.0
    assert s.item_recall == pytest.approx(2 / 3)
    assert s.item_f1 == pytest.approx(0.8)
    assert s.billing_error == pytest.approx(1.50)


def test_extra_item_lowers_precision_not_recall():
    truth = {"acct-1": {"cola-330": 1}}
    s = score_receipts(_issued(**{"acct-1": {"cola-330": 1, "water-500": 1}}), truth, PRICES)
    assert s.item_precision == pytest.approx(0.5)
    assert s.item_recall == 1.0
    assert s.billing_error == pytest.approx(0.80)
    assert s.receipts[0]["correct"] is False


def test_wrong_quantity_counts_each_unit():
    truth = {"acct-1": {"water-500": 3}, "acct-2": {"cola-330": 1}}
    issued = _issued(**{"acct-1": {"water-500": 1}, "acct-2": {"cola-330": 3}})
    s = score_receipts(issued, truth, PRICES)
    # acct-1: 1 TP, 2 FN; acct-2: 1 TP, 2 FP
    assert (s.counts.true_positive, s.counts.false_positive, s.counts.false_negative) == (2, 2, 2)
    assert s.item_precision == pytest.approx(0.5)
    assert s.item_recall == pytest.approx(0.5)
    assert s.billing_error == pytest.approx(2 * 0.80 + 2 * 1.20)
    assert s.receipt_accuracy == 0.0


def test_wrong_sku_of_same_weight_is_one_false_positive_and_one_miss():
    truth = {"acct-1": {"cola-330": 1}}
    s = score_receipts(_issued(**{"acct-1": {"lemon-330": 1}}), truth, PRICES)
    assert (s.counts.true_positive, s.counts.false_positive, s.counts.false_negative) == (0, 1, 1)
    assert s.item_f1 == 0.0
    assert s.billing_error == pytest.approx(0.10)


def test_empty_receipt_for_an_empty_truth_is_correct_and_listed():
    truth = {"acct-1": {}, "acct-2": {"cola-330": 1}}
    issued = _issued(**{"acct-1": {}, "acct-2": {"cola-330": 1}})
    s = score_receipts(issued, truth, PRICES)
    assert s.accounts == 2
    assert s.receipt_accuracy == 1.0
    entry = next(r for r in s.receipts if r["account"] == "acct-1")
    assert entry["items"] == {} and entry["truth"] == {} and entry["correct"] is True


def test_zero_quantities_are_the_same_as_absent():
    truth = {"acct-1": {"cola-330": 1}}
    s = score_receipts(_issued(**{"acct-1": {"cola-330": 1, "water-500": 0}}), truth, PRICES)
    assert s.receipt_accuracy == 1.0


def test_nothing_charged_and_nothing_taken_is_perfect():
    s = score_receipts(_issued(**{"acct-1": {}}), {"acct-1": {}}, PRICES)
    assert (s.item_precision, s.item_recall, s.item_f1, s.receipt_accuracy) == (1.0, 1.0, 1.0, 1.0)


def test_exited_account_without_a_receipt_scores_as_empty_and_unissued():
    truth = {"acct-1": {"cola-330": 1}, "acct-2": {}}
    s = score_receipts(_issued(**{"acct-2": {}}), truth, PRICES)
    entry = next(r for r in s.receipts if r["account"] == "acct-1")
    assert entry["issued"] is False and entry["items"] == {} and entry["confidence"] is None
    assert s.receipt_accuracy == 0.5
    assert s.item_recall == 0.0


def test_group_shares_one_receipt_on_its_account():
    # alice and bob entered on one scan: one account, one receipt with both shoppers' items.
    truth = {"fam-1": {"cola-330": 1, "crisps-salt": 2}}
    s = score_receipts(_issued(**{"fam-1": {"cola-330": 1, "crisps-salt": 2}}), truth, PRICES)
    assert s.accounts == 1 and s.receipt_accuracy == 1.0
    split = score_receipts(_issued(**{"fam-1": {"cola-330": 1}, "bob": {"crisps-salt": 2}}), truth, PRICES)
    assert split.receipt_accuracy == 0.0
    bob = next(r for r in split.receipts if r["account"] == "bob")
    assert bob["phantom"] is True and bob["truth"] == {}
    assert split.accounts == 1
    assert split.item_precision == pytest.approx(1 / 3)
    assert split.billing_error == pytest.approx(2 * 1.50 + 2 * 1.50)


def test_unfinished_accounts_are_listed_and_left_out_of_figures():
    truth = {"acct-1": {"cola-330": 1}}
    issued = _issued(**{"acct-1": {"cola-330": 1}, "acct-9": {"water-500": 5}})
    s = score_receipts(issued, truth, PRICES, unfinished=["acct-9"])
    assert s.unfinished == ["acct-9"]
    assert s.accounts == 1
    assert [r["account"] for r in s.receipts] == ["acct-1"]
    assert s.item_precision == 1.0 and s.billing_error == 0.0


def test_review_rate_and_confidence_come_from_the_receipts():
    truth = {"a": {}, "b": {}, "c": {}, "d": {}}
    issued = [IssuedReceipt("a", {}, 0.2, flagged=True), IssuedReceipt("b", {}, 0.95),
              IssuedReceipt("c", {}, 0.4, flagged=True), IssuedReceipt("d", {}, 0.9)]
    s = score_receipts(issued, truth, PRICES)
    assert s.review_rate == 0.5
    assert [r["confidence"] for r in s.receipts] == [0.2, 0.95, 0.4, 0.9]


def test_billing_error_uses_the_stack_total_when_given():
    truth = {"acct-1": {"cola-330": 1}}
    s = score_receipts([IssuedReceipt("acct-1", {"cola-330": 1}, 1.0, total=1.50)], truth, PRICES)
    assert s.receipt_accuracy == 1.0
    assert s.billing_error == pytest.approx(0.30)


def test_receipt_score_is_plain_json():
    truth = {"acct-1": {"cola-330": 1}}
    s = score_receipts(_issued(**{"acct-1": {"cola-330": 1}}), truth, PRICES)
    assert json.loads(json.dumps(s.as_dict()))["receipts"][0]["account"] == "acct-1"


# --- shelf events ----------------------------------------------------------------------------------------------------


def test_events_match_within_tolerance_and_count_attribution():
    truth = [ShelfEvent(10.0, "A-1-1", "take", "cola-330", 1, "acct-1"),
             ShelfEvent(20.0, "A-1-2", "take", "water-500", 1, "acct-2"),
             ShelfEvent(30.0, "A-1-1", "put_back", "cola-330", 1, "acct-1")]
    detected = [ShelfEvent(11.0, "A-1-1", "take", "cola-330", 1, "acct-1"),
                ShelfEvent(21.5, "A-1-2", "take", "water-500", 1, "acct-1"),  # right event, wrong shopper
                ShelfEvent(38.0, "A-1-1", "put_back", "cola-330", 1, "acct-1")]  # too late
    e = match_events(truth, detected, tolerance_s=3.0)
    assert e["true"] == {"take": 2, "put_back": 1}
    assert e["matched"] == 2 and e["missed"] == 1 and e["spurious"] == 1
    assert e["attribution_accuracy"] == 0.5
    assert e["sku_accuracy"] == 1.0


def test_event_of_quantity_two_matches_two_true_units():
    truth = [ShelfEvent(5.0, "B-2-1", "take", "water-500", 1, "a"), ShelfEvent(5.0, "B-2-1", "take", "water-500", 1, "a")]
    e = match_events(truth, [ShelfEvent(6.0, "B-2-1", "take", "water-500", 2, "a")])
    assert e["matched"] == 2 and e["spurious"] == 0 and e["recall"] == 1.0


def test_events_never_match_across_kind_or_bin():
    truth = [ShelfEvent(5.0, "B-2-1", "take", "water-500", 1, "a")]
    e = match_events(truth, [ShelfEvent(5.0, "B-2-1", "put_back", "water-500", 1, "a"),
                             ShelfEvent(5.0, "B-2-2", "take", "water-500", 1, "a")])
    assert e["matched"] == 0 and e["missed"] == 1 and e["spurious"] == 2
    assert e["attribution_accuracy"] is None


def test_event_matching_prefers_more_matches_over_closer_times():
    # Greedy nearest-first would pair the detection at 4.0 with the truth at 4.5 and lose the one at 1.5.
    truth = [ShelfEvent(1.5, "A", "take", "s", 1, "a"), ShelfEvent(4.5, "A", "take", "s", 1, "a")]
    detected = [ShelfEvent(4.0, "A", "take", "s", 1, "a"), ShelfEvent(7.0, "A", "take", "s", 1, "a")]
    assert match_events(truth, detected, tolerance_s=3.0)["matched"] == 2


def test_event_figures_can_leave_unfinished_accounts_out():
    truth = [ShelfEvent(1.0, "A", "take", "s", 1, "a"), ShelfEvent(2.0, "B", "take", "s", 1, "inside")]
    detected = [ShelfEvent(1.0, "A", "take", "s", 1, "a"), ShelfEvent(2.0, "B", "take", "s", 1, "inside")]
    e = match_events(truth, detected, accounts=["a"])
    assert e["true"]["take"] == 1 and e["matched"] == 1 and e["spurious"] == 0


# --- tracking --------------------------------------------------------------------------------------------------------


def _walk(n: int, dt: float = 0.1):
    return [(i * dt, {"alice": (1.0 + 0.1 * i, 2.0), "bob": (5.0, 1.0 + 0.1 * i)}) for i in range(n)]


def test_perfect_tracks_give_mota_and_idf1_of_one():
    truth = _walk(20)
    tracks = [(t, {"t1": objs["alice"], "t2": objs["bob"]}) for t, objs in truth]
    q = tracking_quality(truth, tracks)
    assert q["mota"] == pytest.approx(1.0) and q["idf1"] == pytest.approx(1.0)
    assert q["id_switches"] == 0 and q["motp_m"] == pytest.approx(0.0)
    assert (q["hota"], q["deta"], q["assa"]) == pytest.approx((1.0, 1.0, 1.0))


def test_swapped_identities_halfway_cost_switches_and_idf1():
    truth = _walk(20)
    tracks = [(t, {"t1": o["alice"], "t2": o["bob"]} if i < 10 else {"t1": o["bob"], "t2": o["alice"]})
              for i, (t, o) in enumerate(truth)]
    q = tracking_quality(truth, tracks)
    assert q["id_switches"] == 2
    assert q["idf1"] == pytest.approx(0.5)
    assert q["mota"] == pytest.approx(1 - 2 / 40)
    # Every match pairs a 20-frame truth with a 20-frame track for 10 frames: AssA = 10 / (20 + 20 - 10).
    assert q["deta"] == pytest.approx(1.0) and q["assa"] == pytest.approx(1 / 3)


def test_missing_track_and_far_track_count_as_misses_and_false_positives():
    truth = _walk(10)
    tracks = [(t, {"t1": o["alice"], "ghost": (o["bob"][0] + 2.0, o["bob"][1])}) for t, o in truth]
    q = tracking_quality(truth, tracks, max_distance_m=0.5)
    assert q["misses"] == 10 and q["false_positives"] == 10
    assert q["mota"] == pytest.approx(1 - 20 / 20)


def test_track_frames_are_aligned_to_the_nearest_truth_time():
    truth = _walk(10)
    tracks = [(t + 0.03, {"t1": o["alice"], "t2": o["bob"]}) for t, o in truth]
    assert tracking_quality(truth, tracks)["mota"] == pytest.approx(1.0)


def test_no_truth_gives_no_tracking_figures():
    q = tracking_quality([], [(0.0, {"t1": (0, 0)})])
    assert q["mota"] is None and q["idf1"] is None and q["hota"] is None


def test_a_receipt_carries_when_it_was_issued_and_an_unissued_one_none():
    truth = {"acct-1": {"cola-330": 1}, "acct-2": {}}
    s = score_receipts([IssuedReceipt("acct-1", {"cola-330": 1}, 0.9, t_s=41.25)], truth, PRICES)
    assert {r["account"]: r["issued_s"] for r in s.receipts} == {"acct-1": 41.25, "acct-2": None}


def test_a_visit_runs_from_the_first_member_in_to_the_last_member_out():
    events = [TruthEvent(1.0, "entry", "dad", "fam"), TruthEvent(2.0, "entry", "kid", "fam"),
              TruthEvent(3.0, "entry", "solo", "acct-solo"), TruthEvent(9.0, "exit", "dad", "fam"),
              TruthEvent(5.0, "take", "kid", "fam"), TruthEvent(12.5, "exit", "kid", "fam")]
    assert visit_times(events) == {"fam": {"entered_s": 1.0, "exited_s": 12.5},
                                   "acct-solo": {"entered_s": 3.0, "exited_s": None}}
    assert visit_times(events[:4])["fam"]["exited_s"] is None  # the kid is still inside
