"""Stage 5: SKU and count from the weight change, the bin's beliefs, carts' measured units and colour."""
from __future__ import annotations

import numpy as np
import pytest

from checkout.identification import CartedUnit, ColourTrust, colour_evidence, colour_evidence_looks, identify
from checkout.storemodel import StoreModel
from tests.checkout_synth import tiny_store_info

STORE = StoreModel(tiny_store_info())
CAT = STORE.catalog
SKIN_ONLY = np.tile(np.array([[220, 180, 150]], dtype=np.uint8), (10, 1))


def test_take_from_a_cola_bin_is_one_cola():
    best = identify(-352.0, 2.0, CAT, {"cola-330": 6}, [])[0]
    assert (best.kind, best.sku, best.qty) == ("take", "cola-330", 1)
    assert best.probability > 0.95


def test_two_at_once_is_qty_two():
    best = identify(-1041.0, 2.0, CAT, {"water-500": 4}, [])[0]
    assert (best.sku, best.qty) == ("water-500", 2)


def test_lookalike_misplaced_in_a_bin_is_uncertain_by_weight_and_resolved_by_colour():
    contents = {"cola-330": 5, "lemon-330": 1}
    by_weight = identify(-350.0, 2.0, CAT, contents, [])[0]
    assert by_weight.sku == "cola-330" and by_weight.probability < 0.9  # weight alone cannot tell the cans apart
    yellow = np.tile(np.array([[230, 205, 30]], dtype=np.uint8), (40, 1))
    skin = np.tile(np.array([[220, 180, 150]], dtype=np.uint8), (40, 1))
    colour = colour_evidence(np.vstack([yellow, skin]), STORE.sku_rgb, list(CAT))
    by_both = identify(-350.0, 2.0, CAT, contents, [], colour=colour)[0]
    assert by_both.sku == "lemon-330" and by_both.probability > 0.5


def test_a_lookalike_seen_in_the_hand_frame_after_frame_is_surer_than_one_glimpse():
    contents = {"cola-330": 9, "lemon-330": 1}
    yellow = np.tile(np.array([[230, 205, 30]], dtype=np.uint8), (6, 1))
    skin = np.tile(np.array([[220, 180, 150]], dtype=np.uint8), (30, 1))
    frames = [np.vstack([yellow, skin]), np.vstack([yellow, skin]), skin]  # the can showed in two of three frames
    colour, looks = colour_evidence_looks(frames, STORE.sku_rgb, list(CAT), person_rgb=skin)
    assert looks == 2
    glimpse = identify(-350.0, 2.0, CAT, contents, [], colour=colour)[0]
    seen_twice = identify(-350.0, 2.0, CAT, contents, [], colour=colour, colour_looks=looks)[0]
    assert glimpse.sku == seen_twice.sku == "lemon-330"
    assert glimpse.probability < 0.8 < 0.9 < seen_twice.probability  # (COLOUR_FLOOR: how little a missed colour says)


def test_without_the_reachers_own_colours_frames_count_as_one_look():
    # An orange sleeve is the juice's colour: with nobody's own colours to discount, it may be the sleeve.
    sleeve = np.tile(np.array([[240, 140, 40]], dtype=np.uint8), (30, 1))
    colour, looks = colour_evidence_looks([sleeve, sleeve, sleeve], STORE.sku_rgb, list(CAT), person_rgb=None)
    assert colour["juice-1l"] > 0.5 and looks == 1
    _, own_known = colour_evidence_looks([sleeve, sleeve, sleeve], STORE.sku_rgb, list(CAT), person_rgb=SKIN_ONLY)
    assert own_known == 3


def test_frames_without_any_catalog_colour_are_no_looks():
    skin = np.tile(np.array([[220, 180, 150]], dtype=np.uint8), (30, 1))
    colour, looks = colour_evidence_looks([skin, skin], STORE.sku_rgb, list(CAT), person_rgb=skin)
    assert looks == 0
    assert identify(-350.0, 2.0, CAT, {"cola-330": 9, "lemon-330": 1}, [], colour=colour or None, colour_looks=looks)[0].sku == "cola-330"


