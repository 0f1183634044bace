"""Generated scenarios for a store (issue 15): scripted shoppers and persona crowds drawn from distributions.

`generate_scenarios(layout, seed, count)` returns `GeneratedScenario`s (YAML
text, the truth, what was drawn); `generate(seed, out_dir, count)` writes a
generated store (`sim.generate`) and its scenarios, each validated as `run`
would validate it. Same seed, same bytes.

What is drawn (the proportions are those of the shipped `standard` and `hard`
suites, counted from their files: 34 scripted scenarios to 7 crowds; per
scripted step pick 0.59, sync 0.16, walk_to 0.08, put_back 0.06, give 0.04,
lean 0.03, touch 0.03, wait 0.01; one pick in ten a handful; 1-4 scripted
shoppers, 38 % alone, 47 % in twos):
- Scripted scenarios: 1-4 shoppers entering a few seconds apart, each on its
  own account or on the previous shopper's (a group on one scan), a child
  among a group now and then (its bins within a child's reach). Each script is
  1-5 acts drawn by those weights. With two or more shoppers, one interaction
  is drawn among: both reaching into one bin at once, or into neighbouring
  bins (a `sync` then the picks), a wrong-place put-back of a look-alike
  later taken from there by the other, a hand-over (within or across
  accounts). Put-backs go home, into a look-alike's bin, or into another bin
  with room. Only bins a median adult (1.72 m) can work at are named (a child:
  a 1.25 m child), so every script can be done by a body of the population.
- Persona crowds: 1-25 arrivals (rate 6-40 a minute), `max_inside` at most
  one per 8 m2 of open floor, a random mix of the `quick`, `browser` and
  `returner` personas.
- Each scripted scenario's truth (`# truth:` comment) follows the ledger's
  rules (DESIGN.md: picker pays, a put-back by anyone uncharges the item, a
  hand-over moves no charge); a crowd's truth is the ledger's.
- `duration_s`: generous (the walking, acting and waiting-at-sync time
  estimated from the layout, times 2, plus 60 s: at 1.5x plus 40 s two
  shoppers of one generated store were still inside when it ran out; a crowd's arrivals plus
  `CROWD_VISIT_S` for each wave of its queue at `max_inside`, see `_crowd_duration_s`): a run stops
  3 s after the last shopper leaves, so a long limit costs nothing, and a
  shopper still inside when it runs out counts against the stack.
A drawn scenario that does not validate is drawn again (at most
`MAX_REDRAWS` times) and the redraw is reported; none did in the tests' 50 stores.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from shapely.geometry import Point, box
from shapely.ops import unary_union

from agents.reach import bin_problem, median_build
from agents.script_check import CROWD_VISIT_S
from sim.errors import InputError
from sim.generate import dump_yaml, store_text
from sim.layout import Bin, StoreLayout, bin_capacity, load_store

SCENARIO_STREAM = 1502
MAX_REDRAWS = 20
CROWD_SHARE = 7 / 41  # crowds among the shipped suites' scenarios
ACT_WEIGHTS = {"pick": 0.62, "put_back": 0.10, "walk_to": 0.09, "give": 0.05, "lean": 0.05, "touch": 0.05, "wait": 0.04}
HANDFUL_SHARE = 0.1
PEOPLE_P = (0.38, 0.47, 0.12, 0.03)  # 1, 2, 3, 4 scripted shoppers
NAMES = ("ada", "ben", "cai", "dee", "eli", "fay", "gus", "hal", "ivy", "jon", "kit", "lou", "max", "nia", "oli", "pam")
INTERACTIONS = ("same_bin", "neighbour_bins", "misplaced", "handover", "none")
WALK_MPS = 1.0  # for the duration estimate: a shopper's pace with stops


@dataclass
class GeneratedScenario:
    name: str
    text: str
    truth: dict[str, dict[str, int]] | None  # None: a crowd, whose truth is the ledger's
    kind: str
    redraws: int = 0


@dataclass
class _Shopper:
    id: str
    account: str
    enter_at_s: float
    child: bool = False
    steps: list[dict] = field(default_factory=list)
    held: list[tuple[str, str]] = field(default_factory=list)  # (sku, home bin) picked by this shopper, in hand
    given: Counter = field(default_factory=Counter)  # SKUs handed to this shopper (never put back by it)
    seconds: float = 0.0
    xy: tuple[float, float] = (0.0, 0.0)


class _Store:
    """What the generator needs of a store: reach per body and action, stock and room, open floor."""

    def __init__(self, layout: StoreLayout) -> None:
        self.layout = layout
        self.stock = {b: Counter({e.sku: e.count}) for b, e in layout.spec.planogram.items() if e.count > 0}
        self.builds = {False: median_build(1.72, False), True: median_build(1.25, True)}
        self._reach: dict[tuple, bool] = {}

    def can(self, child: bool, bin_id: str, sku: str | None, action: str) -> bool:
        key = (child, bin_id, sku, action)
        if key not in self._reach:
            self._reach[key] = bin_problem(self.builds[child], self.layout.bins[bin_id], sku, self.layout, action) is None
        return self._reach[key]

    def sku_of(self, bin_id: str) -> str:
        return self.layout.spec.planogram[bin_id].sku

    def pickable(self, child: bool, qty: int = 1) -> list[str]:
        return [b for b, c in self.stock.items() if c[self.sku_of(b)] >= qty and self.can(child, b, self.sku_of(b), "pick")]

    def lookalikes(self, sku: str) -> list[str]:
        return self.layout.lookalikes(sku)

    def room_for(self, bin_id: str, sku: str) -> bool:
        """A bin with room for two more of `sku` by the stocking rule (so a put-back finds a free spot)."""
        b = self.layout.bins[bin_id]
        item = self.layout.catalog[sku]
        held = sum(self.stock.get(bin_id, Counter()).values())
        return item.size_mm[2] / 1000.0 <= b.clearance_m - 0.04 and bin_capacity(b, item) - held >= 2

    def neighbours(self, bin_id: str) -> list[str]:
        b = self.layout.bins[bin_id]
        return sorted(o.id for o in self.layout.bins.values()
                      if o.gondola == b.gondola and o.shelf == b.shelf and abs(o.index - b.index) == 1)

    @cached_property
    def open_floor(self):
        w, d = self.layout.spec.floor_m
        taken = unary_union([g.footprint() for g in self.layout.spec.gondolas]).buffer(0.6)
        return box(0.5, 0.5, w - 0.5, d - 0.5).difference(taken)

    def floor_point(self, rng: np.random.Generator) -> tuple[float, float]:
        x0, y0, x1, y1 = self.open_floor.bounds
        for _ in range(200):
            p = (round(float(rng.uniform(x0, x1)), 2), round(float(rng.uniform(y0, y1)), 2))
            if self.open_floor.contains(Point(p)):
                return p
        c = self.open_floor.representative_point()
        return (round(c.x, 2), round(c.y, 2))

    def gate_xy(self, kind: str) -> tuple[float, float]:
        g = next(g for g in self.layout.spec.gates if g.kind == kind)
        return (float(g.at[0]), float(g.at[1]))


def generate(seed: int, out_dir: Path | str, count: int = 8) -> tuple[Path, list[GeneratedScenario]]:
    """Write `out_dir/store.yaml` and `out_dir/scenarios/*.yaml` (validated); return the store path and the scenarios."""
    out = Path(out_dir)
    (out / "scenarios").mkdir(parents=True, exist_ok=True)
    store_path = out / "store.yaml"
    store_path.write_text(store_text(seed))
    layout = load_store(store_path)
    scenarios = generate_scenarios(layout, seed, count, out / "scenarios")
    return store_path, scenarios


def generate_scenarios(layout: StoreLayout, seed: int, count: int, folder: Path) -> list[GeneratedScenario]:
    """`count` scenarios for the generated store of `seed`, written to `folder` (the store at `../store.yaml`),
    each validated against the store; a draw that does not validate is drawn again (see the module docstring)."""
    from agents.scenario import validate_file

    rng = np.random.default_rng([int(seed), SCENARIO_STREAM])
    for stale in folder.glob(f"gen{seed}-*.yaml"):  # an earlier run's (with more scenarios): not this set's
        stale.unlink()
    out = []
    for k in range(count):
        crowd = bool(rng.random() < CROWD_SHARE)
        sub = np.random.default_rng([int(seed), SCENARIO_STREAM, k])
        for redraw in range(MAX_REDRAWS + 1):
            sc = (_crowd if crowd else _scripted)(_Store(layout), sub, f"gen{seed}-{k + 1:02d}")
            path = folder / f"{sc.name}.yaml"
            path.write_text(sc.text)
            try:
                validate_file(path)
            except InputError:
                if redraw == MAX_REDRAWS:
                    raise
                path.unlink()  # no invalid file left beside the valid ones
                continue
            sc.redraws = redraw
            out.append(sc)
            break
    return out


# -- scripted ---------------------------------------------------------------


def _scripted(store: _Store, rng: np.random.Generator, stem: str) -> GeneratedScenario:
    n = int(rng.choice([1, 2, 3, 4], p=PEOPLE_P))
    names = [NAMES[int(i)] for i in rng.permutation(len(NAMES))[:n]]
    people: list[_Shopper] = []
    t = 0.0
    for i, name in enumerate(names):
        account = people[-1].account if people and rng.random() < 0.35 else f"acct-{name}"
        child = bool(i > 0 and account == people[-1].account and rng.random() < 0.25)
        sh = _Shopper(name, account, round(t, 1), child, xy=store.gate_xy("entry"))
        people.append(sh)
        t += float(rng.uniform(0.5, 3.0))
    charges: dict[str, Counter] = {p.account: Counter() for p in people}
    interaction = str(rng.choice(INTERACTIONS, p=(0.2, 0.15, 0.2, 0.2, 0.25))) if n >= 2 else "none"
    for p in people:
        for _ in range(int(rng.integers(0, 3))):
            _act(store, rng, p, people, charges)
    done = _interact(store, rng, interaction, people, charges)
    for p in people:
        for _ in range(int(rng.integers(0 if p.steps else 1, 3))):
            _act(store, rng, p, people, charges)
    exit_xy = store.gate_xy("exit")
    duration = max(p.enter_at_s + p.seconds + math.dist(p.xy, exit_xy) / WALK_MPS for p in people) * 2 + 60
    tag = f"{n}-shopper{'s' if n > 1 else ''}" + (f"-{done.replace('_', '-')}" if done != "none" else "")
    name = f"{stem}-{tag}"
    shoppers = []
    for p in people:
        d: dict = {"id": p.id, "account": p.account, "enter_at_s": p.enter_at_s}
        if p.child:
            d["body"] = {"child": True}
        d["script"] = p.steps or [{"wait": 1.0}]
        shoppers.append(d)
    doc = {"name": name,
           "description": f"Generated: {n} scripted shopper{'s' if n > 1 else ''}"
                          + (f", {done.replace('_', ' ')}" if done != "none" else "") + ".",
           "store": "../store.yaml", "seed": 0, "duration_s": float(round(duration)), "shoppers": shoppers}
    truth = {a: {s: q for s, q in sorted(c.items()) if q} for a, c in charges.items()}
    text = dump_yaml(doc) + "# truth: " + "; ".join(f"{a} {_flow(items)}" for a, items in truth.items()) + "\n"
    return GeneratedScenario(name, text, truth, "scripted")


def _act(store: _Store, rng: np.random.Generator, p: _Shopper, people: list[_Shopper], charges: dict) -> None:
    """One act drawn by `ACT_WEIGHTS`; one that cannot be done here (nothing in hand to put back) is a pick."""
    acts = list(ACT_WEIGHTS)
    action = str(rng.choice(acts, p=np.array(list(ACT_WEIGHTS.values())) / sum(ACT_WEIGHTS.values())))
    if action == "put_back" and p.held:
        sku, home = p.held[int(rng.integers(len(p.held)))]
        _put_back(store, rng, p, sku, home, charges, mode=str(rng.choice(["home", "lookalike", "other"], p=(0.6, 0.3, 0.1))))
    elif action == "give" and p.held and len(people) > 1:
        others = [o for o in people if o is not p]
        _give(rng, p, others[int(rng.integers(len(others)))], charges)
    elif action in ("touch", "lean"):
        bins = [b for b in store.layout.bins if (action == "lean" or b in store.stock) and store.can(p.child, b, None, action)]
        if bins:
            b = bins[int(rng.integers(len(bins)))]
            secs = float(round(rng.uniform(1.0, 3.0), 1))
            _step(store, p, {action: {"bin": b, "seconds": secs}}, b, secs + 6)
    elif action in ("walk_to", "wait"):
        if action == "wait":
            secs = float(round(rng.uniform(1.0, 4.0), 1))
            p.steps.append({"wait": secs})
            p.seconds += secs
        elif rng.random() < 0.6:
            xy = store.floor_point(rng)
            p.steps.append({"walk_to": [xy[0], xy[1]]})
            p.seconds += math.dist(p.xy, xy) / WALK_MPS + 2
            p.xy = xy
        else:
            b = sorted(store.stock)[int(rng.integers(len(store.stock)))]
            _step(store, p, {"walk_to": {"bin": b}}, b, 2)
    else:
        _pick(store, rng, p, charges)


def _pick(store: _Store, rng: np.random.Generator, p: _Shopper, charges: dict, bin_id: str | None = None,
          sku: str | None = None) -> str | None:
    qty = int(rng.integers(2, 5)) if bin_id is None and rng.random() < HANDFUL_SHARE else 1
    if bin_id is None:
        bins = store.pickable(p.child, qty) or store.pickable(p.child, 1)
        if not bins:
            return None
        bin_id = bins[int(rng.integers(len(bins)))]
    sku = sku or store.sku_of(bin_id)
    qty = min(qty, store.stock[bin_id][sku])
    if qty < 1:
        return None
    store.stock[bin_id][sku] -= qty
    args = {"sku": sku, "qty": qty, "bin": bin_id} if qty > 1 else {"sku": sku, "bin": bin_id}
    _step(store, p, {"pick": args}, bin_id, 10 + 3 * (qty - 1))
    p.held += [(sku, bin_id)] * qty
    charges[p.account][sku] += qty
    return bin_id


def _put_back(store: _Store, rng: np.random.Generator, p: _Shopper, sku: str, home: str, charges: dict,
              mode: str = "home", into: str | None = None) -> str:
    """Put one `sku` picked from `home` back: home, into a look-alike's bin, another bin with room, or `into`."""
    target = into or home
    if into is None and mode != "home":
        if mode == "lookalike":
            pool = [b for s in store.lookalikes(sku) for b in sorted(store.stock) if store.sku_of(b) == s]
        else:
            pool = [b for b in sorted(store.stock) if b != home]
        pool = [b for b in pool if store.room_for(b, sku) and store.can(p.child, b, sku, "put_back")]
        if pool:
            target = pool[int(rng.integers(len(pool)))]
    p.held.remove((sku, home))
    store.stock.setdefault(target, Counter())[sku] += 1
    charges[p.account][sku] -= 1
    args = {"sku": sku} if target == home and rng.random() < 0.5 else {"sku": sku, "bin": target}
    _step(store, p, {"put_back": args}, target, 10)
    return target


