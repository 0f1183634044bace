"""What the store around a plate adds to its readings (sim.vibration), read back from the load-cell stream:
footfalls nearby and a lean shake a gondola's plates together, in a band; a plate's load shows on its
neighbours on the same shelf."""
from __future__ import annotations

import numpy as np
import pytest

from sim.clock import Clock
from sim.layout import LoadCellSettings, load_store
from sim.loadcell import GRAVITY_MS2, LoadCellRig
from sim.simulation import Simulation
from sim.stream import LoadCellBatch
from sim.vibration import Excitation, GondolaVibration
from tests.conftest import STORES

# tiny_store: gondola A's front is the line x = 2.55 (facing west), y 1.8-4.2; B is back to back with it, facing
# east. A-1-1 and A-1-3 hold 2.1 kg each, B-1-2 2.1 kg.
GAUGE_OFF = {"nonlinearity_pct": 0.0, "hysteresis_pct": 0.0, "repeatability_pct": 0.0, "creep_pct_30min": 0.0}


class _Pacer:
    """A test actor: a point walking up and down a line along gondola A's front, `off_m` from it, at 1.3 m/s."""

    def __init__(self, off_m: float) -> None:
        self.id, self.account, self.k, self.x = f"walker-{off_m}", "acct", 0, 2.55 - off_m

    def act(self, sim) -> None:
        self.k += 1

    def position(self) -> tuple[float, float]:
        s = (1.3 * self.k / 120.0) % 4.8  # 2.4 m up, 2.4 m down
        return (self.x, 1.8 + (s if s < 2.4 else 4.8 - s))

    @property
    def done(self) -> bool:
        return False


def _stream(actors: list, seconds: float = 6.0, seed: int = 0, **cells) -> tuple[list[str], np.ndarray]:
    """The cell ids and readings (samples x cells) of tiny_store with these actors, cameras off."""
    layout = load_store(STORES / "tiny_store.yaml").with_sensors({"load_cells": cells}) if cells else \
        load_store(STORES / "tiny_store.yaml")
    sim = Simulation(layout, seed, cameras=False)
    for a in actors:
        sim.add_actor(a)
    out = [m.grams for m in sim.run(seconds, stop_when_done=False) if isinstance(m, LoadCellBatch)]
    cells_ids = list(sim.load_cells.cell_ids)
    sim.close()
    return cells_ids, np.vstack(out)


def _wiggle(x: np.ndarray) -> np.ndarray:
    """A steady load's readings less their mean: what moves."""
    return x - x.mean(axis=0)


def test_a_walker_near_a_gondola_shakes_its_plates_and_less_so_from_further_away():
    cells, empty = _stream([], seconds=10.0)  # one seed: the device's own noise is the same draw in all three
    _, near = _stream([_Pacer(0.5)], seconds=10.0)
    _, far = _stream([_Pacer(3.0)], seconds=10.0)
    j = cells.index("A-1-1")
    v_empty, v_near, v_far = (_wiggle(x[60:, j]).var() for x in (empty, near, far))
    assert v_empty < 2.0  # 1 g white noise and 1 g steps: the device alone
    assert v_near > 5 * v_empty  # footfalls at 0.5 m: several grams RMS on 3.3 kg of plate and cans
    assert v_empty < v_far < v_near / 4  # 3 m away: spreading and damping take most of it


def test_leaning_on_a_gondola_shakes_its_other_plates_far_more_than_walking_past():
    from agents import build_simulation
    from agents.scenario import Scenario

    sc = Scenario("lean", str(STORES / "tiny_store.yaml"), duration_s=40.0)
    sc.add_shopper("ann").lean("A-2-3", seconds=4.0)
    sim = build_simulation(sc, cameras=False)
    batches = [m for m in sim.run(sc.duration_s) if isinstance(m, LoadCellBatch)]
    (lean,) = sim.ledger.events_of("lean")
    cells = list(sim.load_cells.cell_ids)
    sim.close()
    g = np.vstack([b.grams for b in batches])
    t = np.concatenate([b.t_s + np.arange(len(b.grams)) / b.rate_hz for b in batches])
    j = cells.index("A-1-1")  # another shelf of the leaned-on gondola: nothing pressed on it

    def window_var(t0: float) -> float:
        return float(_wiggle(g[(t >= t0) & (t < t0 + 1.0), j]).var())

    leaning = min(window_var(lean.t_s + 0.6 + k) for k in range(3))  # the force ramps up over 0.4 s
    walking = max(window_var(s) for s in np.arange(1.0, lean.t_s - 2.0, 0.5))  # walking in, past, up to the bin
    assert leaning > 10 * walking
    assert leaning > 40.0  # a 35 N lean drives the mode to 10 mg: on 3.3 kg of plate and cans, ten grams or more RMS


