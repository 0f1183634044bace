"""Scoring figures of one episode (DESIGN.md section 9): receipts against truth, shelf events, tracking.

Place in the data path: the last step. The episode runner hands these pure
functions plain data — issued receipts and true receipts as
{account: {sku: qty}}, catalog prices, flags, confidences, event lists and
pose frames — and gets back the figures that `scoring.report` writes. Nothing
here touches the simulation or the stack, so every figure can be checked on
hand-made cases.

Conventions where the design is silent (written here so users can rely on them):
- Scored accounts are the accounts that exited (the keys of the truth). An
  account still inside when the episode ends is *unfinished*: listed, and left
  out of every figure, whatever the stack issued for it.
- An exited account with no issued receipt scores as an empty receipt that is
  not flagged, with `issued: false` and confidence `None`.
- A receipt for an account the truth does not know (a phantom account) is listed
  with `truth: {}` and `phantom: true`; its items count as false positives and
  its total as billing error, but it does not enter `accounts`,
  `receipt_accuracy` or `review_rate`, whose denominator is the exited accounts
  (both `None` when no account exited: there is nothing to score).
- Item precision is 1.0 when nothing was charged, recall is 1.0 when nothing was
  truly taken (no wrong charge / no missed item was made); F1 is their harmonic
  mean, 0.0 when both are 0.
- `billing_error` uses the receipt's own `total` when the stack gave one, else the
  items priced from the catalog; the true total is always priced from the catalog.
- Shelf events are compared item by item: a detected event of quantity n stands
  for n unit events. A detected unit matches a true one of the same kind
  (take / put_back) in the same bin within `tolerance_s`; the matching is the
  assignment that maximises matches, then minimises total time difference.
  Attribution accuracy = matched units whose detected account is the true one.
- Tracking: MOTA, MOTP, IDF1 and identity switches from py-motmetrics, with a
  hypothesis matching a truth position within `max_distance_m` (floor-plane
  Euclidean). motmetrics 1.4.0 (its latest release) calls `np.asfarray`, removed in
  numpy 2, inside `distances.norm2squared_matrix`, and stores object ids as
  floats (string ids fail under pandas 2). So the distance matrix is built
  here with numpy and ids are mapped to integers before the accumulator sees them;
  the rest of motmetrics works unchanged with numpy 2.2 / pandas 2.2.
  HOTA, DetA and AssA come from `scoring.hota` (trackeval) over the same aligned
  frames, with similarity max(0, 1 - d / max_distance_m) (see that module).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from checkout.receipts import ShelfEvent
from scoring.hota import hota_figures

EVENT_KINDS = ("take", "put_back")
DEFAULT_EVENT_TOLERANCE_S = 3.0
DEFAULT_TRACK_MATCH_M = 0.5  # about a shoulder width: further than that is another person


@dataclass(frozen=True)
class IssuedReceipt:
    """What the stack charged one account: items {sku: qty}, its total if it gave one, confidence, review flag."""

    account: str
    items: Mapping[str, int]
    confidence: float | None = None
    flagged: bool = False
    total: float | None = None
    reasons: tuple[str, ...] = ()
    t_s: float | None = None  # stream time it was issued, when the stack says


@dataclass
class ItemCounts:
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0

    @property
    def precision(self) -> float:
        charged = self.true_positive + self.false_positive
        return self.true_positive / charged if charged else 1.0

    @property
    def recall(self) -> float:
        truth = self.true_positive + self.false_negative
        return self.true_positive / truth if truth else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if (p + r) else 0.0


@dataclass
class ReceiptScore:
    accounts: int
    receipt_accuracy: float | None  # None when no account exited
    item_precision: float
    item_recall: float
    item_f1: float
    billing_error: float
    review_rate: float | None
    receipts: list[dict]
    unfinished: list[str]
    counts: ItemCounts = field(default_factory=ItemCounts)

    def as_dict(self) -> dict:
        return {
            "accounts": self.accounts,
            "receipt_accuracy": self.receipt_accuracy,
            "item_precision": self.item_precision,
            "item_recall": self.item_recall,
            "item_f1": self.item_f1,
            "billing_error": self.billing_error,
            "review_rate": self.review_rate,
            "receipts": self.receipts,
            "unfinished": self.unfinished,
            "items": {
                "true_positive": self.counts.true_positive,
                "false_positive": self.counts.false_positive,
                "false_negative": self.counts.false_negative,
            },
        }


def score_receipts(
    issued: Mapping[str, IssuedReceipt] | Iterable[IssuedReceipt],
    truth: Mapping[str, Mapping[str, int]],
    prices: Mapping[str, float],
    *,
    unfinished: Iterable[str] = (),
) -> ReceiptScore:
    """Compare the stack's receipts with the true receipts of the accounts that exited."""
    by_account = _receipts_by_account(issued)
    left_out = sorted(set(unfinished))
    scored = sorted(a for a in truth if a not in set(left_out))
    phantoms = sorted(a for a in by_account if a not in truth and a not in set(left_out))
    counts = ItemCounts()
    entries: list[dict] = []
    correct = flagged = 0
    billing = 0.0
    for account in scored + phantoms:
        true_items = _clean(truth.get(account, {}))
        receipt = by_account.get(account)
        items = _clean(receipt.items) if receipt else {}
        tp, fp, fn = _count_overlap(items, true_items)
        counts.true_positive += tp
        counts.false_positive += fp
        counts.false_negative += fn
        charged = receipt.total if receipt and receipt.total is not None else price(items, prices)
        billing += abs(charged - price(true_items, prices))
        is_correct = items == true_items
        phantom = account not in truth
        if not phantom:
            correct += is_correct
            flagged += bool(receipt and receipt.flagged)
        entries.append({
            "account": account,
            "items": items,
            "truth": true_items,
            "correct": is_correct,
            "flagged": bool(receipt and receipt.flagged),
            "confidence": None if receipt is None or receipt.confidence is None else float(receipt.confidence),
            "total": round(float(charged), 2),
            "true_total": round(price(true_items, prices), 2),
            "issued": receipt is not None,
            "phantom": phantom,
            "reasons": list(receipt.reasons) if receipt else [],
            "issued_s": None if receipt is None or receipt.t_s is None else round(float(receipt.t_s), 3),
        })
    n = len(scored)
    return ReceiptScore(
        accounts=n,
        receipt_accuracy=correct / n if n else None,  # no exited account: nothing scored, never '100 %'
        item_precision=counts.precision,
        item_recall=counts.recall,
        item_f1=counts.f1,
        billing_error=round(billing, 2),
        review_rate=flagged / n if n else None,
        receipts=entries,
        unfinished=left_out,
        counts=counts,
    )


