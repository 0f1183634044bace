"""The Ray backend runs the same episode function as Ray tasks and gets exactly the local backend's results."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.batch import comparable, plan_episodes, read_rows, run_bench

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "assets" / "stores" / "tiny_store.yaml")
PROBE = "bench.probe:load_cell_episode"

# Starts a real Ray runtime: about 10 s on two shared cores, so not marked slow.


def test_ray_backend_on_a_real_local_runtime_matches_the_process_pool(tmp_path):
    ray = pytest.importorskip("ray")
    bad = tmp_path / "broken_store.yaml"
    bad.write_text(Path(TINY).read_text().replace("shelves: 2", "shelves: 0", 1))
    specs = plan_episodes([TINY, str(bad)], seeds=[0, 1, 2])

    local = run_bench(specs, tmp_path / "local", workers=2, backend="local", episode_fn=PROBE, progress=False)
    assert not ray.is_initialized()
    # run_bench starts the runtime itself: ray.init(num_cpus=2, include_dashboard=False), and shuts it down.
    remote = run_bench(specs, tmp_path / "ray", workers=2, backend="ray", episode_fn=PROBE, progress=False)
    assert not ray.is_initialized()

    assert (local.ran, local.errors) == (remote.ran, remote.errors) == (6, 3)
    local_rows = {(r["scenario"], r["seed"]): r for r in read_rows(tmp_path / "local" / "results.jsonl")}
    ray_rows = {(r["scenario"], r["seed"]): r for r in read_rows(tmp_path / "ray" / "results.jsonl")}
    assert local_rows.keys() == ray_rows.keys()
    for key in local_rows:
        a, b = comparable(local_rows[key]), comparable(ray_rows[key])
        a.pop("traceback", None), b.pop("traceback", None)  # frames differ between a pool worker and a Ray worker
        assert a == b, key
    ok = [r for r in ray_rows.values() if r["status"] == "ok"]
    assert len({r["report"]["stream_sha256"] for r in ok}) == 3  # real, distinct episodes
    assert all(int(r["worker"].split(":")[1]) != os.getpid() for r in ok)  # ran in Ray worker processes
    assert (tmp_path / "ray" / "summary.md").exists()
