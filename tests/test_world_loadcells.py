"""The physics store and its load cells: readings come from contact forces on the plates."""
from __future__ import annotations

import numpy as np
import pybullet as pb
import pytest

from sim.layout import load_store
from sim.loadcell import GRAVITY_MS2
from sim.simulation import Simulation
from sim.stream import GatePassage, GateScan, LoadCellBatch, stream_digest
from tests.conftest import STORES

GAUGE_OFF = {"nonlinearity_pct": 0.0, "hysteresis_pct": 0.0, "repeatability_pct": 0.0, "creep_pct_30min": 0.0}
SHELF_OFF = {"crosstalk_pct": 0.0}  # neighbours' loads showing on a plate (sim.vibration); its vibration needs shoppers
NOISE_OFF = {"load_cells": {"noise_g": 0.0, "resolution_g": 0.0, "drift_g_per_min": 0.0, **GAUGE_OFF, **SHELF_OFF}}


def _sim(seed: int = 0, sensors: dict | None = None, store: str = "tiny_store.yaml") -> Simulation:
    layout = load_store(STORES / store)
    if sensors:
        layout = layout.with_sensors(sensors)
    return Simulation(layout, seed)


def _true_grams(sim: Simulation) -> np.ndarray:
    return np.array([sum(sim.ledger.items[i].weight_g for i in sim.ledger.items_in(b)) for b in sim.world.bin_ids])


def _with_crosstalk(sim: Simulation, grams: np.ndarray, share: float) -> np.ndarray:
    """The loads the cells feel: each plate's own and `share` of each neighbour's on its shelf."""
    bins = [sim.layout.bins[c] for c in sim.world.bin_ids]
    return np.array([w + share * sum(grams[k] for k, o in enumerate(bins)
                                     if (o.gondola, o.shelf) == (b.gondola, b.shelf) and abs(o.index - b.index) == 1)
                     for w, b in zip(grams, bins)])


def _samples(sim: Simulation, seconds: float) -> np.ndarray:
    batches = []
    end = sim.clock.tick + int(round(seconds / sim.clock.dt_s))
    while sim.clock.tick < end:
        batches += [m.grams for m in sim.step() if isinstance(m, LoadCellBatch)]
    return np.vstack(batches)


def _lift(sim: Simulation, item_id: int, height_m: float = 0.25, seconds: float = 0.25) -> None:
    """Lift an item straight up with a fixed constraint, as a hand would."""
    c = sim.world.client
    body = sim.world.items[item_id].body
    pos, orn = pb.getBasePositionAndOrientation(body, physicsClientId=c)
    cid = pb.createConstraint(body, -1, -1, -1, pb.JOINT_FIXED, [0, 0, 0], [0, 0, 0], pos, physicsClientId=c)
    sim.world.wake_bin(sim.ledger.items[item_id].location)
    steps = int(round(seconds / sim.clock.dt_s))
    for k in range(1, steps + 1):
        target = [pos[0], pos[1], pos[2] + height_m * k / steps]
        pb.changeConstraint(cid, target, orn, maxForce=200, physicsClientId=c)
        sim.step()


def test_building_gives_expected_body_and_bin_counts():
    sim = _sim()
    layout = sim.layout
    assert len(sim.world.plates) == sum(g.shelves * g.bins_per_shelf for g in layout.spec.gondolas) == 12
    assert len(sim.world.items) == layout.item_count == 46
    walls = 6  # the south wall is cut in three by two gates
    assert sim.world.body_count() == 1 + walls + 2 * len(layout.spec.gondolas) + 12 + 46
    assert sorted(sim.ledger.items) == sorted(sim.world.items)
    for item_id, rec in sim.ledger.items.items():
        assert rec.location == rec.home_bin
        assert sim.world.items[item_id].mass_kg == pytest.approx(rec.weight_g / 1000.0)
    sim.close()


def test_items_draw_their_own_weights_around_the_nominal():
    sim = _sim()
    colas = [r.weight_g for r in sim.ledger.items.values() if r.sku == "cola-330"]
    assert len(set(colas)) == len(colas)
    assert abs(np.mean(colas) - 350) < 3 * 3.5 / np.sqrt(len(colas)) + 1.0
    sim.close()


def test_settled_plates_read_the_true_weight_on_them_with_noise_off():
    sim = _sim(sensors=NOISE_OFF)
    readings = _samples(sim, 0.5)
    truth = _true_grams(sim)
    assert np.abs(readings - truth).max() <= 0.5
    assert (truth > 0).sum() == 10  # two bins are empty (one has count 0, one is unstocked)
    sim.close()


