"""Generated stores (issue 15): a valid store layout drawn from distributions, so nothing can be fitted to a fixed set.

`generate_store(seed)` returns the layout as a plain dict (the same schema a
hand-written `assets/stores/*.yaml` has) and `store_text(seed)` its YAML text:
same seed, same bytes. `agents.generate` draws scenarios for it and
`run_sim.py generate --seed N --out DIR` writes both.

What is drawn, and from what (the ranges are issue 15's; where it is silent,
real stores):
- Floor: area log-uniform in 40-400 m2, aspect 1.0-1.8, the long side along x;
  a front zone 1.8-2.6 m deep along the south wall (y = 0) stays free of
  gondolas: entry and exit gates (1-2 each, 0.9-1.2 m wide) open onto it from
  the south wall, an exit sometimes from a side wall.
- Gondolas (2-14): wall runs along the back and side walls (each wall with a
  probability, cut into modules of at most `MAX_GONDOLA_M`), islands of two
  gondolas back to back running north-south or east-west in the middle with
  aisles 1.1-1.8 m wide between faces (0.91 m is the ADA minimum; grocery
  aisles are 1.2-1.8 m), single-sided gondolas, and end caps (a short gondola
  across an island's end, facing along the aisle). Where the floor would hold
  more than 14, islands are dropped (open floor, as promotion space is).
- Shelves 3-6 per gondola, as many as leave at least `MIN_CLEARANCE_M` between
  plates; 2-8 bins a shelf, each 0.3-1.0 m wide (a weight-sensing plate per
  facing group); gondolas 1.2-2.0 m high (wall runs tallest).
- Catalog: 15-120 SKUs (never more than the store has bins) from real pack
  archetypes (`ARCHETYPES`: sizes and weights of cans, bottles, cartons, boxes,
  bags), in families: flavours of one pack (equal size and weight, different
  colour: the look-alikes a weight-only checkout cannot tell apart) and
  near-equal siblings (same size, 1-4 % heavier or lighter).
- Planogram: every SKU in at least one bin; a family's members often side by
  side (as shops shelve flavours), and heavy and light packs side by side
  where they fit; each bin stocked to 50-100 % of what fits, at most
  `MAX_FACINGS` items (resting items drive the physics cost).
- Cameras: a grid at 5-15 m2 of floor per camera (the density of real
  deployments, `../shared/REFERENCE.md`: Standard Cognition 6.5 m2), hung at
  2.7-3.5 m, 90 deg; sensors at the project's defaults (RealSense D435-class
  cameras, AiFi-style 60 Hz load cells, `sim.layout`).
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np
import yaml

from sim.layout import KICK_M, PLATE_THICKNESS_M, CatalogItem, Gondola, StoreFile, bin_capacity, gondola_bins, grid_shape, shelf_clearance_m

MAX_GONDOLA_M = 8.0  # eight bins of 1 m at most: a longer wall run is several gondolas end to end
MIN_CLEARANCE_M = 0.20  # between plates: the tallest common packs (bags, cereal) with a hand above them
MAX_FACINGS = 12  # items a bin is stocked with at most
MAX_GONDOLAS, MIN_GONDOLAS = 14, 2
WALL_GAP_M = 0.01  # a wall run stands a centimetre off its wall
MIN_SKUS, MAX_SKUS = 15, 120
STORE_STREAM = 1501  # the generator's rng stream, apart from the simulation's (`sim.seeding`)


@dataclass(frozen=True)
class Archetype:
    """A real pack: shape, [width, depth, height] mm, filled weight in grams, price; a family draws its flavours (`FLAVOURS`)."""

    slug: str
    name: str
    shape: str
    size_mm: tuple[int, int, int]
    weight_g: float
    price: float


# Pack sizes and weights of common grocery products (filled weight, pack included).
ARCHETYPES = (
    Archetype("can330", "can 330 ml", "cylinder", (66, 66, 115), 350, 0.90),
    Archetype("can400", "can 400 g", "cylinder", (74, 74, 110), 450, 0.95),
    Archetype("btl500", "bottle 0.5 l", "cylinder", (65, 65, 205), 530, 1.10),
    Archetype("btl1500", "bottle 1.5 l", "cylinder", (92, 92, 320), 1580, 1.90),
    Archetype("carton1l", "carton 1 l", "box", (70, 70, 235), 1040, 1.50),
    Archetype("jar400", "jar 400 g", "cylinder", (80, 80, 120), 610, 2.50),
    Archetype("yog150", "yoghurt 150 g", "cylinder", (75, 75, 85), 160, 0.80),
    Archetype("crisps", "crisps 150 g", "box", (180, 60, 250), 150, 1.50),
    Archetype("bar100", "chocolate 100 g", "box", (155, 75, 15), 100, 1.20),
    Archetype("cereal", "cereal 375 g", "box", (190, 70, 280), 420, 3.00),
    Archetype("tea20", "tea 20 bags", "box", (125, 65, 70), 60, 1.80),
    Archetype("pasta", "pasta 500 g", "box", (150, 70, 220), 515, 1.30),
    Archetype("rice1kg", "rice 1 kg", "box", (130, 60, 200), 1010, 2.30),
    Archetype("biscuit", "biscuits 300 g", "box", (200, 55, 65), 310, 1.60),
    Archetype("deterg", "detergent 1 l", "box", (95, 60, 240), 1090, 2.90),
    Archetype("tissue", "tissues", "box", (230, 120, 90), 280, 1.90),
    Archetype("eggs6", "eggs, box of 6", "box", (155, 105, 70), 390, 2.10),
    Archetype("butter", "butter 250 g", "box", (110, 70, 45), 255, 2.40),
    Archetype("soap", "soap bar", "box", (90, 60, 35), 110, 1.00),
    Archetype("paste", "toothpaste", "box", (190, 45, 40), 120, 2.20),
    Archetype("sauce", "sauce bottle", "cylinder", (60, 60, 190), 560, 2.00),
    Archetype("coffee", "ground coffee 500 g", "box", (110, 70, 190), 520, 4.50),
)
FLAVOURS = ("original", "lemon", "cherry", "mint", "salted", "paprika", "vanilla", "berry", "orange", "apple",
            "peach", "coconut", "chili", "honey", "lime", "mango", "light", "classic", "dark", "spicy")


def generate_store(seed: int) -> dict:
    """A store layout (the YAML schema of `sim.layout`) drawn from seed `seed`; checked by pydantic on the way."""
    rng = np.random.default_rng([int(seed), STORE_STREAM])
    area = math.exp(rng.uniform(math.log(40.0), math.log(400.0)))
    aspect = rng.uniform(1.0, 1.8)
    width = _r1(math.sqrt(area * aspect))
    depth = _r1(area / width)
    front = _r2(rng.uniform(1.8, 2.6))
    gondolas = _gondolas(rng, width, depth, front)
    bins_total = sum(g["shelves"] * g["bins_per_shelf"] for g in gondolas)
    catalog = _catalog(rng, min(int(rng.integers(MIN_SKUS, MAX_SKUS + 1)), bins_total), gondolas)
    planogram = _planogram(rng, gondolas, catalog)
    catalog = [c for c in catalog if any(e["sku"] == c["sku"] for e in planogram.values())]
    per_camera = rng.uniform(5.0, 15.0)
    spacing = _spacing_for(width, depth, per_camera)
    store = {
        "name": f"generated-{seed}",
        "description": (f"Generated by `run_sim.py generate --seed {seed}` (sim/generate.py): {width:g} x {depth:g} m, "
                        f"{len(gondolas)} gondolas, {len(catalog)} SKUs, "
                        f"{width * depth / math.prod(grid_shape((width, depth), spacing)):.1f} m2 of floor per camera."),
        "floor_m": [width, depth],
        "gates": _gates(rng, width, depth, front),
        "gondolas": gondolas,
        "catalog": catalog,
        "planogram": planogram,
        "cameras": {"grid": {"spacing_m": spacing, "height_m": _r2(rng.uniform(2.7, 3.5)), "fov_deg": 90}},
    }
    StoreFile.model_validate(store)  # a schema slip here is a generator bug, not a user's
    return store


def store_text(seed: int) -> str:
    """The generated store as YAML text: the same bytes for the same seed."""
    head = f"# A generated store (seed {seed}); regenerate with `python run_sim.py generate --seed {seed} --out DIR`.\n"
    return head + dump_yaml(generate_store(seed))


def dump_yaml(data: dict) -> str:
    """Block style at the top, one flow-style line per gondola, item, bin or shopper step (like the shipped files)."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=200, allow_unicode=False)