def test_put_back_is_matched_to_the_carted_unit_of_that_weight_from_any_cart():
    carted = [CartedUnit("acct-a", "cola-330", 344.0, 2.0), CartedUnit("acct-b", "lemon-330", 357.0, 2.0)]
    best = identify(356.5, 2.0, CAT, {"water-500": 3}, carted, putter_accounts=("acct-a",))[0]
    assert (best.kind, best.sku, best.from_account) == ("put_back", "lemon-330", "acct-b")


def test_own_cart_is_preferred_when_weights_agree():
    carted = [CartedUnit("acct-a", "cola-330", 350.0, 2.0), CartedUnit("acct-b", "cola-330", 350.5, 2.0)]
    best = identify(350.2, 2.0, CAT, {}, carted, putter_accounts=("acct-b",))[0]
    assert best.from_account == "acct-b"


def test_a_rise_no_carted_item_explains_is_unexplained():
    carted = [CartedUnit("acct-a", "cola-330", 350.0, 2.0)]
    best = identify(812.0, 2.0, CAT, {}, carted)[0]
    assert best.kind == "unexplained"


def test_colour_evidence_ignores_shading_and_counts_every_colour_of_a_label():
    # Palettes as StoreInfo carries them (ProductInfo.reference): the real ones share colours across SKUs.
    palettes = {"red-can": np.array([[200.0, 16, 46], [240, 240, 236]]), "yellow-can": np.array([[242.0, 210, 27]])}
    red = np.array([[200, 16, 46]], dtype=np.uint8)
    dim_red = (red * 0.6).astype(np.uint8)
    ev = colour_evidence(np.vstack([red, dim_red]), palettes, ["red-can", "yellow-can"])
    assert ev["red-can"] == 1.0 and ev["yellow-can"] == 0.0
    white_band = np.array([[236, 236, 230], [120, 120, 117]], dtype=np.uint8)  # the label's white band, lit and shaded
    ev = colour_evidence(np.vstack([red, white_band]), palettes, ["red-can", "yellow-can"])
    assert ev["red-can"] == 1.0 and ev["yellow-can"] == 0.0


def test_misplaced_look_alike_taken_again_is_not_ruled_out_by_the_many_of_the_bin_sku():
    from checkout.identification import measured_unit_taken

    # A lemon can (weighed 352.6 g when it left its own bin) was put among six colas of the same nominal weight.
    lemon = CartedUnit("", "lemon-330", 352.6, 1.0)
    contents = {"cola-330": 6, "lemon-330": 1}
    without = {h.sku: h.probability for h in identify(-352.4, 1.0, CAT, contents, []) if h.kind == "take" and h.qty == 1}
    with_units = {h.sku: h.probability for h in identify(-352.4, 1.0, CAT, contents, [], bin_units=(lemon,)) if h.kind == "take" and h.qty == 1}
    assert with_units["lemon-330"] > without["lemon-330"]
    assert max(with_units.values()) < 0.85  # ambiguous without colour: the receipt gets reviewed, not guessed
    assert measured_unit_taken(-352.4, 1.0, CAT["lemon-330"], 1, [lemon]) == 0
    assert measured_unit_taken(-346.0, 1.0, CAT["lemon-330"], 3, [lemon]) is None


def test_put_back_is_matched_to_the_cart_of_whoever_most_likely_put_it():
    carted = [CartedUnit("acct-a", "cola-330", 351.0, 2.0), CartedUnit("acct-b", "cola-330", 351.5, 2.0)]
    best = identify(351.2, 1.5, CAT, {}, carted, putter_weights={"acct-b": 0.97, "acct-a": 0.03})[0]
    assert best.kind == "put_back" and best.from_account == "acct-b" and best.probability > 0.85


def test_a_put_back_stays_the_putters_own_however_many_others_carry_the_same_sku():
    # A crowd: the putter (seen putting it back) carries one cola, eight other shoppers carry one each, all of
    # nearly the same weight. A hand-over is as (un)likely with eight others inside as with one.
    carted = [CartedUnit("acct-me", "cola-330", 350.0, 2.0)] + [CartedUnit(f"acct-{k}", "cola-330", 350.4 + 0.1 * k, 2.0) for k in range(8)]
    one_other = identify(350.1, 1.5, CAT, {}, carted[:2], putter_weights={"acct-me": 0.98})[0]
    crowd = identify(350.1, 1.5, CAT, {}, carted, putter_weights={"acct-me": 0.98})[0]
    assert crowd.from_account == one_other.from_account == "acct-me"
    assert crowd.probability > 0.9 and abs(crowd.probability - one_other.probability) < 0.05
    # Whose it is still follows the weights: a unit weighed 20 g off the one in hand is another cart's.
    carted[3] = CartedUnit("acct-2", "cola-330", 371.0, 2.0)
    assert identify(371.2, 1.5, CAT, {}, carted, putter_weights={"acct-me": 0.98})[0].from_account == "acct-2"


