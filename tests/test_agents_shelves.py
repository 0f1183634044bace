"""Bodies and shelves keep to the physical world: a crouching body stays above the floor and inside its disc, a
put-back lets go only of an item standing on the plate, and every loose item that comes to rest off its ledger
place (knocked, toppled, slid onto another plate) gets a ledger event."""
from __future__ import annotations

import math
import re

import numpy as np
import pybullet as pb
import pytest

from agents import build_simulation
from agents.body import SHIN, THIGH, Build, ShopperBody, draw_build, leg_angles
from agents.scenario import Scenario, validate_file
from sim.errors import InputError
from agents.shelves import ShelfWatch
from sim import manipulation as mp
from tests.small_stores import one_gondola_store

FLOOR_TOL_M = 0.005  # the contact solver's slop


def _builds() -> list[Build]:
    out = []
    for h, child, carrier in [(1.05, True, "bag"), (1.25, True, "basket"), (1.50, False, "bag"),
                              (1.72, False, "basket"), (1.95, False, "bag")]:
        b = draw_build(np.random.default_rng(3), h, child)
        out.append(Build(**{**b.__dict__, "carrier": carrier}))
    return out


@pytest.mark.parametrize("build", _builds(), ids=lambda b: f"{b.height_m:.2f}m-{b.carrier}")
def test_a_crouching_body_stays_above_the_floor_and_its_knees_inside_its_disc(build):
    c = pb.connect(pb.DIRECT)
    try:
        slab = pb.createMultiBody(0, pb.createCollisionShape(pb.GEOM_BOX, halfExtents=(5, 5, 0.05), physicsClientId=c),
                                  -1, (0, 0, -0.05), physicsClientId=c)
        body = ShopperBody(c, build, (0.0, 0.0), 0.0)
        assert build.max_crouch_m > 0.25 * build.hip_m  # a real crouch, not a token one
        for crouch in np.linspace(0.0, build.max_crouch_m + 0.2, 9):  # past the deepest: it stops there
            body.set_pose((0.0, 0.0), 0.0, crouch_m=float(crouch))
            hip, knee = (pb.getJointState(body.body, j, physicsClientId=c)[0] for j in (THIGH, SHIN))
            assert (hip, knee) == pytest.approx(leg_angles(build, float(crouch)), abs=1e-9)
            lowest = min((p[8] for p in pb.getClosestPoints(body.body, slab, 0.05, physicsClientId=c)), default=1.0)
            assert lowest > -FLOOR_TOL_M, f"crouch {crouch:.2f} m: {-lowest * 100:.1f} cm into the floor"
            aabb = [pb.getAABB(body.body, link, physicsClientId=c) for link in (THIGH, SHIN)]
            front = max(a[1][0] for a in aabb)  # facing +x
            assert front < build.radius_m + 0.01, "the knees stay inside the shopper's disc (off the shelf in front)"
            basket_low = pb.getAABB(body.body, 10, physicsClientId=c)[0][2]
            assert basket_low > 0.0
        assert body.base_z() == pytest.approx(build.hip_m - build.max_crouch_m)
        body.set_pose((0.0, 0.0), 0.0, crouch_m=0.0)
        low = pb.getAABB(body.body, SHIN, physicsClientId=c)[0][2]
        assert low == pytest.approx(0.0, abs=0.002)  # standing, the soles are on the floor
    finally:
        pb.disconnect(c)


@pytest.fixture(scope="module")
def store():
    sc = Scenario(name="shelves", store="tiny_store", seed=0, duration_s=30)
    sc.add_shopper("alice", account="a").wait(20.0)  # someone inside, so the watch runs
    sim = build_simulation(sc, cameras=False)
    yield sim
    sim.close()


def _run(sim, seconds: float) -> None:
    end = sim.clock.tick + int(round(seconds / sim.clock.dt_s))
    while sim.clock.tick < end:
        sim.step()


