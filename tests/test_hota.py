"""HOTA, DetA and AssA (scoring.hota, trackeval) on hand-built tracks with answers worked out by hand."""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from scoring.hota import floor_similarity, hota_figures
from scoring.metrics import tracking_quality

D = 0.5  # the MOTA match radius, metres


def _line(n: int) -> list[tuple[float, float]]:
    return [(1.0 + 0.1 * i, 2.0) for i in range(n)]


def test_perfect_tracking_scores_one():
    frames = [({"alice": p, "bob": (p[1], p[0])}, {"t1": p, "t2": (p[1], p[0])}) for p in _line(10)]
    assert hota_figures(frames, max_distance_m=D) == pytest.approx({"hota": 1.0, "deta": 1.0, "assa": 1.0})


def test_a_tracker_that_finds_nothing_scores_zero():
    frames = [({"alice": p}, {}) for p in _line(10)]
    assert hota_figures(frames, max_distance_m=D) == {"hota": 0.0, "deta": 0.0, "assa": 0.0}


def test_an_identity_switch_halfway_halves_assa_and_leaves_deta_whole():
    # One true track over 10 frames, followed by t1 for 5 frames then t2 for 5, on the spot.
    # Every detection matches at every alpha: DetA = 1. AssA averages, over the 10 matches, the
    # Jaccard of the match's (truth, track) pair: TPA / (TPA + FNA + FPA) = 5 / (5 + 5 + 0) for both,
    # so AssA = 0.5 and HOTA = sqrt(DetA * AssA) = sqrt(0.5).
    frames = [({"alice": p}, {"t1" if i < 5 else "t2": p}) for i, p in enumerate(_line(10))]
    q = hota_figures(frames, max_distance_m=D)
    assert q["deta"] == pytest.approx(1.0)
    assert q["assa"] == pytest.approx(0.5)
    assert q["hota"] == pytest.approx(math.sqrt(0.5))


def test_a_switch_after_six_of_ten_frames_gives_the_jaccard_weighted_assa():
    # t1 for 6 frames, t2 for 4: AssA = (6 * 6/10 + 4 * 4/10) / 10 = 0.52.
    frames = [({"alice": p}, {"t1" if i < 6 else "t2": p}) for i, p in enumerate(_line(10))]
    q = hota_figures(frames, max_distance_m=D)
    assert q["deta"] == pytest.approx(1.0) and q["assa"] == pytest.approx(0.52)


def test_a_constant_offset_counts_only_at_the_thresholds_its_similarity_reaches():
    # 0.22 m off: similarity 1 - 0.22 / 0.5 = 0.56, a match at alpha 0.05 .. 0.55 (11 of 19), none above.
    # MOTA, matching within 0.5 m, sees a perfect tracker.
    frames = [({"alice": p}, {"t1": (p[0] + 0.22, p[1])}) for p in _line(10)]
    q = hota_figures(frames, max_distance_m=D)
    assert q == pytest.approx({"hota": 11 / 19, "deta": 11 / 19, "assa": 11 / 19})
    truth = [(0.1 * i, truth) for i, (truth, _) in enumerate(frames)]
    tracks = [(0.1 * i, tracks) for i, (_, tracks) in enumerate(frames)]
    assert tracking_quality(truth, tracks)["mota"] == pytest.approx(1.0)


def test_similarity_falls_linearly_to_zero_at_the_match_radius():
    s = floor_similarity(np.array([[0.0, 0.0]]), np.array([[0.0, 0.0], [0.3, 0.4], [0.15, 0.2], [3.0, 0.0]]), D)
    assert s[0].tolist() == pytest.approx([1.0, 0.0, 0.5, 0.0])


def test_no_truth_gives_no_hota():
    assert hota_figures([({}, {"t1": (0.0, 0.0)})], max_distance_m=D) == {"hota": None, "deta": None, "assa": None}


def test_tracking_quality_reports_hota_beside_mota_and_idf1():
    truth = [(0.1 * i, {"alice": p}) for i, p in enumerate(_line(10))]
    tracks = [(0.1 * i, {"t1" if i < 5 else "t2": p}) for i, p in enumerate(_line(10))]
    q = tracking_quality(truth, tracks)
    assert {"mota", "idf1", "hota", "deta", "assa"} <= set(q)
    assert q["hota"] == pytest.approx(math.sqrt(0.5)) and q["assa"] == pytest.approx(0.5)
    assert tracking_quality([], tracks)["hota"] is None


def test_importing_trackeval_prints_nothing_of_ours():
    code = ("from scoring.hota import hota_figures; "
            "hota_figures([({'a': (0.0, 0.0)}, {'t': (0.0, 0.0)})], max_distance_m=0.5)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == ""