def test_specific_colour_evidence_discounts_the_inks_a_look_alike_family_shares():
    # Two flavours of one crisps design: the same blue band, white text and navy logo, only the main ink differs
    # (palettes and shares as `ProductInfo.reference` carries them). A hand holding the salted pack shows mostly
    # band and text, and a little of its yellow: plain matching scores both flavours alike, specific evidence
    # gives the shared pixels to neither and the yellow to the salted one alone.
    band, text, logo = [5.0, 48, 117], [232.0, 230, 228], [2.0, 30, 78]
    palettes = {"salt": np.array([[224.0, 184, 0], band, text, logo]), "paprika": np.array([[183.0, 33, 0], band, text, logo])}
    shares = {k: np.array([0.59, 0.2, 0.14, 0.08]) for k in palettes}
    seen = np.array([band] * 6 + [text] * 4 + [[224, 184, 0]] * 2 + [[210, 170, 150]] * 3, dtype=np.uint8)  # + skin
    plain = colour_evidence(seen, palettes, ["salt", "paprika"])
    assert plain["salt"] == pytest.approx(plain["paprika"] + 2 / 15)  # shared inks count for both
    spec = colour_evidence(seen, palettes, ["salt", "paprika"], sku_share=shares)
    assert spec["salt"] == pytest.approx((2 + 5) / 15) and spec["paprika"] == pytest.approx(5 / 15)
    assert spec["salt"] + spec["paprika"] == pytest.approx(12 / 15)  # each matched pixel shared out once, skin nowhere
    # A pixel of the paprika's main ink and one of the salt's: each to its own SKU alone.
    both = colour_evidence(np.array([[183, 33, 0], [224, 184, 0]], dtype=np.uint8), palettes, ["salt", "paprika"], sku_share=shares)
    assert both == {"salt": 0.5, "paprika": 0.5}
    # The likelihood ratio colour_factor makes of it now favours the flavour whose own ink was seen.
    from checkout.identification import colour_factor

    assert colour_factor(spec, "salt", looks=3) > 2.0 * colour_factor(spec, "paprika", looks=3)


def test_colour_shares_out_the_belief_in_an_item_and_never_makes_a_take_unexplained():
    # A cola taken from the cola bin, the can hidden by the fingers: the hand showed, frame after frame, only a
    # blue like a water bottle's label (an item of another weight, not in this bin) and nothing of the cola.
    blue = np.tile(np.array([[90, 170, 225]], dtype=np.uint8), (30, 1))
    colour, looks = colour_evidence_looks([blue] * 4, STORE.sku_rgb, list(CAT), person_rgb=SKIN_ONLY, sku_share=STORE.sku_share)
    assert looks == 4 and colour["cola-330"] == 0.0 and max(colour.values()) > 0.5
    plain = identify(-352.0, 2.0, CAT, {"cola-330": 6}, [])
    seen = identify(-352.0, 2.0, CAT, {"cola-330": 6}, [], colour=colour, colour_looks=looks)
    assert (seen[0].kind, seen[0].sku) == ("take", "cola-330") and seen[0].probability > 0.95
    p_unexplained = {h.kind: h.probability for h in plain + seen if h.kind == "unexplained"}
    assert [h.probability for h in seen if h.kind == "unexplained"] == pytest.approx([h.probability for h in plain if h.kind == "unexplained"])
    assert p_unexplained  # both lists had one
    # A load nothing in the catalog weighs stays unexplained whatever colour the hand showed.
    odd = identify(-1900.0, 2.0, CAT, {"cola-330": 6}, [], colour=colour, colour_looks=looks)
    assert odd[0].kind == "unexplained"


