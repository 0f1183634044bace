"""The carts stage (`checkout.ledger.Ledger`): what a decided event does to carts, beliefs and confidences."""
from __future__ import annotations

import math

from checkout.attribution import Candidate
from checkout.identification import Hypothesis
from checkout.ledger import Ledger
from checkout.stages import StageContext
from checkout.storemodel import StoreModel
from tests.checkout_synth import tiny_store_info

STORE = StoreModel(tiny_store_info())


def _ledger() -> Ledger:
    return Ledger(StageContext(STORE, [], lambda: 0.0, 0.85))


def _take(ledger: Ledger, t: float, bin_id: str, acct: str, hyps: list[Hypothesis]) -> None:
    ledger.scanned(acct, 0.0)
    cands = [Candidate(1, acct, 1.0, "hand")]
    ledger.apply(t, bin_id, hyps[0], hyps, {acct: 1.0}, acct, -350.0, cands, "weight", [])


def _confidence(ledger: Ledger, acct: str) -> float:
    return math.prod(ledger.accounts[acct].factors)


def test_a_take_from_a_bin_left_in_doubt_by_an_unsure_earlier_take_is_no_surer_than_that_one():
    # A lemon can had been put among the colas. "a" takes one: cola at 0.76 (lemon 0.24, weight alone). "b"
    # then takes one at 0.999 cola, by the bin's belief; but whether the lemon is still in the bin is exactly
    # what a's take left unsure: b's take is right only if a's was.
    bin_id = STORE.bin_ids[0]
    led = _ledger()
    _take(led, 5.0, bin_id, "a", [Hypothesis("take", "cola-330", 1, 0.76), Hypothesis("take", "lemon-330", 1, 0.24)])
    _take(led, 9.0, bin_id, "b", [Hypothesis("take", "cola-330", 1, 0.999), Hypothesis("take", "lemon-330", 1, 0.001)])
    assert _confidence(led, "a") < 0.8
    assert abs(_confidence(led, "b") - 0.999 * 0.76) < 1e-9  # flagged at the 0.85 threshold
    # The doubt is passed on once: a third take from the bin is judged on its own.
    _take(led, 12.0, bin_id, "c", [Hypothesis("take", "cola-330", 1, 0.999), Hypothesis("take", "lemon-330", 1, 0.001)])
    assert abs(_confidence(led, "c") - 0.999) < 1e-9
    # A sure take leaves no doubt behind; a take of another SKU from a doubted bin leaves the doubt as it was.
    led2 = _ledger()
    _take(led2, 5.0, bin_id, "a", [Hypothesis("take", "cola-330", 1, 0.99), Hypothesis("take", "lemon-330", 1, 0.01)])
    _take(led2, 9.0, bin_id, "b", [Hypothesis("take", "cola-330", 1, 0.999)])
    assert abs(_confidence(led2, "b") - 0.999) < 1e-9
    led3 = _ledger()
    _take(led3, 5.0, bin_id, "a", [Hypothesis("take", "cola-330", 1, 0.76), Hypothesis("take", "lemon-330", 1, 0.24)])
    _take(led3, 7.0, bin_id, "x", [Hypothesis("take", "water-500", 1, 0.99)])
    _take(led3, 9.0, bin_id, "b", [Hypothesis("take", "cola-330", 1, 0.999)])
    assert abs(_confidence(led3, "x") - 0.99) < 1e-9 and abs(_confidence(led3, "b") - 0.999 * 0.76) < 1e-9
