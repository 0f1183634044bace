"""Stage 3, shelf events: load-cell batches in, weight changes (and mere interactions) out.

Cells drift and are never re-zeroed (AiFi AutoCheckout: only changes are
reliable), so nothing here reads an absolute weight. Per cell, vectorised over
all cells:

1. `LoadCellSettler` turns each 12-sample batch into a median and a spread, tracks
   the resting level (following drift while the cell is quiet), opens an
   *activity* when the median leaves that level or the spread jumps, and closes
   it once the medians have agreed for `settle_s` — reporting the level before
   and after (`Settled`).
2. `ShelfEventDetector` keeps, per bin, the last *committed* level (the baseline)
   and decides what each settle means: back at the baseline -> an interaction
   (a touch or a lean: a rise that returned; kept for attribution only); a
   change that an item explains, with no hand still in the bin -> a
   `WeightChange` event; anything else (a hand still resting on the plate, a
   level no item explains) stays open until it resolves or times out, when it
   is committed as unexplained so that the receipt gets flagged, never guessed.

3. Bridged neighbours: an item lying across two bins side by side (one fell
   over in the gap as its neighbour was taken) rests on both plates, and can
   rock between them for as long as nobody straightens it: each cell swings
   between a few levels and never settles, while their sum is steady. A second
   settler watches each pair of neighbours' summed load (`neighbours`). A change
   of the sum, while one of the two cells has stayed unsettled for `bridge_s`
   after it, is committed as the pair's change, at the bin whose own level moved
   most; that bin's baseline moves by it, so when the cells do settle again only
   what is new counts. While the sum stays steady, nothing in the pair is
   undecided and neither cell's wandering level is an unexplained change.

A dead cell (NaN) is reported once as a fault and then ignored. A sample well
below an empty plate's zero (`impossible_below_g`: drift is grams per hour) is
no reading at all (a glitch, a plate that stopped reporting) and is skipped; a
cell with no valid sample in a batch is *unreadable* for that batch, and
the stack flags any hand seen in its bin meanwhile — unless the unreadable run
was a glitch no longer than `glitch_s`, which the levels either side bound.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from sim.stream import LoadCellBatch


@dataclass(frozen=True)
class Settled:
    bin: str
    t_start_s: float  # first batch that left the resting level
    t_end_s: float  # when the new level began to hold
    before_g: float
    after_g: float
    sd_g: float = 0.0  # noise-only standard error of after - before (the cell's learned sample spread)


@dataclass(frozen=True)
class WeightChange:
    """A committed change of a bin's load: `delta_g` < 0 a take, > 0 a put-back (identification decides what)."""

    bin: str
    t_start_s: float
    t_end_s: float
    delta_g: float
    sd_g: float  # measurement uncertainty of delta_g
    explained: bool = True


@dataclass(frozen=True)
class Interaction:
    """Something touched or leaned on a bin and the load came back: no item moved."""

    bin: str
    t_start_s: float
    t_end_s: float
    peak_g: float


@dataclass(frozen=True)
class DeadCell:
    bin: str
    t_s: float


RECENT_ALPHA = 0.2  # `recent_mean` follows the batch medians over ~5 batches (1 s at 60 Hz / 12)


@dataclass
class SettlerConfig:
    settle_s: float = 0.6  # medians must agree this long (3 batches at 60 Hz / 12) before a level is trusted
    min_open_g: float = 4.0  # never open on less than this (a 1 g-quantum, 1 g-noise cell; AiFi plate)
    open_sigmas: float = 8.0  # or on this many median sigmas
    quiet_spread_sigmas: float = 5.0
    drift_alpha: float = 0.1  # how fast a quiet cell's level follows its wandering zero
    warmup_batches: int = 10  # 2 s at 60 Hz / 12: the cells' own noise, learned before anyone reaches in
    impossible_below_g: float = 100.0  # a plate cannot weigh less than empty: a sample below -this is no reading
    glitch_s: float = 1.0  # an unreadable run no longer than this hides nothing: the levels either side bound the load