def test_an_island_woken_for_one_step_settles_back_to_its_true_weight():
    """Re-filtering the items' collisions wakes every resting island for a single step (as a body brushing
    past can): the plates must not keep that step's transient, which ran to kilograms here."""
    from sim.manipulation import set_item_groups

    sim = _sim(sensors=NOISE_OFF, store="market_store.yaml")
    set_item_groups(sim.world)
    readings = _samples(sim, 2.5)
    truth = _true_grams(sim)
    assert np.abs(readings[:6] - truth).max() > 5.0  # the transient is there to recover from
    assert np.abs(readings[-30:] - truth).max() <= 0.5  # the last half second
    sim.close()


def test_an_episode_s_plates_read_the_truth_from_the_first_sample_on():
    """market_store's 1.5 l colas: the agents put items in their collision group after the store settled,
    which woke every island for one step; solved mid-transient and asleep again at once, a bin of colas
    read 256 g light until a shopper passed it (a phantom put-back). Now the plates converge first."""
    from agents import build_simulation
    from agents.scenario import Scenario

    scenario = Scenario("quiet-market", str(STORES / "market_store.yaml"), duration_s=30.0, sensors=NOISE_OFF)
    scenario.add_shopper("late", enter_at_s=20.0)  # no one inside while the plates are read
    sim = build_simulation(scenario, seed=0, cameras=False)
    readings = _samples(sim, 1.0)
    errors = np.abs(readings - _true_grams(sim))
    assert np.median(errors) <= 0.1
    assert errors.max() <= 10.0  # a pack still settling may blip a few grams for a sample or two (no 256 g)
    assert errors[-30:].max() <= 0.5
    sim.close()


def test_settled_plates_read_within_three_sigma_of_default_noise():
    sim = _sim()
    cells = sim.layout.spec.sensors.load_cells
    sigma = cells.noise_g
    readings = _samples(sim, 1.0)
    truth = _with_crosstalk(sim, _true_grams(sim), cells.crosstalk_pct / 100)
    # the gauge's errors at opening: its repeatability offset (sd 2 g), the bow, the creep, half the loop
    u = np.clip(truth / cells.capacity_g, 0, 1)
    fixed = (cells.nonlinearity_pct + cells.hysteresis_pct / 2) / 100 * cells.capacity_g * 4 * u * (1 - u) \
        + cells.creep_pct_30min / 100 * 1.06 * truth
    repeat_sd = cells.repeatability_pct / 100 * cells.capacity_g / 3
    assert np.abs(readings[0] - truth).max() <= 3 * np.hypot(sigma, repeat_sd) + fixed.max() + 0.5
    assert np.abs(readings.mean(axis=0) - truth).max() > 0.5  # a gauge that reads the load exactly is no gauge
    # The spread of the samples is the configured noise (quantisation adds 1/12 g^2).
    spread = readings.std(axis=0)
    assert np.all(np.abs(spread - np.sqrt(sigma**2 + 1 / 12)) < 0.35)
    sim.close()


def test_lifting_one_item_lowers_the_reading_by_its_weight_within_half_a_second():
    sim = _sim(sensors=NOISE_OFF)
    bin_id = "B-1-1"  # juice cartons, the heaviest
    col = sim.world.bin_ids.index(bin_id)
    before = _samples(sim, 0.2)[-1, col]
    item_id = sim.ledger.items_in(bin_id)[0]
    weight = sim.ledger.items[item_id].weight_g
    _lift(sim, item_id)
    after = _samples(sim, 0.5)[-1, col]  # at most 0.5 s after the lift ended
    assert before - after == pytest.approx(weight, abs=1.0)
    others = [j for j, b in enumerate(sim.world.bin_ids) if b != bin_id]
    assert np.allclose(_samples(sim, 0.1)[-1, others], _true_grams(sim)[others], atol=0.5)
    sim.close()


def test_pressing_a_plate_with_ten_newtons_reads_about_1020_grams_more():
    sim = _sim(sensors=NOISE_OFF)
    bin_id = "A-1-3"
    col = sim.world.bin_ids.index(bin_id)
    before = _samples(sim, 0.2)[-1, col]
    plate = sim.world.plates[bin_id]
    sim.world.wake_bin(bin_id)
    for _ in range(60):
        pos = pb.getLinkState(plate, 0, physicsClientId=sim.world.client)[0]
        pb.applyExternalForce(plate, 0, [0, 0, -10.0], pos, pb.WORLD_FRAME, physicsClientId=sim.world.client)
        sim.step()
    pressed = sim.load_cells.true_grams()[col]
    assert pressed - before == pytest.approx(10.0 / GRAVITY_MS2 * 1000.0, abs=2.0)
    sim.close()


