"""A cheap real episode for checking the bench machinery itself (process pool, Ray, resume, error rows).

Place in the data path: beside `scoring.episode.run_episode`, with the same
signature, so `bench --episode-fn bench.probe:load_cell_episode` runs it instead.
It builds a store (a store file stands in for the scenario), runs its physics
and load cells for `PROBE_SECONDS` of sim time, and returns load-cell figures:
a pure function of (store, seed), as an episode must be. A bad store file
raises `InputError` inside the worker, as a bad scenario would.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

PROBE_SECONDS = 1.0


def load_cell_episode(scenario_path: str, seed: int, *, mode: str = "fused", out_dir: str | Path | None = None,
                      record: str | Path | None = None) -> dict:
    """Build the store, run its load cells for a second, return their mean readings' figures."""
    from sim.layout import load_store
    from sim.simulation import Simulation
    from sim.stream import LoadCellBatch, message_bytes

    layout = load_store(scenario_path)
    sim = Simulation(layout, seed)
    try:
        t0 = time.perf_counter()
        digest = hashlib.sha256()
        batches = []
        for msg in sim.run(PROBE_SECONDS, stop_when_done=False):
            digest.update(message_bytes(msg))
            if isinstance(msg, LoadCellBatch):
                batches.append(msg.grams)
        wall_s = time.perf_counter() - t0
        grams = np.concatenate(batches) if batches else np.zeros((0, 0))
        true_g = np.array([sum(sim.ledger.items[i].weight_g for i in sim.ledger.items_in(b)) for b in sim.world.bin_ids])
        err = np.nanmean(grams, axis=0) - true_g if grams.size else np.zeros(0)
        return {
            "scenario": layout.name,
            "seed": int(seed),
            "mode": mode,
            "sim_seconds": round(sim.t_s, 4),
            "wall_seconds": round(wall_s, 4),
            "realtime_factor": round(sim.t_s / wall_s, 4) if wall_s > 0 else None,
            "cells": len(sim.world.bin_ids),
            "samples": int(grams.shape[0]),
            "mean_abs_error_g": float(np.nanmean(np.abs(err))) if err.size else None,
            "max_abs_error_g": float(np.nanmax(np.abs(err))) if err.size else None,
            "stream_sha256": digest.hexdigest(),
        }
    finally:
        sim.close()