def test_an_item_is_over_a_plate_only_standing_on_it_not_anywhere_in_the_column_under_it(store):
    sim = store
    world = sim.world
    b = sim.layout.bins["A-2-3"]  # top shelf
    item = next(i for i in sim.ledger.items_in("A-2-3"))
    pos, orn = world.item_pose(item)
    h = mp.item_half_height(world, item)
    assert mp.over_plate(world, item, b)
    try:
        below = (pos[0], pos[1], b.center[2] - 0.25)  # held in the bin under it, inside the plate's outline
        pb.resetBasePositionAndOrientation(world.items[item].body, below, orn, physicsClientId=world.client)
        assert not mp.over_plate(world, item, b)
        tilted = pb.getQuaternionFromEuler((0.6, 0.0, 0.0))
        pb.resetBasePositionAndOrientation(world.items[item].body, (pos[0], pos[1], b.center[2] + h + 0.005), tilted,
                                           physicsClientId=world.client)
        assert not mp.over_plate(world, item, b)
    finally:
        pb.resetBasePositionAndOrientation(world.items[item].body, pos, orn, physicsClientId=world.client)
        world.wake_bin("A-2-3")


def test_no_free_spot_for_an_item_in_a_bin_lower_than_it(store):
    # a put-back sets the item upright on the spot: in a bin lower than the item it would jam between two plates
    from dataclasses import replace

    world = store.world
    item = store.ledger.items_in("A-1-2")[0]
    b = store.layout.bins["A-1-2"]
    tall = world.layout.catalog[world.items[item].sku].size_mm[2] / 1000.0
    assert mp.free_spot(world, b, item, ignore={item}) is not None
    assert mp.free_spot(world, replace(b, clearance_m=tall - 0.005), item, ignore={item}) is None
    assert mp.free_spot(world, replace(b, clearance_m=tall + 0.005), item, ignore={item}) is not None


def test_an_item_knocked_off_its_plate_gets_a_drop_event_and_the_ledger_follows_where_it_lands(store):
    sim = store
    world, ledger = sim.world, sim.ledger
    assert any(isinstance(a, ShelfWatch) for a in sim.actors)
    _run(sim, 0.5)
    drops_before = len(ledger.events_of("drop"))
    # one item pushed off the front of its shelf onto the floor, one slid onto the neighbouring plate
    b_off, b_next = sim.layout.bins["A-1-1"], sim.layout.bins["A-1-3"]
    fx, fy = b_off.facing
    off = max(ledger.items_in("A-1-1"), key=lambda i: np.dot(np.array(world.item_pose(i)[0][:2]) - b_off.center[:2], (fx, fy)))
    slid = ledger.items_in("A-1-2")[0]
    # A knock: what hits an item wakes it and its island first (a body in contact joins the island), then
    # pushes it. A velocity set on a sleeping body is cleared by Bullet on the step that wakes it (the store
    # opens asleep: sim.settled), so the item and its plate are woken a tick before the push.
    world.wake_bin("A-1-1")
    pb.changeDynamics(world.items[off].body, -1, activationState=pb.ACTIVATION_STATE_WAKE_UP, physicsClientId=world.client)
    _run(sim, sim.clock.dt_s)
    pb.resetBaseVelocity(world.items[off].body, (fx * 1.5, fy * 1.5, 0.3), (0, 0, 0), physicsClientId=world.client)
    target = mp.free_spot(world, b_next, slid)
    assert target is not None
    h = mp.item_half_height(world, slid)
    pb.resetBasePositionAndOrientation(world.items[slid].body, (target[0], target[1], b_next.center[2] + h + 0.01),
                                       (0.0, 0.0, math.sin(target[2] / 2), math.cos(target[2] / 2)),
                                       physicsClientId=world.client)
    pb.resetBaseVelocity(world.items[slid].body, (0, 0, -0.05), (0, 0, 0), physicsClientId=world.client)
    world.wake_bin("A-1-3")
    _run(sim, 4.0)
    new = ledger.events_of("drop")[drops_before:]
    by_item = {e.item_id: e for e in new}
    assert set(by_item) == {off, slid}, [(e.item_id, e.bin, e.to_bin) for e in new]
    assert by_item[off].bin == "A-1-1" and by_item[off].to_bin is None and ledger.items[off].location == "floor"
    assert by_item[slid].bin == "A-1-2" and by_item[slid].to_bin == "A-1-3" and ledger.items[slid].location == "A-1-3"
    assert by_item[off].shopper is None  # no one let go of it: no one is named
    assert mp.resting_place(world, off) == "floor" and mp.resting_place(world, slid) == "A-1-3"
    # and nothing else moved off its place unnoticed
    for rec in ledger.items.values():
        if rec.location in sim.layout.bins or rec.location == "floor":
            assert mp.resting_place(world, rec.item_id) == rec.location, rec


