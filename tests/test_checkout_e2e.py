"""The checkout stack on real episodes: shipped scenarios simulated (physics, rendered cameras, walking shoppers).

The stack consumes the live stream message by message, exactly as `scoring.episode` feeds it; the truth
(the ledger's receipts at closing, exit times) stays on the test's side and is compared afterwards. Each
scenario is simulated once per module and shared by the assertions about it.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from agents import build_simulation, load_scenario
from checkout.stack import DEADLINE_S, CheckoutStack

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "assets" / "scenarios"

pytestmark = pytest.mark.slow


def _episode(name: str, seed: int = 0, mode: str = "fused"):
    scenario = load_scenario(SCENARIOS / name)
    sim = build_simulation(scenario, seed=seed)
    try:
        stack = CheckoutStack(mode)
        issued = []
        for msg in sim.run(scenario.spec.duration_s):
            issued.extend(stack.consume(msg))
        stack.issued_live = len(issued)  # receipts issued while the stream still ran, not by finish()
        issued.extend(stack.finish())
        ledger = sim.ledger
        truth = dict(ledger.closed_receipts)
        closed = dict(ledger.closed)
    finally:
        sim.close()
    return stack, issued, truth, closed


@pytest.fixture(scope="module")
def pick_one():
    return _episode("pick-one.yaml")


@pytest.fixture(scope="module")
def every_action():
    return _episode("every-action.yaml")


def test_one_take_gives_one_exact_unflagged_receipt_within_two_seconds_of_the_exit(pick_one):
    stack, issued, truth, closed = pick_one
    assert [r.account for r in issued] == list(truth)
    (r,) = issued
    assert r.items == truth[r.account]
    assert not r.flagged, r.reasons
    assert closed[r.account] <= r.t_s <= closed[r.account] + 2.0
    assert stack.issued_live == 1, "the stream runs on after the exit, so the receipt comes from the live stream"
    assert [(e.kind, e.account) for e in stack.events] == [("take", r.account)]


def test_every_action_family_receipt_is_exact_and_the_misplaced_can_is_believed_where_it_went(every_action):
    # Handful of two, a can put back among look-alikes of equal weight, a touch, a lean, a hand-over, a group of two.
    stack, issued, truth, closed = every_action
    assert {r.account for r in issued} == set(truth)
    for r in issued:
        assert r.items == truth[r.account], (r, stack.events)
        assert not r.flagged, r.reasons
        assert closed[r.account] <= r.t_s <= closed[r.account] + DEADLINE_S + 0.1
    beliefs = stack.bin_beliefs()
    assert beliefs["A-1-2"].get("cola-330") == 1 and beliefs["A-1-1"].get("cola-330") == 5
    kinds = sorted(e.kind for e in stack.events)
    assert kinds == ["put_back", "take", "take"]  # the touch and the lean are no events