def _spacing_for(width: float, depth: float, per_camera_m2: float) -> float:
    """The grid spacing whose camera count (`sim.layout.grid_shape`) comes nearest `per_camera_m2` of floor each,
    within the 5-15 m2 of real deployments."""
    best = None
    for cm in range(100, 500, 5):
        s = cm / 100
        each = width * depth / math.prod(grid_shape((width, depth), s))
        if 5.0 <= each <= 15.0 and (best is None or abs(each - per_camera_m2) < best[0]):
            best = (abs(each - per_camera_m2), s)
    return best[1] if best else _r2(math.sqrt(per_camera_m2))


# -- gates ------------------------------------------------------------------


def _gates(rng: np.random.Generator, width: float, depth: float, front: float) -> list[dict]:
    """1-2 entries in the west part of the south wall, 1-2 exits in the east part (sometimes one on a side wall,
    into the front zone); 0.9-1.2 m wide, at least 0.3 m apart."""
    n_in, n_out = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    side_exit = n_out == 2 and rng.random() < 0.3
    out: list[dict] = []
    slots = [("entry", k) for k in range(n_in)] + [("exit", k) for k in range(n_out - int(side_exit))]
    w = [_r2(rng.uniform(0.9, 1.2)) for _ in slots]
    lane = (width - 0.6) / len(slots)  # the wall shared out, west to east: entries first
    for k, ((kind, j), wk) in enumerate(zip(slots, w)):
        lo, hi = 0.3 + k * lane + wk / 2 + 0.15, 0.3 + (k + 1) * lane - wk / 2 - 0.15
        x = _r2(rng.uniform(lo, hi)) if hi > lo else _r2((lo + hi) / 2)
        out.append({"id": f"{'in' if kind == 'entry' else 'out'}-{j + 1}", "kind": kind, "at": [x, 0.0], "width_m": wk})
    if side_exit:
        wk = _r2(rng.uniform(0.9, 1.2))
        y = _r2(rng.uniform(0.3 + wk / 2, max(0.3 + wk / 2, front - 0.3 - wk / 2)))
        out.append({"id": f"out-{n_out}", "kind": "exit", "at": [width, y], "width_m": wk})
    return out