TALL_GONDOLA_STORE = one_gondola_store(
    "tall_gondola",
    ['{sku: soup-tomato, name: "Tomato soup 400 g", price: 1.60, weight_g: 460, shape: cylinder, size_mm: [74, 74, 110], color: "#a51c1c"}'],
    {"A-1-1": "{sku: soup-tomato, count: 4}", "A-3-1": "{sku: soup-tomato, count: 4}", "A-5-1": "{sku: soup-tomato, count: 4}"},
)


def test_a_short_adult_reaches_the_top_shelf_of_a_tall_gondola_and_puts_back_there(tmp_path):
    # a 1.57 m adult (5th percentile) at a 1.9 m gondola of five shelves: the top plate (1.56 m) is above the
    # shoulder; standing back a little, on tiptoe, the hand level over the lip, the shopper touches, takes and
    # puts back there, and bottom and middle shelves too (crouching)
    store = tmp_path / "tall_gondola.yaml"
    store.write_text(TALL_GONDOLA_STORE)
    sc = Scenario(name="lip", store=str(store), seed=0, duration_s=120)
    sc.add_shopper("ann", account="a", body={"height_m": 1.57}).touch("A-3-1", seconds=1.0).pick(
        "soup-tomato", bin="A-1-1").touch("A-5-1", seconds=1.0).pick("soup-tomato", bin="A-5-1").put_back(
        "soup-tomato", bin="A-5-1")
    sim = build_simulation(sc, cameras=False)
    for _ in sim.run(sc.spec.duration_s):
        pass
    assert not sim.ledger.faults, [e.message for e in sim.ledger.faults]
    assert [e.bin for e in sim.ledger.events_of("touch")] == ["A-3-1", "A-5-1"]
    assert [e.bin for e in sim.ledger.events_of("take")] == ["A-1-1", "A-5-1"]
    assert [e.bin for e in sim.ledger.events_of("put_back")] == ["A-5-1"]
    assert len(sim.ledger.items_in("A-5-1")) == 4
    assert all(a.done for a in sim.actors)
    sim.close()


def test_a_script_a_child_could_not_do_is_refused_at_load_with_file_line_and_key(tmp_path):
    store = tmp_path / "tall_gondola.yaml"
    store.write_text(TALL_GONDOLA_STORE)
    scenario = tmp_path / "kid.yaml"
    scenario.write_text(
        "name: kid\nstore: tall_gondola.yaml\nduration_s: 60\nshoppers:\n"
        "  - id: kid\n    body: {height_m: 1.2}\n    script:\n"
        "      - pick: {sku: soup-tomato, bin: A-1-1}\n"
        "      - pick: {sku: soup-tomato, bin: A-5-1}\n")
    with pytest.raises(InputError) as err:
        validate_file(scenario)
    msg = str(err.value)
    assert f"{scenario}:9:" in msg and "shoppers[0].script[1].pick.bin" in msg, msg
    assert re.search(r"shopper 'kid' cannot reach bin A-5-1: its plate is at 1\.57 m; a 1\.20 m child reaches into a bin "
                     r"there up to 1\.[34]\d m \(0\.\d\d m beyond arm's length\)", msg), msg
    # an adult of no given height is fine: the tallest adult reaches it, and a body that does is drawn
    scenario.write_text(scenario.read_text().replace("    body: {height_m: 1.2}\n", ""))
    validate_file(scenario)