def test_the_vibration_is_one_band_limited_motion_per_gondola():
    cells, g = _stream([_Pacer(0.4)], seconds=20.0, noise_g=0.2, resolution_g=0.0)
    w = _wiggle(g[60:])
    a1, a3, b2 = (w[:, cells.index(c)] for c in ("A-1-1", "A-1-3", "B-1-2"))
    same = np.corrcoef(a1, a3)[0, 1]
    other = np.corrcoef(a1, b2)[0, 1]
    assert same > 0.95  # one structure: its plates move together
    assert abs(other) < 0.4  # the gondola behind is another structure (a narrow band: few cycles to average)
    lag1 = np.corrcoef(a1[1:], a1[:-1])[0, 1]
    assert lag1 > 0.4  # an 8 Hz mode sampled at 60 Hz, not white noise
    _, quiet = _stream([], seconds=8.0)
    q = _wiggle(quiet[60:, cells.index("A-1-1")])
    assert abs(np.corrcoef(q[1:], q[:-1])[0, 1]) < 0.2  # white noise alone is not correlated in time


def test_the_same_seed_shakes_the_same_way():
    a = _stream([_Pacer(0.5)], seconds=2.0, seed=4)[1]
    b = _stream([_Pacer(0.5)], seconds=2.0, seed=4)[1]
    c = _stream([_Pacer(0.5)], seconds=2.0, seed=5)[1]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_a_plate_s_load_shows_on_its_neighbours_on_the_same_shelf_only():
    s = LoadCellSettings(noise_g=0.0, resolution_g=0.0, drift_g_per_min=0.0, **GAUGE_OFF)
    places = [("A", 1, 1), ("A", 1, 2), ("A", 1, 3), ("A", 2, 2), ("B", 1, 2)]
    cells = ["A-1-1", "A-1-2", "A-1-3", "A-2-2", "B-1-2"]
    loads = np.zeros((20, 5))
    loads[10:, 1] = 5000.0  # 5 kg put on A-1-2
    clock, k = Clock(), [0]
    rig = LoadCellRig(cells, s, clock, np.random.default_rng(0), lambda: loads[k[0]] / 1000 * GRAVITY_MS2, np.zeros(5),
                      places=places)
    out = []
    for k[0] in range(len(loads)):
        out += rig.sample()
    out += rig.flush()
    seen = np.vstack([b.grams for b in out])[-1]
    share = s.crosstalk_pct / 100
    assert seen[1] == pytest.approx(5000.0)
    assert seen[0] == pytest.approx(share * 5000.0) and seen[2] == pytest.approx(share * 5000.0)  # 50 g each
    assert seen[3] == 0.0 and seen[4] == 0.0  # the shelf above, and the same bin of the gondola behind


def test_a_10_sps_cell_reads_the_gondola_s_mode_aliased_and_attenuated_by_its_averaging_window():
    """An HX711 at 10 samples/s under the default 8 Hz mode: its ADC integrates over each 0.1 s sample."""
    n = 64  # gondolas, independent draws of one mode: 10 minutes of them pin the RMS to about 0.3 %
    places = [(f"G{i}", 1, 1) for i in range(n)]
    walker_at_1m = Excitation(tuple(p[0] for p in places), np.ones((n, 1)), np.array([1.3]), np.zeros(n))  # 2 mg

    def rms_and_peak_hz(rate_hz: float) -> tuple[float, float]:
        vib = GondolaVibration(LoadCellSettings(rate_hz=rate_hz), places, np.random.default_rng(0))
        y = np.array([vib.step(walker_at_1m) for _ in range(int(600 * rate_hz))])
        power = (np.abs(np.fft.rfft(y, axis=0)) ** 2).mean(axis=1)
        return float(y.std()), float(np.fft.rfftfreq(len(y), 1.0 / rate_hz)[power.argmax()])

    rms_60, peak_60 = rms_and_peak_hz(60.0)
    rms_10, peak_10 = rms_and_peak_hz(10.0)
    assert rms_60 == pytest.approx(2.0, rel=0.03)  # below half the rate: the mode as driven
    assert rms_10 / rms_60 == pytest.approx(abs(np.sinc(0.8)), rel=0.03)  # 0.23: the window's gain at 8 Hz
    assert peak_60 == pytest.approx(8.0, abs=0.3)
    assert peak_10 == pytest.approx(2.0, abs=0.3)  # 8 Hz folds to |8 - 10| Hz


def test_a_store_with_10_sps_cells_runs_and_its_plates_shake_about_a_quarter_as_much():
    quiet = {"noise_g": 0.0, "resolution_g": 0.0, "drift_g_per_min": 0.0, **GAUGE_OFF}  # the vibration alone
    cells, slow = _stream([_Pacer(0.5)], seconds=30.0, rate_hz=10, **quiet)
    _, fast = _stream([_Pacer(0.5)], seconds=30.0, **quiet)
    assert slow.shape == (300, len(cells)) and np.isfinite(slow).all()
    j = cells.index("A-1-1")
    ratio = _wiggle(slow[10:, j]).std() / _wiggle(fast[60:, j]).std()
    assert 0.12 < ratio < 0.4  # |sinc(0.8)| = 0.23; one 30 s walk holds few of the mode's slow swells
