"""Shelf load cells: one per bin plate, read from the physics force on the plate.

Device modelled (defaults in `sim.layout.LoadCellSettings`): the AiFi
AutoCheckout shelf plate — a 20 kg single-point strain-gauge cell on a 24-bit
ADC, sampled at 60 Hz and sent in batches of 12 samples. The physics gives the
force the plate's spring (a stiff prismatic joint) holds; the device adds a
zero that wanders (random walk: after one minute its spread is
`drift_g_per_min`, growing as the square root of time, as creep and
temperature do), white noise `noise_g` per sample, quantisation to
`resolution_g`, saturation at `capacity_g`, and faults: a cell dead from the
opening (`dead`), for a while (`outages`: cell, from, to in sim seconds) or
from a moment on (`kill()` at run time) reports NaN and the run goes on. Cells are tared at installation: a plate with nothing on it reads 0.

The strain gauge's own errors, from a typical cell's datasheet in % of rated output RO = `capacity_g`
(REFERENCE.md), on the tared load w (u = w / RO):
- non-linearity `nonlinearity_pct`: a bow through 0 and RO, 4 u (1 - u) of the figure (4 g at 10 kg);
- hysteresis `hysteresis_pct`: the reading lags the load, low while it rises, high while it falls; the
  loop is that wide at mid-scale, 4 u (1 - u) of it elsewhere (a Duhem model: each gram of change moves the
  state 1/(5 % RO) of the way to its branch);
- repeatability `repeatability_pct`: the same load read after each change of more than 5 g differs by a
  fresh offset of sd one third of the figure (2 g);
- creep `creep_pct_30min`: under a steady load the reading creeps up by that share of it in 30 min,
  exponentially with a 10-min time constant, and recovers as slowly when the load goes (the shelf was
  stocked long before opening: the episode starts crept, on the loading branch).
The store around a plate adds two more (`sim.vibration`): cross-talk from its same-shelf neighbours' loads
(`crosstalk_pct`, on the load the gauge reads) and its gondola's structural vibration (footfalls nearby, a
lean; band-limited, shared by the gondola's plates), on the reading, before the white noise. The rig knows
where each plate sits (`places`) and gets what shakes the gondolas from `read_excitation` (the physics).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from sim.clock import Clock
from sim.layout import LoadCellSettings
from sim.stream import LoadCellBatch
from sim.vibration import CrossTalk, Excitation, GondolaVibration, PlatePlace

GRAVITY_MS2 = 9.81
HYSTERESIS_SPAN = 0.05  # of RO: the load change that carries the hysteresis state most of the way to its branch
REPEAT_STEP_G = 5.0  # a change of load larger than this is a new loading: a fresh repeatability offset
REPEAT_SD_OF_SPEC = 1.0 / 3.0  # the datasheet's repeatability is a spread of readings: three sd
CREEP_TAU_S = 600.0  # creep's time constant: after 30 min it reaches the datasheet's figure, 95 % of its steady value


class LoadCellRig:
    """Every load cell of the store, sampled together on their common period."""

    def __init__(
        self,
        cell_ids: list[str],
        settings: LoadCellSettings,
        clock: Clock,
        rng: np.random.Generator,
        read_forces_n: Callable[[], np.ndarray],
        tare_n: np.ndarray,
        *,
        places: Sequence[PlatePlace] | None = None,
        read_excitation: Callable[[], Excitation] | None = None,
    ) -> None:
        """`places`: (gondola, shelf, index) of each cell, for cross-talk and vibration (None: every plate on a
        shelf and gondola of its own). `read_excitation`: what shakes the gondolas now (None: nothing does)."""
        self.cell_ids = tuple(cell_ids)
        self.settings = settings
        self.period_ticks = clock.period_ticks(1.0 / settings.rate_hz, "load_cells.rate_hz")
        self._clock = clock
        self._rng = rng
        self._read = read_forces_n
        self._tare_n = np.asarray(tare_n, dtype=float)
        self._zero_g = np.zeros(len(cell_ids))
        self._dead = np.zeros(len(cell_ids), dtype=bool)
        self._index = {c: i for i, c in enumerate(self.cell_ids)}
        for cell in settings.dead:
            self.kill(cell)
        self._outages = []
        for cell, start_s, end_s in settings.outages:
            if cell not in self._index:
                raise ValueError(f"load_cells.outages: no load cell '{cell}'")
            self._outages.append((self._index[cell], start_s, end_s))
        self._buffer: list[np.ndarray] = []
        self._buffer_t0 = 0.0
        self._step_sd = settings.drift_g_per_min * np.sqrt(1.0 / settings.rate_hz / 60.0)
        self._gauge = StrainGauge(settings, len(cell_ids), rng)
        places = list(places) if places is not None else [(c, 1, 1) for c in self.cell_ids]
        assert len(places) == len(cell_ids), "one place per cell"
        self._crosstalk = CrossTalk(places, settings.crosstalk_pct / 100.0)
        self._read_excitation = read_excitation
        # its own stream, spawned from the rig's: the other errors draw the same numbers with or without it
        self._vibration = GondolaVibration(settings, places, rng.spawn(1)[0]) if read_excitation else None
        self._plate_g = self._tare_n / GRAVITY_MS2 * 1000.0

    def kill(self, cell_id: str) -> None:
        """A runtime fault: the cell stops reporting (NaN) from now on."""
        if cell_id not in self._index:
            raise KeyError(f"no load cell '{cell_id}'")
        self._dead[self._index[cell_id]] = True

    def true_grams(self) -> np.ndarray:
        """Noise-free tared reading of every plate (what a perfect cell would show)."""
        return (self._read() - self._tare_n) / GRAVITY_MS2 * 1000.0

    def sample(self) -> list[LoadCellBatch]:
        """Take one sample of every cell; return a batch when `batch` samples are buffered."""
        s = self.settings
        n = len(self.cell_ids)
        if not self._buffer:
            self._buffer_t0 = self._clock.t_s
        if self._step_sd > 0:
            self._zero_g += self._rng.normal(0.0, self._step_sd, n)
        true_g = self.true_grams()
        grams = self._gauge.read(self._crosstalk.apply(true_g)) + self._zero_g
        if self._vibration is not None:
            grams = grams + self._vibration.error_g(self._read_excitation(), self._plate_g + true_g)
        if s.noise_g > 0:
            grams = grams + self._rng.normal(0.0, s.noise_g, n)
        if s.resolution_g > 0:
            grams = np.round(grams / s.resolution_g) * s.resolution_g
        grams = np.clip(grams, -s.capacity_g, s.capacity_g)
        grams[self._dead] = np.nan
        t = self._clock.t_s
        for j, start_s, end_s in self._outages:
            if start_s <= t < end_s:
                grams[j] = np.nan
        self._buffer.append(grams)
        if len(self._buffer) >= s.batch:
            return [self._emit()]
        return []

    def flush(self) -> list[LoadCellBatch]:
        return [self._emit()] if self._buffer else []

    def _emit(self) -> LoadCellBatch:
        arr = np.vstack(self._buffer)
        arr.setflags(write=False)
        self._buffer = []
        return LoadCellBatch(t_s=self._buffer_t0, rate_hz=self.settings.rate_hz, cell_ids=self.cell_ids, grams=arr)


class StrainGauge:
    """A cell's own errors on its load (non-linearity, hysteresis, repeatability, creep; see the module), with
    their state, one value per cell. `read(w)` takes the true tared loads of one sample and returns readings."""

    def __init__(self, settings: LoadCellSettings, n: int, rng: np.random.Generator) -> None:
        ro = float(settings.capacity_g)
        self._ro = ro
        self._nl = settings.nonlinearity_pct / 100.0 * ro
        self._hyst = settings.hysteresis_pct / 100.0 * ro
        self._repeat_sd = settings.repeatability_pct / 100.0 * ro * REPEAT_SD_OF_SPEC
        # steady creep for a load w: k w, reached as 1 - exp(-t / tau); the datasheet's figure at 30 min
        self._creep_k = settings.creep_pct_30min / 100.0 / (1.0 - np.exp(-1800.0 / CREEP_TAU_S))
        self._creep_step = 1.0 / settings.rate_hz / CREEP_TAU_S
        self._rng = rng
        self._n = n
        self._last: np.ndarray | None = None  # the load of the previous sample
        self._h = np.zeros(n)
        self._creep = np.zeros(n)
        self._repeat = np.zeros(n)
        self._repeat_at = np.zeros(n)

    @property
    def active(self) -> bool:
        return bool(self._nl or self._hyst or self._repeat_sd or self._creep_k)

    def read(self, w: np.ndarray) -> np.ndarray:
        if not self.active:
            return w
        u = np.clip(w / self._ro, 0.0, 1.0)
        bow = 4.0 * u * (1.0 - u)
        half_loop = 0.5 * self._hyst * bow
        if self._last is None:  # stocked before opening: on the rising branch, crept, one offset drawn
            self._h = -half_loop
            self._creep = self._creep_k * w
            if self._repeat_sd:
                self._repeat = self._rng.normal(0.0, self._repeat_sd, self._n)
            self._repeat_at = w.copy()
        else:
            dw = w - self._last
            if self._hyst:
                share = np.minimum(np.abs(dw) / (HYSTERESIS_SPAN * self._ro), 1.0)
                self._h += share * (-np.sign(dw) * half_loop - self._h)
                np.clip(self._h, -half_loop, half_loop, out=self._h)
            if self._creep_k:
                self._creep += (self._creep_k * w - self._creep) * self._creep_step
            moved = np.abs(w - self._repeat_at) > REPEAT_STEP_G
            if moved.any():
                if self._repeat_sd:
                    self._repeat[moved] = self._rng.normal(0.0, self._repeat_sd, int(moved.sum()))
                self._repeat_at[moved] = w[moved]
        self._last = w.copy()
        return w + self._nl * bow + self._h + self._creep + self._repeat
