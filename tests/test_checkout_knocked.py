"""Items knocked off a shelf: things on the floor, confirmed away from people, matched to the take they explain."""
from __future__ import annotations

import numpy as np

from checkout.knocked import CONFIRM_N, FloorLedger
from checkout.perception import FloorObject
from checkout.receipts import ShelfEvent
from checkout.storemodel import StoreModel
from tests.checkout_synth import tiny_store_info

STORE = StoreModel(tiny_store_info())
LEMON = np.array([[242, 210, 27]] * 6, dtype=np.uint8)
COLA = np.array([[200, 16, 46]] * 6, dtype=np.uint8)
NOBODY = np.zeros((0, 2))


def _seen(ledger: FloorLedger, xy, rgb, t0: float, n: int = CONFIRM_N, people=NOBODY, dt: float = 0.2) -> None:
    for k in range(n):
        ledger.add(t0 + dt * k, (FloorObject(xy, len(rgb), rgb),), people)


def _take(t_s: float, bin_id: str = "A-1-2", sku: str = "lemon-330", account: str = "a") -> ShelfEvent:
    return ShelfEvent(t_s, bin_id, "take", sku, 1, account, 0.99, -350.0)


def test_a_thing_is_confirmed_only_after_enough_sightings_with_nobody_near():
    ledger = FloorLedger(STORE)
    _seen(ledger, (2.45, 3.0), LEMON, 5.0, n=CONFIRM_N - 1)
    assert ledger.unexplained() == []
    _seen(ledger, (2.46, 3.0), LEMON, 7.0, n=1)  # the same thing (a couple of cm off)
    assert len(ledger.unexplained()) == 1
    crowded = FloorLedger(STORE)
    _seen(crowded, (2.45, 3.0), LEMON, 5.0, n=30, people=np.array([[2.0, 3.2]]))  # someone stands by: their feet?
    assert crowded.unexplained() == []


def test_a_lemon_on_the_floor_in_front_of_the_lemon_bin_explains_the_take_there():
    ledger = FloorLedger(STORE)
    _seen(ledger, (2.45, 3.0), LEMON, 5.0)
    (thing,) = ledger.unexplained()
    takes = [(0, _take(2.0, "A-1-1", "cola-330")), (1, _take(4.5)), (2, _take(1.0))]
    assert ledger.explains(thing, takes) == 1  # the latest lemon take at that bin, not the cola, not the older one
    assert ledger.unexplained() == []  # and it explains nothing else


def test_a_thing_explains_no_take_of_another_colour_far_away_or_from_before_it_was_there():
    for xy, rgb, take in (
        ((2.45, 3.0), COLA, _take(4.5)),  # a cola can is no lemon
        ((0.6, 3.0), LEMON, _take(4.5)),  # two metres from the bin
        ((2.45, 3.0), LEMON, _take(9.0)),  # lying there since 5 s: the take at 9 s was a take
    ):
        ledger = FloorLedger(STORE)
        _seen(ledger, xy, rgb, 5.0)
        (thing,) = ledger.unexplained()
        assert ledger.explains(thing, [(0, take)]) is None
        assert ledger.unexplained() == [thing]  # still free to explain a later take


def test_an_item_the_floors_colour_cannot_be_told_on_that_floor():
    # Colours are compared up to brightness: on a floor of the lemon's hue (only darker), a lemon-coloured thing is
    # floor made lighter as far as colour can say — a shoe's scuff, a reflection — and explains no take of a lemon.
    yellowish_floor = np.array([[170, 147, 19]] * 6, dtype=float)
    ledger = FloorLedger(STORE)
    for k in range(CONFIRM_N):
        ledger.add(5.0 + 0.2 * k, (FloorObject((2.45, 3.0), 6, LEMON, yellowish_floor),), NOBODY)
    (thing,) = ledger.unexplained()
    assert ledger.explains(thing, [(0, _take(4.5))]) is None
    # The same lemon on the grey floor is one.
    ledger = FloorLedger(STORE)
    for k in range(CONFIRM_N):
        ledger.add(5.0 + 0.2 * k, (FloorObject((2.45, 3.0), 6, LEMON, np.array([[158, 158, 153]] * 6, dtype=float)),), NOBODY)
    (thing,) = ledger.unexplained()
    assert ledger.explains(thing, [(0, _take(4.5))]) == 0


def test_a_pale_thing_whose_colour_half_the_catalog_carries_is_no_items():
    # Every label carries some white (a band, a logo's ground): a pale patch on the floor in front of the lemon bin
    # (a reflection, a shadow's edge, a scrap) matches each SKU's white. Its pixels are shared out among all the
    # SKUs that could show them, so it is no one SKU's item and uncharges no take; a lemon with its white band is.
    from dataclasses import replace

    info = tiny_store_info()
    catalog = tuple(replace(p, reference=(p.reference[0][:3] + (0.8,), (240.0, 240.0, 236.0, 0.2))) for p in info.catalog)
    store = StoreModel(replace(info, catalog=catalog))
    pale = np.array([[238, 238, 233]] * 6, dtype=np.uint8)
    ledger = FloorLedger(store)
    _seen(ledger, (2.45, 3.0), pale, 5.0)
    (thing,) = ledger.unexplained()
    assert ledger.explains(thing, [(0, _take(4.5))]) is None
    banded = FloorLedger(store)
    _seen(banded, (2.45, 3.0), np.concatenate([LEMON, pale[:2]]), 5.0)
    (thing,) = banded.unexplained()
    assert banded.explains(thing, [(0, _take(4.5))]) == 0