# -- gondolas ---------------------------------------------------------------


def _gondolas(rng: np.random.Generator, width: float, depth: float, front: float) -> list[dict]:
    """Wall runs, islands, single-sided gondolas and end caps; 2-14 in all (see the module docstring)."""
    walls: list[dict] = []
    back_d = _r2(rng.uniform(0.45, 0.6)) if rng.random() < 0.8 else 0.0
    side_d = [_r2(rng.uniform(0.45, 0.6)) if rng.random() < 0.6 else 0.0 for _ in range(2)]
    corner = 1.2  # a passage at each end of a side run, between it and the back run or the front zone
    if back_d:
        x0, x1 = (side_d[0] + corner if side_d[0] else 0.6), width - (side_d[1] + corner if side_d[1] else 0.6)
        walls += _run(rng, "x", x0, x1, depth - WALL_GAP_M - back_d / 2, back_d, "south", tall=True)
    y_top = depth - (back_d + corner if back_d else 0.6)
    for k, d in enumerate(side_d):
        if d and y_top - front > 1.0:
            x = WALL_GAP_M + d / 2 if k == 0 else width - WALL_GAP_M - d / 2
            walls += _run(rng, "y", front, y_top, x, d, "east" if k == 0 else "west", tall=True)
    aisle = _r2(rng.uniform(1.1, 1.8))
    box = (side_d[0] + aisle if side_d[0] else 1.0, front + 0.3,
           width - (side_d[1] + aisle if side_d[1] else 1.0), depth - (back_d + aisle if back_d else 1.0))
    islands = _islands(rng, box, aisle)
    room = MAX_GONDOLAS - len(walls)
    while walls and room < MIN_GONDOLAS:  # more wall modules than the cap leaves room for: fewer, longer runs
        walls.pop()
        room += 1
    while islands and sum(len(i) for i in islands) > room:
        drop = int(rng.integers(len(islands)))
        islands.pop(drop)
    out = walls + [g for island in islands for g in island]
    if not out:  # a floor too narrow for an island, no walls drawn: a wall run along the back after all
        out = _run(rng, "x", 0.6, width - 0.6, depth - WALL_GAP_M - 0.25, 0.5, "south", tall=True)
    while len(out) < MIN_GONDOLAS:  # one long gondola: two modules end to end
        out.sort(key=lambda g: -g["length_m"])
        out[:1] = _split(out[0])
    for k, g in enumerate(out):
        g["id"] = _gondola_id(k)
    return [_shelve(rng, g) for g in out]


