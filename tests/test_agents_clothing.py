"""What shoppers wear (`agents.clothing`): several colours on a person as a ceiling camera sees them, a wide
palette at the documented shares, the same distribution whatever the persona, and the same outfit for the
same seed; the fast rendering path still equals a full render for a shopper in every kind of garment."""
from __future__ import annotations

import colorsys
import dataclasses
import math

import numpy as np
import pytest

from agents import build_simulation
from agents.body import ShopperBody, draw_build
from agents.clothing import (
    BAG_SHARES, COAT_SHARE, COLOURS, HAT_SHARE, TOP_COLOURS, TOP_PATTERNS, Garment, Outfit, draw_outfit, garment_texture,
)
from agents.scenario import Scenario
from sim.cameras import CameraRig
from sim.clock import Clock
from sim.layout import CameraPose, Cameras, StoreLayout, load_store
from sim.seeding import generator
from sim.world import StoreWorld

CLEAN = {"depth_noise_m": 0.0, "rgb_noise": 0.0, "depth_unit_m": 0.0, "jitter_ms": 0.0, "drop_rate": 0.0, "stereo_baseline_m": 0.0,
         "disparity_step_px": 0.0, "rgb_jpeg_quality": 0, "depth_edge_jump": 0.0}
SPOT = (1.5, 1.2)  # open floor in the tiny store, south of its island
DRAWS = 600
NEUTRAL_TOPS_BAND = (0.58, 0.76)  # "about two thirds of tops neutral" (agents.clothing)
_NAME = {rgb: name for name, (rgb, _) in COLOURS.items()}


def _shopper_pixels(tiny_store_path, build, resolution=(320, 240)) -> np.ndarray:
    """(n, 3) uint8: the pixels of the camera stream where a shopper of `build` stands (against the empty store)."""
    layout = load_store(tiny_store_path)
    cam = CameraPose(id="cam-1", at=(SPOT[0], SPOT[1] - 0.9, 3.0), look_at=(SPOT[0], SPOT[1], 0.9), fov_deg=60.0)
    layout = StoreLayout(layout.spec.model_copy(update={"cameras": Cameras(list=(cam,))}), layout.path)
    layout = layout.with_sensors({"cameras": {**CLEAN, "resolution": resolution}})
    clock = Clock()
    world = StoreWorld(layout, generator(0, "item_weights"), clock.dt_s)
    world.settle_and_sleep()
    rig = CameraRig(layout, world.client, world.dynamic_bodies, clock, 0)
    try:
        empty = _tick(rig, clock, world)
        body = ShopperBody(world.client, build, SPOT, 0.4)
        world.add_dynamic_body(body.body)
        seen = _tick(rig, clock, world)
    finally:
        rig.close()
        world.close()
    # the colour imager has its own pixels (`sim.cameras`): the person is where its colour changed (no noise here,
    # and the store's light and the camera's gains are the same in both frames)
    person = (np.abs(seen.rgb.astype(int) - empty.rgb.astype(int)) > 6).any(axis=2)
    return seen.rgb[person]


def _tick(rig: CameraRig, clock: Clock, world: StoreWorld):
    for _ in range(rig.period_ticks):
        world.step()
        clock.advance()
    (frame,) = rig.sample()
    return frame