def _give(rng: np.random.Generator, giver: _Shopper, to: _Shopper, charges: dict) -> str:
    """A hand-over, the receiver kept inside until it is done (a `sync` both reach after it)."""
    sku, home = giver.held[int(rng.integers(len(giver.held)))]
    giver.held.remove((sku, home))
    to.given[sku] += 1
    label = f"handed-{giver.id}-{len(giver.steps)}"
    giver.steps.append({"give": {"sku": sku, "to": to.id}})
    giver.seconds += math.dist(giver.xy, to.xy) / WALK_MPS + 15
    _sync(label, giver, to)
    return sku


def _sync(label: str, *people: _Shopper) -> None:
    """Everyone at `label`; from there on each is as late as the latest (for the duration estimate)."""
    at = max(p.enter_at_s + p.seconds for p in people)
    for p in people:
        p.steps.append({"sync": label})
        p.seconds = at - p.enter_at_s


def _interact(store: _Store, rng: np.random.Generator, kind: str, people: list[_Shopper], charges: dict) -> str:
    """The one interaction between two shoppers (see the module docstring); the kind done, or "none"."""
    if kind == "none":
        return "none"
    a, b = [people[int(i)] for i in rng.permutation(len(people))[:2]]
    label = f"{kind.replace('_', '-')}"
    if kind in ("same_bin", "neighbour_bins"):
        both = [x for x in store.pickable(a.child, 2) if store.can(b.child, x, store.sku_of(x), "pick")]
        if kind == "neighbour_bins":
            pairs = [(x, y) for x in store.pickable(a.child) for y in store.neighbours(x)
                     if y in store.stock and store.stock[y][store.sku_of(y)] >= 1 and store.can(b.child, y, store.sku_of(y), "pick")]
            if not pairs:
                return "none"
            x, y = pairs[int(rng.integers(len(pairs)))]
        elif both:
            x = y = both[int(rng.integers(len(both)))]
        else:
            return "none"
        _sync(label, a, b)
        for who, where in ((a, x), (b, y)):
            _pick(store, rng, who, charges, bin_id=where)
        return kind
    if kind == "misplaced":
        pairs = []
        for x in store.pickable(a.child):
            sku = store.sku_of(x)
            for s in store.lookalikes(sku):
                for y in sorted(store.stock):
                    if (store.sku_of(y) == s and store.room_for(y, sku) and store.can(a.child, y, sku, "put_back")
                            and store.can(b.child, y, sku, "pick")):
                        pairs.append((x, y))
        if not pairs:
            return "none"
        x, y = pairs[int(rng.integers(len(pairs)))]
        sku = store.sku_of(x)
        _pick(store, rng, a, charges, bin_id=x)
        _put_back(store, rng, a, sku, x, charges, into=y)
        _sync(label, a, b)
        _pick(store, rng, b, charges, bin_id=y, sku=sku)
        return kind
    # a hand-over: a picks, gives to b
    if not a.held:
        if _pick(store, rng, a, charges) is None:
            return "none"
    _give(rng, a, b, charges)
    return "handover" if a.account == b.account else "handover-across-accounts"


