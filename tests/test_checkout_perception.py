"""Stage 1: foreground against a learned background, lifted with the published calibration, fused: heads and hands."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from checkout.perception import Perception, PerceptionConfig
from checkout.storemodel import StoreModel, colour_at
from sim.stream import CameraFrame, StoreInfo
from tests.checkout_synth import FloorItem, Person, Renderer, down_camera, tiny_store_info

CAMS = (down_camera("c1", 1.5, 1.8), down_camera("c2", 1.5, 3.4))
INFO = tiny_store_info(CAMS)


def _learned(noise=0.002, seed=0):
    rng = np.random.default_rng(seed)
    r = Renderer(INFO)
    p = Perception(StoreModel(INFO))
    for i in range(4):
        p.process(i * 0.1, r.frames(CAMS, i * 0.1, [], rng, noise))
    return p, r, rng


def test_empty_store_has_no_people_and_no_hands():
    p, r, rng = _learned()
    out = p.process(0.5, r.frames(CAMS, 0.5, [], rng))
    assert len(out.heads) == 0 and out.hands == ()


def test_one_person_is_one_head_at_their_place_and_height():
    p, r, rng = _learned()
    out = p.process(0.5, r.frames(CAMS, 0.5, [Person(1.6, 2.6, height_m=1.68)], rng))
    assert len(out.heads) == 1
    assert np.hypot(out.heads[0, 0] - 1.6, out.heads[0, 1] - 2.6) < 0.12
    assert abs(out.heads[0, 2] - 1.68) < 0.08


def test_two_people_half_a_metre_apart_are_two_heads():
    p, r, rng = _learned()
    out = p.process(0.5, r.frames(CAMS, 0.5, [Person(1.4, 2.4), Person(1.4, 2.9, height_m=1.6)], rng))
    assert len(out.heads) == 2


def test_arm_reaching_into_a_bin_is_a_hand_in_that_bin():
    p, r, rng = _learned()
    # Gondola A faces west, its front edge at x = 2.55; A-1-2 is the middle bin of the lower shelf (y 2.6..3.4).
    out = p.process(0.5, r.frames(CAMS, 0.5, [Person(2.05, 2.8, hand=(2.52, 3.0, 0.55), hand_rgb=(200, 16, 46))], rng))
    by_bin = {h.bin: h for h in out.hands}
    assert "A-1-2" in by_bin
    assert by_bin["A-1-2"].n_points == max(h.n_points for h in out.hands if h.bin.startswith("A-1"))
    assert not any(b.startswith("B") for b in by_bin)
    red = np.all(np.abs(by_bin["A-1-2"].rgb.astype(int) - (200, 16, 46)) < 40, axis=1)
    assert red.any()  # the hand's colour travels with the blob, for identification


def test_noisier_depth_raises_no_false_people():
    p, r, rng = _learned(noise=0.008, seed=1)
    outs = [p.process(0.5 + 0.1 * i, r.frames(CAMS, 0.5 + 0.1 * i, [], rng, 0.008)) for i in range(3)]
    assert all(len(o.heads) == 0 for o in outs)


def test_two_shoppers_reaching_into_one_bin_are_two_hands_each_near_its_reacher():
    p, r, rng = _learned()
    # A-1-2 spans y 2.6..3.4; one reaches in at its north end, the other at its south end.
    people = [Person(2.05, 2.55, hand=(2.52, 2.7, 0.55)), Person(2.05, 3.45, hand=(2.52, 3.3, 0.55), height_m=1.65)]
    out = p.process(0.5, r.frames(CAMS, 0.5, people, rng))
    blobs = sorted((h for h in out.hands if h.bin == "A-1-2"), key=lambda h: h.centroid[1])
    assert len(blobs) == 2
    assert abs(blobs[0].centroid[1] - 2.7) < 0.15 and abs(blobs[1].centroid[1] - 3.3) < 0.15


def test_a_shopper_crouched_below_the_head_band_is_a_low_peak_not_a_head():
    p, r, rng = _learned()
    out = p.process(0.5, r.frames(CAMS, 0.5, [Person(1.6, 2.6, height_m=0.92), Person(1.4, 1.6, height_m=1.7)], rng))
    assert len(out.heads) == 1 and np.hypot(out.heads[0, 0] - 1.4, out.heads[0, 1] - 1.6) < 0.12
    assert len(out.low_heads) == 1  # the standing shopper's own shoulders are no low peak
    assert np.hypot(out.low_heads[0, 0] - 1.6, out.low_heads[0, 1] - 2.6) < 0.12
    assert abs(out.low_heads[0, 2] - 0.92) < 0.08
    empty = p.process(0.6, r.frames(CAMS, 0.6, [], rng))
    assert len(empty.low_heads) == 0


def _spied(stack, log: list) -> None:
    """Record every percept the stack's perception hands it."""
    process = stack.perception.process

    def spy(t, frames):
        out = process(t, frames)
        log.append((t, out.heads.round(6).tolist(), [(h.bin, h.n_points) for h in out.hands]))
        return out

    stack.perception = type("Spy", (), {"process": staticmethod(spy)})()