def visit_times(events: Iterable) -> dict[str, dict[str, float | None]]:
    """Each account's visit from the truth's entry and exit events: `entered_s` (its first member in),
    `exited_s` (its last member out; None while any member is still inside)."""
    out: dict[str, dict[str, float | None]] = {}
    inside: dict[str, set[str]] = {}
    for e in events:
        if e.kind == "entry":
            visit = out.setdefault(e.account, {"entered_s": round(float(e.t_s), 3), "exited_s": None})
            inside.setdefault(e.account, set()).add(e.shopper)
            visit["exited_s"] = None
        elif e.kind == "exit" and e.account in out:
            members = inside.setdefault(e.account, set())
            members.discard(e.shopper)
            if not members:
                out[e.account]["exited_s"] = round(float(e.t_s), 3)
    return out


def price(items: Mapping[str, int], prices: Mapping[str, float]) -> float:
    """Total of a receipt at catalog prices. An SKU missing from the catalog is a caller bug."""
    missing = [s for s in items if s not in prices]
    assert not missing, f"SKUs not in the catalog: {missing}"
    return float(sum(prices[s] * q for s, q in items.items()))


def true_shelf_events(events: Iterable) -> list[ShelfEvent]:
    """The truth's takes and put-backs (ledger or recorded events: one item each) as `ShelfEvent`s."""
    return [ShelfEvent(e.t_s, e.bin, e.kind, e.sku, 1, e.account) for e in events if e.kind in EVENT_KINDS]