def _run(rng: np.random.Generator, axis: str, a0: float, a1: float, across: float, d: float, facing: str,
         tall: bool) -> list[dict]:
    """Gondolas end to end along [a0, a1] on `axis`, their centre line at `across`, modules of at most MAX_GONDOLA_M."""
    length = a1 - a0
    if length < 1.0:
        return []
    n = max(1, math.ceil(length / MAX_GONDOLA_M - 1e-9))
    if length / n > 4.0 and rng.random() < 0.5:
        n += 1  # real runs are often several shorter gondolas
    seg = math.floor(length / n * 100) / 100  # to the cm, never past the run's end
    out = []
    for k in range(n):
        mid = a0 + (k + 0.5) * seg
        at = [_r3(mid), _r3(across)] if axis == "x" else [_r3(across), _r3(mid)]
        out.append({"id": "", "at": at, "facing": facing, "length_m": _r3(seg - 0.002), "depth_m": d, "tall": tall})
    return out


def _split(g: dict) -> list[dict]:
    """A gondola as two modules end to end, each half its length."""
    half = _r3(g["length_m"] / 2 - 0.001)
    fx = g["facing"] in ("east", "west")  # runs north-south
    out = []
    for sign in (-1, 1):
        at = [g["at"][0], _r3(g["at"][1] + sign * g["length_m"] / 4)] if fx else [_r3(g["at"][0] + sign * g["length_m"] / 4), g["at"][1]]
        out.append({**g, "at": at, "length_m": half})
    return out


