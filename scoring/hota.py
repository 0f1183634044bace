"""HOTA, DetA and AssA of shopper tracks (Luiten et al., IJCV 2021), computed by `trackeval`'s HOTA.

Place in the data path: inside `scoring.metrics.tracking_quality`, beside MOTA and IDF1, over the
same frames: each truth frame with the track frame it was aligned to, positions on the floor.

Similarity. HOTA is defined on a similarity in [0, 1] between a true and a tracked object,
normally the bounding-box IoU; for point tracks on the floor plane the usual adaptation is a
similarity that falls with distance. Here it is `max(0, 1 - d / D)`, with d the floor-plane
Euclidean distance and D the radius within which MOTA matches (`max_distance_m`): a track on
the spot is 1, one at D or further is 0 and is never matched, so both figures agree on what is
too far to be the same person. HOTA, DetA and AssA are, as trackeval reports them, means over
its 19 thresholds alpha = 0.05 .. 0.95 on that similarity: a match at alpha needs d <= (1 - alpha) D,
so HOTA, unlike MOTA, also counts how close the track is.

Why `trackeval` is installed `--no-deps` (Makefile): every release's metadata asks for numpy and
scipy newer than the project's pins, with opencv and pycocotools; its HOTA needs only numpy and
scipy. Its package import prints a line about a dataset loader it cannot import (BURST, for want
of pycocotools); that line is kept off our stdout.
"""
from __future__ import annotations

import contextlib
import io
from typing import Mapping, Sequence

import numpy as np

Position = tuple[float, float]
AlignedFrame = tuple[Mapping[str, Position], Mapping[str, Position]]  # ({truth id: xy}, {track id: xy}) at one time


def hota_figures(frames: Sequence[AlignedFrame], *, max_distance_m: float) -> dict:
    """{"hota", "deta", "assa"} (each a mean over alpha 0.05..0.95) of tracks against truth, frame by frame.

    `frames` holds, per truth time, the true positions and the tracked positions aligned to it
    (an empty track mapping where no track frame was near). All None when there is no truth.
    """
    assert max_distance_m > 0, f"max_distance_m must be positive, got {max_distance_m}"
    if not any(truth for truth, _ in frames):
        return {"hota": None, "deta": None, "assa": None}
    res = _hota_metric().eval_sequence(_trackeval_data(frames, max_distance_m))
    return {"hota": _mean(res["HOTA"]), "deta": _mean(res["DetA"]), "assa": _mean(res["AssA"])}


def floor_similarity(truth_xy: np.ndarray, track_xy: np.ndarray, max_distance_m: float) -> np.ndarray:
    """Similarity of every (truth, track) pair: max(0, 1 - d / max_distance_m), d the floor distance in metres."""
    d = np.linalg.norm(truth_xy[:, None, :] - track_xy[None, :, :], axis=-1)
    return np.clip(1.0 - d / max_distance_m, 0.0, 1.0)


# --- helpers -------------------------------------------------------------------------------------------------------


def _trackeval_data(frames: Sequence[AlignedFrame], max_distance_m: float) -> dict:
    """The plain dict trackeval's `HOTA.eval_sequence` reads: ids as 0-based integers per frame, similarities."""
    truth_ids: dict[str, int] = {}
    track_ids: dict[str, int] = {}
    gt_ids, tracker_ids, similarity = [], [], []
    for truth, tracks in frames:
        t_keys, h_keys = sorted(truth), sorted(tracks)
        gt_ids.append(np.array([truth_ids.setdefault(k, len(truth_ids)) for k in t_keys], dtype=int))
        tracker_ids.append(np.array([track_ids.setdefault(k, len(track_ids)) for k in h_keys], dtype=int))
        similarity.append(floor_similarity(np.array([truth[k] for k in t_keys], float).reshape(-1, 2),
                                           np.array([tracks[k] for k in h_keys], float).reshape(-1, 2),
                                           max_distance_m))
    return {
        "num_gt_dets": sum(len(ids) for ids in gt_ids),
        "num_tracker_dets": sum(len(ids) for ids in tracker_ids),
        "num_gt_ids": len(truth_ids),
        "num_tracker_ids": len(track_ids),
        "gt_ids": gt_ids,
        "tracker_ids": tracker_ids,
        "similarity_scores": similarity,
    }


def _hota_metric():
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # trackeval prints why it cannot import a dataset loader
            from trackeval.metrics import HOTA
    except ModuleNotFoundError as err:
        if err.name != "trackeval":
            raise
        raise ModuleNotFoundError("HOTA needs trackeval, installed without its pinned dependencies: "
                                  "python -m pip install --no-deps trackeval==1.3.0 (see the Makefile's venv target)",
                                  name="trackeval") from err
    return HOTA()


def _mean(per_alpha: np.ndarray) -> float:
    return float(np.mean(per_alpha))
