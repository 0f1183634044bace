"""Edge cases of the bench's counting found in review: a dead worker's row, a threshold nothing passes, a scenario's
default accounts, fresh generated stores in the seed line."""
from __future__ import annotations

import io

from bench.batch import EpisodeJob, Progress, _error_rows, _fresh_seeds, _fresh_stores, _seeds_line
from bench.calibration import suggest_threshold
from bench.pooling import scenario_accounts


def test_a_dead_workers_error_rows_go_through_the_progress_bar():
    rows = _error_rows(EpisodeJob("s", "a.yaml", 3, ("fused", "weight")), "worker died: BrokenProcessPool")
    assert all(r["elapsed_s"] is None for r in rows)
    for enabled in (True, False):
        bar = Progress(2, enabled=enabled, stream=io.StringIO())
        for r in rows:
            bar.update(r)  # raised TypeError on None before
        bar.close()
        assert bar.errors == 2


def test_a_threshold_that_lets_nothing_pass_is_reported_as_flag_everything():
    # the right receipt is flagged for another reason at any threshold; the other is wrong: nothing may pass
    t = suggest_threshold([0.5, 0.9], [False, True], [False, True])
    assert t.value is None and t.unflagged == 0
    ok = suggest_threshold([0.5, 0.9, 0.95], [False, True, True], [False, False, False])
    assert 0.5 < ok.value <= 0.9 and ok.unflagged_wrong == 0


def test_a_shopper_without_an_account_pays_on_its_own_account(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nstore: tiny_store\nshoppers:\n  - {id: pair, script: []}\n"
                    "  - {id: b, account: pair, script: []}\n")
    assert scenario_accounts(path) == (2, False)  # acct-pair and pair
    path.write_text("name: x\nstore: tiny_store\nshoppers: 3\n")
    assert scenario_accounts(path) is None  # not a scenario's shoppers: unknown, not a crash


def test_rows_on_fresh_generated_stores_name_their_stores_not_seed_zero_as_fresh():
    rows = [{"suite": "generated", "scenario": "/o/stores/store-123/scenarios/gen123-01-1-shopper.yaml", "seed": 0,
             "seed_set": "fresh", "mode": "fused"},
            {"suite": "standard", "scenario": "assets/scenarios/x.yaml", "seed": 77, "seed_set": "fresh", "mode": "fused"},
            {"suite": "standard", "scenario": "assets/scenarios/x.yaml", "seed": 0, "seed_set": "dev", "mode": "fused"}]
    assert _fresh_seeds(rows) == [77] and _fresh_stores(rows) == [123]
    line = _seeds_line(rows)
    assert "--seeds 77" in line and "--stores 123" in line and "--seeds 77,0" not in line