def match_events(
    truth: Sequence[ShelfEvent],
    detected: Sequence[ShelfEvent],
    *,
    tolerance_s: float = DEFAULT_EVENT_TOLERANCE_S,
    accounts: Iterable[str] | None = None,
) -> dict:
    """True against detected take / put-back events: counts, matches, SKU and attribution accuracy.

    `accounts`, when given, restricts both sides to events of those accounts
    (true events by their shopper's account; detected events whose account is
    one of them or unknown), so unfinished accounts can be left out.
    """
    from scipy.optimize import linear_sum_assignment

    keep = None if accounts is None else set(accounts)
    true_units = [e for e in _units(truth) if e.kind in EVENT_KINDS and (keep is None or e.account in keep)]
    det_units = [
        e for e in _units(detected)
        if e.kind in EVENT_KINDS and (keep is None or e.account is None or e.account in keep)
    ]
    matched = sku_right = account_right = 0
    abs_dt: list[float] = []
    groups = {(e.kind, e.bin) for e in true_units} & {(e.kind, e.bin) for e in det_units}
    for kind, bin_id in sorted(groups):
        ts = [e for e in true_units if (e.kind, e.bin) == (kind, bin_id)]
        ds = [e for e in det_units if (e.kind, e.bin) == (kind, bin_id)]
        dt = np.abs(np.array([e.t_s for e in ts])[:, None] - np.array([e.t_s for e in ds])[None, :])
        feasible = dt <= tolerance_s
        # A match is worth far more than any time saving, so the assignment maximises matches first.
        cost = np.where(feasible, dt / (tolerance_s + 1.0), 1.0 + len(ts) + len(ds))
        rows, cols = linear_sum_assignment(cost)
        for i, j in zip(rows, cols):
            if not feasible[i, j]:
                continue
            matched += 1
            abs_dt.append(float(dt[i, j]))
            sku_right += ts[i].sku == ds[j].sku
            account_right += ts[i].account is not None and ts[i].account == ds[j].account
    n_true, n_det = len(true_units), len(det_units)
    return {
        "tolerance_s": tolerance_s,
        "true": {k: sum(e.kind == k for e in true_units) for k in EVENT_KINDS},
        "detected": {k: sum(e.kind == k for e in det_units) for k in EVENT_KINDS},
        "matched": matched,
        "missed": n_true - matched,
        "spurious": n_det - matched,
        "precision": matched / n_det if n_det else 1.0,
        "recall": matched / n_true if n_true else 1.0,
        "sku_accuracy": sku_right / matched if matched else None,
        "attribution_accuracy": account_right / matched if matched else None,
        "mean_abs_dt_s": float(np.mean(abs_dt)) if abs_dt else None,
    }


def tracking_quality(
    truth_frames: Sequence[tuple[float, Mapping[str, tuple[float, float]]]],
    track_frames: Sequence[tuple[float, Mapping[str, tuple[float, float]]]],
    *,
    max_distance_m: float = DEFAULT_TRACK_MATCH_M,
    max_time_gap_s: float | None = None,
) -> dict:
    """MOTA, MOTP (m), IDF1, identity switches, HOTA, DetA and AssA of tracks against true shopper positions.

    Frames are (t_s, {id: (x_m, y_m)}). Each truth frame is scored against the
    track frame nearest in time (within `max_time_gap_s`, default half the
    median truth period); a truth frame with no track frame near it scores with
    no hypotheses (all misses). Returns figures of None when there is no truth.
    """
    import motmetrics as mm

    truth_frames = sorted(truth_frames, key=lambda f: f[0])
    track_frames = sorted(track_frames, key=lambda f: f[0])
    n_truth_objects = sum(len(f[1]) for f in truth_frames)
    empty = {"frames": len(truth_frames), "mota": None, "motp_m": None, "idf1": None, "id_switches": None,
             "misses": None, "false_positives": None, "objects": n_truth_objects, "max_distance_m": max_distance_m,
             "hota": None, "deta": None, "assa": None}
    if not truth_frames or n_truth_objects == 0:
        return empty
    if max_time_gap_s is None:
        periods = np.diff([f[0] for f in truth_frames])
        max_time_gap_s = 0.5 * float(np.median(periods)) if len(periods) else 0.05
        max_time_gap_s = max(max_time_gap_s, 1e-6)
    aligned = _aligned_frames(truth_frames, track_frames, max_time_gap_s)
    truth_ids: dict[str, int] = {}
    track_ids: dict[str, int] = {}
    acc = mm.MOTAccumulator(auto_id=True)
    max_d2 = max_distance_m**2
    for objects, hyps in aligned:
        o_keys, h_keys = sorted(objects), sorted(hyps)
        o_ids = [truth_ids.setdefault(k, len(truth_ids)) for k in o_keys]
        h_ids = [track_ids.setdefault(k, len(track_ids)) for k in h_keys]
        d2 = _squared_distances(np.array([objects[k] for k in o_keys], float).reshape(-1, 2),
                                np.array([hyps[k] for k in h_keys], float).reshape(-1, 2), max_d2)
        acc.update(o_ids, h_ids, d2)
    summary = mm.metrics.create().compute(
        acc, metrics=["mota", "motp", "idf1", "num_switches", "num_misses", "num_false_positives"], name="episode"
    )
    row = summary.loc["episode"]
    motp = float(row["motp"])
    return {
        "frames": len(truth_frames),
        "mota": _finite(row["mota"]),
        "motp_m": math.sqrt(motp) if math.isfinite(motp) else None,  # motmetrics averages the squared distance
        "idf1": _finite(row["idf1"]),
        "id_switches": int(row["num_switches"]),
        "misses": int(row["num_misses"]),
        "false_positives": int(row["num_false_positives"]),
        "objects": n_truth_objects,
        "max_distance_m": max_distance_m,
        **hota_figures(aligned, max_distance_m=max_distance_m),
    }


