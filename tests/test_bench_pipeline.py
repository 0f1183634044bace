"""`bench.pipeline` (issue 17's reference): every stage is charged, nothing twice, on a real crowd."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.pipeline import STAGES, run

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_pipeline_bench_charges_each_stage_of_a_held_crowd():
    r = run(ROOT / "assets" / "stores" / "tiny_store.yaml", inside=2, seconds=3.0, cameras=True, seed=1, cold=False)
    per = r["cpu_s_per_sim_s"]
    assert set(per) == set(STAGES)
    for stage in ("physics", "shoppers", "load cells", "rendering", "device model", "perception", "stack", "scoring"):
        assert per[stage] > 0, stage
    assert r["total_cpu_s_per_sim_s"] == pytest.approx(sum(per.values()), abs=1e-3)
    assert r["inside_min"] >= 1 and r["inside_max"] <= 2  # the crowd is held at what was asked
    assert r["realtime_factor_one_core"] == pytest.approx(1.0 / r["total_cpu_s_per_sim_s"], rel=1e-2)
    assert r["stack_errors"] == []


@pytest.mark.slow
def test_a_stack_that_faults_is_reported_not_timed_as_fast(monkeypatch):
    from checkout.perception import Perception

    def broken(self, t_s, frames):
        raise RuntimeError("perception broke")

    monkeypatch.setattr(Perception, "process", broken)
    r = run(ROOT / "assets" / "stores" / "tiny_store.yaml", inside=1, seconds=1.0, cameras=True, seed=1, cold=False)
    assert any("RuntimeError: perception broke" in e for e in r["stack_errors"]), r["stack_errors"]
