"""A crowd of more than twenty inside at once (crowd-corner-25's settings, squeezed into a short run): it gets
in and out with no jams, no shopper goes into another, and at the end the ledger equals the physical world for
every item. Also: over a crowded minute no shopper's body goes into shelf structure or the floor."""
from __future__ import annotations

import itertools
from pathlib import Path

import pybullet as pb
import pytest

from agents import build_simulation, load_scenario
from bench.agents import ledger_vs_world  # every item: ledger place vs where it physically is
from agents.body import ARM_LINKS
from agents.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent
PAIR_TOL_M = 0.02  # two shoppers' bodies may press together by the contact solver's slop, no more
SHELF_TOL_M = 0.01  # a hand pressed on a plate (a lean, a touch, a grip on the lip) sinks in by the solver's slop

# Room for more than twenty: a 10 x 7 m floor, two islands of back-to-back two-shelf gondolas, four gates.
CROWD_STORE = """\
name: crowd_store
floor_m: [10.0, 7.0]
gates:
  - {id: in-1, kind: entry, at: [1.2, 0.0], width_m: 0.9}
  - {id: in-2, kind: entry, at: [2.6, 0.0], width_m: 0.9}
  - {id: out-1, kind: exit, at: [7.4, 0.0], width_m: 0.9}
  - {id: out-2, kind: exit, at: [8.8, 0.0], width_m: 0.9}
gondolas:
  - {id: A, at: [3.275, 4.3], facing: west, length_m: 3.0, shelves: 2, bins_per_shelf: 3}
  - {id: B, at: [3.725, 4.3], facing: east, length_m: 3.0, shelves: 2, bins_per_shelf: 3}
  - {id: C, at: [6.775, 4.3], facing: west, length_m: 3.0, shelves: 2, bins_per_shelf: 3}
  - {id: D, at: [7.225, 4.3], facing: east, length_m: 3.0, shelves: 2, bins_per_shelf: 3}
catalog:
  - {sku: cola-330, name: "Cola can 330 ml", price: 1.20, weight_g: 350, shape: cylinder, size_mm: [66, 66, 115], color: "#c8102e"}
  - {sku: water-500, name: "Still water 500 ml", price: 0.90, weight_g: 520, shape: cylinder, size_mm: [65, 65, 205], color: "#5fb4e6"}
  - {sku: crisps-salt, name: "Salted crisps 150 g", price: 1.90, weight_g: 165, shape: box, size_mm: [180, 60, 250], color: "#e6c229"}
  - {sku: juice-1l, name: "Orange juice 1 l", price: 2.80, weight_g: 1080, shape: box, size_mm: [95, 60, 200], color: "#f28c28"}
planogram:
PLANOGRAM
cameras:
  grid: {spacing_m: 2.5, height_m: 3.0, fov_deg: 90}
"""


def crowd_store(tmp_path: Path) -> Path:
    skus = ["cola-330", "water-500", "crisps-salt", "juice-1l"]
    lines = []
    for g, (gondola, shelf, k) in enumerate(itertools.product("ABCD", (1, 2), (1, 2, 3))):
        sku = skus[g % len(skus)]
        lines.append(f"  {gondola}-{shelf}-{k}: {{sku: {sku}, count: {3 if sku == 'crisps-salt' else 5}}}")
    path = tmp_path / "crowd_store.yaml"
    path.write_text(CROWD_STORE.replace("PLANOGRAM", "\n".join(lines)))
    return path