def test_stacks_sharing_perception_see_what_their_own_would_and_perceive_each_frame_set_once():
    from checkout.perception import SharedPerception
    from checkout.stack import CheckoutStack
    from tests.checkout_synth import path, stream

    walk = path([(0.0, 1.0, 0.4), (2.0, 1.6, 2.6), (4.0, 1.0, 0.4)])
    msgs = stream(INFO, 4.0, people_at=lambda t: [Person(*walk(t), height_m=1.7)])
    shared = SharedPerception()
    first, second = (CheckoutStack(m, shared_perception=shared) for m in ("fused", "weight"))
    alone = CheckoutStack("weight")
    for stack in (first, second, alone):
        stack.consume(msgs[0])
    via_shared, via_own = [], []
    _spied(second, via_shared)  # the stack that gets its percepts from the shared perception
    _spied(alone, via_own)
    for m in msgs[1:]:
        for stack in (first, second, alone):
            stack.consume(m)
    assert len(via_shared) > 10 and any(heads for _, heads, _ in via_shared)
    assert via_shared == via_own
    assert shared.cost_s > 0 and len(shared._recent) <= SharedPerception.KEEP


def test_a_hand_raised_into_a_top_bin_is_no_head():
    # Height map as the cameras fuse it: a shopper standing in the aisle west of gondola A (front plane x = 2.55),
    # the arm up over the shelf edge, the hand 0.45 m from the head and higher than the arm: a peak of its own.
    p = Perception(StoreModel(INFO))
    g = p.cfg.grid_m
    hm = np.zeros(p.grid_shape)

    def disc(x, y, r, h):
        ix, iy = np.indices(hm.shape)
        m = ((ix + 0.5) * g - x) ** 2 + ((iy + 0.5) * g - y) ** 2 <= r * r
        hm[m] = np.maximum(hm[m], h)

    disc(2.2, 3.0, 0.25, 1.45)  # shoulders
    disc(2.2, 3.0, 0.1, 1.7)  # head
    for k in range(1, 9):  # the arm rising to the hand
        disc(2.2 + 0.05 * k, 3.0, 0.06, 1.45 + 0.02 * k)
    disc(2.65, 3.0, 0.08, 1.72)  # the hand in the top bin, behind the front plane
    heads = p.find_heads(hm)
    assert len(heads) == 1 and np.hypot(heads[0, 0] - 2.2, heads[0, 1] - 3.0) < 0.1
    # Nor is a hand raised just in front of a top bin, in the slab where hands are counted (front plane x = 2.55).
    hm[(np.indices(hm.shape)[0] + 0.5) * g > 2.55] = 0.0
    disc(2.48, 3.0, 0.06, 1.66)
    heads = p.find_heads(hm)
    assert len(heads) == 1 and np.hypot(heads[0, 0] - 2.2, heads[0, 1] - 3.0) < 0.1
    # The same shape out in the aisle is two people's heads: the rule is the shelf, not the shape.
    hm2 = np.roll(hm, -int(round(1.0 / g)), axis=0)
    assert len(p.find_heads(hm2)) == 2