def _colour_groups(pixels: np.ndarray, min_share: float = 0.04) -> int:
    """How many distinct colours hold at least `min_share` of the pixels. Shading is not a colour: colours are
    joined in chains (single linkage) of steps within 0.05 of chromaticity and a factor of two of brightness
    (a box's lit top and its side in shadow, the store's light falling off), and all near-blacks are one."""
    px = pixels.astype(float)
    bins, counts = np.unique((px // 16).astype(int), axis=0, return_counts=True)
    keep = counts >= 0.002 * len(px)  # a few stray pixels do not bridge two colours
    centres, counts = bins[keep] * 16.0 + 8.0, counts[keep]
    group = list(range(len(centres)))

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    for i in range(len(centres)):
        for j in range(i):
            if _same_colour(centres[i], centres[j]):
                group[root(i)] = root(j)
    totals: dict[int, int] = {}
    for i, n in enumerate(counts):
        totals[root(i)] = totals.get(root(i), 0) + int(n)
    return sum(1 for n in totals.values() if n >= min_share * len(px))


def _same_colour(a: np.ndarray, b: np.ndarray) -> bool:
    sa, sb = a.sum(), b.sum()
    if sa < 100 and sb < 100:
        return True
    ratio = max(sa, sb) / max(min(sa, sb), 1.0)
    return ratio <= 2.0 and float(np.abs(a / sa - b / sb).max()) <= 0.05


def _hue_share(pixels: np.ndarray, lo_deg: float, hi_deg: float) -> float:
    """Share of pixels of a saturated colour (HSV saturation > 0.35, value > 0.2) with hue in [lo, hi) degrees."""
    px = pixels.astype(float) / 255.0
    mx, mn = px.max(axis=1), px.min(axis=1)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-9), 0.0)
    hue = np.array([colorsys.rgb_to_hsv(*p)[0] * 360.0 for p in px])
    return float(np.mean((sat > 0.35) & (mx > 0.2) & (hue >= lo_deg) & (hue < hi_deg)))


def _outfits(n: int = DRAWS) -> list[Outfit]:
    return [draw_outfit(np.random.default_rng(k)) for k in range(n)]


# -- (a) the camera stream: a person is several colours ---------------------------------------------------


def test_a_drawn_shopper_shows_several_distinct_colours_to_a_ceiling_camera_and_a_plain_one_does_not(tiny_store_path):
    drawn = draw_build(np.random.default_rng(2), height_m=1.75)
    grey = (0.5, 0.5, 0.5)
    plain = dataclasses.replace(drawn, skin=grey, carrier="basket", outfit=Outfit.plain(grey))
    drawn_px, plain_px = _shopper_pixels(tiny_store_path, drawn), _shopper_pixels(tiny_store_path, plain)
    assert len(drawn_px) > 2000 and len(plain_px) > 2000  # the camera sees the person
    assert _colour_groups(plain_px) == 1  # the counter does not find colours in shading alone
    assert _colour_groups(drawn_px) >= 3


def test_a_striped_top_reaches_the_stream_in_both_its_colours(tiny_store_path):
    """The garment's texture is what the camera sees (a textured mesh the renderer's mirror copies)."""
    grey = (0.5, 0.5, 0.5)
    yellow, royal = COLOURS["yellow"][0], COLOURS["royal"][0]
    base = draw_build(np.random.default_rng(0), height_m=1.75)
    outfit = dataclasses.replace(Outfit.plain(grey), top=Garment("stripes", (yellow, royal), period_px=8))
    solid = dataclasses.replace(outfit, top=Garment("solid", (yellow,)))
    px = _shopper_pixels(tiny_store_path, dataclasses.replace(base, skin=grey, outfit=outfit))
    solid_px = _shopper_pixels(tiny_store_path, dataclasses.replace(base, skin=grey, outfit=solid))
    assert _hue_share(px, 30, 75) > 0.05 and _hue_share(px, 200, 250) > 0.05  # yellow and blue bands
    assert _hue_share(solid_px, 30, 75) > 0.10 and _hue_share(solid_px, 200, 250) < 0.01


# -- (b) the palette and the shares -------------------------------------------------------------------------


