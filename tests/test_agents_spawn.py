"""Spawning: a shopper appears at its entry gate only where JuPedSim will take its disc, so a child entering
right behind its parent waits a tick instead of crashing the episode."""
from __future__ import annotations

import pytest

from agents import build_simulation
from agents.floor import PedestrianFloor
from agents.scenario import Scenario
from sim.layout import load_store
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("behind_s", [0.3, 0.5])
def test_a_child_entering_right_behind_its_parent_waits_for_room_and_never_crashes_the_episode(behind_s):
    for seed in range(4):
        sc = Scenario(name="family", store="tiny_store", seed=seed, duration_s=4)
        sc.add_shopper("mum", account="fam", enter_at_s=0.0).pick("cola-330")
        sc.add_shopper("kid", account="fam", enter_at_s=behind_s, body={"height_m": 1.1}).pick("cola-330")
        sim = build_simulation(sc, seed=seed, cameras=False)
        for _ in sim.run(4.0):  # JuPedSim's "too close" error would propagate out of here
            pass
        kid = sim.shoppers.shoppers["kid"]
        assert kid.spawned, f"seed {seed}: the child came in within 3.5 s"
        sim.close()


def test_the_floor_refuses_a_disc_jupedsim_would_reject_instead_of_raising():
    layout = load_store(ROOT / "assets" / "stores" / "tiny_store.yaml")
    floor = PedestrianFloor(layout, 1.0 / 120.0)
    assert floor.add("a", (1.0, 1.0), 0.28, 1.3)
    assert not floor.is_free((1.0, 1.3), 0.2)
    assert floor.add("b", (1.0, 1.3), 0.2, 1.3) is False  # inside a's disc: refused, not an exception
    assert "b" not in floor.now
    floor.set_goal("a", (1.0, 2.5))
    floor.advance(floor.period_ticks)
    assert floor.now["a"][1] > 1.05  # it stepped away from y = 1.0
    # behind 'a': clear of where it is now, but JuPedSim still checks against where it stood before its step
    behind = (1.0, 1.0 - (0.28 + 0.2 + 0.05))
    assert floor.is_free(behind, 0.2) is False