def test_something_lying_still_in_a_bin_stops_being_a_hand_and_a_moving_hand_is_one_again():
    # An item just put down (foreground until the background absorbs it) stands as still as a held pose would:
    # after `hand_still_s` of no change it is no hand in the bin; a hand that moves again is.
    p, r, rng = _learned()
    pose = Person(2.05, 2.8, hand=(2.52, 3.0, 0.55))
    seen = []
    for k in range(5, 26):
        t = 0.1 * k
        out = p.process(t, r.frames(CAMS, t, [pose], rng))
        seen.append(any(h.bin == "A-1-2" and h.n_points >= 3 for h in out.hands))
    assert seen[0] and not seen[-1]
    assert p.cfg.hand_still_s - 0.25 <= 0.1 * seen.index(False) <= p.cfg.hand_still_s + 0.25
    moved = p.process(2.6, r.frames(CAMS, 2.6, [Person(2.05, 2.8, hand=(2.5, 3.15, 0.6))], rng))
    assert any(h.bin == "A-1-2" for h in moved.hands)


def _still_shopper_run(person_rule: bool) -> tuple[list[int], list[int]]:
    """A shopper standing still at A-1-2 with a hand held in it, for 1.5 s, absorbing after 0.6 s (the rule's
    timing, shortened for the test): heads seen and foreground points per frame set."""
    rng = np.random.default_rng(0)
    r = Renderer(INFO)
    p = Perception(StoreModel(INFO), PerceptionConfig(static_absorb_s=0.6, hand_still_s=0.3))
    if not person_rule:
        for bg in p.backgrounds.values():
            bg.person_space = lambda points: np.zeros(len(points), dtype=bool)
    for i in range(4):
        p.process(i * 0.1, r.frames(CAMS, i * 0.1, [], rng, 0.002))
    pose = Person(2.05, 2.8, height_m=1.7, hand=(2.52, 3.0, 0.55))
    heads, points = [], []
    for k in range(5, 20):
        out = p.process(0.1 * k, r.frames(CAMS, 0.1 * k, [pose], rng))
        heads.append(len(out.heads))
        points.append(out.foreground_points)
    return heads, points


def test_a_shopper_standing_still_in_the_aisle_is_never_absorbed_into_the_background_but_their_still_hand_is():
    # Agents and people stand at a shelf for many seconds, heads as still to a depth camera as a box: a foreground
    # that holds still is absorbed (an item put down), but never in the aisle where people are.
    heads, points = _still_shopper_run(person_rule=True)
    assert all(n == 1 for n in heads)  # seen throughout, long past the absorbing time
    assert points[-1] < points[0]  # the arm held still over the shelf was absorbed like an item put there
    # Without the rule the still shopper vanishes once absorbed.
    heads_then, _ = _still_shopper_run(person_rule=False)
    assert heads_then[0] == 1 and heads_then[-1] == 0


FLOOR_CAM = down_camera("f1", 2.2, 3.0, width=160, height=120, fov_deg=51.0)  # 1.8 cm a pixel at the floor, as a D435's 320 x 240
FLOOR_INFO = tiny_store_info((FLOOR_CAM,))
CAN_XY = (2.45, 3.0)  # a lemon can lying 10 cm in front of A-1-2 (gondola A's front edge is at x = 2.55)


def _floor_run(people: list[Person], noise: float = 0.005) -> list[tuple]:
    """The floor objects per frame set: 10 frames of the empty store, then a lemon can lying on the floor for 1.5 s."""
    rng = np.random.default_rng(4)
    r = Renderer(FLOOR_INFO)
    p = Perception(StoreModel(FLOOR_INFO))
    can = FloorItem(*CAN_XY, t_s=1.0)
    out = []
    for k in range(26):
        t = 0.1 * k
        out.append(p.process(t, r.frames((FLOOR_CAM,), t, people if t >= 1.0 else [], rng, noise, [can])).floor)
    return out


def test_an_item_lying_on_the_floor_is_seen_by_its_colour_though_the_depth_noise_hides_it():
    # A can on its side stands 6.6 cm off the floor, under a quarter of the depth cut at 3 m with D435 noise
    # (5 mm at 1 m): no depth foreground shows it, its colour does — once it has lain there `floor_still_s`.
    floors = _floor_run([])
    held = PerceptionConfig().floor_still_s
    assert all(f == () for f in floors[: 10 + int(held * 10) - 1])  # the empty floor, then not yet held long enough
    last = floors[-1]
    assert len(last) == 1
    (obj,) = last
    assert np.hypot(obj.xy[0] - CAN_XY[0], obj.xy[1] - CAN_XY[1]) < 0.05
    lemon = np.all(np.abs(obj.rgb.astype(int) - (242, 210, 27)) < 30, axis=1)
    assert lemon.mean() > 0.8 and obj.pixels >= 2  # every other pixel both ways: 3 of them lie on the can


