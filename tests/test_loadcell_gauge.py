"""The strain gauge's own errors, read back from the load-cell stream: a hysteresis loop, the creep under a
steady load, the spread of repeated loadings, the non-linear bow; and every default pinned to its source.

A scripted load (grams per sample) stands in for the physics: the rig reads it as it reads a plate's force."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sim.clock import Clock
from sim.layout import CameraSettings, LoadCellSettings, pack_sd_g
from sim.loadcell import GRAVITY_MS2, LoadCellRig
from sim.stream import LoadCellBatch

QUIET = {"noise_g": 0.0, "resolution_g": 0.0, "drift_g_per_min": 0.0}
GAUGE_OFF = {"nonlinearity_pct": 0.0, "hysteresis_pct": 0.0, "repeatability_pct": 0.0, "creep_pct_30min": 0.0}


def _read(loads_g: np.ndarray, seed: int = 0, **settings) -> np.ndarray:
    """The stream's readings (samples x cells) for scripted loads (samples x cells) in grams."""
    s = LoadCellSettings(**{**QUIET, **GAUGE_OFF, **settings})
    clock = Clock()
    ticks = clock.period_ticks(1.0 / s.rate_hz, "rate")
    k = [0]
    cells = [f"P-{j}" for j in range(loads_g.shape[1])]
    rig = LoadCellRig(cells, s, clock, np.random.default_rng(seed),
                      lambda: loads_g[k[0]] / 1000.0 * GRAVITY_MS2, np.zeros(len(cells)))
    out: list[LoadCellBatch] = []
    for k[0] in range(len(loads_g)):
        out += rig.sample()
        for _ in range(ticks):
            clock.advance()
    out += rig.flush()
    return np.vstack([b.grams for b in out])


def _ramp(levels_g: list[float], hold: int = 30) -> np.ndarray:
    """Steps through the levels, each held `hold` samples, as one column."""
    return np.repeat(np.asarray(levels_g, dtype=float), hold)[:, None]


def test_a_plate_loaded_up_and_down_reads_a_hysteresis_loop_as_wide_as_the_datasheet_says():
    up = list(np.arange(0, 20001, 500.0))
    levels = up + up[-2::-1]
    readings = _read(_ramp(levels), hysteresis_pct=0.02)[:, 0]
    at = {}  # load -> (reading on the way up, on the way down), each the last sample of its hold
    for i, w in enumerate(levels):
        at.setdefault(w, []).append(readings[(i + 1) * 30 - 1] - w)
    loop = {w: r[1] - r[0] for w, r in at.items() if len(r) == 2}
    assert all(d >= -1e-9 for d in loop.values())  # falling reads above rising at every load
    assert max(loop.values()) == pytest.approx(0.0002 * 20000, rel=0.1)  # 0.02 % of 20 kg at mid-scale: 4 g
    assert max(loop, key=loop.get) == pytest.approx(10000, abs=1000)
    assert loop[500.0] < 1.0  # the loop closes towards no load


def test_a_steady_load_creeps_up_by_the_datasheet_figure_in_30_minutes_and_recovers():
    s = LoadCellSettings()
    n = int(1800 * s.rate_hz)
    loads = np.concatenate([np.zeros(60), np.full(n, 10000.0), np.zeros(n)])[:, None]
    readings = _read(loads, creep_pct_30min=0.03)[:, 0]
    crept = readings[60 + n - 1] - 10000.0
    assert crept == pytest.approx(0.0003 * 10000, rel=0.05)  # 3 g after 30 min at 10 kg
    assert readings[60 + 60] - 10000.0 < 0.1 * crept  # it creeps, it does not jump
    assert abs(readings[-1]) < 0.1 * crept  # and recovers over the next 30 min unloaded


def test_repeated_loadings_of_one_weight_spread_as_the_datasheet_says():
    hold = 10
    loads = np.tile(np.r_[np.zeros(hold), np.full(hold, 5000.0)], 400)[:, None]
    readings = _read(loads, seed=3, repeatability_pct=0.03)[:, 0]
    loaded = readings[2 * hold - 1::2 * hold]  # the last sample of each loading
    assert len(loaded) == 400
    assert loaded.std() == pytest.approx(0.0003 * 20000 / 3, rel=0.12)  # 2 g: a third of 0.03 % of 20 kg
    assert np.ptp(readings[hold:2 * hold - 1]) == 0  # one loading, one offset: steady while the load is


def test_the_bow_of_a_non_linear_cell_peaks_at_mid_scale():
    levels = list(np.arange(0, 20001, 2500.0))
    readings = _read(_ramp(levels, hold=2), nonlinearity_pct=0.02)[1::2, 0]
    err = readings - np.asarray(levels)
    assert err[0] == 0 and err[-1] == pytest.approx(0, abs=1e-9)
    assert err.max() == pytest.approx(4.0, rel=1e-6) and levels[int(err.argmax())] == 10000


def test_the_gauge_is_deterministic_per_seed():
    loads = np.abs(np.cumsum(np.random.default_rng(1).normal(0, 300, (600, 4)), axis=0))
    defaults = {k: v for k, v in LoadCellSettings().model_dump().items() if k in GAUGE_OFF}
    a, b, c = (_read(loads, seed=seed, **defaults) for seed in (5, 5, 6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_every_sensor_default_is_its_documented_source_value():
    """REFERENCE.md and the docstrings name these figures; nobody makes the twin kinder quietly."""
    cells = LoadCellSettings()
    assert (cells.rate_hz, cells.batch, cells.capacity_g) == (60.0, 12, 20000.0)  # AiFi AutoCheckout plates
    assert (cells.nonlinearity_pct, cells.hysteresis_pct, cells.repeatability_pct, cells.creep_pct_30min) == \
        (0.02, 0.02, 0.03, 0.03)  # a typical strain-gauge cell
    assert cells.vibration_walk_mg == 2.0  # retail footfall response factor 4 x ISO 10137's base 5 mm/s^2 RMS
    assert (cells.vibration_mode_hz, cells.vibration_damping) == (8.0, 0.03)  # within AISC DG11's floor ranges
    assert (cells.vibration_falloff_m, cells.vibration_contact_mg_per_n, cells.crosstalk_pct) == (3.0, 0.3, 1.0)  # ours
    cams = CameraSettings()
    assert cams.disparity_step_px == 1 / 32  # the D4's 5 fractional bits of disparity (librealsense)
    assert cams.stereo_baseline_m == 0.050 and cams.depth_unit_m == 0.001  # D435
    assert cams.depth_noise_m == 0.005 and cams.depth_noise_blob_px == 2.0
    assert 0 < cams.rgb_jpeg_quality <= 90
    assert (cams.depth_edge_jump, cams.depth_edge_invalid, cams.depth_edge_flying) == (0.05, 0.3, 0.3)  # our estimate
    # EU average-quantity rules: half the tolerable negative error; eggs of class M; loose produce
    assert pack_sd_g(330) == pytest.approx(0.03 * 330 / 2) and pack_sd_g(50) == pytest.approx(0.09 * 50 / 2)
    assert pack_sd_g(75) == 2.25 and pack_sd_g(250) == 4.5 and pack_sd_g(750) == 7.5
    assert pack_sd_g(2000) == pytest.approx(0.015 * 2000 / 2) and pack_sd_g(12000) == 75 and pack_sd_g(18000) == 90
    assert pack_sd_g(4, "eggs") == 1.0  # never more than a quarter of the weight
    assert pack_sd_g(390, "eggs") == pytest.approx(10 / math.sqrt(12) * math.sqrt(6))
    assert pack_sd_g(200, "loose") == pytest.approx(30.0)
