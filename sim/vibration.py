"""What a shelf's plates get from the store around them, not from their own gauge: the gondola's structural
vibration (footfalls nearby, a hand or body pushing on it) and cross-talk between the plates of one shelf.
`sim.loadcell.LoadCellRig` adds both to its readings; `StoreMotion` reads what shakes the gondolas from the
physics (the sim's side: positions, speeds and contact forces are truth, never in the stream).

Vibration. A plate's cell reads the inertial force of what it holds: (plate + load) x a / g, with `a` the
vertical acceleration of its gondola's structure. Each gondola is one resonant mode (a damped 2nd-order
oscillator driven by white noise, sampled at the cell rate, `vibration_mode_hz`, `vibration_damping`), so the
error is band-limited and shared by every plate of the gondola, each plate with its own coupling to the
mode (drawn once, uniform in `COUPLING_RANGE`). The mode's RMS follows what drives it, sources adding in power:
- each person walking near the gondola: `vibration_walk_mg` at 1 m and `WALK_REF_MS`, growing with pace as
  footfall impulses do (`WALK_PACE_EXPONENT`), falling with distance to the gondola's footprint as Bornitz's
  ground-vibration law has it (geometric spreading sqrt(1 / d) times material damping exp(-d / falloff));
- a shopper's body or hand in contact with the gondola (its frame or any of its plates: a lean):
  `vibration_contact_mg_per_n` per newton of contact force.

Slow cells. A cell slower than twice the mode (an HX711 at its usual 10 samples/s, REFERENCE.md, under the
default 8 Hz mode) still reads it, as an ADC that integrates over each sample period does: the samples ring at
the alias |f - rate x round(f / rate)| (8 Hz at 10 Hz: 2 Hz) with the structure's decay per second unchanged,
and the mode's RMS is scaled by the window's gain |sinc(f / rate)| (0.23 at 8 Hz and 10 Hz). Where the alias
nears 0 Hz the gain nears 0 too (the window holds whole cycles) and the decay keeps the mode stationary, so
the alias needs no floor. The window is one sample period: an ADC filter spanning several (the HX711 settles
in 4) attenuates more, so this is the most that gets through. Below half the rate the gain is taken as 1 (the
RMS settings are what such a cell reads), so it steps from 1 to 0.64 as the rate falls through twice the mode.

Cross-talk. A plate's load bends the shelf board its neighbours' cells are bolted to: `crosstalk_pct` of each
plate's load appears on each neighbour on the same shelf (index +-1), nothing on other shelves.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import pybullet as pb

from sim.layout import FACINGS, Gondola, LoadCellSettings

if TYPE_CHECKING:
    from sim.gates import Person
    from sim.world import StoreWorld

# Footfall impulse grows as pace^1.43 (CCIP-016's effective impulse, 54 f_p^1.43 / f_n^1.3 N s; second-hand);
# pace taken in proportion to speed.
WALK_PACE_EXPONENT = 1.43
WALK_REF_MS = 1.3  # the walking speed `vibration_walk_mg` is given at (shoppers walk 1.2-1.4 m/s: agents.shopper)
WALK_REF_M = 1.0  # the distance it is given at
NEAREST_M = 0.3  # a foot is never nearer a gondola's footprint than this, for the geometric spreading
# A plate's coupling to its gondola's mode: where it sits on the frame. Our estimate (mode shapes of a
# shelving bay); a triaxial accelerometer on each plate of one bay under footfalls would fit it.
COUPLING_RANGE = (0.5, 1.0)

PlatePlace = tuple[str, int, int]  # (gondola, shelf, index): where a plate sits (`sim.layout.Bin`)


@dataclass(frozen=True)
class Excitation:
    """What shakes the gondolas at one sample. `walker_distance_m`: (gondolas, people) distance from each person
    to each gondola's footprint; `walker_speed_ms`: (people,) their floor speed; `contact_n`: (gondolas,) the
    normal force of shoppers' bodies and hands on each gondola (frame and plates)."""

    gondolas: tuple[str, ...]
    walker_distance_m: np.ndarray
    walker_speed_ms: np.ndarray
    contact_n: np.ndarray