def test_something_low_beside_a_person_is_not_reported_their_feet_are_as_low():
    floors = _floor_run([Person(2.1, 3.0, height_m=1.7)])
    assert all(f == () for f in floors)


def test_a_hand_s_rim_and_the_pixels_beside_nothing_are_on_a_depth_edge_its_inside_is_not():
    from checkout.perception import depth_edge_flags

    depth = np.full((12, 16), 3.0, dtype=np.float32)
    depth[3:9, 4:10] = 1.5  # a hand 6 x 6 px at 1.5 m over the floor at 3 m
    depth[5, 10] = 2.2  # a flying pixel beside it, between the two surfaces
    depth[0, 0] = 0.0  # no depth (a stereo hole)
    fg = np.flatnonzero((depth.ravel() > 0) & (depth.ravel() < 2.9))
    rim = set(fg[depth_edge_flags(depth.ravel(), fg, 16, 0.05, 0.0)[0]].tolist())
    inside = {r * 16 + c for r in range(4, 8) for c in range(5, 9)}
    assert rim == set(fg.tolist()) - inside  # the hand's ring and the flying pixel; not its 4 x 4 inside
    floor = np.flatnonzero(depth.ravel() >= 2.9)
    floor_rim = set(floor[depth_edge_flags(depth.ravel(), floor, 16, 0.05, 0.0)[0]].tolist())
    assert {1, 16} <= floor_rim and 2 * 16 + 2 not in floor_rim  # beside the hole: a rim; far from all: not


def test_a_flying_pixel_between_a_hand_and_the_floor_is_no_point_and_a_steep_surface_is_kept():
    from checkout.perception import depth_edge_flags

    depth = np.full((12, 16), 3.0, dtype=np.float32)
    depth[3:9, 4:10] = 1.5  # a hand over the floor
    depth[5, 10] = 2.2  # between the two: flying
    depth[7, 3] = 0.0  # a hole where the left-right check dropped an edge pixel ...
    depth[7, 2] = 2.0  # ... beside a pixel in the air
    depth[10, 0:16] = np.linspace(2.0, 2.9, 16)  # a steep slope: 2-4 % a pixel
    fg = np.flatnonzero((depth.ravel() > 0) & (depth.ravel() < 2.95))
    fly = set(fg[depth_edge_flags(depth.ravel(), fg, 16, 0.0, 0.15)[1]].tolist())
    assert fly == {5 * 16 + 10, 7 * 16 + 2}  # the hand and the slope stay whole


# -- colour from its own imager ----------------------------------------------------------------------------------------
# A D435-like camera: the depth imager as above, the colour one (69 deg, 16:9) 15 mm west of it (image x = east, and
# the colour imager sits on the depth's -x side), so colour and depth pixels do not correspond one to one.
DEPTH_CAMS = (down_camera("c1", 1.5, 1.8), down_camera("c2", 1.5, 3.4))
RGB_CAMS = (down_camera("c1", 1.5 - 0.015, 1.8, width=192, height=108, fov_deg=69.0),
            down_camera("c2", 1.5 - 0.015, 3.4, width=192, height=108, fov_deg=69.0))
TWO_IMAGERS = replace(tiny_store_info(DEPTH_CAMS), rgb_cameras=RGB_CAMS)


def _two_imager_frames(r: Renderer, t_s: float, people: list[Person], rng: np.random.Generator) -> list[CameraFrame]:
    """Each camera's depth from its depth imager, its colour from its colour imager, of one scene."""
    scene = r.scene(people)
    return [CameraFrame(t_s, d.camera_id, r.frame(c, t_s, people, rng, 0.0, scene).rgb, r.frame(d, t_s, people, rng, 0.002, scene).depth)
            for d, c in zip(DEPTH_CAMS, RGB_CAMS)]