def _islands(rng: np.random.Generator, box: tuple[float, float, float, float], aisle: float) -> list[list[dict]]:
    """Rows across the middle box: each an island (two back to back, end caps maybe) or one single-sided gondola."""
    x0, y0, x1, y1 = box
    along_y = rng.random() < 0.6  # islands running north-south, the aisles open onto the front zone
    span_across = (x1 - x0) if along_y else (y1 - y0)
    span_along = (y1 - y0) if along_y else (x1 - x0)
    if span_along < 1.5 or span_across < 0.5:
        return []
    out, pos = [], (x0 if along_y else y0)
    end = x1 if along_y else y1
    while True:
        double = rng.random() < 0.75
        d = _r2(rng.uniform(0.4, 0.55))
        width = 2 * d if double else d
        if pos + width > end + 1e-9:
            break
        caps = double and span_along > 3.0 and rng.random() < 0.5
        cap_d = _r2(rng.uniform(0.3, 0.45)) if caps else 0.0
        a0, a1 = (y0, y1) if along_y else (x0, x1)
        body0, body1 = a0 + cap_d, min(a1 - cap_d, a0 + cap_d + MAX_GONDOLA_M)
        mid_across = pos + width / 2
        island = []
        if along_y:
            faces = [("west", mid_across - d / 2), ("east", mid_across + d / 2)] if double else [(("west", "east")[int(rng.integers(2))], mid_across)]
            for facing, c in faces:
                island.append({"id": "", "at": [_r3(c), _r3((body0 + body1) / 2)], "facing": facing,
                               "length_m": _r3(body1 - body0), "depth_m": d, "tall": False})
            if caps:
                island.append({"id": "", "at": [_r3(mid_across), _r3(body0 - cap_d / 2)], "facing": "south",
                               "length_m": _r3(width - 0.002), "depth_m": cap_d, "tall": False, "cap": True})
                island.append({"id": "", "at": [_r3(mid_across), _r3(body1 + cap_d / 2)], "facing": "north",
                               "length_m": _r3(width - 0.002), "depth_m": cap_d, "tall": False, "cap": True})
        else:
            faces = [("south", mid_across - d / 2), ("north", mid_across + d / 2)] if double else [(("south", "north")[int(rng.integers(2))], mid_across)]
            for facing, c in faces:
                island.append({"id": "", "at": [_r3((body0 + body1) / 2), _r3(c)], "facing": facing,
                               "length_m": _r3(body1 - body0), "depth_m": d, "tall": False})
            if caps:
                island.append({"id": "", "at": [_r3(body0 - cap_d / 2), _r3(mid_across)], "facing": "west",
                               "length_m": _r3(width - 0.002), "depth_m": cap_d, "tall": False, "cap": True})
                island.append({"id": "", "at": [_r3(body1 + cap_d / 2), _r3(mid_across)], "facing": "east",
                               "length_m": _r3(width - 0.002), "depth_m": cap_d, "tall": False, "cap": True})
        out.append(island)
        pos += width + _r2(rng.uniform(aisle, aisle + 0.4))
    return out