def _step(store: _Store, p: _Shopper, step: dict, bin_id: str, seconds: float) -> None:
    b: Bin = store.layout.bins[bin_id]
    p.seconds += math.dist(p.xy, b.front) / WALK_MPS + seconds
    p.xy = b.front
    p.steps.append(step)


# -- crowds -----------------------------------------------------------------


def _crowd_duration_s(until_s: float, arrivals: int, max_inside: int) -> float:
    """A limit, not a length (the run ends once everyone has left): the last arrival's whole visit after
    `until_s`, once for each wave of the queue at `max_inside`, and half a wave more for a Poisson surplus."""
    waves = math.ceil(1.5 * arrivals / max_inside)
    return float(round(until_s + CROWD_VISIT_S * waves))


def _crowd(store: _Store, rng: np.random.Generator, stem: str) -> GeneratedScenario:
    arrivals = int(rng.integers(1, 26))
    rate = float(round(rng.uniform(6.0, 40.0), 1))
    until = float(max(2.0, round(arrivals / rate * 60.0, 1)))
    max_inside = int(max(1, min(arrivals, 25, store.open_floor.area // 8)))
    weights = rng.dirichlet([1.0, 1.0, 1.0])
    personas = {k: float(round(w, 2)) for k, w in zip(("quick", "browser", "returner"), weights) if round(w, 2) > 0}
    doc = {"name": f"{stem}-crowd-{arrivals}",
           "description": f"Generated: a persona crowd, about {arrivals} arriving at {rate:g} a minute, at most {max_inside} inside.",
           "store": "../store.yaml", "seed": 0, "duration_s": _crowd_duration_s(until, arrivals, max_inside),
           "crowd": {"arrivals_per_min": rate, "until_s": until, "max_inside": max_inside, "personas": personas}}
    text = dump_yaml(doc) + "# truth: whatever the personas did, as the ledger records it\n"
    return GeneratedScenario(doc["name"], text, None, "crowd")


def _flow(items: dict[str, int]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in items.items()) + "}"
