"""Personas: shopper behaviours that write a script from the store's stock, with the shopper's own rng.

A persona is a function `(script, store, rng)` that chains actions on a
`ShopperBuilder` (the same API a scenario author uses). `store` is a
`StockView`: what is on the shelves when the shopper walks in (from the
store's planogram as it stands then, including items put back elsewhere).
Register your own with `@register_persona("name")`; a crowd or a scripted
shopper then names it.

Built in:
- `quick`: one to three picks, straight out.
- `browser`: touches and compares neighbouring bins, picks some, puts one back
  where it came from.
- `returner`: picks several, puts one or two back; one time in three into the
  wrong place, most often a look-alike's bin.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from sim.layout import StoreLayout, bin_capacity
from sim.ledger import Ledger

PersonaFn = Callable[["object", "StockView", np.random.Generator], None]
PERSONAS: dict[str, PersonaFn] = {}


def register_persona(name: str) -> Callable[[PersonaFn], PersonaFn]:
    def deco(fn: PersonaFn) -> PersonaFn:
        PERSONAS[name] = fn
        return fn

    return deco


class StockView:
    """The shelves as a shopper finds them: which SKUs each bin it can reach holds now (`reachable`, from
    `agents.reach`: a child's persona never plans a top shelf it cannot get a hand into)."""

    def __init__(self, layout: StoreLayout, ledger: Ledger, reachable: Callable[[str], bool] | None = None) -> None:
        self.layout = layout
        self.by_bin: dict[str, dict[str, int]] = {}
        ok: dict[str, bool] = {}
        for rec in ledger.items.values():
            if rec.location in layout.bins:
                if reachable is not None and not ok.setdefault(rec.location, reachable(rec.location)):
                    continue  # a bin this shopper's body cannot reach is no part of its shop
                d = self.by_bin.setdefault(rec.location, {})
                d[rec.sku] = d.get(rec.sku, 0) + 1

    def stocked_bins(self) -> list[str]:
        return sorted(b for b, d in self.by_bin.items() if d)

    def main_sku(self, bin_id: str) -> str:
        d = self.by_bin[bin_id]
        return max(sorted(d), key=lambda s: d[s])

    def count(self, bin_id: str, sku: str) -> int:
        return self.by_bin.get(bin_id, {}).get(sku, 0)

    def lookalikes(self, sku: str) -> list[str]:
        """SKUs of the same shape, size and nominal weight (the hard cases for a weight-only checkout)."""
        return sorted(self.layout.lookalikes(sku))

    def bins_holding(self, sku: str) -> list[str]:
        return sorted(b for b, d in self.by_bin.items() if d.get(sku, 0) > 0)

    def fits(self, bin_id: str, sku: str) -> bool:
        """Does an item of `sku` stand in bin `bin_id` (under the plate above, on the plate)?"""
        return bin_capacity(self.layout.bins[bin_id], self.layout.catalog[sku]) > 0

    def neighbours(self, bin_id: str) -> list[str]:
        b = self.layout.bins[bin_id]
        out = []
        for o in self.layout.bins.values():
            if o.gondola == b.gondola and o.id != bin_id and abs(o.shelf - b.shelf) + abs(o.index - b.index) == 1:
                out.append(o.id)
        return sorted(out)


def _choose_bins(store: StockView, rng: np.random.Generator, n: int) -> list[str]:
    bins = store.stocked_bins()
    if not bins:
        return []
    idx = rng.choice(len(bins), size=min(n, len(bins)), replace=False)
    return [bins[int(i)] for i in idx]


@register_persona("quick")
def quick(script, store: StockView, rng: np.random.Generator) -> None:
    taken: dict[str, int] = {}
    for b in _choose_bins(store, rng, int(rng.integers(1, 4))):
        sku = store.main_sku(b)
        if store.count(b, sku) - taken.get(b, 0) >= 1:
            script.pick(sku, bin=b)
            taken[b] = taken.get(b, 0) + 1


@register_persona("browser")
def browser(script, store: StockView, rng: np.random.Generator) -> None:
    picked: list[tuple[str, str]] = []
    for b in _choose_bins(store, rng, int(rng.integers(2, 4))):
        script.touch(b, seconds=float(np.round(rng.uniform(1.0, 3.0), 1)))
        near = [n for n in store.neighbours(b) if n in store.by_bin]
        if near and rng.random() < 0.6:
            other = near[int(rng.integers(len(near)))]
            script.touch(other, seconds=float(np.round(rng.uniform(1.0, 2.5), 1)))
        if rng.random() < 0.7 and store.count(b, store.main_sku(b)) > 0:
            sku = store.main_sku(b)
            script.pick(sku, bin=b)
            picked.append((sku, b))
    if picked and rng.random() < 0.6:
        sku, b = picked[int(rng.integers(len(picked)))]
        script.wait(float(np.round(rng.uniform(0.5, 2.0), 1)))
        script.put_back(sku, bin=b)


@register_persona("returner")
def returner(script, store: StockView, rng: np.random.Generator) -> None:
    picked: list[tuple[str, str]] = []
    for b in _choose_bins(store, rng, int(rng.integers(2, 5))):
        sku = store.main_sku(b)
        script.pick(sku, bin=b)
        picked.append((sku, b))
    if not picked:
        return
    n_back = 1 if len(picked) < 3 or rng.random() < 0.5 else 2
    order = rng.permutation(len(picked))[:n_back]
    for k in order:
        sku, home = picked[int(k)]
        if rng.random() < 1 / 3:
            # Left somewhere else, but where it stands: nobody jams a tall bottle into a shelf lower than it.
            alike = [b for s in store.lookalikes(sku) for b in store.bins_holding(s) if store.fits(b, sku)]
            pool = alike or [b for b in store.stocked_bins() if b != home and store.fits(b, sku)]
            wrong = pool[int(rng.integers(len(pool)))] if pool else home
            script.put_back(sku, bin=wrong)
        else:
            script.put_back(sku, bin=home)