def test_two_taken_at_once_from_a_bin_holding_a_misplaced_look_alike_may_be_one_of_each():
    # A lemon can was put back among five colas (the same weight). Two cans leave in one change: two colas, or
    # the lemon and a cola, which no single-SKU hypothesis names. "Two colas" must not be sure of itself.
    mixed_bin = identify(-700.0, 2.0, CAT, {"cola-330": 5, "lemon-330": 1}, [])[0]
    assert (mixed_bin.kind, mixed_bin.sku, mixed_bin.qty) == ("take", "cola-330", 2)
    assert 0.5 < mixed_bin.probability < 0.85  # reviewed, not charged as sure
    # From a bin of colas only, two colas are as sure as before; one can from the mixed bin is untouched.
    assert identify(-700.0, 2.0, CAT, {"cola-330": 6}, [])[0].probability > 0.95
    one = identify(-350.0, 2.0, CAT, {"cola-330": 5, "lemon-330": 1}, [])
    assert sum(h.probability for h in one if h.kind == "take" and h.qty == 1) > 0.95
    # Colour in the hand that shows only the bin's own SKU's specific colour still leaves the mixture possible
    # (the lemon may be hidden by the fingers), and yellow in the hand makes the mixture the likelier story.
    yellow = np.tile(np.array([[230, 205, 30]], dtype=np.uint8), (40, 1))
    skin = np.tile(np.array([[220, 180, 150]], dtype=np.uint8), (40, 1))
    colour = colour_evidence(np.vstack([yellow, skin]), STORE.sku_rgb, list(CAT))
    assert identify(-700.0, 2.0, CAT, {"cola-330": 5, "lemon-330": 1}, [], colour=colour)[0].probability < 0.5


def test_colour_a_stores_cameras_keep_getting_wrong_for_a_sku_is_trusted_less_for_it():
    # Under a store's light a lemon can's label reads as cola's (the studio palettes say otherwise): every take
    # the bin's contents settle shows cola's colour for the lemon. A lemon put back later by someone whose cart
    # holds a cola and a lemon of one weight, its hand showing cola's colour, must not be read as the cola with
    # confidence to spare: the cameras have shown they cannot tell these two apart.
    trust = ColourTrust(CAT)
    looks_like_cola = {"cola-330": 0.45, "lemon-330": 0.05}
    assert trust.of("lemon-330") == 1.0  # trusted until shown wrong
    for _ in range(6):
        plain = identify(-351.0, 2.8, CAT, {"lemon-330": 5}, [])  # a lemon bin: the weight and contents settle it
        assert plain[0].sku == "lemon-330" and plain[0].probability >= ColourTrust.SURE_P
        trust.record(plain, looks_like_cola)
    trust.record(identify(-351.0, 2.8, CAT, {"cola-330": 5}, []), looks_like_cola)  # a cola: the colour was right
    trust.record(identify(-351.0, 2.8, CAT, {"lemon-330": 5}, []), {"cola-330": 0.0, "lemon-330": 0.0})  # a tie: nothing
    assert trust.agree == {"cola-330": 1} and trust.disagree == {"lemon-330": 6}
    assert trust.of("lemon-330") == pytest.approx(2 / 8) and trust.of("cola-330") == 1.0
    cart = [CartedUnit("acct-a", "cola-330", 351.0, 2.0), CartedUnit("acct-a", "lemon-330", 351.5, 2.0)]
    plain = identify(351.2, 2.8, CAT, {"lemon-330": 4}, cart, ("acct-a",))
    assert {h.sku for h in plain[:2]} == {"cola-330", "lemon-330"}  # the weight cannot tell which came back
    naive = identify(351.2, 2.8, CAT, {"lemon-330": 4}, cart, ("acct-a",), looks_like_cola, colour_looks=2)
    assert naive[0].sku == "cola-330" and naive[0].probability > 0.9  # the studio palettes: surely the cola
    tempered = identify(351.2, 2.8, CAT, {"lemon-330": 4}, cart, ("acct-a",), looks_like_cola, colour_looks=2,
                        colour_trust=trust.weight(plain))
    assert tempered[0].probability < 0.85  # unsure, so the receipt goes to review
    # An event whose weight leaves only SKUs never shown wrong keeps the colour in full.
    assert trust.weight(identify(-351.0, 2.8, CAT, {"cola-330": 5}, [])) == 1.0