def test_same_seed_gives_byte_identical_load_cell_streams():
    def stream(seed):
        sim = _sim(seed)
        msgs = list(sim.run(1.0, stop_when_done=False))
        sim.close()
        return msgs

    a, b, c = stream(5), stream(5), stream(6)
    assert sum(isinstance(m, LoadCellBatch) for m in a) == 5
    assert stream_digest(a) == stream_digest(b)
    assert stream_digest(a) != stream_digest(c)


def test_a_dead_cell_reports_nan_and_the_others_go_on():
    sim = _sim(sensors={"load_cells": {"dead": ["A-1-1"]}})
    readings = _samples(sim, 0.2)
    col = sim.world.bin_ids.index("A-1-1")
    assert np.isnan(readings[:, col]).all()
    assert not np.isnan(np.delete(readings, col, axis=1)).any()
    sim.load_cells.kill("B-1-1")
    later = _samples(sim, 0.2)
    assert np.isnan(later[:, sim.world.bin_ids.index("B-1-1")]).all()
    sim.close()


def test_a_cell_outage_reports_nan_only_while_it_lasts():
    sim = _sim(sensors={"load_cells": {"outages": [["A-1-2", 0.5, 1.0]]}})
    col = sim.world.bin_ids.index("A-1-2")
    readings = _samples(sim, 1.6)  # samples at 1/60 s .. 1.6 s
    t = np.arange(1, len(readings) + 1) / 60.0
    down = (t >= 0.5 - 1e-9) & (t < 1.0 - 1e-9)
    assert np.isnan(readings[down, col]).all()
    assert not np.isnan(readings[~down, col]).any()
    assert not np.isnan(np.delete(readings, col, axis=1)).any()
    sim.close()


def test_readings_are_quantised_to_the_resolution():
    sim = _sim(sensors={"load_cells": {"resolution_g": 5.0}})
    readings = _samples(sim, 0.2)
    assert np.allclose(readings / 5.0, np.round(readings / 5.0))
    sim.close()


def test_zero_drift_wanders_at_the_configured_rate():
    sim = _sim(sensors={"load_cells": {"noise_g": 0.0, "resolution_g": 0.0, "drift_g_per_min": 6.0, **GAUGE_OFF, **SHELF_OFF}})
    truth = _true_grams(sim)
    readings = _samples(sim, 10.0)
    wander = readings[-1] - truth
    # A random walk with 6 g spread after a minute has 6 * sqrt(10/60) ~ 2.4 g after 10 s.
    expected = 6.0 * np.sqrt(10 / 60)
    assert 0.4 * expected < np.sqrt(np.mean(wander**2)) < 2.0 * expected
    sim.close()


class _Walker:
    """A test actor: a point that walks a straight line at 1.3 m/s."""

    def __init__(self, ident, account, path):
        self.id, self.account, self.path, self.k = ident, account, path, 0

    def act(self, sim):
        self.k += 1

    def position(self):
        t = self.k / 120.0
        (x0, y0), (x1, y1) = self.path
        d = np.hypot(x1 - x0, y1 - y0)
        f = min(1.0, 1.3 * t / d)
        return (x0 + (x1 - x0) * f, y0 + (y1 - y0) * f)

    @property
    def done(self):
        return self.k > 300


def test_gates_scan_accounts_at_entry_and_count_exits_without_identity():
    sim = _sim()
    sim.add_actor(_Walker("ann", "acct-1", [(1.0, -0.5), (1.0, 1.0)]))  # in through in-1
    sim.add_actor(_Walker("bob", "acct-2", [(5.0, 1.0), (5.0, -0.5)]))  # out through out-1
    sim.gates.scan("in-1", "acct-1", ["ann"])
    msgs = list(sim.run(3.0))
    scans = [m for m in msgs if isinstance(m, GateScan)]
    passages = [m for m in msgs if isinstance(m, GatePassage)]
    assert [(s.gate, s.account) for s in scans] == [("in-1", "acct-1")]
    assert [p.gate for p in passages] == ["out-1"]
    assert 1.0 / 1.3 <= passages[0].t_s < 1.0 / 1.3 + 1.0 / 30 + 1e-9  # crossed y = 0 then; gates poll at 30 Hz
    assert "ann" in sim.ledger.inside and "bob" in sim.ledger.exited
    sim.close()