def _hand_colours(info: StoreInfo) -> np.ndarray:
    rng = np.random.default_rng(0)
    r = Renderer(info)
    p = Perception(StoreModel(info))
    for i in range(4):
        p.process(i * 0.1, _two_imager_frames(r, i * 0.1, [], rng))
    out = p.process(0.5, _two_imager_frames(r, 0.5, [Person(2.05, 2.8, hand=(2.52, 3.0, 0.55), hand_rgb=(200, 16, 46))], rng))
    hands = [h for h in out.hands if h.bin == "A-1-2"]
    assert len(hands) == 1
    return hands[0].rgb


def test_a_hand_s_colour_is_read_through_the_published_depth_and_colour_calibrations():
    rgb = _hand_colours(TWO_IMAGERS)
    red = np.all(np.abs(rgb.astype(int) - (200, 16, 46)) < 40, axis=1)
    assert len(rgb) >= 10 and red.mean() > 0.5, red.mean()  # hand and sleeve, as with registered colour (0.69)
    # the same frames read as if colour were registered to depth pixel for pixel: the colours are not the hand's
    wrong = _hand_colours(replace(TWO_IMAGERS, rgb_cameras=()))
    assert np.all(np.abs(wrong.astype(int) - (200, 16, 46)) < 40, axis=1).mean() < 0.2


def test_colour_at_reads_the_pixel_a_point_projects_to_and_nothing_outside_the_colour_field():
    cam = StoreModel(TWO_IMAGERS).cameras["c1"]
    rgb_cal = RGB_CAMS[0]
    h, w = rgb_cal.height, rgb_cal.width
    code = np.arange(h * w)
    image = np.stack([code % 256, code // 256, np.zeros_like(code)], axis=1).astype(np.uint8).reshape(h, w, 3)
    idx = np.arange(cam.width * cam.height)[::7]
    depth = np.full(len(idx), 3.0)  # the floor, 3 m down
    points = cam.centre_w + depth[:, None] * cam.rays_w[idx]
    colour, seen = colour_at(cam, idx, points, image)
    uv, _ = rgb_cal.project(points)
    inside = (uv[:, 0] > -0.5) & (uv[:, 0] < w - 0.5) & (uv[:, 1] > -0.5) & (uv[:, 1] < h - 0.5)
    assert 0.2 < seen.mean() < 0.8 and np.array_equal(seen, inside)  # the colour field is narrower than the depth's
    read = colour[seen, 0].astype(int) + 256 * colour[seen, 1].astype(int)
    assert np.array_equal(read, np.rint(uv[seen, 1]) * w + np.rint(uv[seen, 0]))
    assert (colour[~seen] == 0).all()
    # the floor watch only watches floor pixels the colour imager sees
    watch = Perception(StoreModel(TWO_IMAGERS)).floor_watches["c1"]
    registered = Perception(StoreModel(replace(TWO_IMAGERS, rgb_cameras=()))).floor_watches["c1"]
    assert 0 < len(watch.idx) < len(registered.idx) and (watch.rgb_idx >= 0).all()


def test_a_body_bent_over_a_bins_front_hides_it_from_the_cameras_and_the_gondola_hides_the_far_side_always():
    # The space in front of a bin's opening (where a forearm passes) is open to the cameras in the empty store.
    # A shopper leaning over the lemon bin hides half of it or more: a hand could go in there unseen. The next bin
    # along stays open.
    p, r, rng = _learned()
    k = p.store.bin_index
    empty = p.process(0.5, r.frames(CAMS, 0.5, [], rng))
    assert empty.open_bins[k["A-1-2"]] > 0.9 and empty.open_bins[k["A-2-2"]] > 0.9
    leaning = p.process(0.6, r.frames(CAMS, 0.6, [Person(2.5, 3.0, height_m=1.6)], rng))
    assert leaning.open_bins[k["A-1-2"]] <= 0.5
    assert leaning.open_bins[k["A-1-1"]] > 0.9
    # Gondola B faces east and both cameras hang west of the island: the space in front of B's bins lies behind
    # the gondolas from where they look, never seen, people or not.
    assert empty.open_bins[k["B-1-2"]] == 0.0 and empty.open_bins[k["B-2-1"]] == 0.0