def test_tops_are_mostly_neutral_within_the_documented_band_and_the_rest_spread_over_the_colour_wheel():
    outfits = _outfits()
    tops = [o.top.main for o in outfits]
    neutral = np.mean([COLOURS[_NAME[c]][1] for c in tops])
    assert NEUTRAL_TOPS_BAND[0] <= neutral <= NEUTRAL_TOPS_BAND[1]
    # every colour any garment is printed in: the saturated ones cover the wheel, no sixth of it left out
    printed = [c for o in outfits for g in o.garments() for c in g.colours]
    hues = np.array([colorsys.rgb_to_hsv(*c)[0] * 360.0 for c in printed if not COLOURS[_NAME[c]][1]])
    assert len(hues) > 300
    sextants = np.bincount((hues // 60).astype(int) % 6, minlength=6) / len(hues)
    assert sextants.min() >= 0.03, sextants
    assert len(np.unique((hues // 30).astype(int))) >= 10


def test_the_palette_holds_colours_like_the_products_reds_yellows_greens_and_oranges():
    printed = np.array(sorted({c for o in _outfits(300) for g in o.garments() for c in g.colours})) * 255.0
    products = {"cola red": (200, 16, 46), "lemon yellow": (242, 210, 27), "juice orange": (242, 140, 40),
                "green": (76, 175, 80), "paprika": (181, 54, 28)}
    for name, rgb in products.items():
        nearest = float(np.linalg.norm(printed - np.array(rgb), axis=1).min())
        assert nearest < 60.0, f"no garment colour within 60 of the {name} product's {rgb} (nearest {nearest:.0f})"


def test_coats_bags_hats_and_patterns_come_at_their_documented_shares():
    outfits = _outfits()
    n = len(outfits)

    def near(share: float, p: float) -> bool:  # within four binomial standard deviations
        return abs(share - p) <= 4 * math.sqrt(p * (1 - p) / n)

    assert near(np.mean([o.coat is not None for o in outfits]), COAT_SHARE)
    assert near(np.mean([o.bag is not None and o.bag[0] == "shoulder" for o in outfits]), BAG_SHARES["shoulder"])
    assert near(np.mean([o.bag is not None and o.bag[0] == "backpack" for o in outfits]), BAG_SHARES["backpack"])
    assert near(np.mean([o.hat is not None for o in outfits]), HAT_SHARE)
    assert near(np.mean([o.top.pattern != "solid" for o in outfits]), 1 - TOP_PATTERNS["solid"])
    assert all(len(o.top.colours) >= 2 for o in outfits if o.top.pattern != "solid")  # a pattern has colours
    assert set(TOP_COLOURS) <= set(COLOURS)
    # hair: black and dark brown the majority, red rare, grey only on adults
    hair = [o.hair for o in outfits]
    dark = np.mean([h in (_rgb("black hair"), _rgb("dark brown hair")) for h in hair])
    assert 0.45 <= dark <= 0.70
    assert np.mean([h == _rgb("red hair") for h in hair]) <= 0.05
    kids = [draw_outfit(np.random.default_rng(k), child=True).hair for k in range(200)]
    assert _rgb("grey hair") not in kids and None not in kids


def _rgb(name: str):
    from agents.clothing import HAIR

    return HAIR[name.removesuffix(" hair")][0]


def test_a_garment_texture_shows_its_pattern_and_equal_garments_share_one_texture():
    red, navy = COLOURS["red"][0], COLOURS["navy"][0]
    for pattern in ("stripes", "checks", "print"):
        tex = garment_texture(Garment(pattern, (red, navy), 8))
        assert len(np.unique(tex.reshape(-1, 3), axis=0)) >= 2, pattern
    assert len(np.unique(garment_texture(Garment("solid", (red,))).reshape(-1, 3), axis=0)) == 1
    a = garment_texture(Garment("checks", (red, navy), 8, tint=(0.9, 0.9, 0.9)))
    b = garment_texture(Garment("checks", (red, navy), 8, tint=(1.0, 1.0, 1.0)))
    assert np.array_equal(a, b)  # the tint is the renderer's multiplier, not part of the file


# -- (c) personas change behaviour, not clothes ---------------------------------------------------------------


def test_the_same_shopper_wears_the_same_outfit_whatever_its_persona():
    builds = {}
    for persona in ("quick", "browser", "returner"):
        sc = Scenario(name="dress", store="tiny_store", seed=5, duration_s=1)
        for k in range(4):
            sc.add_shopper(f"s{k}", persona=persona)
        sim = build_simulation(sc, seed=5, cameras=False)
        builds[persona] = [sim.shoppers.shoppers[f"s{k}"].build for k in range(4)]
        sim.close()
    assert builds["quick"] == builds["browser"] == builds["returner"]
    assert len({b.outfit for b in builds["quick"]}) == 4  # and shoppers differ from one another


# -- (d) determinism --------------------------------------------------------------------------------------


def test_the_same_seed_draws_the_same_body_and_outfit_and_the_outfit_takes_nothing_from_the_shoppers_stream():
    a, b = np.random.default_rng(11), np.random.default_rng(11)
    assert draw_build(a) == draw_build(b)
    assert a.random() == b.random()
    outfits = [draw_build(np.random.default_rng(k)).outfit for k in range(20)]
    assert len(set(outfits)) == 20
    # what follows the body in a shopper's stream (its speed, its script) is what it was before outfits
    # were drawn: the outfit comes from a spawned child generator
    r1, r2 = np.random.default_rng(3), np.random.default_rng(3)
    draw_build(r1)
    # child, height, width, two reserved, skin, carrier
    r2.random(), r2.normal(), r2.normal(), r2.integers(10), r2.integers(5), r2.integers(5), r2.random()
    assert r1.random() == r2.random()


# -- the fast path still equals a full render -----------------------------------------------------------------


@pytest.mark.parametrize("bag", ["shoulder", "backpack"])
def test_fast_path_agrees_with_a_full_render_for_a_shopper_in_a_coat_bag_and_hat(tiny_store_path, bag):
    """A link showing several parts (a coat and the top under it, a bag and its straps, hair and a hat) is a
    visual array; the renderer's mirror copies each part."""
    layout = load_store(tiny_store_path).with_sensors({"cameras": {"resolution": (96, 72)}})
    clock = Clock()
    world = StoreWorld(layout, generator(0, "item_weights"), clock.dt_s)
    world.settle_and_sleep()
    rig = CameraRig(layout, world.client, world.dynamic_bodies, clock, 0)
    check = Garment("checks", (COLOURS["camel"][0], COLOURS["black"][0], COLOURS["red"][0]), 8, (0.95, 0.9, 0.92))
    top = Garment("print", (COLOURS["white"][0], COLOURS["green"][0], COLOURS["navy"][0]), 6)
    outfit = dataclasses.replace(draw_outfit(np.random.default_rng(1)), top=top, coat=check, bag=(bag, COLOURS["royal"][0]),
                                 hat=COLOURS["yellow"][0], hair=COLOURS["brown"][0], bare_legs=True)
    build = dataclasses.replace(draw_build(np.random.default_rng(1)), outfit=outfit)
    body = ShopperBody(world.client, build, (1.5, 1.5), 0.3)
    world.add_dynamic_body(body.body)
    worst = worst_rgb = 1.0
    try:
        for _ in range(12):
            for _ in range(rig.period_ticks):
                t = clock.t_s
                body.set_pose((1.6 + 0.4 * math.sin(t), 1.5 + 0.3 * t), 0.3 + 0.4 * t, crouch_m=0.2 * (1 + math.sin(3 * t)),
                              waist_rad=0.3 * math.sin(2 * t))
                world.step()
                clock.advance()
            rig.renderer.sync()
            for i in range(len(rig.ids)):
                fast, full = rig.renderer.render(i), rig.renderer.render_full(i)
                worst = min(worst, float(np.mean(np.abs(fast[1] - full[1]) <= 0.001)))
                worst_rgb = min(worst_rgb, float(np.mean((fast[0] == full[0]).all(axis=-1))))
    finally:
        rig.close()
        world.close()
    assert worst >= 0.999
    assert worst_rgb >= 0.999
