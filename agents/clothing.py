"""What a shopper wears: tops and bottoms with patterns, coats, bags, hair and hats, drawn per shopper.

The cameras see people, and a person is several colours at once: a striped top, jeans, a coat over it, a
bag, hair from above. A product's colour "on" a person is therefore weak evidence, as it is in a real store.
`draw_outfit` draws one outfit from the shopper's own generator; personas never enter it (they change what a
shopper does, not what it wears), so every persona has the same clothing distribution. `agents.body` dresses
the body: garments are textured box meshes (`garment_texture` -> `sim.meshes.textured_product_mesh`, a unit
cube scaled per body, so the files depend only on the garment's pattern and colours and are shared across
shoppers); hair, hats and bags are plain coloured shapes. None of it collides or weighs anything.

Shares (each one *our estimate* unless a source is named; none is fitted to a data set):
- garment colours: about two thirds of tops neutral (black, white, greys, navy, beige, brown, denim, olive),
  more for trousers (denim and black lead) and coats; the rest a tail of saturated colours of every hue,
  the products' reds, yellows, greens and oranges among them. Our estimate throughout: no survey of what
  shoppers wear was at hand; the ordering (black, white, grey, navy and denim well ahead of any hue) is
  what a look at any street shows.
- top patterns: solid 55 %, stripes 17 %, checks / plaid 13 %, a printed graphic 15 %; bottoms 90 % solid.
- coat over the top: 35 % (a year-round average for a temperate city: most people in winter, few in summer).
- bag: shoulder bag 25 %, backpack 15 %, none 60 %.
- hat: 12 %.
- hair (adults): black 30 %, dark brown 28 %, brown 14 %, blond 10 %, grey 13 %, red 2 %, none (bald) 3 %;
  children have no grey hair and none bald. Our estimate for a European or North American city: popular
  summaries (worldmetrics.org, zipdo.co: second-hand, unreferenced) quote 75-85 % of people worldwide with
  black or dark brown hair, about 2 % blond and 1-2 % red, and 20-30 % blond in northern Europe; grey is
  for older adults (our estimate). The two darkest skin tones are drawn with black (70 %), dark brown (25 %)
  or grey (5 %) hair.
- the carrier's colour: shop baskets are red 35 %, blue 20 %, green 15 %, black 12 %, grey 10 %, yellow 5 %,
  orange 3 %; a carried shopping bag is mostly canvas, paper or white, a quarter of them coloured.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RGB = tuple[float, float, float]
TEXTURE_PX = 32  # a garment texture's side: a torso face is 20-40 px wide in a 320x240 ceiling camera at best


def _rgb(*v: int) -> RGB:
    return (v[0] / 255.0, v[1] / 255.0, v[2] / 255.0)


# name: (sRGB, neutral). Neutral = a colour people treat as going with anything, denim and olive included.
COLOURS: dict[str, tuple[RGB, bool]] = {
    "black": (_rgb(25, 25, 28), True), "charcoal": (_rgb(60, 62, 66), True), "grey": (_rgb(128, 128, 130), True),
    "light grey": (_rgb(190, 190, 192), True), "white": (_rgb(240, 240, 236), True), "cream": (_rgb(232, 225, 205), True),
    "navy": (_rgb(30, 40, 80), True), "beige": (_rgb(200, 180, 145), True), "camel": (_rgb(190, 150, 100), True),
    "brown": (_rgb(100, 70, 45), True), "denim light": (_rgb(120, 150, 190), True), "denim": (_rgb(70, 100, 145), True),
    "denim dark": (_rgb(35, 50, 85), True), "olive": (_rgb(95, 95, 55), True),
    "red": (_rgb(190, 30, 40), False), "burgundy": (_rgb(120, 25, 45), False), "orange": (_rgb(235, 120, 35), False),
    "coral": (_rgb(240, 120, 110), False), "yellow": (_rgb(240, 205, 50), False), "mustard": (_rgb(205, 160, 40), False),
    "lime": (_rgb(160, 200, 60), False), "kelly": (_rgb(80, 170, 60), False), "mint": (_rgb(120, 210, 170), False),
    "moss": (_rgb(110, 140, 50), False), "green": (_rgb(40, 140, 70), False),
    "forest": (_rgb(30, 80, 45), False), "teal": (_rgb(20, 120, 125), False), "turquoise": (_rgb(60, 180, 190), False),
    "sky": (_rgb(120, 170, 220), False), "royal": (_rgb(40, 70, 170), False), "purple": (_rgb(100, 50, 130), False),
    "lavender": (_rgb(170, 150, 210), False), "pink": (_rgb(235, 150, 180), False), "magenta": (_rgb(200, 40, 120), False),
    "orchid": (_rgb(190, 70, 180), False),
}

# Weights per kind of garment (normalised when drawn). Our estimates, see the module's docstring.
TOP_COLOURS = {
    "black": 14, "charcoal": 5, "grey": 8, "light grey": 5, "white": 12, "cream": 4, "navy": 8, "beige": 4, "brown": 3,
    "denim": 3, "olive": 2,
    "red": 3.5, "burgundy": 3, "orange": 2, "coral": 1.5, "yellow": 2, "mustard": 2, "lime": 1, "moss": 1, "green": 3,
    "forest": 2, "teal": 1.5, "turquoise": 1, "sky": 2.5, "royal": 2.5, "purple": 1.5, "lavender": 1, "pink": 2,
    "magenta": 1, "kelly": 1, "mint": 1, "orchid": 0.5,
}
BOTTOM_COLOURS = {
    "denim light": 12, "denim": 16, "denim dark": 10, "black": 18, "charcoal": 5, "grey": 6, "navy": 7, "beige": 10,
    "brown": 4, "olive": 3, "white": 2,
    "red": 1, "burgundy": 1, "green": 1, "mustard": 1, "pink": 0.5, "sky": 0.5, "royal": 0.5,
}
COAT_COLOURS = {
    "black": 22, "charcoal": 8, "grey": 7, "navy": 12, "camel": 10, "beige": 6, "brown": 7, "olive": 6, "cream": 2,
    "denim": 3,
    "red": 4, "burgundy": 3, "yellow": 2, "green": 2, "royal": 2, "forest": 2, "orange": 1, "pink": 1,
}
BAG_COLOURS = {
    "black": 35, "brown": 18, "camel": 10, "navy": 7, "grey": 8, "beige": 5,
    "red": 3, "burgundy": 3, "green": 2, "royal": 2, "yellow": 2, "pink": 2, "orange": 1.5, "teal": 1.5,
}
HAT_COLOURS = {"black": 30, "charcoal": 10, "grey": 10, "navy": 12, "beige": 8, "brown": 6, "white": 6, "red": 5,
               "burgundy": 3, "green": 3, "royal": 3, "yellow": 2, "orange": 1, "pink": 1}
BASKET_COLOURS = {"red": 35, "royal": 20, "green": 15, "black": 12, "grey": 10, "yellow": 5, "orange": 3}
TOTE_COLOURS = {"beige": 30, "white": 20, "black": 15, "camel": 10, "red": 5, "green": 5, "royal": 5, "yellow": 4,
                "orange": 3, "pink": 3}

TOP_PATTERNS = {"solid": 0.55, "stripes": 0.17, "checks": 0.13, "print": 0.15}
BOTTOM_PATTERNS = {"solid": 0.90, "checks": 0.05, "stripes": 0.05}
COAT_PATTERNS = {"solid": 0.85, "checks": 0.10, "stripes": 0.05}
COAT_SHARE = 0.35
BAG_SHARES = {"shoulder": 0.25, "backpack": 0.15}  # the rest carry none
HAT_SHARE = 0.12
LONG_SLEEVE_SHARE = 0.5  # of those without a coat (a coat's sleeves are long)
BARE_LEGS_SHARE = 0.12  # shorts or a skirt: shins show skin
HAIR = {  # name: (sRGB or None for bald, adults' weight, children's weight)
    "black": (_rgb(25, 22, 20), 30, 33), "dark brown": (_rgb(60, 40, 28), 28, 32), "brown": (_rgb(110, 75, 45), 14, 18),
    "blond": (_rgb(200, 170, 110), 10, 15), "grey": (_rgb(165, 165, 160), 13, 0), "red": (_rgb(150, 60, 30), 2, 2),
    "bald": (None, 3, 0),
}
DARK_SKIN_HAIR = {"black": 70, "dark brown": 25, "grey": 5}
MIN_CONTRAST = 60.0  # sRGB (0-255) distance between the colours of one pattern
TINT_SD = (0.05, 0.015)  # a garment's dye and wear: brightness sd, per-channel sd (multipliers of at most 1)


@dataclass(frozen=True)
class Garment:
    """A piece of clothing's look: its pattern, the colours it is printed in (main first), a colour multiplier."""

    pattern: str  # solid | stripes | checks | print
    colours: tuple[RGB, ...]
    period_px: int = 8  # the pattern's repeat on the texture
    tint: RGB = (1.0, 1.0, 1.0)

    @property
    def main(self) -> RGB:
        return self.colours[0]

    @property
    def rgba(self) -> list[float]:
        """The colour multiplier as the visual shape's rgba (the texture holds the pattern)."""
        return [*self.tint, 1.0]

    def shade(self) -> RGB:
        """The main colour as drawn (tinted): for the plain shapes cut from the garment (sleeves)."""
        return tuple(c * t for c, t in zip(self.main, self.tint))  # type: ignore[return-value]