class GondolaVibration:
    """One resonant mode per gondola; `error_g(excitation, mass_g)` steps every mode by one cell sample and
    returns each plate's inertial error in grams (`mass_g`: plate and load on each cell). At or above half the
    cell rate the mode is what an integrating ADC delivers (module docstring): `sampled_hz` the alias the
    samples show, `window_gain` the share of the mode's RMS they keep (1 below half the rate)."""

    def __init__(self, settings: LoadCellSettings, places: Sequence[PlatePlace], rng: np.random.Generator) -> None:
        s = settings
        self._s = s
        self.gondolas = tuple(dict.fromkeys(p[0] for p in places))
        self._of_cell = np.array([self.gondolas.index(p[0]) for p in places], dtype=int)
        self._rng = rng
        self.coupling = rng.uniform(*COUPLING_RANGE, len(places))
        dt = 1.0 / s.rate_hz
        w = 2.0 * math.pi * s.vibration_mode_hz
        r = math.exp(-s.vibration_damping * w * dt)
        theta = w * math.sqrt(1.0 - s.vibration_damping ** 2) * dt
        ring_hz = theta / (2.0 * math.pi * dt)  # the damped mode's frequency
        self.window_gain = 1.0  # what one sample's averaging window passes of the mode's RMS
        self.sampled_hz = ring_hz  # the frequency the samples show
        if s.vibration_mode_hz >= s.rate_hz / 2:
            self.sampled_hz = abs(ring_hz - s.rate_hz * round(ring_hz / s.rate_hz))
            self.window_gain = abs(float(np.sinc(ring_hz / s.rate_hz)))
            theta = 2.0 * math.pi * self.sampled_hz * dt  # the decay r stays the structure's, per second
        self._a1, self._a2 = 2.0 * r * math.cos(theta), -r * r
        # stationary variance of the AR(2) under unit drive: the drive is scaled so the mode's RMS is the target
        a1, a2 = self._a1, self._a2
        self._unit_var = (1.0 - a2) / ((1.0 + a2) * ((1.0 - a2) ** 2 - a1 * a1))
        self._y = np.zeros((2, len(self.gondolas)))  # the mode's last two accelerations, mg
        self._cols: np.ndarray | None = None

    def rms_mg(self, ex: Excitation) -> np.ndarray:
        """The RMS acceleration each gondola's mode is driven to (mg), in `self.gondolas` order."""
        s = self._s
        d = np.maximum(ex.walker_distance_m, NEAREST_M)
        pace = (np.maximum(ex.walker_speed_ms, 0.0) / WALK_REF_MS) ** WALK_PACE_EXPONENT
        walk = s.vibration_walk_mg * pace * np.sqrt(WALK_REF_M / d) * np.exp(-(d - WALK_REF_M) / s.vibration_falloff_m)
        power = (walk ** 2).sum(axis=1) + (s.vibration_contact_mg_per_n * ex.contact_n) ** 2
        return np.sqrt(power)[self._columns(ex)]

    def step(self, ex: Excitation) -> np.ndarray:
        """Advance every gondola's mode by one sample; its acceleration now (mg)."""
        sampled_rms_mg = self.rms_mg(ex) * self.window_gain
        drive = sampled_rms_mg / math.sqrt(self._unit_var) * self._rng.standard_normal(len(self.gondolas))
        y = self._a1 * self._y[0] + self._a2 * self._y[1] + drive
        self._y = np.vstack([y, self._y[0]])
        return y

    def error_g(self, ex: Excitation, mass_g: np.ndarray) -> np.ndarray:
        return self.coupling * mass_g * self.step(ex)[self._of_cell] / 1000.0

    def _columns(self, ex: Excitation) -> np.ndarray:
        if self._cols is None:
            missing = set(self.gondolas) - set(ex.gondolas)
            assert not missing, f"excitation lacks gondolas {sorted(missing)}"
            self._cols = np.array([ex.gondolas.index(g) for g in self.gondolas], dtype=int)
        return self._cols


class CrossTalk:
    """`apply(w)`: each plate's load plus `share` of its same-shelf neighbours' loads (index +-1)."""

    def __init__(self, places: Sequence[PlatePlace], share: float) -> None:
        n = len(places)
        at = {p: j for j, p in enumerate(places)}
        self._m = np.eye(n)
        for j, (g, shelf, k) in enumerate(places):
            for nb in ((g, shelf, k - 1), (g, shelf, k + 1)):
                if nb in at:
                    self._m[j, at[nb]] = share
        self.active = share > 0 and n > 1

    def apply(self, w: np.ndarray) -> np.ndarray:
        return self._m @ w if self.active else w


class StoreMotion:
    """The physics' side: each call reads who walks where how fast, and who presses on which gondola."""

    def __init__(self, gondolas: Sequence[Gondola], world: "StoreWorld", people: Callable[[], list["Person"]],
                 period_s: float) -> None:
        self.gondolas = tuple(g.id for g in gondolas)
        self._centre = np.array([g.at for g in gondolas], dtype=float)
        self._facing = np.array([FACINGS[g.facing] for g in gondolas], dtype=float)
        self._half = np.array([(g.depth_m / 2, g.length_m / 2) for g in gondolas], dtype=float)
        self._world = world
        self._people = people
        self._period_s = period_s
        self._last_xy: dict[str, tuple[float, float]] = {}

    def __call__(self) -> Excitation:
        here = {p.shopper: p.xy for p in self._people() if p.xy is not None}
        xy = np.array(list(here.values()), dtype=float).reshape(-1, 2)
        speed = np.array([math.dist(here[k], self._last_xy[k]) / self._period_s if k in self._last_xy else 0.0
                          for k in here])
        self._last_xy = here
        return Excitation(self.gondolas, self._distances(xy), speed, self._contact_n())

    def _distances(self, xy: np.ndarray) -> np.ndarray:
        """(gondolas, people): distance from each point to each gondola's footprint rectangle."""
        rel = xy[None, :, :] - self._centre[:, None, :]
        fx, fy = self._facing[:, 0:1], self._facing[:, 1:2]
        depth_dir = rel[..., 0] * fx + rel[..., 1] * fy
        along = rel[..., 0] * -fy + rel[..., 1] * fx
        out_d = np.maximum(np.abs(depth_dir) - self._half[:, 0:1], 0.0)
        out_l = np.maximum(np.abs(along) - self._half[:, 1:2], 0.0)
        return np.hypot(out_d, out_l)

    def _contact_n(self) -> np.ndarray:
        w = self._world
        of = w.gondola_of_body
        force = dict.fromkeys(self.gondolas, 0.0)
        for body in sorted(w.dynamic_bodies):
            if w.item_at(body) is not None:  # an item once carried, maybe put back on a plate: not a shopper
                continue
            for c in pb.getContactPoints(bodyA=body, physicsClientId=w.client):
                g = of.get(c[2])
                if g is not None:
                    force[g] += max(c[9], 0.0)
        return np.array([force[g] for g in self.gondolas])
