"""Personas write scripts from the store's stock with the shopper's own rng; custom ones register by name."""
from __future__ import annotations

import pytest

from agents.personas import PERSONAS, StockView
from agents.scenario import Scenario, ShopperBuilder, Step, register_persona
from sim.layout import load_store
from sim.ledger import ItemRecord, Ledger
from sim.seeding import generator
from agents.scenario import STORES_DIR


@pytest.fixture(scope="module")
def stock():
    layout = load_store(STORES_DIR / "tiny_store.yaml")
    ledger = Ledger()
    n = 0
    for bin_id, e in layout.spec.planogram.items():
        for _ in range(e.count):
            n += 1
            ledger.add_item(ItemRecord(n, e.sku, 100.0, bin_id, bin_id))
    return StockView(layout, ledger)


def _script(name, stock, who="x", seed=0):
    b = ShopperBuilder(who, None, 0.0, {}, None)
    PERSONAS[name](b, stock, generator(seed, "shopper", who))
    return [Step.model_validate(s) for s in b.steps]


@pytest.mark.parametrize("name", ["quick", "browser", "returner"])
def test_builtin_persona_scripts_are_valid_and_repeat_for_the_same_shopper_and_seed(name, stock):
    a, b = _script(name, stock), _script(name, stock)
    assert a == b and a
    for step in a:
        if step.action in ("pick", "put_back"):
            assert step.args.sku in stock.layout.catalog
        if getattr(step.args, "bin", None):
            assert step.args.bin in stock.layout.bins


def test_returner_puts_back_what_it_picked_and_sometimes_into_a_lookalike_bin(stock):
    wrong = 0
    for k in range(40):
        steps = _script("returner", stock, who=f"r{k}")
        picked = {(s.args.sku, s.args.bin) for s in steps if s.action == "pick"}
        backs = [s.args for s in steps if s.action == "put_back"]
        assert backs and all(b.sku in {p[0] for p in picked} for b in backs)
        wrong += sum(1 for b in backs if (b.sku, b.bin) not in picked)
    assert 0 < wrong < 40


def test_browser_touches_before_it_takes(stock):
    steps = _script("browser", stock, who="b1", seed=3)
    assert steps[0].action == "touch"


def test_a_registered_persona_can_be_named_by_a_scenario(stock):
    @register_persona("snacker")
    def snacker(script, store, rng):
        script.pick("choc-bar")

    sc = Scenario(name="p", store="tiny_store")
    sc.add_shopper("s", persona="snacker")
    sc.check()
    assert [s.action for s in _script("snacker", stock)] == ["pick"]
    sc.crowd(arrivals_per_min=1, until_s=10, personas={"snacker": 1.0})
    sc.check()
