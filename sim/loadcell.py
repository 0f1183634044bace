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
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from sim.clock import Clock
from sim.layout import LoadCellSettings
from sim.stream import LoadCellBatch

GRAVITY_MS2 = 9.81


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
    ) -> None:
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
        grams = self.true_grams() + self._zero_g
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
