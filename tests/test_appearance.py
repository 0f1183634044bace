"""Products look like products: multi-colour labels, store light, camera casts, and references the render never was."""
from __future__ import annotations

import numpy as np
import pytest
from skimage.color import deltaE_ciede2000

from bench.appearance import lab, measure, seen_units
from sim.appearance import UNIT_VARIANTS, label_texture, unit_tints, unit_variant
from sim.layout import load_store
from sim.lighting import CameraResponse, StoreLighting, relight
from sim.simulation import Simulation
from tests.conftest import STORES


def _item(layout, sku):
    return layout.catalog[sku]


def test_a_label_has_several_colours_its_catalog_colour_the_largest_and_is_the_same_every_time():
    layout = load_store(STORES / "tiny_store.yaml")
    for item in layout.spec.catalog:
        tex = label_texture(item.shape, item.size_mm, item.weight_g, item.rgb)
        assert np.array_equal(tex, label_texture(item.shape, item.size_mm, item.weight_g, item.rgb))
        colours, counts = np.unique(tex.reshape(-1, 3), axis=0, return_counts=True)
        assert len(colours) >= 3  # main, band, accent
        main = np.rint(np.array(item.rgb) * 255)
        share = counts[np.all(np.abs(colours - main) <= 1, axis=1)].sum() / counts.sum()
        assert 0.5 <= share <= 0.8


def test_look_alikes_share_their_label_design_and_differ_in_their_main_colour():
    layout = load_store(STORES / "tiny_store.yaml")
    cola, lemon, water = (_item(layout, s) for s in ("cola-330", "lemon-330", "water-500"))
    assert (cola.shape, cola.size_mm, cola.weight_g) == (lemon.shape, lemon.size_mm, lemon.weight_g)  # a family
    a, b = (label_texture(i.shape, i.size_mm, i.weight_g, i.rgb) for i in (cola, lemon))
    main_a, main_b = (np.all(t == np.rint(np.array(i.rgb) * 255), axis=2) for t, i in ((a, cola), (b, lemon)))
    assert np.array_equal(main_a, main_b)  # the same layout: the main colour fills the same texels
    # where both labels print something other than their main colour, they mostly print the same thing
    other = ~main_a
    assert np.mean(np.all(a[other] == b[other], axis=1)) > 0.5
    c = label_texture(water.shape, water.size_mm, water.weight_g, water.rgb)
    assert not np.array_equal(np.all(c == np.rint(np.array(water.rgb) * 255), axis=2), main_a)


def test_units_of_one_sku_are_printed_in_several_slightly_different_tints():
    tints = unit_tints("cola-330")
    assert tints.shape == (UNIT_VARIANTS, 3) and np.all(tints <= 1.0) and np.all(tints > 0.9)
    assert len({tuple(t) for t in tints}) == UNIT_VARIANTS
    assert len({unit_variant("cola-330", k) for k in range(1, 41)}) > UNIT_VARIANTS // 2
    red = np.array([[200, 16, 46]], dtype=np.uint8)
    lab_tints = lab(np.vstack([relight(red, t.astype(np.float32)) for t in tints]))
    de = deltaE_ciede2000(lab_tints[:1], lab_tints[1:])
    assert 0.2 < np.median(de) < 4.0  # visible to an instrument, within a print run's tolerance


def test_no_two_bins_are_lit_the_same_and_shelves_shade_the_back_of_the_shelf_below():
    layout = load_store(STORES / "market_store.yaml")
    light = StoreLighting(layout)
    bins = list(layout.bins.values())
    fronts = np.array([[*np.add(b.center[:2], np.multiply(b.facing, b.depth_m / 2 - 0.03)), b.center[2] + 0.02] for b in bins])
    g = light.gain(fronts)
    assert len(np.unique(g)) == len(bins)  # no two alike (symmetric places under a symmetric grid would be)
    assert g.min() > 0.3 and g.max() < 2.0 and g.max() / g.min() > 1.3
    covered = [k for k, b in enumerate(bins) if any(o.gondola == b.gondola and o.shelf == b.shelf + 1 for o in bins)]
    backs = np.array([[*np.subtract(bins[k].center[:2], np.multiply(bins[k].facing, bins[k].depth_m / 2 - 0.03)),
                       bins[k].center[2] + 0.02] for k in covered])
    assert np.all(light.gain(backs) < g[covered] * 0.8)
    width, depth = layout.spec.floor_m
    xs, ys = np.meshgrid(np.linspace(0.5, width - 0.5, 24), np.linspace(0.5, depth - 0.5, 24))
    floor = light.gain(np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], axis=1))
    assert floor.mean() == pytest.approx(1.0, abs=0.02)


def test_camera_white_balance_leaves_a_cast_of_a_few_degrees_and_exposures_differ():
    rng = np.random.default_rng(1)
    draws = [CameraResponse.draw(rng, 0.12, 0.06).gains.astype(float) for _ in range(2000)]
    angles = [np.degrees(np.arccos(np.clip(g @ np.ones(3) / (np.linalg.norm(g) * np.sqrt(3)), -1, 1))) for g in draws]
    assert 1.5 < np.median(angles) < 5.0  # published auto white balance: 2-5 degrees median angular error
    exposure = np.exp(np.log(np.array(draws)).mean(axis=1))
    assert np.std(np.log(exposure)) == pytest.approx(0.12, rel=0.1)


def test_store_info_carries_studio_palettes_never_the_colour_the_renderer_draws():
    layout = load_store(STORES / "market_store.yaml")
    sim = Simulation(layout, 0, cameras=False)
    try:
        info = sim.store_info()
    finally:
        sim.close()
    main_vs_print = []
    for product in info.catalog:
        item = layout.catalog[product.sku]
        assert not hasattr(product, "color")
        assert 2 <= len(product.reference) <= 4 and sum(c[3] for c in product.reference) == pytest.approx(1.0, abs=0.01)
        ref = lab(np.array([c[:3] for c in product.reference]))
        main_vs_print.append(float(deltaE_ciede2000(ref[:1], lab(np.array(item.rgb)[None] * 255))[0]))
        # the palette holds the label's inks, not one ink in light and shade: a second colour far from the first
        assert deltaE_ciede2000(ref[:1], ref[1:]).max() > 15.0
    # a photo by another camera: as far from the print as consumer cameras are from a ColorChecker (ΔE00 ~3-8)
    assert 2.5 < np.median(main_vs_print) < 10.0 and max(main_vs_print) < 20.0


def test_what_cameras_see_of_a_product_lies_a_realistic_colour_distance_from_its_reference():
    layout = load_store(STORES / "tiny_store.yaml")
    info, units = seen_units(layout, 3)
    row = measure(layout.name, 3, info, units)
    assert row["units"] >= 25 and row["pixels"] >= 2000
    assert 4.0 < row["de00_median"] < 25.0  # no oracle (0), still recognisable (a different colour is 30-80)
    assert row["de00_p90"] > row["de00_median"] + 3.0  # a spread: shading, the shelf's shade, casts, noise, JPEG
    # the pixels of one unit hold several colours: its label shows
    big = [px for _, px in units if len(px) >= 30]
    assert big
    spread = [np.percentile(deltaE_ciede2000(lab(px[:1]), lab(px)), 90) for px in big]
    assert np.median(spread) > 10.0