class GondolaMode:
    """Takes out of each batch what a gondola's plates ring with together.

    A gondola shakes as one structure (footfalls, a body brushing it), and every plate's cell reads the same
    oscillation, each scaled by its own load and coupling: a rank-one pattern across the gondola's cells within
    the batch. With shoppers walking past an island all day its plates may never look quiet, and a take in the
    middle of that ringing would settle (and be dated) only when the ringing stops. Per gondola and batch, the
    samples' leading singular component (each cell's own mean kept) is removed where it is one: well above the
    next (`dominance`), and spread over the gondola's cells rather than held by one (`max_share` of its energy on
    a single cell: that is one plate's own step or lean, which must stay). Quiet batches have no such component
    and pass unchanged. Cells a batch has no valid reading of are left as they are, and so are gondolas of fewer
    than `min_cells`: with six plates one plate's own change is a large enough share of a batch that the leading
    component mixes it with the mode (on the tiny store's crowds this dated takes worse, not better; measured in
    the README, issue 21).

    The mode's own mean over the batch is taken out too (`_whole_wave`): 0.2 s holds one or two cycles of it, and
    a batch's median would otherwise swing by a share of its amplitude from batch to batch and never settle."""

    def __init__(self, groups: tuple[str, ...], dominance: float = 3.0, max_share: float = 0.5, min_cells: int = 8,
                 min_samples: int = 6) -> None:
        """`groups`: each cell's gondola, in the batches' column order."""
        self.dominance, self.max_share, self.min_samples = dominance, max_share, min_samples
        by: dict[str, list[int]] = {}
        for i, g in enumerate(groups):
            by.setdefault(g, []).append(i)
        self.groups = [np.array(cols, dtype=int) for cols in by.values() if len(cols) >= min_cells]
        self._designs_by: dict[tuple[int, float], tuple[np.ndarray, np.ndarray]] = {}  # (samples, rate) -> `_designs`

    FREQS_HZ = tuple(np.arange(2.0, 30.01, 0.25))  # where a shelving bay's first modes lie

    def clean(self, grams: np.ndarray, rate_hz: float) -> np.ndarray:
        if grams.shape[0] < self.min_samples or not self.groups:
            return grams
        out = grams
        for cols in self.groups:
            x = grams[:, cols]
            if not np.isfinite(x).all():
                continue
            xc = x - x.mean(axis=0)
            u, sv, vt = np.linalg.svd(xc, full_matrices=False)
            if sv[0] <= self.dominance * sv[1] or float(np.max(vt[0] ** 2)) > self.max_share:
                continue
            if out is grams:
                out = grams.copy()
            out[:, cols] = x - np.outer(self._whole_wave(u[:, 0], rate_hz) * sv[0], vt[0])
        return out

    def _whole_wave(self, u: np.ndarray, rate_hz: float) -> np.ndarray:
        """The ringing whose batch-mean-removed shape is `u`, mean included: a batch of 0.2 s holds 1-2 cycles of
        the mode, whose mean is not zero, so the shape alone would leave each cell's level off by a share of it.
        The mode's frequency is the one whose sinusoid (plus a constant) fits `u` best; the constant is minus the
        wave's mean over the batch."""
        design, pinv = self._designs(len(u), rate_hz)
        if not len(design):
            return u  # a cell this slow samples no candidate frequency below its Nyquist: the shape is all there is
        coef = pinv @ u  # (freqs, 3)
        resid = ((u[None, :] - np.einsum("fnk,fk->fn", design, coef)) ** 2).sum(axis=1)
        return u - coef[int(np.argmin(resid)), 0]

    def _designs(self, n: int, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
        """Per candidate frequency below Nyquist, the design [1, cos, sin] over a batch (freqs, n, 3) and its
        least-squares inverse (freqs, 3, n); made once per batch size and rate."""
        key = (n, rate_hz)
        if key not in self._designs_by:
            self._designs_by[key] = self._make_designs(n, rate_hz)
        return self._designs_by[key]

    def _make_designs(self, n: int, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
        t = np.arange(n) / rate_hz
        freqs = [f for f in self.FREQS_HZ if f < rate_hz / 2]
        if not freqs:
            return np.zeros((0, n, 3)), np.zeros((0, 3, n))
        design = np.stack([np.stack([np.ones(n), np.cos(2 * np.pi * f * t), np.sin(2 * np.pi * f * t)], axis=1)
                           for f in freqs])
        return design, np.linalg.pinv(design)


class LoadCellSettler:
    """Vectorised change detector over every cell of a store."""

    def __init__(self, cell_ids: tuple[str, ...], config: SettlerConfig | None = None) -> None:
        self.cell_ids = tuple(cell_ids)
        self.cfg = config or SettlerConfig()
        n = len(cell_ids)
        self.level = np.full(n, np.nan)
        self.sample_sd = np.full(n, 1.0)  # learned per cell from quiet batches
        self.active = np.zeros(n, dtype=bool)
        self.t_open = np.zeros(n)
        self.before = np.zeros(n)
        self.run_len = np.zeros(n, dtype=int)
        self.run_sum = np.zeros(n)
        self.run_t0 = np.zeros(n)
        self.last_med = np.full(n, np.nan)
        self.recent_mean = np.full(n, np.nan)  # batch medians averaged over the last second or so
        self.dead = np.zeros(n, dtype=bool)
        self.unreadable = np.zeros(n, dtype=bool)
        self._gap_start = np.full(n, np.nan)  # start of each cell's current unreadable run
        self.gaps: dict[str, list[tuple[float, float]]] = {}  # each cell's past unreadable runs (start, end)
        self._batches = 0

    def process(self, batch: LoadCellBatch) -> tuple[list[Settled], list[DeadCell]]:
        g = np.asarray(batch.grams, dtype=float)
        n_samples = g.shape[0]
        batch_s = n_samples / batch.rate_hz
        dead_now = np.isnan(g).any(axis=0) & ~self.dead
        deaths = [DeadCell(self.cell_ids[i], batch.t_s) for i in np.flatnonzero(dead_now)]
        self.dead |= dead_now
        with np.errstate(invalid="ignore"):
            g = np.where(g < -self.cfg.impossible_below_g, np.nan, g)
        self.unreadable = np.isnan(g).all(axis=0) & ~self.dead
        self._gap_start[self.unreadable & np.isnan(self._gap_start)] = batch.t_s
        for i in np.flatnonzero(~self.unreadable & np.isfinite(self._gap_start)):
            self.gaps.setdefault(self.cell_ids[i], []).append((float(self._gap_start[i]), batch.t_s))
            self._gap_start[i] = np.nan
        skip = self.dead | self.unreadable
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if np.isnan(g).any():
                med = np.nanmedian(g, axis=0)
                spread = np.nanstd(g, axis=0)
            else:
                med = np.median(g, axis=0)
                spread = np.std(g, axis=0)
        if self._batches < self.cfg.warmup_batches:
            # The store opens with nobody at the shelves: the first batches teach each cell its own noise (a
            # noisy cell would otherwise never look quiet enough to learn from).
            ok = ~skip & np.isfinite(spread)
            k = self._batches + 1.0
            self.sample_sd[ok] = np.maximum(0.5, self.sample_sd[ok] + (spread[ok] - self.sample_sd[ok]) / k)
        med_sd = np.maximum(self.sample_sd * 1.25 / np.sqrt(n_samples), 0.3)
        tol = np.maximum(2.0, 5.0 * med_sd)
        quiet = (spread < np.maximum(2.5, self.cfg.quiet_spread_sigmas * self.sample_sd)) & ~skip
        first = np.isnan(self.level) & ~skip
        self.level[first] = med[first]
        self.last_med[first] = med[first]
        out: list[Settled] = []
        live = ~skip
        # Resting cells: open an activity, or follow the drift.
        rest = live & ~self.active & ~first
        opening = rest & ((np.abs(med - self.level) > np.maximum(self.cfg.min_open_g, self.cfg.open_sigmas * med_sd)) | ~quiet)
        self.active |= opening
        self.t_open[opening] = batch.t_s
        self.before[opening] = self.level[opening]
        self.run_len[opening] = 0
        calm = rest & ~opening
        self.level[calm] += self.cfg.drift_alpha * (med[calm] - self.level[calm])
        learn = calm & quiet
        self.sample_sd[learn] = 0.98 * self.sample_sd[learn] + 0.02 * np.maximum(spread[learn], 0.5)
        # Active cells: wait for a run of agreeing quiet medians.
        act = live & self.active & ~opening
        run_mean = np.where(self.run_len > 0, self.run_sum / np.maximum(self.run_len, 1), np.nan)
        extend = act & quiet & (self.run_len > 0) & (np.abs(med - run_mean) < tol)
        restart = act & quiet & ~extend
        broken = act & ~quiet
        self.run_len[extend] += 1
        self.run_sum[extend] += med[extend]
        self.run_len[restart] = 1
        self.run_sum[restart] = med[restart]
        self.run_t0[restart] = batch.t_s
        self.run_len[broken] = 0
        need = max(1, int(round(self.cfg.settle_s / batch_s)))
        done = act & (self.run_len >= need)
        for i in np.flatnonzero(done):
            after = self.run_sum[i] / self.run_len[i]
            # A batch median's error is ~1.25 sample sds / sqrt(n); the after level averages run_len of them, the
            # before level is the drift follower's exponential average (variance x alpha / (2 - alpha)).
            med_var = (1.25 * self.sample_sd[i]) ** 2 / n_samples
            a = self.cfg.drift_alpha
            sd = float(np.sqrt(med_var / self.run_len[i] + med_var * a / (2.0 - a)))
            out.append(Settled(self.cell_ids[i], float(self.t_open[i]), float(self.run_t0[i]), float(self.before[i]), float(after), sd))
            self.level[i] = after
        self.active[done] = False
        self.last_med = np.where(live, med, self.last_med)
        fresh = live & np.isnan(self.recent_mean)
        self.recent_mean[fresh] = med[fresh]
        self.recent_mean[live] += RECENT_ALPHA * (med[live] - self.recent_mean[live])
        self._batches += 1
        return out, deaths

    def is_unreadable(self, cell: str) -> bool:
        return bool(self.unreadable[self.cell_ids.index(cell)])

    def hid_change(self, cell: str, t_s: float, now_s: float) -> bool:
        """Could the unreadable run covering `t_s` have hidden a change? Only if it lasted longer than a glitch
        (`glitch_s`): within a shorter one a take and a return would need two hand motions, and any one change
        shows as a step between the levels either side. A run still going counts up to `now_s`."""
        return any(a - 0.25 <= t_s <= b + 0.25 for a, b in self.unreadable_runs(cell, now_s))

    def unreadable_runs(self, cell: str, now_s: float) -> list[tuple[float, float]]:
        """The cell's unreadable runs longer than a glitch (`glitch_s`), a run still going up to `now_s`."""
        i = self.cell_ids.index(cell)
        runs = list(self.gaps.get(cell, ()))
        if np.isfinite(self._gap_start[i]):
            runs.append((float(self._gap_start[i]), now_s))
        return [(a, b) for a, b in runs if b - a > self.cfg.glitch_s]

    def busy(self, cell: str) -> bool:
        i = self.cell_ids.index(cell)
        return bool(self.active[i])


@dataclass
class _Open:
    t_start_s: float
    t_end_s: float
    baseline_g: float
    level_g: float
    peak_g: float = 0.0
    sd_g: float = 0.0


@dataclass
class ShelfEventConfig:
    interaction_fraction: float = 0.4  # a settle closer to the baseline than this x the lightest SKU is no event
    min_change_g: float = 6.0
    hold_s: float = 8.0  # an unexplained level is committed (flagged) after this long
    bridge_s: float = 2.0  # a cell still unsettled this long after its pair's summed load settled is bridged
    # Floor of a change's uncertainty, beyond the noise the cell's own samples show: a strain-gauge cell reads the
    # same load differently after each loading (repeatability 0.03 % of rated output on a typical cell's
    # datasheet, `../shared/REFERENCE.md`; the shelf plate's rated output is 20 kg, so 6 g taken as three sd: 2 g
    # per reading), and a change is the difference of two readings: 2 g x sqrt(2) = 2.8 g. (It was 1.5 g, a guess
    # for items settling and drift, which made a put-back item re-taken later look more like itself than the
    # cell can tell.)
    min_sd_g: float = 2.8
    # Neighbouring plates of one shelf feel a share of each other's load (cross-talk: ~1 % on strain-gauge shelves,
    # `../shared/REFERENCE.md`); a change no item explains, at most this share of a neighbour's change of the same
    # sign at the same time, is that change's echo, not an event.
    crosstalk_max: float = 0.05
    # A level that moved by less than an event (a touch, a lean's cross-talk echo) becomes the baseline; the level
    # before it is remembered this long, and an unexplained change that brings the load back to within an event of
    # it is that excursion ending (the lean beside it let go), not an event.
    excursion_s: float = 30.0


@dataclass
class ShelfEventDetector:
    """Baselines per bin, and the decision take/put-back vs interaction vs wait."""

    cell_ids: tuple[str, ...]
    min_item_g: float
    explains: Callable[[str, float], bool] = lambda bin_id, delta_g: True
    hand_in_bin: Callable[[str, float], bool] = lambda bin_id, t_s: False
    config: ShelfEventConfig = field(default_factory=ShelfEventConfig)
    neighbours: tuple[tuple[str, str], ...] = ()  # bins side by side on one shelf: an item can lie across them
    gondolas: tuple[str, ...] = ()  # each cell's gondola (`GondolaMode`); none: the batches are read as they come

    def __post_init__(self) -> None:
        self.settler = LoadCellSettler(self.cell_ids)
        self.mode = GondolaMode(self.gondolas) if self.gondolas else None
        self._open: dict[str, _Open] = {}
        self._baseline: dict[str, float] = {}
        self.dead: dict[str, float] = {}
        index = {c: i for i, c in enumerate(self.cell_ids)}
        self._pairs = tuple((a, b) for a, b in self.neighbours if a in index and b in index)
        self._beside: dict[str, tuple[str, ...]] = {}  # bin -> its neighbours on the shelf
        for a, b in self._pairs:
            self._beside[a] = self._beside.get(a, ()) + (b,)
            self._beside[b] = self._beside.get(b, ()) + (a,)
        self._pair_cols = (np.array([index[a] for a, _ in self._pairs], dtype=int), np.array([index[b] for _, b in self._pairs], dtype=int))
        self.pair_settler = LoadCellSettler(tuple(f"{a}+{b}" for a, b in self._pairs))
        self._pair_wait: dict[int, Settled] = {}  # pair -> its summed change, waiting to see if the cells settle
        self._bridged: dict[str, int] = {}  # bin -> the pair whose steady sum stands for it while its cell wanders
        self._changes: dict[str, tuple[float, float, float]] = {}  # bin -> its last committed change (t0, t1, grams)
        self._before: dict[str, tuple[float, float]] = {}  # bin -> (level before a sub-event shift, when it ended)

    def process(self, batch: LoadCellBatch) -> list:
        if self.mode is not None:
            batch = replace(batch, grams=self.mode.clean(np.asarray(batch.grams, dtype=float), batch.rate_hz))
        settled, deaths = self.settler.process(batch)
        out: list = []
        for d in deaths:
            self.dead[d.bin] = d.t_s
            self._open.pop(d.bin, None)
            out.append(d)
        for s in settled:
            out.extend(self._settle(s))
        t_now = batch.t_s + batch.grams.shape[0] / batch.rate_hz
        if self._pairs:
            out.extend(self._bridge(batch, t_now))
            for b, k in list(self._bridged.items()):
                if not any(self.settler.busy(c) for c in self._pairs[k]):
                    del self._bridged[b]  # both cells rest again: their own levels speak
        out.extend(self._recheck(t_now))
        return out

    def _bridge(self, batch: LoadCellBatch, t_now: float) -> list:
        """Summed loads of neighbouring pairs: commit a pair's settled change that its cells have not (see the
        module's point 3)."""
        g = np.asarray(batch.grams, dtype=float)
        sums = LoadCellBatch(batch.t_s, batch.rate_hz, self.pair_settler.cell_ids, g[:, self._pair_cols[0]] + g[:, self._pair_cols[1]])
        settled, _ = self.pair_settler.process(sums)
        for s in settled:
            k = self.pair_settler.cell_ids.index(s.bin)
            a, b = self._pairs[k]
            if any(self.settler.busy(c) and self.settler.t_open[self.cell_ids.index(c)] <= s.t_end_s for c in (a, b)):
                self._pair_wait[k] = s  # a cell of the pair was unsettled when the sum settled: wait and see
        out: list = []
        for k, s in list(self._pair_wait.items()):
            a, b = self._pairs[k]
            if a in self.dead or b in self.dead or not any(self.settler.busy(c) for c in (a, b)):
                del self._pair_wait[k]  # the cells settled (their own changes tell it), or one died
                continue
            if t_now - s.t_end_s < self.config.bridge_s or self.hand_in_bin(a, t_now) or self.hand_in_bin(b, t_now):
                continue
            del self._pair_wait[k]
            out.extend(self._commit_pair(k, s))
        return out

    def _commit_pair(self, k: int, s: Settled) -> list:
        a, b = self._pairs[k]
        for c in (a, b):
            self._bridged[c] = k
        delta = s.after_g - s.before_g
        if abs(delta) < self._least_event_g():
            return []
        moved = {c: abs(self._level(c) - self._base(c)) for c in (a, b)}
        bin_id = max((a, b), key=lambda c: moved[c])
        self._baseline[bin_id] = self._base(bin_id) + delta
        if bin_id in self._open:
            self._open[bin_id].baseline_g += delta
        sd = max(self.config.min_sd_g, s.sd_g)
        return [WeightChange(bin_id, s.t_start_s, s.t_end_s, delta, sd, explained=self.explains(bin_id, delta))]

    def _neighbour_leant_on(self, bin_id: str, delta: float) -> bool:
        """Is a neighbour on the shelf (`neighbours`) carrying a load no item explains, heavier than this change —
        someone leaning on it — right now? Neighbouring plates of one shelf feel a share of each other's load
        (cross-talk, `crosstalk_max`), so a level read during a lean beside the bin is off by a share of the lean:
        the change waits (up to `hold_s`) for the lean to end and the level to come back. (A neighbour's lighter
        unexplained change may be this change's own echo.)"""
        for other in self._beside.get(bin_id, ()):
            if other in self.dead:
                continue
            op = self._open.get(other)
            if op is not None:
                d = op.level_g - op.baseline_g
            elif self.settler.busy(other):  # still moving: where its load is lately
                d = self._level(other) - self._base(other)
            else:
                continue
            if abs(d) >= max(self._least_event_g(), abs(delta)) and not self.explains(other, d):
                return True
        return False

    def _least_event_g(self) -> float:
        """A change smaller than this is no item moved (a touch, a lean that came back)."""
        return max(self.config.min_change_g, self.config.interaction_fraction * self.min_item_g)

    def _base(self, bin_id: str) -> float:
        op = self._open.get(bin_id)
        if op is not None:
            return op.baseline_g
        i = self.cell_ids.index(bin_id)
        return self._baseline.get(bin_id, float(self.settler.before[i] if self.settler.active[i] else self.settler.level[i]))

    def _level(self, bin_id: str) -> float:
        """Where a wandering cell's load is, on average, lately: the mean of its recent batch medians."""
        return float(self.settler.recent_mean[self.cell_ids.index(bin_id)])

    def flush(self, t_now_s: float) -> list:
        """End of stream: commit whatever is still open."""
        out = self._recheck(t_now_s, force=True)
        return out

    def pending(self) -> list[str]:
        """Bins with an undecided change (open, or the cell still moving away from where it rested)."""
        return sorted(self.pending_since())

    def pending_since(self) -> dict[str, float]:
        """Per bin with an undecided change: when it began (the earliest open level or cell activity).

        A cell still moving whose load lately (`recent_mean`, the last second or so) is within half an event of
        where it rested before is shaking, not changing: a loaded plate rings for seconds while people walk past
        its gondola, and no item has moved. It is not undecided; if it settles somewhere else later, that change is
        decided then."""
        s = self.settler
        with np.errstate(invalid="ignore"):
            moved = ~(np.abs(s.recent_mean - s.before) < self._least_event_g() / 2)
        out = {c: float(t) for c, a, m, t in zip(self.cell_ids, s.active, moved, s.t_open) if a and m}
        for b, op in self._open.items():
            out[b] = min(out.get(b, op.t_start_s), op.t_start_s)
        for b, k in self._bridged.items():  # a bridged cell wanders while the pair's sum holds: only the sum counts
            out.pop(b, None)
            if self.pair_settler.active[k]:
                out[b] = float(self.pair_settler.t_open[k])
        for k, s in self._pair_wait.items():
            for b in self._pairs[k]:
                out[b] = min(out.get(b, s.t_start_s), s.t_start_s)
        return out

    def _settle(self, s: Settled) -> list:
        if s.bin not in self._baseline:
            self._baseline[s.bin] = s.before_g
        t_start = s.t_start_s
        k = self._bridged.get(s.bin)
        if k is not None:
            # The cell has wandered since long before; what is new began when the pair's sum last moved (if it
            # did not, the item across the gap just came to rest).
            t_start = max(t_start, float(self.pair_settler.t_open[k]) if self.pair_settler.active[k] else s.t_end_s)
        op = self._open.get(s.bin)
        out: list = []
        if op is not None and k is None and self._further(s.bin, op, s.after_g):
            out.append(self._commit(s.bin, op, explained=True))
            op = None
        if op is None:
            op = _Open(t_start, s.t_end_s, self._baseline[s.bin], s.after_g)
            self._open[s.bin] = op
        elif k is not None:
            op.t_start_s = max(op.t_start_s, t_start)
        # A change held open (a hand still in the bin, a lean beside it) whose cell moved and came back to the
        # level it had reached ended when it reached it: the load stepped then, and whoever's hands came and went
        # while the plate shook or a hand rested on the items did not move it. Only a new level moves its end (and
        # an end a bridged pair's later start has passed).
        if abs(s.after_g - op.level_g) >= self._least_event_g() / 2 or op.t_end_s < op.t_start_s:
            op.t_end_s = s.t_end_s
        op.level_g = s.after_g
        op.sd_g = s.sd_g
        op.peak_g = max(op.peak_g, abs(s.after_g - op.baseline_g))
        return out + self._decide(s.bin, s.t_end_s, force=False)

    def _further(self, bin_id: str, op: "_Open", level_g: float) -> bool:
        """Is this new level a second step beyond a held change (the same way, an event's size or more) that
        items already explain on its own? Then they are two events: a second take while hands kept the first open
        is no part of it, and merged they would be judged over both times and everyone at the bin in between.
        (A level coming back, a hand pressing on the items, a lean ending, goes the other way: still one.)"""
        first, more = op.level_g - op.baseline_g, level_g - op.level_g
        return (first * more > 0 and abs(more) >= self._least_event_g() and abs(first) >= self._least_event_g()
                and self.explains(bin_id, first))

    def _recheck(self, t_now: float, force: bool = False) -> list:
        out = []
        for bin_id in list(self._open):
            if self.settler.busy(bin_id) and not force:
                continue
            out.extend(self._decide(bin_id, t_now, force=force))
        return out

    def _decide(self, bin_id: str, t_now: float, force: bool) -> list:
        op = self._open[bin_id]
        delta = op.level_g - op.baseline_g
        if abs(delta) < self._least_event_g():
            return self._no_event(bin_id, op)
        if not force and self.hand_in_bin(bin_id, t_now):
            return []
        if not force and t_now - op.t_end_s < self.config.hold_s and self._neighbour_leant_on(bin_id, delta):
            return []
        explained = self.explains(bin_id, delta)
        if not explained and self._echo(bin_id, op, delta):
            return self._no_event(bin_id, op)
        if not explained and self._back(bin_id, op):
            return self._no_event(bin_id, op, remember=False)
        if not explained and not force and (t_now - op.t_end_s < self.config.hold_s or bin_id in self._bridged):
            return []
        return [self._commit(bin_id, op, explained)]

    def _commit(self, bin_id: str, op: "_Open", explained: bool) -> WeightChange:
        del self._open[bin_id]
        delta = op.level_g - op.baseline_g
        self._baseline[bin_id] = op.level_g
        self._before.pop(bin_id, None)  # an event moved the load: the level before an earlier shift is moot
        self._changes[bin_id] = (op.t_start_s, op.t_end_s, delta)
        sd = max(self.config.min_sd_g, op.sd_g)
        return WeightChange(bin_id, op.t_start_s, op.t_end_s, delta, sd, explained=explained)

    def _no_event(self, bin_id: str, op: "_Open", remember: bool = True) -> list:
        """No item moved: the level is the new baseline, and (`remember`) the one before a shift of it is kept
        (`excursion_s`, the earliest while it lasts)."""
        del self._open[bin_id]
        before = self._before.get(bin_id)
        if not remember:
            self._before.pop(bin_id, None)
        elif abs(op.level_g - op.baseline_g) >= self._least_event_g() / 2 and (before is None or op.t_end_s - before[1] > self.config.excursion_s):
            self._before[bin_id] = (op.baseline_g, op.t_end_s)
        self._baseline[bin_id] = op.level_g
        return [Interaction(bin_id, op.t_start_s, op.t_end_s, op.peak_g)]

    def _back(self, bin_id: str, op: "_Open") -> bool:
        """Does this change bring the load back to within an event of where it was before a recent sub-event shift
        (`excursion_s`)? Then, measured from before that shift, nothing happened: the shift has ended."""
        before = self._before.get(bin_id)
        return (before is not None and op.t_start_s - before[1] <= self.config.excursion_s
                and abs(op.level_g - before[0]) < self._least_event_g())

    def _echo(self, bin_id: str, op: "_Open", delta: float) -> bool:
        """Is this change the cross-talk of a neighbour's (`crosstalk_max`): same sign, at the same time (the
        neighbour's still open, or committed over an overlapping time), at least 1/crosstalk_max times larger?"""
        for other in self._beside.get(bin_id, ()):
            near = self._open.get(other)
            if near is not None:
                span, d = (near.t_start_s, near.t_end_s), near.level_g - near.baseline_g
            elif other in self._changes:
                t0, t1, d = self._changes[other]
                span = (t0, t1)
            else:
                continue
            if span[0] - 0.5 <= op.t_end_s and op.t_start_s <= span[1] + 0.5 and d * delta > 0 \
                    and abs(delta) <= self.config.crosstalk_max * abs(d):
                return True
        return False
