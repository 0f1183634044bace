"""Walking among others (agents.floor) and the arm's IK branch (agents.body): routes round whoever stands still,
spots with room, claims, and smooth joint angles; the shopper's `next_action` in words."""
from __future__ import annotations

import math

import numpy as np

from agents import build_simulation
from agents.body import arm_fk, arm_ik
from agents.floor import PedestrianFloor
from agents.scenario import STORES_DIR, Scenario, Step
from agents.shopper import describe_step
from sim.layout import load_store

DT_S = 1.0 / 120


def _floor() -> PedestrianFloor:
    return PedestrianFloor(load_store(STORES_DIR / "tiny_store.yaml"), DT_S)


def _walk(floor: PedestrianFloor, who: str, goal, seconds: float, watch: str | None = None) -> tuple[float, float]:
    """Step the model until `who` is within 0.15 m of `goal`; (seconds taken, closest approach to `watch`)."""
    closest = math.inf
    for k in range(1, int(seconds / floor.dt_s) + 1):
        floor.advance(k * floor.period_ticks)
        if watch is not None:
            closest = min(closest, math.dist(floor.now[who], floor.now[watch]))
        if math.dist(floor.now[who], goal) < 0.15:
            return k * floor.dt_s, closest
    return math.inf, closest


def test_a_walker_goes_round_a_shopper_standing_in_its_way_instead_of_pressing_against_them():
    floor = _floor()
    floor.add("standing", (1.2, 2.5), 0.28, 1.3)
    floor.hold("standing")
    floor.add("walker", (1.2, 1.0), 0.25, 1.3)
    goal = (1.2, 4.0)  # straight through the standing shopper
    floor.set_goal("walker", goal)
    took_s, closest = _walk(floor, "walker", goal, 10.0, watch="standing")
    assert took_s < 5.0  # 3 m at 1.3 m/s, with a detour and the slow-down onto the spot
    assert closest > 0.28 + 0.25 - 0.02  # discs never overlapped
    assert floor.now["standing"] == (1.2, 2.5)  # nobody pushed the one standing


def test_a_walker_does_not_squeeze_into_a_gap_between_a_shelf_corner_and_someone_standing_that_it_cannot_pass():
    # tiny store: gondola B's east face is at x = 3.45 and ends at y = 1.8; someone stands 0.9 m off that corner,
    # a gap just wide enough for a disc on the routing map. The walker once pressed into the corner for good
    # (found in a 6-shopper crowd); it must go round the island the other way instead.
    floor = _floor()
    floor.add("standing", (4.02, 1.11), 0.27, 1.3)
    floor.hold("standing")
    floor.add("walker", (3.74, 1.85), 0.26, 1.3)
    goal = (1.25, 2.81)  # the far side of the island
    floor.set_goal("walker", goal)
    took_s, closest = _walk(floor, "walker", goal, 30.0, watch="standing")
    assert took_s < 10.0  # about 5 m round the island's north end
    assert closest > 0.27 + 0.26 - 0.02
    assert floor.now["standing"] == (4.02, 1.11)


def test_a_spot_someone_stands_on_or_walks_to_has_no_room_for_another():
    floor = _floor()
    floor.add("a", (1.0, 2.0), 0.28, 1.3)
    floor.add("b", (1.0, 4.0), 0.28, 1.3)
    floor.add("c", (0.6, 1.0), 0.25, 1.3)
    assert floor.has_room("c", (1.7, 2.0))
    assert not floor.has_room("c", (1.3, 2.0))  # a's disc
    floor.set_goal("b", (2.0, 3.0), claim=True)
    assert not floor.has_room("c", (2.0, 3.2))  # b is on its way to stand there
    assert floor.has_room("c", (2.0, 3.2), claims=False)
    floor.hold("b")  # b stopped elsewhere: the claim is gone
    assert floor.has_room("c", (2.0, 3.2))
    assert not floor.has_room("c", (2.5, 3.0))  # the gondola's face is 5 cm away
    assert floor.in_sight((2.0, 3.0), (1.0, 3.0)) and not floor.in_sight((2.0, 3.0), (4.0, 3.0))  # across the island


def test_arm_angles_change_smoothly_as_a_hand_target_passes_beside_and_behind_the_shoulder():
    l1, l2 = 0.32, 0.41
    path = [np.array([0.3 * math.cos(a), 0.35 + 0.3 * math.sin(a), -0.25]) for a in np.linspace(-0.3, 2.2, 60)]
    prev, q_prev = 0.0, None
    for p in path:
        q = arm_ik(p, l1, l2, prev)
        assert np.allclose(arm_fk(q, l1, l2), p, atol=1e-6)
        if q_prev is not None:
            assert max(abs(a - b) for a, b in zip(q, q_prev)) < 0.4, (q_prev, q)
        prev, q_prev = q[0], q
    # a hand hanging just behind the shoulder (at rest) swings back, it does not turn the arm round
    yaw, pitch, _ = arm_ik(np.array([-0.03, 0.0, -0.6]), l1, l2)
    assert abs(yaw) < 0.1 and pitch > 0


def test_next_action_says_what_the_shopper_is_about_to_do_in_the_store_words():
    sc = Scenario(name="next", store="tiny_store", seed=0, duration_s=200)  # bob enters at 100 s; the test steps 20 s
    sc.add_shopper("alice").pick("water-500", qty=2, bin="A-1-3").put_back("water-500").give("water-500", to="bob")
    sc.add_shopper("bob", enter_at_s=100).walk_to([1.0, 4.0])
    sim = build_simulation(sc, cameras=False)
    alice, bob = sim.shoppers.shoppers["alice"], sim.shoppers.shoppers["bob"]
    assert alice.next_action == "enter" and bob.next_action == "enter"
    seen = []
    for _ in range(int(20.0 / sim.clock.dt_s)):
        sim.step()
        if not seen or seen[-1] != alice.next_action:
            seen.append(alice.next_action)
    assert seen[0] == "enter at in-1"
    assert "pick 2 x water-500 from A-1-3" in seen
    assert seen.index("pick 2 x water-500 from A-1-3") < seen.index("put back water-500 where it came from")
    sim.close()
    assert describe_step(Step.model_validate({"walk_to": {"bin": "B-1-1"}})) == "walk to B-1-1"
    assert describe_step(Step.model_validate({"lean": {"bin": "A-2-3", "seconds": 2}})) == "lean on A-2-3 for 2 s"
    assert describe_step(Step.model_validate({"sync": "done"})) == "wait for the others at 'done'"
