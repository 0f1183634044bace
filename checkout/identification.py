"""Stage 5, identification: which SKU and how many, from a weight change, beliefs and colour.

A take can only remove what the bin is believed to hold (the planogram at
opening, updated by every take and put-back — wrong-place ones included, so a
later take of a misplaced item is recognised). A put-back can only return
something some cart is believed to hold, and the cart remembers what each
item weighed when it left its shelf, so the put-back is matched to the item it
returns (from any cart). Hypotheses are scored by likelihood:

    |delta| ~ N(n * w, n * sd_w^2 + sd_meas^2)   (catalog weight and spread)
    |delta| ~ N(w_item, 2 * sd_meas^2)           (a carted item's measured weight)

times a prior (bin contents, carts: the putter's own cart first) and, when the
cameras saw the hand, a colour factor that separates look-alikes of equal
weight. An *unexplained* hypothesis with a flat density competes with them, so
a lean or a foreign object is not forced into an item.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from sim.stream import ProductInfo

MAX_QTY = 6  # most items one hand moves at once
FOREIGN_PRIOR = 0.01  # a SKU the beliefs say is not there (the beliefs can be wrong)
OTHER_CART_PRIOR = 0.05  # returning an item another account picked (a hand-over between shoppers who pay apart) vs one's own
# Colour likelihood of a SKU none of whose colours was seen (shadows, occlusion, mixed pixels, a store light and
# camera cast the reference photos never had): a taken item's own colours are missed in about half the takes whose
# hand shows some catalog colour, so a missed colour is weak evidence.
COLOUR_FLOOR = 0.1
COLOUR_MAX_LOOKS = 3  # frames that each showed the item's colour count as this many looks at most (they are not independent)


@dataclass(frozen=True)
class CartedUnit:
    account: str
    sku: str
    unit_g: float  # measured when it left the shelf
    sd_g: float


@dataclass(frozen=True)
class Hypothesis:
    kind: str  # take | put_back | unexplained
    sku: str | None
    qty: int
    probability: float
    from_account: str | None = None  # for a put-back: whose cart it returns


def identify(
    delta_g: float,
    sd_meas_g: float,
    catalog: dict[str, ProductInfo],
    bin_contents: dict[str, int],
    carted: list[CartedUnit],
    putter_accounts: tuple[str, ...] = (),
    colour: dict[str, float] | None = None,
    bin_units: tuple[CartedUnit, ...] = (),
    putter_weights: dict[str, float] | None = None,
    colour_looks: int = 1,
    colour_trust: float = 1.0,
) -> list[Hypothesis]:
    """Posterior over what moved, best first (probabilities sum to 1 with the unexplained one).

    `bin_units`: items in the bin whose own weight was measured (put back there, maybe in the wrong place).
    A one-item take is that very unit with the likelihood of its measured weight, or one of the others
    with the catalog's — so a misplaced look-alike taken again is told from its neighbours by weight when
    the measurement is finer than the packs' spread, and is at least not ruled out when it is not.
    `putter_weights`: attribution's probability per account that it was their hand; an account's own cart is
    the likely source of a put-back in proportion (`putter_accounts` is the same with certainty).
    `colour_looks`: in how many separate frames the hand showed a catalog colour (`colour_evidence_looks`); each
    is one more look at the item, up to `COLOUR_MAX_LOOKS`.
    `colour_trust`: how far this store's cameras have shown colour to tell these SKUs apart (`ColourTrust`), 0-1:
    the colour factor's exponent is scaled by it (1: as the reference palettes say; 0: colour ignored).
    """
    w = abs(delta_g)
    rows: list[tuple[str, str, int, str | None, float]] = []  # kind, sku, n, account, score
    if delta_g < 0:
        total = sum(c for c in bin_contents.values() if c > 0)
        for sku, p in catalog.items():
            have = bin_contents.get(sku, 0)
            known = [u for u in bin_units if u.sku == sku][:have]
            for n in range(1, MAX_QTY + 1):
                prior = have / total if (have >= n and total) else FOREIGN_PRIOR / len(catalog)
                like = _gauss(w, n * p.weight_g, math.sqrt(n * p.weight_sd_g**2 + sd_meas_g**2))
                if n == 1 and known and total:
                    generic = (have - len(known)) / total * like
                    measured = sum(_gauss(w, u.unit_g, math.sqrt(u.sd_g**2 + sd_meas_g**2)) for u in known) / total
                    rows.append(("take", sku, n, None, generic + measured))
                    continue
                rows.append(("take", sku, n, None, prior * like))
        mixed = _mixed_takes(w, sd_meas_g, catalog, bin_contents)
    else:
        unit_prior = _put_back_unit_priors(carted, putter_accounts, putter_weights)
        by_sku: dict[tuple[str, str], list[int]] = {}
        for i, u in enumerate(carted):
            by_sku.setdefault((u.account, u.sku), []).append(i)
        for (acct, sku), idx in by_sku.items():
            for i in idx:  # one item back: match the very unit by its measured weight
                u = carted[i]
                like = _gauss(w, u.unit_g, math.sqrt(u.sd_g**2 + 2 * sd_meas_g**2))
                rows.append(("put_back", sku, 1, acct, unit_prior[i] * like))
            p = catalog[sku]
            group_prior = sum(unit_prior[i] for i in idx)
            for n in range(2, min(len(idx), MAX_QTY) + 1):
                mean = float(np.mean([carted[i].unit_g for i in idx])) * n
                like = _gauss(w, mean, math.sqrt(n * p.weight_sd_g**2 + sd_meas_g**2))
                rows.append(("put_back", sku, n, acct, group_prior * like))
        for sku, p in catalog.items():
            for n in range(1, 3):
                like = _gauss(w, n * p.weight_g, math.sqrt(n * p.weight_sd_g**2 + sd_meas_g**2))
                rows.append(("put_back", sku, n, None, FOREIGN_PRIOR / len(catalog) * like))
        mixed = []
    heaviest = max(p.weight_g for p in catalog.values()) * MAX_QTY
    unexplained = 0.02 / heaviest  # flat over every load a hand can move
    if colour:
        # Colour tells the catalog's items apart; it is no evidence that what moved was none of them, so it
        # shares out the weight's belief in "one of the catalog's items" among them and leaves the unexplained
        # hypothesis as the weight left it. (Multiplied in bare, a hand whose pixels matched no palette — the
        # item hidden by the fingers, in a shade the reference photos never had — made every SKU unlikely and a
        # plain take "unexplained"; one whose pixels matched an item of another weight made the weight's own
        # candidates look unlikely.)
        before = sum(r[4] for r in rows) + sum(sc for _, sc in mixed)
        rows = [(k, s, n, a, sc * colour_factor(colour, s, colour_looks, colour_trust)) for (k, s, n, a, sc) in rows]
        mixed = [(parts, sc * _mixed_colour_factor(colour, parts, colour_looks, colour_trust)) for parts, sc in mixed]
        after = sum(r[4] for r in rows) + sum(sc for _, sc in mixed)
        if after > 0:
            rows = [(k, s, n, a, sc * before / after) for (k, s, n, a, sc) in rows]
            mixed = [(parts, sc * before / after) for parts, sc in mixed]
    # A take of several items of more than one SKU (a misplaced item taken with the bin's own) is no hypothesis
    # the carts can hold: its belief stays out of every listed hypothesis, so the likeliest is only as sure as
    # it is against it too (and flagged when a mixture is as likely).
    total = sum(r[4] for r in rows) + sum(sc for _, sc in mixed) + unexplained
    merged: dict[tuple, float] = {}
    for kind, sku, n, acct, sc in rows:
        merged[(kind, sku, n, acct)] = merged.get((kind, sku, n, acct), 0.0) + sc / total
    hyps = [Hypothesis(k, s, n, p, a) for (k, s, n, a), p in merged.items()]
    hyps.append(Hypothesis("unexplained", None, 0, unexplained / total))
    hyps.sort(key=lambda h: -h.probability)
    return hyps


def _put_back_unit_priors(carted: list[CartedUnit], putter_accounts: tuple[str, ...],
                          putter_weights: dict[str, float] | None) -> list[float]:
    """Prior that a put-back returns each carted unit, before its weight is compared.

    Whoever put it back (attribution's probability per account, or `putter_accounts` with certainty) returns one
    of their own units (1 - OTHER_CART_PRIOR, shared among them) or — after a hand-over — one of everybody
    else's (OTHER_CART_PRIOR for the event, shared among all the others' units: it does not grow with how many
    other shoppers carry the same SKU). A putter whose cart is empty returns someone else's; probability no
    account got (an unseen putter) goes to every unit alike. The priors sum to 1 over the units.
    """
    n = len(carted)
    if not n:
        return []
    if putter_weights:
        weights = {a: max(0.0, p) for a, p in putter_weights.items()}
    else:
        weights = {a: 1.0 / len(set(putter_accounts)) for a in set(putter_accounts)}
    total = sum(weights.values())
    if total > 1.0:
        weights = {a: p / total for a, p in weights.items()}
        total = 1.0
    own_n: dict[str, int] = {}
    for u in carted:
        own_n[u.account] = own_n.get(u.account, 0) + 1
    out = [(1.0 - total) / n] * n
    for acct, p in weights.items():
        k = own_n.get(acct, 0)
        mine = (1.0 - OTHER_CART_PRIOR) if 0 < k < n else (1.0 if k == n else 0.0)
        for i, u in enumerate(carted):
            out[i] += p * (mine / k if u.account == acct else (1.0 - mine) / (n - k))
    return out


def measured_unit_taken(delta_g: float, sd_meas_g: float, p: ProductInfo, have: int, units: list[CartedUnit]) -> int | None:
    """After a one-item take of `p`'s SKU from a bin holding `have` of it, `units` of them weighed: which one
    left (index into `units`), or None if more likely one of the never-weighed others."""
    if not units:
        return None
    w = abs(delta_g)
    generic = max(have - len(units), 0) * _gauss(w, p.weight_g, math.sqrt(p.weight_sd_g**2 + sd_meas_g**2))
    likes = [_gauss(w, u.unit_g, math.sqrt(u.sd_g**2 + sd_meas_g**2)) for u in units]
    k = int(np.argmax(likes))
    return k if likes[k] >= generic else None


def plausible(delta_g: float, sd_meas_g: float, catalog: dict[str, ProductInfo], max_qty: int = MAX_QTY) -> bool:
    """Could any whole number of any catalog item make this change? (The shelf stage's 'is it an item' test.)"""
    w = abs(delta_g)
    for p in catalog.values():
        for n in range(1, max_qty + 1):
            sd = math.sqrt(n * p.weight_sd_g**2 + sd_meas_g**2)
            if abs(w - n * p.weight_g) < 4.0 * sd:
                return True
    return False


def _mixed_takes(w: float, sd_meas_g: float, catalog: dict[str, ProductInfo],
                 bin_contents: dict[str, int]) -> list[tuple[dict[str, int], float]]:
    """Takes of n >= 2 items of two SKUs the bin holds (a misplaced item taken with the bin's own), scored as
    the single-SKU takes are: the bin's share of each composition (hypergeometric, scaled to the single-SKU
    takes' prior for that n, so the two stay comparable; unscaled where no SKU has n units) times the weight's
    likelihood."""
    here = {s: c for s, c in bin_contents.items() if c > 0 and s in catalog}
    if len(here) < 2:
        return []
    total = sum(here.values())
    out = []
    for n in range(2, min(MAX_QTY, total) + 1):
        comb_n = math.comb(total, n)
        single_prior = sum(c / total for c in here.values() if c >= n)  # what `identify` gives n of one SKU
        single_hyper = sum(math.comb(c, n) for c in here.values()) / comb_n
        scale = single_prior / single_hyper if single_hyper > 0 else 1.0
        for a, b in itertools.combinations(sorted(here), 2):
            for k in range(1, n):
                hyper = math.comb(here[a], k) * math.comb(here[b], n - k) / comb_n
                if hyper <= 0:
                    continue
                pa, pb = catalog[a], catalog[b]
                mean = k * pa.weight_g + (n - k) * pb.weight_g
                sd = math.sqrt(k * pa.weight_sd_g**2 + (n - k) * pb.weight_sd_g**2 + sd_meas_g**2)
                out.append(({a: k, b: n - k}, scale * hyper * _gauss(w, mean, sd)))
    return out


def _mixed_colour_factor(colour: dict[str, float], parts: dict[str, int], looks: int = 1, trust: float = 1.0) -> float:
    """`colour_factor` for a hand holding several items: its pixels come from each in proportion."""
    n = sum(parts.values())
    return _colour_likelihood(colour, sum(q / n * colour.get(s, 0.0) for s, q in parts.items()), looks, trust)


def colour_factor(colour: dict[str, float], sku: str, looks: int = 1, trust: float = 1.0) -> float:
    """Likelihood of the seen hand pixels if the item were `sku`: grows with the fraction of them in its colour,
    once per look (a frame that showed a catalog colour) up to `COLOUR_MAX_LOOKS` — the same colour in the hand
    frame after frame is stronger evidence than one glimpse, but consecutive frames share occlusion and light."""
    return _colour_likelihood(colour, colour.get(sku, 0.0) if colour else 0.0, looks, trust)


def _colour_likelihood(colour: dict[str, float], share: float, looks: int, trust: float = 1.0) -> float:
    """The seen hand pixels' likelihood for an item (or items) owning `share` of them; 1 with no catalog colour seen."""
    if not colour or max(colour.values()) <= 0:
        return 1.0
    return (COLOUR_FLOOR + share) ** (min(max(1, looks), COLOUR_MAX_LOOKS) * trust)


class ColourTrust:
    """How far this store's cameras' colour tells each SKU from its look-alikes, learned as the episode runs.

    The colour evidence matches hand pixels to reference palettes photographed in a studio; under a store's
    light and a camera's cast some labels look like a sibling's (the market's lentils read as chickpeas in 15 of
    16 sure takes over two seeds, and a misplaced lentils put-back into the chickpeas' bin was charged as
    chickpeas returned, unflagged). The stack can check: a take or put-back whose SKU the weight and the bin's
    contents settle (`SURE_P` without colour) says whether colour favoured that SKU over its same-weight
    siblings (within `SAME_WEIGHT`) — an agreement — or a sibling — a disagreement; ties say nothing. A SKU's
    trust is (agreements + `PSEUDO`) / (agreements + disagreements + `PSEUDO`): 1 until the cameras are seen
    to be wrong about it. An event's colour counts with the least trust among the SKUs the weight leaves in
    play (`weight`): colour that cannot tell lentils from chickpeas settles neither, and the receipt says so.
    """

    SURE_P = 0.99
    SAME_WEIGHT = 0.03  # siblings within 3 % of a SKU's weight: what the weight alone cannot tell apart
    PSEUDO = 2.0  # agreements assumed before any sure event: the reference palettes are trusted until shown wrong
    IN_PLAY_P = 0.05  # a SKU the weight leaves this likely is one colour must tell apart

    def __init__(self, catalog: dict[str, ProductInfo]) -> None:
        self._siblings = {s: [o for o, q in catalog.items() if o != s and abs(q.weight_g - p.weight_g) <= self.SAME_WEIGHT * p.weight_g]
                          for s, p in catalog.items()}
        self.agree: dict[str, int] = {}
        self.disagree: dict[str, int] = {}

    def of(self, sku: str) -> float:
        a, d = self.agree.get(sku, 0), self.disagree.get(sku, 0)
        return (a + self.PSEUDO) / (a + d + self.PSEUDO)

    def weight(self, plain: list[Hypothesis]) -> float:
        """The trust an event's colour gets: the least among the SKUs its weight-only hypotheses leave in play."""
        skus = {h.sku for h in plain if h.sku is not None and h.probability >= self.IN_PLAY_P}
        return min((self.of(s) for s in skus), default=1.0)

    def record(self, plain: list[Hypothesis], colour: dict[str, float] | None) -> None:
        """One event: `plain` its hypotheses by weight and contents alone, `colour` what the hand showed."""
        top = plain[0] if plain else None
        if top is None or top.sku is None or top.probability < self.SURE_P or not colour or max(colour.values()) <= 0:
            return
        siblings = self._siblings.get(top.sku, [])
        if not siblings:
            return
        own, other = colour.get(top.sku, 0.0), max(colour.get(o, 0.0) for o in siblings)
        if own > other:
            self.agree[top.sku] = self.agree.get(top.sku, 0) + 1
        elif other > own:
            self.disagree[top.sku] = self.disagree.get(top.sku, 0) + 1


def _gauss(x: float, mean: float, sd: float) -> float:
    return math.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def colour_evidence(
    rgb: np.ndarray,
    sku_rgb: dict[str, np.ndarray],
    skus: list[str],
    max_dist: float = 0.12,
    person_rgb: np.ndarray | None = None,
    sku_share: dict[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """Fraction of the seen pixels that match one of each SKU's colours under any brightness (shading-invariant).

    `sku_rgb[sku]`: the SKU's colours, one (3,) or several (m, 3) — its reference palette.

    `person_rgb`: colours of the reacher's own body (shirt, skin, basket), seen around their head before the
    event. A hand pixel that matches one of them is the person, not an item, and is dropped first — so a
    yellow shirt's sleeve is not a lemon can; an item the colour of the shirt is then simply not evidence.

    `sku_share[sku]`: the share of the label each palette colour covers (m,). Given, each pixel is shared out
    among the SKUs of `skus` by how likely each is to show it — the summed shares of its colours the pixel
    matches — so a pixel every candidate could show (a look-alike family's common band and logo inks, a white
    many labels carry) counts little for any of them, and a pixel of one SKU's own main ink counts for that SKU
    alone: the evidence is what is *specific* to each. Without shares, a pixel counts in full for every SKU
    with a colour it matches.
    """
    px = np.asarray(rgb, dtype=float).reshape(-1, 3)
    if person_rgb is not None and len(person_rgb) and len(px):
        own = _matches(px, np.asarray(person_rgb, dtype=float).reshape(-1, 3), max_dist)
        px = px[~own]
    if not len(px) or not skus:
        return {}
    if sku_share is None:
        return {sku: float(np.mean(_matches(px, np.asarray(sku_rgb[sku], dtype=float).reshape(-1, 3), max_dist))) for sku in skus}
    like = np.zeros((len(px), len(skus)))
    for j, sku in enumerate(skus):
        refs = np.asarray(sku_rgb[sku], dtype=float).reshape(-1, 3)
        share = np.asarray(sku_share.get(sku, np.full(len(refs), 1.0 / max(1, len(refs)))), dtype=float)
        like[:, j] = _matches_each(px, refs, max_dist) @ share
    total = like.sum(axis=1, keepdims=True)
    resp = np.divide(like, total, out=np.zeros_like(like), where=total > 0)
    return {sku: float(resp[:, j].mean()) for j, sku in enumerate(skus)}


def colour_evidence_looks(
    rgbs: list[np.ndarray],
    sku_rgb: dict[str, np.ndarray],
    skus: list[str],
    max_dist: float = 0.12,
    person_rgb: np.ndarray | None = None,
    sku_share: dict[str, np.ndarray] | None = None,
) -> tuple[dict[str, float], int]:
    """`colour_evidence` over several hand sightings' pixels together, and the number of sightings that on their
    own showed some catalog colour (the looks `colour_factor` counts). Without the reacher's own colours
    (`person_rgb`: nobody tracked, or not seen walking in) skin and sleeve may be what matched: one look at most."""
    if not rgbs:
        return {}, 0
    colour = colour_evidence(np.concatenate([np.asarray(r).reshape(-1, 3) for r in rgbs]), sku_rgb, skus, max_dist, person_rgb,
                             sku_share)
    if not colour or max(colour.values()) <= 0:
        return colour, 0
    if person_rgb is None or not len(person_rgb):
        return colour, 1
    looks = sum(1 for r in rgbs if any(v > 0 for v in colour_evidence(r, sku_rgb, skus, max_dist, person_rgb).values()))
    return colour, looks


def _matches(px: np.ndarray, refs: np.ndarray, max_dist: float) -> np.ndarray:
    """Per pixel: does it match any reference colour up to a brightness scale (0.4-1.6)?"""
    hit = np.zeros(len(px), dtype=bool)
    for k in range(0, len(refs), 64):
        hit |= _matches_each(px, refs[k : k + 64], max_dist).any(axis=1)
    return hit


def _matches_each(px: np.ndarray, refs: np.ndarray, max_dist: float) -> np.ndarray:
    """(n, m): does pixel i match reference colour j up to a brightness scale (0.4-1.6)?"""
    s = np.clip(px @ refs.T / np.maximum((refs * refs).sum(1), 1.0), 0.4, 1.6)  # (n, m) best brightness scale
    fit = s[:, :, None] * refs[None, :, :]
    d = np.linalg.norm(px[:, None, :] - fit, axis=2) / (np.linalg.norm(fit, axis=2) + 30.0)
    return d < max_dist


class Appearance:
    """Per track, a bounded sample of the colours seen on and around the person as they came in (for `colour_evidence`).

    Only the first `entry_s` after a person is first seen are kept: they walk in empty-handed, so these are
    their own colours (shirt, skin, basket). Later samples would include what they picked — and discounting
    those would hide the very item a put-back returns.
    """

    def __init__(self, per_track: int = 256, chunk: int = 32, entry_s: float = 3.0) -> None:
        self.per_track = per_track
        self.chunk = chunk
        self.entry_s = entry_s
        self._samples: dict[int, list[tuple[float, np.ndarray]]] = {}
        self._first: dict[int, float] = {}

    def add(self, track: int, t_s: float, rgb: np.ndarray) -> None:
        px = np.asarray(rgb, dtype=np.uint8).reshape(-1, 3)
        if not len(px):
            return
        first = self._first.setdefault(track, t_s)
        if t_s - first > self.entry_s:
            return
        step = max(1, len(px) // self.chunk)
        rows = self._samples.setdefault(track, [])
        rows.append((t_s, px[::step][: self.chunk]))
        while len(rows) * self.chunk > self.per_track:
            rows.pop(len(rows) // 2)

    def before(self, track: int | None, t_s: float) -> np.ndarray | None:
        rows = [px for t, px in self._samples.get(track, ()) if t < t_s] if track is not None else []
        return np.concatenate(rows) if rows else None
