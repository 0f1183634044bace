"""Reaching a high shelf: an average adult (1.75 m, shoulder about 1.43 m) puts a can back on the top shelf of a
1.8 m wall gondola, the forearm coming in over the lip, and the can ends standing on that plate (not knocked
into the shelf below)."""
from __future__ import annotations

import pytest

from agents import build_simulation
from agents.scenario import Scenario
from sim.manipulation import rests_on


@pytest.mark.parametrize("bin_id,sku", [("E-4-1", "chickpeas-400"), ("E-4-2", "lentils-400")])
def test_an_average_adult_puts_an_item_back_on_a_wall_gondolas_top_shelf(bin_id, sku):
    sc = Scenario(name="top-shelf", store="market_store", seed=0, duration_s=30)
    sc.add_shopper("adam", account="a", body={"height_m": 1.75}).pick(sku, bin=bin_id).put_back(sku, bin=bin_id)
    sim = build_simulation(sc, seed=0, cameras=False)
    for _ in sim.run(30.0):
        pass
    assert sim.layout.bins[bin_id].shelf == max(b.shelf for b in sim.layout.bins.values() if b.gondola == "E")
    assert not sim.ledger.faults, [e.message for e in sim.ledger.faults]
    (back,) = sim.ledger.events_of("put_back")
    assert sim.ledger.items[back.item_id].location == bin_id
    assert rests_on(sim.world, back.item_id, sim.layout.bins[bin_id])
    assert not sim.ledger.events_of("drop")
    knocked = [r.item_id for r in sim.ledger.items.values() if r.location in sim.layout.bins
               and not rests_on(sim.world, r.item_id, sim.layout.bins[r.location])]
    assert not knocked
    sim.close()