@dataclass(frozen=True)
class Outfit:
    top: Garment
    bottom: Garment
    coat: Garment | None
    long_sleeves: bool
    bare_legs: bool
    bag: tuple[str, RGB] | None  # ("shoulder" | "backpack", colour)
    hair: RGB | None  # None: bald
    hat: RGB | None
    basket: RGB  # the shop basket's colour, if the shopper carries one
    tote: RGB  # the shopping bag's colour, if it carries one

    @staticmethod
    def plain(rgb: RGB = (0.5, 0.5, 0.5)) -> "Outfit":
        """One colour all over (for bodies built for checks, never drawn)."""
        g = Garment("solid", (rgb,))
        return Outfit(g, g, None, False, False, None, rgb, None, rgb, rgb)

    def garments(self) -> tuple[Garment, ...]:
        return (self.top, self.bottom) + ((self.coat,) if self.coat is not None else ())


def draw_outfit(rng: np.random.Generator, child: bool = False, dark_skin: bool = False) -> Outfit:
    """One shopper's outfit, from its own generator (`agents.body.draw_build` hands it a child of the
    shopper's). Nothing about the shopper's persona or script enters it."""
    top = _garment(rng, TOP_COLOURS, TOP_PATTERNS)
    bottom = _garment(rng, BOTTOM_COLOURS, BOTTOM_PATTERNS)
    coat = _garment(rng, COAT_COLOURS, COAT_PATTERNS) if rng.random() < COAT_SHARE else None
    long_sleeves = bool(rng.random() < LONG_SLEEVE_SHARE)
    bare_legs = bool(rng.random() < BARE_LEGS_SHARE)
    u = rng.random()
    shoulder, backpack = BAG_SHARES["shoulder"], BAG_SHARES["backpack"]
    kind = "shoulder" if u < shoulder else "backpack" if u < shoulder + backpack else None
    bag = (kind, _colour(rng, BAG_COLOURS)) if kind is not None else None
    if dark_skin and not child:
        hair = HAIR[_pick(rng, DARK_SKIN_HAIR)][0]
    elif dark_skin:
        hair = HAIR[_pick(rng, {k: v for k, v in DARK_SKIN_HAIR.items() if k != "grey"})][0]
    else:
        hair = HAIR[_pick(rng, {k: (v[2] if child else v[1]) for k, v in HAIR.items()})][0]
    hat = _colour(rng, HAT_COLOURS) if rng.random() < HAT_SHARE else None
    return Outfit(top, bottom, coat, long_sleeves, bare_legs, bag, hair, hat,
                  basket=_colour(rng, BASKET_COLOURS), tote=_colour(rng, TOTE_COLOURS))


