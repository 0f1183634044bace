"""Standing at a shelf: a walk to a stand spot always ends (the pedestrian model keeps a disc off walls and off
its neighbours, so a spot 4 cm off a shelf face beside someone may never be reached exactly), and a shopper
waiting at a sync point does not hold a shelf front someone else needs."""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from agents import build_simulation, load_scenario
from agents import reach as rc
from agents.actions.base import Action
from agents.actions.hands import STEADY_BAND_M, STOP_ERR_M
from agents.actions.moves import STUCK_S
from agents.floor import PedestrianFloor
from agents.scenario import STORES_DIR, Scenario
from sim.layout import load_store
from tests.small_stores import one_gondola_store

ROOT = Path(__file__).resolve().parent.parent


def _run(sc, seed):
    sim = build_simulation(sc, seed=seed, cameras=False)
    for _ in sim.run(sc.spec.duration_s):
        pass
    return sim


@pytest.mark.parametrize("seed", [0, 2])
def test_two_shoppers_side_by_side_at_a_shelf_both_get_there_and_both_take(seed):
    # ben's spot beside ann is a few cm off the shelf face: the model stopped him 7 cm short, for ever
    sc = load_scenario(ROOT / "assets" / "scenarios" / "simultaneous-reach.yaml")
    sim = _run(sc, seed)
    assert not sim.ledger.faults, [e.message for e in sim.ledger.faults]
    assert all(s.done for s in sim.shoppers.shoppers.values()), {s.id: s.next_action for s in sim.shoppers.shoppers.values()}
    assert sorted(e.shopper for e in sim.ledger.events_of("take")) == ["ann", "ben"]
    sim.close()


@pytest.mark.parametrize("seed", [0, 2])
def test_a_shopper_waiting_at_a_sync_point_gives_way_to_a_put_back_at_its_shelf(seed):
    # ann waits at 'go' in front of A-1-1 until ben is done; ben's put-back into A-1-1 needs where she stands
    sc = Scenario(name="sync-in-the-way", store="tiny_store", seed=seed, duration_s=150)
    sc.add_shopper("ann", account="a").walk_to("A-1-1").sync("go")
    sc.add_shopper("ben", account="b", enter_at_s=1.5).pick("cola-330", bin="B-1-3").put_back("cola-330", bin="A-1-1").sync("go")
    sim = _run(sc, seed)
    assert not sim.ledger.faults, [e.message for e in sim.ledger.faults]
    (back,) = sim.ledger.events_of("put_back")
    assert back.shopper == "ben" and sim.ledger.items[back.item_id].location == "A-1-1"
    assert all(s.done for s in sim.shoppers.shoppers.values()), {s.id: s.next_action for s in sim.shoppers.shoppers.values()}
    assert sim.ledger.closed_receipts == {"a": {}, "b": {}}
    sim.close()


# A low bin whose four front rows of cans are full: a can put back goes into the fifth row, 27 cm deep, where the
# hand holds it 4 cm up the can so the forearm comes in over the lip, standing 0.62 m off the shelf, bent over.
LOW_FULL_BIN_STORE = one_gondola_store(
    "low_full_bin",
    ['{sku: cola-330, name: "Cola can 330 ml", price: 1.20, weight_g: 350, shape: cylinder, size_mm: [66, 66, 115], color: "#c8102e"}'],
    {"A-1-1": "{sku: cola-330, count: 56}", "A-1-2": "{sku: cola-330, count: 4}"},
)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_put_back_deep_into_a_low_bin_stands_where_the_hand_reaches_the_raised_grip_and_puts_it_there(tmp_path, seed):
    # the shopper once walked to its spot and round it for 120 s (a fault): it checked its arrival against the
    # can's middle, and the stance was planned for the hand higher up the can, which it never reached from there
    store = tmp_path / "low_full_bin.yaml"
    store.write_text(LOW_FULL_BIN_STORE)
    sc = Scenario(name="deep-put-back", store=str(store), seed=seed, duration_s=150)
    sc.add_shopper("ann", account="a", body={"height_m": 1.72}).pick("cola-330", bin="A-1-2").put_back("cola-330", bin="A-1-1")
    sim = _run(sc, seed)
    assert not sim.ledger.faults, [e.message for e in sim.ledger.faults]
    assert not sim.ledger.events_of("adapted"), [e.message for e in sim.ledger.events_of("adapted")]
    (back,) = sim.ledger.events_of("put_back")
    assert back.bin == "A-1-1" and back.t_s < 30.0
    assert len(sim.ledger.items_in("A-1-1")) == 57
    assert all(s.done for s in sim.shoppers.shoppers.values())
    sim.close()


def test_a_walk_that_stands_on_its_spot_where_the_hand_does_not_reach_gives_up_at_once_instead_of_circling():
    # the arrival test (`settle_ok`) fails on the spot itself: walking round it and back never helps; the walk
    # says so (False) within a few seconds so the caller chooses another spot, not after `WALK_TIMEOUT_S`
    floor = PedestrianFloor(load_store(STORES_DIR / "tiny_store.yaml"), 1.0 / 120)
    floor.add("ann", (1.2, 1.0), 0.26, 1.3)
    sh = SimpleNamespace(id="ann", t=0.0, commons=SimpleNamespace(floor=floor))
    walker = Action(sh)
    goal = (1.2, 2.5)
    walk = walker.walk(goal, tol=0.05, stuck_s=STUCK_S, claim=True, settle_m=0.15, settle_ok=lambda here: here[1] > 2.6)
    k = 0
    with pytest.raises(StopIteration) as end:
        while True:
            k += 1
            floor.advance(k * floor.period_ticks)
            sh.t = k * floor.dt_s
            next(walk)
    assert end.value.value is False
    assert sh.t < 3 * STUCK_S
    assert math.dist(floor.now["ann"], goal) < 0.05
    assert floor.goal("ann") is None  # it stands


def test_a_stand_spot_on_the_edge_of_where_the_hand_reaches_moves_to_where_a_stop_a_cm_off_still_reaches():
    # a tall adult bent over a low bin for a can 21 cm deep: the planned spot is the nearest the shelf that reaches,
    # and a body stopped a few mm nearer puts its head into the shelf (the pedestrian model stops a few mm off)
    layout = load_store(STORES_DIR / "tiny_store.yaml")
    b = layout.bins["A-1-1"]
    build = rc.median_build(1.87, False)
    sh = SimpleNamespace(build=build, id="ann", commons=SimpleNamespace(layout=layout, floor=SimpleNamespace(now={"ann": (1.5, 3.8)})))
    reacher = Action(sh)
    item = np.array([b.front[0] - b.facing[0] * 0.21, b.front[1], b.center[2] + 0.0635])
    stance, palm = rc.plan_grip(build, b, item, 0.115, top_shelf=False)
    spot = rc.stand_point(build, b, palm, stance.stand_off_m)
    fx, fy = b.facing

    def reaches(at, out_m=0.0, along_m=0.0):
        return reacher.reaches_from(b, palm, stance, (at[0] + fx * out_m + b.right[0] * along_m,
                                                      at[1] + fy * out_m + b.right[1] * along_m))

    assert reaches(spot) and not reaches(spot, out_m=-0.0025)  # on the edge
    at = reacher.steady_spot(b, palm, stance, spot)
    assert 0.0 < math.dist(at, spot) <= STEADY_BAND_M
    offs = np.linspace(-STOP_ERR_M, STOP_ERR_M, 9)
    assert all(reaches(at, out_m=o) for o in offs) and all(reaches(at, along_m=o) for o in offs)
