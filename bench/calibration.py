"""Does a receipt's confidence mean what it says? Reliability, expected calibration error, a review threshold.

Place in the data path: in the bench's summary, over the receipt marks of many episodes
(`bench.pooling.receipt_marks`). The review flag is only as good as the confidence under it: receipts
binned by confidence should be right about as often as their confidence says.

- Reliability: issued receipts of exited accounts that carry a confidence, in `BINS` equal bins of
  [0, 1] (1.0 falls in the last); per bin the count, the mean confidence and the share right.
  Missing receipts (never issued, unfinished, crashed) have no confidence and are left out here; the
  pooled figures count them.
- ECE (expected calibration error): sum over bins of (bin count / all) * |share right - mean confidence|.
- Suggested review threshold (`suggest_threshold`), from the development seeds only: the lowest
  threshold at which the receipts that pass (confidence at or above it, and not flagged by the stack
  for another reason: a fault, an undecided change, a lost track, which a threshold cannot lift) are at
  most `TARGET_WRONG` wrong; receipts below it are flagged. It is reported as the midpoint between the
  lowest confidence it lets pass and the highest below that (any value between splits the development
  receipts the same way); 0 when no threshold is needed, none when even flagging every receipt the
  threshold can reach leaves too many wrong ones (only flagging everything would do). The same threshold
  is then applied to the fresh seeds: what it would really give. The bench never changes the stack's
  constant (`checkout/receipts.py` REVIEW_THRESHOLD); it measures what to set it to.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

BINS = 20  # 0.05 wide: the stack's confidences crowd above 0.8, where 0.1-wide bins would hide the slope
TARGET_WRONG = 0.01  # issue 5: among receipts not flagged, at most 1 % wrong


@dataclass(frozen=True)
class Bin:
    lo: float
    hi: float
    count: int
    mean_confidence: float | None
    share_right: float | None


@dataclass(frozen=True)
class Threshold:
    """A review threshold and what it gives: receipts below `value` (and those flagged for other reasons) flagged.
    `value` None: no threshold meets the target short of flagging every receipt."""

    value: float | None
    receipts: int
    flagged: int
    unflagged_wrong: int

    @property
    def unflagged(self) -> int:
        return self.receipts - self.flagged

    @property
    def review_rate(self) -> float | None:
        return self.flagged / self.receipts if self.receipts else None

    @property
    def wrong_share(self) -> float | None:
        return self.unflagged_wrong / self.unflagged if self.unflagged else None


def reliability(confidence: Sequence[float], right: Sequence[bool], bins: int = BINS) -> list[Bin]:
    """Every bin of [0, 1] (empty ones with count 0), in order."""
    c = np.clip(np.asarray(confidence, float), 0.0, 1.0)
    ok = np.asarray(right, bool)
    idx = np.minimum((c * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        sel = idx == b
        n = int(sel.sum())
        out.append(Bin(b / bins, (b + 1) / bins, n, float(c[sel].mean()) if n else None,
                       float(ok[sel].mean()) if n else None))
    return out


def expected_calibration_error(table: Sequence[Bin]) -> float | None:
    """Sum over bins of (bin count / all) * |share right - mean confidence|; None with no receipts."""
    total = sum(b.count for b in table)
    if not total:
        return None
    return float(sum(b.count / total * abs(b.share_right - b.mean_confidence) for b in table if b.count))


def at_threshold(value: float | None, confidence: Sequence[float], right: Sequence[bool],
                 other_flag: Sequence[bool]) -> Threshold:
    """What a threshold gives: flagged = below it, or flagged for another reason; None flags every receipt."""
    c, ok, other = np.asarray(confidence, float), np.asarray(right, bool), np.asarray(other_flag, bool)
    passes = ~other & (c >= value) if value is not None else np.zeros(len(c), bool)
    return Threshold(value, len(c), int((~passes).sum()), int((passes & ~ok).sum()))


def suggest_threshold(confidence: Sequence[float], right: Sequence[bool], other_flag: Sequence[bool],
                      target: float = TARGET_WRONG) -> Threshold | None:
    """The lowest threshold whose passing receipts are at most `target` wrong (module docstring); None without
    receipts."""
    c = np.asarray(confidence, float)
    if not len(c):
        return None
    levels = np.unique(c)  # ascending; threshold = level k lets pass every receipt at or above it
    for k, level in enumerate(levels):
        got = at_threshold(float(level), confidence, right, other_flag)
        if got.wrong_share is not None and got.wrong_share <= target:  # None: nothing passes, i.e. flag them all
            value = 0.0 if k == 0 else float(levels[k - 1] + level) / 2.0
            return at_threshold(value, confidence, right, other_flag)
    return at_threshold(None, confidence, right, other_flag)


def plot_reliability(path: Path, tables: Mapping[str, Mapping[str, Sequence[Bin]]]) -> Path:
    """One panel per mode: share right against mean confidence per bin, development and fresh seeds, the
    diagonal for reference, the marker area growing with the bin's count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = list(tables)
    fig, axes = plt.subplots(1, len(modes), figsize=(4.2 * len(modes), 4.2), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        ax.plot([0, 1], [0, 1], color="#999999", lw=1, ls="--", label="calibrated")
        for seed_set, colour in (("dev", "#4c72b0"), ("fresh", "#dd8452")):
            bins = [b for b in tables[mode].get(seed_set, ()) if b.count]
            if not bins:
                continue
            total = sum(b.count for b in bins)
            xs, ys = [b.mean_confidence for b in bins], [b.share_right for b in bins]
            ax.plot(xs, ys, color=colour, lw=1)
            ax.scatter(xs, ys, s=[20 + 400 * b.count / total for b in bins], color=colour, alpha=0.7,
                       label=f"{seed_set} seeds ({total})")
        ax.set_xlim(0, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("confidence (bin mean)")
        ax.set_ylabel("share of receipts right")
        ax.set_title(f"reliability: {mode}")
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


@dataclass(frozen=True)
class Calibration:
    """Per (mode, suite or "all suites"): reliability and ECE on each seed set, the threshold from the
    development seeds and what it gives on each seed set."""

    mode: str
    suite: str
    tables: Mapping[str, Sequence[Bin]]  # seed set -> bins
    ece: Mapping[str, float | None]
    threshold: Threshold | None  # suggested on the development seeds
    applied: Mapping[str, Threshold]  # seed set -> what that threshold gives there

    def as_dict(self) -> dict:
        return {"mode": self.mode, "suite": self.suite, "ece": dict(self.ece),
                "receipts": {k: sum(b.count for b in v) for k, v in self.tables.items()},
                "suggested_threshold": None if self.threshold is None else self.threshold.value,
                "flags_every_receipt": self.threshold is not None and self.threshold.value is None,
                "at_threshold": {k: {"review_rate": t.review_rate, "unflagged": t.unflagged,
                                     "unflagged_wrong": t.unflagged_wrong} for k, t in self.applied.items()}}


def calibrate(mode: str, suite: str, marks: Mapping[str, Sequence], target: float = TARGET_WRONG) -> Calibration:
    """`marks`: seed set -> receipt marks (anything with `confidence`, `right`, `other_flag`, `issued`); only
    issued receipts with a confidence are binned and thresholded."""
    arrays = {}
    for seed_set, ms in marks.items():
        ms = [m for m in ms if m.issued and m.confidence is not None]
        arrays[seed_set] = ([float(m.confidence) for m in ms], [m.right for m in ms], [m.other_flag for m in ms])
    tables = {k: reliability(c, r) for k, (c, r, _) in arrays.items()}
    threshold = suggest_threshold(*arrays["dev"], target=target) if "dev" in arrays else None
    applied = {} if threshold is None else {k: at_threshold(threshold.value, *a) for k, a in arrays.items()}
    return Calibration(mode, suite, tables, {k: expected_calibration_error(t) for k, t in tables.items()},
                       threshold, applied)


def calibration_lines(results: Sequence[Calibration], current: float, target: float = TARGET_WRONG) -> list[str]:
    """The summary's calibration section: one table of ECE and thresholds, one reliability table per mode."""
    lines = [
        f"Issued receipts of exited accounts, binned by confidence ({BINS} bins of {1 / BINS:.2f}); ECE = sum over "
        "bins of (bin count / all) x |share right - mean confidence|. Suggested threshold: the lowest at which the "
        f"receipts passing it on the development seeds are at most {100 * target:g} % wrong, the receipts the "
        "stack flags for other reasons (a fault, an undecided change, a lost track) still flagged; receipts below it "
        "are flagged; reported as the midpoint between the lowest confidence it passes and the highest it flags. "
        f"Applied unchanged to the fresh seeds. The stack's constant (checkout/receipts.py REVIEW_THRESHOLD) is "
        f"{current:g}; the flags in the table above are the stack's own.",
        "",
        "| mode | suite | receipts (dev / fresh) | ECE dev | ECE fresh | suggested threshold (dev) | dev: review rate | "
        "dev: wrong among unflagged | fresh: review rate | fresh: wrong among unflagged |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in results:
        n = {k: sum(b.count for b in c.tables.get(k, ())) for k in ("dev", "fresh")}
        dev, fresh = c.applied.get("dev"), c.applied.get("fresh")
        lines.append(f"| {c.mode} | {c.suite} | {n['dev']} / {n['fresh']} | {_num(c.ece.get('dev'))} | "
                     f"{_num(c.ece.get('fresh'))} | {_threshold(c.threshold)} | {_review(dev)} | {_wrong(dev)} | "
                     f"{_review(fresh)} | {_wrong(fresh)} |")
    for c in results:
        if c.suite != "all suites":
            continue
        lines += ["", f"Reliability, {c.mode}, all suites:", "",
                  "| confidence | dev receipts | dev mean confidence | dev share right | fresh receipts | "
                  "fresh mean confidence | fresh share right |", "|---|---|---|---|---|---|---|"]
        dev, fresh = c.tables.get("dev", ()), c.tables.get("fresh", ())
        for i in range(BINS):
            d = dev[i] if dev else None
            f = fresh[i] if fresh else None
            if not ((d and d.count) or (f and f.count)):
                continue
            lo, hi = (d or f).lo, (d or f).hi
            lines.append(f"| {lo:.2f}–{hi:.2f} | {d.count if d else 0} | {_num(d and d.mean_confidence)} | "
                         f"{_num(d and d.share_right)} | {f.count if f else 0} | {_num(f and f.mean_confidence)} | "
                         f"{_num(f and f.share_right)} |")
    return lines


def _threshold(t: Threshold | None) -> str:
    if t is None:
        return "n/a"
    if t.value is None:
        return "none (flag every receipt)"
    return "0 (none needed)" if t.value == 0 else f"{t.value:.4f}"


def _review(t: Threshold | None) -> str:
    return "n/a" if t is None or not t.receipts else f"{t.review_rate:.3f} ({t.flagged}/{t.receipts})"


def _wrong(t: Threshold | None) -> str:
    return "n/a" if t is None else (f"{t.wrong_share:.3f} ({t.unflagged_wrong}/{t.unflagged})" if t.unflagged
                                    else "n/a (0/0)")


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"
