"""Every scripted action's effect on the ledger and on the load cells (assets/scenarios/every-action.yaml)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agents import build_simulation, load_scenario

ROOT = Path(__file__).resolve().parent.parent
GRAMS_PER_N = 1000.0 / 9.81


@pytest.fixture(scope="module")
def run():
    sc = load_scenario(ROOT / "assets" / "scenarios" / "every-action.yaml")
    sim = build_simulation(sc, cameras=False)  # load cells and ledger only; cameras never move them
    cells = list(sim.load_cells.cell_ids)
    before = sim.load_cells.true_grams().copy()
    trace = []
    for _ in sim.run(sc.spec.duration_s):
        if sim.clock.tick % 6 == 0:
            trace.append((sim.t_s, sim.load_cells.true_grams() - before))
    after = sim.load_cells.true_grams() - before
    t = np.array([x[0] for x in trace])
    g = np.array([x[1] for x in trace])
    yield sim, cells, after, t, g
    sim.close()


def _cell(cells, after, bin_id):
    return after[cells.index(bin_id)]


def test_a_handful_takes_two_items_and_the_bin_loses_both_weights(run):
    sim, cells, after, *_ = run
    takes = [e for e in sim.ledger.events_of("take") if e.bin == "A-1-3"]
    assert len(takes) == 2 and len({e.t_s for e in takes}) == 1
    assert _cell(cells, after, "A-1-3") == pytest.approx(-sum(e.weight_g for e in takes), abs=4.0)


def test_wrong_place_put_back_moves_the_weight_between_cells_and_clears_the_charge(run):
    sim, cells, after, *_ = run
    (take,) = [e for e in sim.ledger.events_of("take") if e.sku == "cola-330"]
    (back,) = sim.ledger.events_of("put_back")
    assert back.item_id == take.item_id and back.bin == "A-1-2"
    assert _cell(cells, after, "A-1-1") == pytest.approx(-take.weight_g, abs=3.0)
    assert _cell(cells, after, "A-1-2") == pytest.approx(take.weight_g, abs=3.0)
    rec = sim.ledger.items[take.item_id]
    assert rec.location == "A-1-2" and rec.charged_to is None
    pos = np.array(sim.world.item_pose(take.item_id)[0])
    b = sim.layout.bins["A-1-2"]
    assert abs(pos[2] - (b.center[2] + 0.115 / 2)) < 0.01  # standing upright on the plate


def test_touch_leaves_every_reading_where_it_was(run):
    sim, cells, after, t, g = run
    (touch,) = sim.ledger.events_of("touch")
    assert touch.bin == "A-2-1" and touch.seconds == 1.5
    assert abs(_cell(cells, after, "A-2-1")) < 3.0
    assert sim.ledger.receipt("fam").get("crisps-salt", 0) == 0


def test_lean_presses_the_plate_with_the_hand_force_while_it_lasts(run):
    sim, cells, after, t, g = run
    (lean,) = sim.ledger.events_of("lean")
    assert 10.0 <= lean.force_n <= 40.0
    j = cells.index("A-2-3")
    during = g[(t > lean.t_s + 0.5) & (t < lean.t_s + lean.seconds - 0.2), j]
    assert np.median(during) > 0.8 * lean.force_n * GRAMS_PER_N
    assert abs(after[j]) < 3.0  # nothing taken


def test_give_moves_the_item_but_not_the_charge(run):
    sim, *_ = run
    (give,) = sim.ledger.events_of("give")
    assert give.shopper == "alice" and give.other == "bob"
    rec = sim.ledger.items[give.item_id]
    assert rec.location == "basket:bob" and rec.picked_by == "alice" and rec.charged_to == "fam"


def test_group_enters_on_one_scan_and_its_receipt_closes_when_the_last_member_leaves(run):
    sim, *_ = run
    scans = sim.ledger.events_of("scan")
    assert len(scans) == 1 and scans[0].account == "fam"
    entries = {e.shopper for e in sim.ledger.events_of("entry")}
    exits = sim.ledger.events_of("exit")
    assert entries == {"alice", "bob"} and {e.shopper for e in exits} == {"alice", "bob"}
    assert sim.ledger.closed["fam"] == max(e.t_s for e in exits)
    assert sim.ledger.closed_receipts == {"fam": {"water-500": 2}}


def test_sync_releases_both_only_when_both_arrived(run):
    sim, *_ = run
    exits = {e.shopper: e.t_s for e in sim.ledger.events_of("exit")}
    give_t = sim.ledger.events_of("give")[0].t_s
    assert min(exits.values()) > give_t  # bob waited at the sync until alice had given and synced


def test_no_item_left_the_shelves_but_the_ones_taken(run):
    sim, *_ = run
    for rec in sim.ledger.items.values():
        if rec.location in sim.layout.bins:
            z = sim.world.item_pose(rec.item_id)[0][2]
            assert z > sim.layout.bins[rec.location].center[2], f"item {rec.item_id} fell off {rec.location}"