def _shelve(rng: np.random.Generator, g: dict) -> dict:
    """Height, shelves and bins for a placed gondola; the plain layout keys only."""
    if g.get("cap"):
        height = _r2(rng.uniform(1.2, 1.6))
    elif g["tall"]:
        height = _r2(rng.uniform(1.6, 2.0))
    else:
        height = _r2(rng.uniform(1.3, 1.9))
    most = min(6, int((height - KICK_M) // (MIN_CLEARANCE_M + PLATE_THICKNESS_M + 0.01)))
    shelves = int(rng.integers(3, max(3, most) + 1))
    length = g["length_m"]
    bins = int(np.clip(math.ceil(length / rng.uniform(0.35, 0.9)), 2, 8))
    bins = max(bins, math.ceil(length / 1.0))  # no plate wider than a metre
    return {"id": g["id"], "at": g["at"], "facing": g["facing"], "length_m": length, "depth_m": g["depth_m"],
            "height_m": height, "shelves": shelves, "bins_per_shelf": min(bins, 8)}


def _gondola_id(k: int) -> str:
    return "G" + "ABCDEFGHJKLMNPQRSTUVWXYZ"[k % 24] + (str(k // 24) if k >= 24 else "")


# -- catalog and planogram --------------------------------------------------


def _catalog(rng: np.random.Generator, n_skus: int, gondolas: list[dict]) -> list[dict]:
    """`n_skus` SKUs in families of look-alikes (see the module docstring); only packs some shelf can hold."""
    tallest = max(_clearance(g) for g in gondolas)
    usable = [a for a in ARCHETYPES if a.size_mm[2] / 1000.0 <= tallest - 0.05]
    out: list[dict] = []
    hues: list[float] = []
    used: set[str] = set()
    while len(out) < n_skus:
        arch = usable[int(rng.integers(len(usable)))]
        scale = rng.uniform(0.9, 1.1)
        size = [int(round(s * scale)) for s in arch.size_mm]
        size[2] = min(size[2], int((tallest - 0.05) * 1000))
        weight = _r1(arch.weight_g * rng.uniform(0.9, 1.1))
        price = round(arch.price * rng.uniform(0.8, 1.3), 2)
        members = int(rng.choice([1, 2, 3, 4], p=[0.35, 0.35, 0.2, 0.1]))
        flavours = rng.permutation(len(FLAVOURS))[:members]
        for k, f in enumerate(flavours):
            if len(out) >= n_skus:
                break
            w = weight
            if k > 0 and rng.random() < 0.25:  # a near-equal sibling: same pack, a few per cent off
                w = _r1(weight * (1 + rng.choice([-1, 1]) * rng.uniform(0.01, 0.04)))
            sku = f"{arch.slug}-{FLAVOURS[int(f)]}"
            n = 2
            while sku in used:
                sku = f"{arch.slug}-{FLAVOURS[int(f)]}{n}"
                n += 1
            used.add(sku)
            item = {"sku": sku, "name": f"{FLAVOURS[int(f)].capitalize()} {arch.name}", "price": price, "weight_g": w,
                    "shape": arch.shape, "size_mm": list(size), "color": _colour(rng, hues)}
            if arch.slug.startswith("eggs"):
                item["pack"] = "eggs"  # units vary by the egg class, not by a filler's spread
            out.append(item)
    return out


def _colour(rng: np.random.Generator, hues: list[float]) -> str:
    """A print colour: a hue not within 0.03 of those drawn so far where possible, mid to high saturation."""
    for _ in range(20):
        h = float(rng.random())
        if all(min(abs(h - o), 1 - abs(h - o)) > 0.03 for o in hues):
            break
    hues.append(h)
    r, g, b = colorsys.hsv_to_rgb(h, rng.uniform(0.35, 0.9), rng.uniform(0.45, 0.95))
    return "#{:02x}{:02x}{:02x}".format(round(r * 255), round(g * 255), round(b * 255))


def _planogram(rng: np.random.Generator, gondolas: list[dict], catalog: list[dict]) -> dict:
    """Every SKU in a bin it fits (2+ facings); the rest of the bins filled with neighbours of the same family
    or any pack that fits; stocked to 50-100 % of capacity, at most MAX_FACINGS."""
    items = {c["sku"]: CatalogItem.model_validate(c) for c in catalog}
    bins = [b for g in gondolas for b in gondola_bins(Gondola.model_validate(g))]
    fits = {b.id: [s for s, it in items.items() if bin_capacity(b, it) >= 2 and it.size_mm[2] / 1000 <= b.clearance_m - 0.04]
            for b in bins}
    order = [bins[int(i)] for i in rng.permutation(len(bins))]
    chosen: dict[str, str] = {}
    unplaced = [c["sku"] for c in catalog]
    rng.shuffle(unplaced)
    for b in order:  # first every SKU somewhere
        for s in unplaced:
            if s in fits[b.id]:
                chosen[b.id] = s
                unplaced.remove(s)
                break
    family = {c["sku"]: c["sku"].split("-")[0] for c in catalog}
    by_id = {b.id: b for b in bins}
    for b in order:  # then the rest: often a neighbour's family, else any pack that fits
        if b.id in chosen or not fits[b.id]:
            continue
        left = f"{b.gondola}-{b.shelf}-{b.index - 1}"
        if left in chosen and rng.random() < 0.5:
            kin = [s for s in fits[b.id] if family[s] == family[chosen[left]]]
            if kin:
                chosen[b.id] = kin[int(rng.integers(len(kin)))]
                continue
        chosen[b.id] = fits[b.id][int(rng.integers(len(fits[b.id])))]
    planogram = {}
    for b in bins:  # in gondola, shelf, bin order: the file reads like a walk along the shelves
        if b.id not in chosen:
            continue
        cap = bin_capacity(by_id[b.id], items[chosen[b.id]])
        count = int(min(MAX_FACINGS, max(2, round(cap * rng.uniform(0.5, 1.0)))))
        planogram[b.id] = {"sku": chosen[b.id], "count": min(count, cap)}
    return planogram


def _clearance(g: dict) -> float:
    return shelf_clearance_m(Gondola.model_validate(g))


def _r1(x: float) -> float:
    return float(round(float(x), 1))


def _r2(x: float) -> float:
    return float(round(float(x), 2))


def _r3(x: float) -> float:
    return float(round(float(x), 3))