@pytest.mark.slow
def test_more_than_twenty_inside_get_in_and_out_without_jams_and_the_ledger_equals_the_shelves(tmp_path):
    spec = load_scenario(ROOT / "assets" / "scenarios" / "crowd-corner-25.yaml").spec
    until_s = 16.0
    sc = Scenario(name="crowd-over-20", store=str(crowd_store(tmp_path)), seed=spec.seed, duration_s=200)
    # crowd-corner-25's cap; arrivals as fast as a crowd may come (120 a minute) for 16 s, mostly quick shoppers
    sc.crowd(arrivals_per_min=120.0, until_s=until_s,
             max_inside=spec.crowd.max_inside, personas={"quick": 0.7, "browser": 0.15, "returner": 0.15})
    sim = build_simulation(sc, cameras=False)
    c = sim.world.client
    shoppers = sim.shoppers.shoppers
    peak, worst_pair = 0, 0.0
    for _ in sim.run(sc.spec.duration_s):
        if sim.clock.tick % 24:
            continue
        inside = [s for s in shoppers.values() if s.spawned and not s.done]
        peak = max(peak, len(sim.ledger.inside))
        for a, b in itertools.combinations(inside, 2):
            if abs(a._xy[0] - b._xy[0]) < 1.5 and abs(a._xy[1] - b._xy[1]) < 1.5:
                for p in pb.getClosestPoints(a.body.body, b.body.body, 0.0, physicsClientId=c):
                    worst_pair = min(worst_pair, p[8])
    entered = {e.shopper for e in sim.ledger.events_of("entry")}
    assert peak > 20
    assert entered and all(shoppers[s].done for s in entered), \
        [f"{s} at {shoppers[s]._xy}: {shoppers[s].next_action}" for s in sorted(entered) if not shoppers[s].done]
    assert len(sim.ledger.closed_receipts) == len(entered)
    # a persona shopper skips a step the shelves no longer allow (stock-out, out of reach); nothing else goes wrong
    assert not sim.ledger.faults, [e.message for e in sim.ledger.faults]
    assert len(sim.ledger.events_of("take")) >= len(entered)
    assert worst_pair > -PAIR_TOL_M
    assert not ledger_vs_world(sim)
    sim.close()


def test_no_shopper_goes_into_shelves_walls_or_the_floor_over_a_crowded_minute():
    """Five persona shoppers in the tiny store for most of a minute (picks, put-backs, touches, leans, crouches to
    the bottom shelf). pybullet's getClosestPoints ignores collision filters, so it measures real overlap even
    for links that do not collide with the shelves in the physics (upper arms and forearms, see
    sim.manipulation). Every shopper link against every static body (walls, gondola back panels and plinths,
    shelf boards) and every plate, and against the floor slab, read every 1/10 s: no overlap deeper than
    `SHELF_TOL_M`. No exception is needed for a hand inside a bin: it goes in through the open front, where
    nothing static is, and stands no deeper into the plate it rests on than the contact solver lets it (a lean
    presses 12-35 N through the hand)."""
    sc = Scenario(name="crowd-check", store="tiny_store", seed=11, duration_s=60)
    sc.crowd(arrivals_per_min=40.0, until_s=10.0, max_inside=5, personas={"quick": 0.4, "browser": 0.3, "returner": 0.3})
    sim = build_simulation(sc, cameras=False)
    c, world = sim.world.client, sim.world
    statics = {b: "floor slab" if k == 0 else "wall or gondola" for k, b in enumerate(world.static_bodies)}
    statics.update({p: f"plate {bin_id}" for bin_id, p in world.plates.items()})
    worst = {}
    crouched = 0
    for _ in sim.run(sc.spec.duration_s):
        if sim.clock.tick % 12:
            continue
        for s in sim.shoppers.shoppers.values():
            if not s.spawned or s.done:
                continue
            crouched = max(crouched, s.body.crouch_m)
            for body, what in statics.items():
                for p in pb.getClosestPoints(s.body.body, body, 0.0, physicsClientId=c):
                    key = (what.split(" ")[0], "hand" if p[3] in (ARM_LINKS["right"][3], ARM_LINKS["left"][3]) else p[3])
                    worst[key] = min(worst.get(key, 0.0), p[8])
    assert crouched > 0.2  # someone went down to the bottom shelf
    deep = {k: round(v, 3) for k, v in worst.items() if v < -SHELF_TOL_M}
    assert not deep, deep
    sim.close()