# --- helpers -------------------------------------------------------------------------------------------------------


def _receipts_by_account(issued: Mapping[str, IssuedReceipt] | Iterable[IssuedReceipt]) -> dict[str, IssuedReceipt]:
    receipts = list(issued.values()) if isinstance(issued, Mapping) else list(issued)
    out: dict[str, IssuedReceipt] = {}
    for r in receipts:
        if r.account in out:  # a stack that reissues an account's receipt: the last one stands
            del out[r.account]
        out[r.account] = r
    return out


def _clean(items: Mapping[str, int]) -> dict[str, int]:
    out = {}
    for sku, qty in items.items():
        assert int(qty) == qty and qty >= 0, f"quantity of {sku} is not a count: {qty!r}"
        if qty:
            out[str(sku)] = int(qty)
    return dict(sorted(out.items()))


def _count_overlap(items: Mapping[str, int], truth: Mapping[str, int]) -> tuple[int, int, int]:
    charged, true = Counter(items), Counter(truth)
    tp = sum((charged & true).values())
    return tp, sum(charged.values()) - tp, sum(true.values()) - tp


def _units(events: Sequence[ShelfEvent]) -> list[ShelfEvent]:
    out = []
    for e in events:
        out.extend([ShelfEvent(e.t_s, e.bin, e.kind, e.sku, 1, e.account)] * max(int(e.qty), 0))
    return out


def _aligned_frames(
    truth_frames: Sequence[tuple[float, Mapping[str, tuple[float, float]]]],
    track_frames: Sequence[tuple[float, Mapping[str, tuple[float, float]]]],
    max_time_gap_s: float,
) -> list[tuple[Mapping[str, tuple[float, float]], Mapping[str, tuple[float, float]]]]:
    """Each truth frame's objects with the hypotheses of the track frame nearest in time, or none beyond the gap."""
    track_t = np.array([f[0] for f in track_frames]) if track_frames else np.zeros(0)
    out = []
    for t_s, objects in truth_frames:
        hyps: Mapping[str, tuple[float, float]] = {}
        if len(track_t):
            j = int(np.argmin(np.abs(track_t - t_s)))
            if abs(track_t[j] - t_s) <= max_time_gap_s:
                hyps = track_frames[j][1]
        out.append((objects, hyps))
    return out


def _squared_distances(objects: np.ndarray, hyps: np.ndarray, max_d2: float) -> np.ndarray:
    d2 = ((objects[:, None, :] - hyps[None, :, :]) ** 2).sum(axis=-1)
    return np.where(d2 <= max_d2, d2, np.nan)


def _finite(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None