_DIGEST = """
from sim.layout import load_store
from sim.simulation import Simulation
from sim.stream import stream_digest
sim = Simulation(load_store({path!r}), 3)
print(stream_digest(sim.run(1.0, stop_when_done=False)))
"""


def test_the_load_cell_stream_is_identical_in_another_process(tiny_store_path):
    import subprocess
    import sys

    sim = Simulation(load_store(tiny_store_path), 3)
    here = stream_digest(sim.run(1.0, stop_when_done=False))
    sim.close()
    proc = subprocess.run(
        [sys.executable, "-c", _DIGEST.format(path=str(tiny_store_path))], capture_output=True, text=True, check=True
    )
    assert proc.stdout.split()[-1] == here


def test_a_dropped_simulation_frees_its_physics_clients(tiny_store_path):
    import gc

    sim = Simulation(load_store(tiny_store_path), 0)
    clients = [sim.world.client]
    if sim.cameras is not None:
        clients += [sim.cameras.renderer.static_client, sim.cameras.renderer.dynamic_client]
    assert all(pb.getConnectionInfo(physicsClientId=c)["isConnected"] for c in clients)
    del sim
    gc.collect()
    assert not any(pb.getConnectionInfo(physicsClientId=c)["isConnected"] for c in clients)


def test_closing_twice_never_disconnects_a_newer_world(tiny_store_path):
    a = Simulation(load_store(tiny_store_path), 0, cameras=False)
    a.close()
    b = Simulation(load_store(tiny_store_path), 0, cameras=False)  # may reuse a's client id
    a.close()
    assert pb.getConnectionInfo(physicsClientId=b.world.client)["isConnected"]
    b.close()


def test_a_plate_cannot_be_pried_up_off_its_cell():
    sim = _sim(sensors=NOISE_OFF)
    plate = sim.world.plates["A-1-1"]
    c = sim.world.client
    sim.world.wake_bin("A-1-1")
    lift_mm = []
    for _ in range(60):  # a hand heaving up under the plate's front edge with 450 N
        pos = pb.getLinkState(plate, 0, physicsClientId=c)[0]
        pb.applyExternalForce(plate, 0, [0, 0, 450.0], pos, pb.WORLD_FRAME, physicsClientId=c)
        sim.step()
        lift_mm.append(pb.getJointState(plate, 0, physicsClientId=c)[0] * 1000)
    # The travel limit is a soft constraint: it gives a little at the first jolt, then holds at 1 mm.
    assert max(lift_mm) < 2.0
    assert max(lift_mm[30:]) < 1.05
    sim.close()


def test_a_woken_plate_never_reads_minus_its_own_weight():
    sim = _sim(sensors=NOISE_OFF)
    readings = []
    for _ in range(5):  # wake every plate again and again; a woken motor may go unsolved for a step
        for b in sim.world.bin_ids:
            sim.world.wake_bin(b)
        for _ in range(12):
            sim.step()
            readings.append(sim.load_cells.true_grams())
    assert np.abs(np.array(readings) - _true_grams(sim)).max() <= 0.5
    sim.close()


class _LeavesAt:
    """An actor that is done from `done_s` on (a shopper who has left)."""

    id = "probe"
    account = "acct-probe"

    def __init__(self, done_s: float) -> None:
        self.done_s = done_s
        self.t_s = 0.0

    def act(self, sim) -> None:
        self.t_s = sim.t_s

    def position(self):
        return None

    @property
    def done(self) -> bool:
        return self.t_s >= self.done_s


def test_the_stream_runs_on_after_the_last_shopper_leaves_and_stops_within_the_duration():
    from sim.simulation import AFTER_LAST_EXIT_S

    sim = Simulation(load_store(STORES / "tiny_store.yaml"), 0, cameras=False)
    try:
        sim.add_actor(_LeavesAt(sim.t_s + 0.5))
        t0 = sim.t_s
        last = max(m.t_s for m in sim.run(60.0) if isinstance(m, LoadCellBatch))
        assert AFTER_LAST_EXIT_S > 2.0  # longer than the stack's 2 s receipt deadline
        assert 0.5 + AFTER_LAST_EXIT_S - 0.3 <= last - t0 <= 0.5 + AFTER_LAST_EXIT_S + 0.1
    finally:
        sim.close()
    sim = Simulation(load_store(STORES / "tiny_store.yaml"), 0, cameras=False)
    try:
        sim.add_actor(_LeavesAt(sim.t_s + 0.5))
        list(sim.run(sim.t_s + 1.5))  # the scenario's duration comes first
        assert sim.t_s == pytest.approx(1.5, abs=0.01)
    finally:
        sim.close()
