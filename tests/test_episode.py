"""The episode runner on a real scenario: deterministic in any process, files written, truth kept from the stack."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.batch import comparable, plan_episodes, read_rows, run_bench
from scoring.episode import run_episode
from scoring.report import REPORT_KEYS

ROOT = Path(__file__).resolve().parent.parent
PICK_ONE = ROOT / "assets" / "scenarios" / "pick-one.yaml"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not PICK_ONE.exists(), reason="needs assets/scenarios/pick-one.yaml")]


def test_episode_is_a_pure_function_of_scenario_and_seed_in_any_process(tmp_path):
    # Three stacks on one simulated stream, in this process ...
    reports = run_episode(str(PICK_ONE), 0, modes=("fused", "weight", "vision"), out_dir=tmp_path / "direct")
    assert list(reports) == ["fused", "weight", "vision"]
    report = reports["fused"]
    assert set(REPORT_KEYS) <= set(report)
    for mode, r in reports.items():
        on_disk = json.loads((tmp_path / "direct" / mode / "report.json").read_text())
        assert on_disk == r and r["mode"] == mode
        assert r["stacks_on_stream"] == 3
        # Each stack's own wall share: the shared simulation plus that stack alone.
        assert r["wall_seconds"] == pytest.approx(r["stages"]["simulation"] + r["stages"]["stack"], abs=2e-4)
        assert r["wall_seconds"] <= r["episode_wall_seconds"] + 1e-3
        assert r["sim_seconds"] == report["sim_seconds"] and r["receipts"][0]["truth"] == {"cola-330": 1}
    assert (tmp_path / "direct" / "fused" / "report.md").read_text().startswith("# Episode report: pick-one")
    assert report["accounts"] == 1 and [r["account"] for r in report["receipts"]] == ["acct-1"]
    assert report["receipts"][0]["truth"] == {"cola-330": 1}  # the scenario's truth, from the ledger
    assert report["events"]["true"]["take"] == 1
    assert report["tracking"]["frames"] > 0
    for mode, r in reports.items():
        assert all(0.0 <= r["tracking"][k] <= 1.0 for k in ("hota", "deta", "assa")), (mode, r["tracking"])
    assert report["sim_seconds"] > 0 and report["stages"]["simulation"] > 0
    assert report["receipt_counts"]["receipts"] == 1

    # ... and the fused stack alone on the same episode in the bench's process pool (a fresh spawned process):
    # the same report, so sharing the stream changed nothing for it.
    result = run_bench(plan_episodes([str(PICK_ONE)], seeds=[0]), tmp_path / "bench", workers=1, progress=False)
    assert (result.ran, result.errors) == (1, 0)
    row = read_rows(tmp_path / "bench" / "results.jsonl")[0]
    assert row["report"]["stacks_on_stream"] == 1

    def figures(r: dict) -> dict:
        return {k: v for k, v in comparable({"report": r})["report"].items() if k not in ("receipts", "stacks_on_stream")}

    assert figures(row["report"]) == figures(report)
    pooled = json.loads((tmp_path / "bench" / "episodes" / "pick-one" / "seed-0" / "fused" / "report.json").read_text())
    assert pooled["receipts"] == report["receipts"]

    # The weight-only stack got its percepts from the perception the fused stack ran (SharedPerception):
    # alone, with its own perception, it says the same.
    alone = run_bench(plan_episodes([str(PICK_ONE)], seeds=[0], modes=["weight"]), tmp_path / "weight",
                      workers=1, progress=False)
    assert (alone.ran, alone.errors) == (1, 0)
    assert figures(read_rows(tmp_path / "weight" / "results.jsonl")[0]["report"]) == figures(reports["weight"])


def test_stack_fault_is_recorded_and_the_episode_goes_on(monkeypatch):
    from checkout.stack import CheckoutStack
    from sim.stream import MESSAGE_TYPES

    seen: set[str] = set()
    real_consume = CheckoutStack.consume

    def consume(self, msg):
        seen.add(type(msg).__name__)
        if type(msg).__name__ == "GatePassage":
            raise RuntimeError("exit camera lost")
        return real_consume(self, msg)

    monkeypatch.setattr(CheckoutStack, "consume", consume)
    report = run_episode(str(PICK_ONE), 0)
    assert seen <= set(MESSAGE_TYPES)  # the stack was handed stream messages and nothing else
    assert any("stack fault on GatePassage: RuntimeError: exit camera lost" in e for e in report["errors"])
    assert report["accounts"] == 1  # the shopper still left; the truth still closed the account
    receipt = report["receipts"][0]
    assert receipt["truth"] == {"cola-330": 1}
    assert receipt["issued"] is False or receipt["flagged"] is True


def test_receipts_issued_after_a_stack_fault_are_flagged_with_the_fault(monkeypatch):
    from checkout.stack import CheckoutStack

    real_consume = CheckoutStack.consume
    batches = {"n": 0}

    def consume(self, msg):  # one load-cell batch lost mid-run (before the take), then the stack carries on
        if type(msg).__name__ == "LoadCellBatch":
            batches["n"] += 1
            if batches["n"] == 20:
                raise ValueError("bad batch")
        return real_consume(self, msg)

    monkeypatch.setattr(CheckoutStack, "consume", consume)
    report = run_episode(str(PICK_ONE), 0, modes=("weight",))["weight"]
    assert report["errors"] == ["stack fault on LoadCellBatch: ValueError: bad batch"]
    (receipt,) = report["receipts"]
    assert receipt["issued"] is True and receipt["flagged"] is True
    assert any("issued after a stack fault on LoadCellBatch" in why for why in receipt["reasons"])
    assert report["review_rate"] == 1.0