def garment_texture(g: Garment) -> np.ndarray:
    """The garment's print as a (TEXTURE_PX, TEXTURE_PX, 3) uint8 image: a pure function of the garment's
    pattern, colours and repeat (the tint is applied by the renderer), so equal garments share a mesh file."""
    t, p = TEXTURE_PX, g.period_px
    cols = [np.array(c) * 255.0 for c in g.colours]
    img = np.empty((t, t, 3))
    img[:] = cols[0]
    yy, xx = np.mgrid[0:t, 0:t]
    if g.pattern == "stripes":  # bands across the body; a third colour, if any, every other band
        band = (yy // (p // 2)) % 4
        img[band == 1] = cols[1]
        img[band == 3] = cols[2] if len(cols) > 2 else cols[1]
    elif g.pattern == "checks":  # a plaid: bands both ways, where they cross a third colour (or the blend)
        across, down = (yy % p) < p // 2, (xx % p) < p // 2
        cross = cols[2] if len(cols) > 2 else (cols[0] + cols[1]) / 2
        img[across ^ down] = cols[1]
        img[across & down] = cross
    elif g.pattern == "print":  # a graphic on the chest: a disc or a block, and a line of lettering under it
        r = p
        if (p // 4) % 2:
            img[(yy - t * 0.4) ** 2 + (xx - t / 2) ** 2 <= r * r] = cols[1]
        else:
            img[(abs(yy - t * 0.4) <= r) & (abs(xx - t / 2) <= r)] = cols[1]
        line = cols[2] if len(cols) > 2 else cols[1]
        img[(yy >= int(t * 0.4) + r + 2) & (yy <= int(t * 0.4) + r + 3) & (abs(xx - t / 2) <= r + 2)] = line
    elif g.pattern != "solid":
        raise ValueError(f"no pattern '{g.pattern}'")
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# -- helpers ---------------------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    w = np.array([weights[n] for n in names], dtype=float)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def _colour(rng: np.random.Generator, weights: dict[str, float]) -> RGB:
    return COLOURS[_pick(rng, weights)][0]


def _garment(rng: np.random.Generator, colours: dict[str, float], patterns: dict[str, float]) -> Garment:
    pattern = _pick(rng, patterns)
    main = COLOURS[_pick(rng, colours)][0]
    chosen = [main]
    for _ in range({"solid": 0, "stripes": 1, "checks": 1, "print": 2}[pattern]):
        chosen.append(_contrasting(rng, TOP_COLOURS, chosen))
    if pattern in ("stripes", "checks") and rng.random() < 0.4:  # a third colour in the weave
        chosen.append(_contrasting(rng, TOP_COLOURS, chosen))
    period = int(rng.choice([4, 8, 16])) if pattern != "print" else int(rng.choice([5, 6, 8, 9]))
    bright = float(np.exp(rng.normal(0.0, TINT_SD[0])))
    tint = np.minimum(bright * np.exp(rng.normal(0.0, TINT_SD[1], 3)), 1.0)
    return Garment(pattern, tuple(chosen), period, tuple(float(round(v, 3)) for v in tint))  # type: ignore[arg-type]


def _contrasting(rng: np.random.Generator, weights: dict[str, float], avoid: list[RGB]) -> RGB:
    """A colour drawn by `weights` at least MIN_CONTRAST from each colour in `avoid` (a pattern must show)."""
    for _ in range(20):
        c = _colour(rng, weights)
        if all(np.linalg.norm((np.array(c) - np.array(a)) * 255.0) >= MIN_CONTRAST for a in avoid):
            return c
    return COLOURS["white"][0] if np.mean(avoid[0]) < 0.5 else COLOURS["black"][0]
