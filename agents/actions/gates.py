"""Coming in and going out: `Enter` (walk to the entry gate, scan the account, step in), `Leave` (walk
out through the nearest exit) and `BailOut` (after a fault: stow what is in hand, then leave)."""
from __future__ import annotations

import math
from typing import Iterator

from agents.actions.base import Action
from agents.actions.hands import GIVE_WAY_S
from agents.actions.moves import STUCK_S
from agents.floor import gate_outward

SCAN_S = 1.2  # holding a phone to an entry gate's reader
JAM_M = 1.2  # two leaving shoppers this close, neither getting out: a jam in the opening
STEP_BACK_M = 0.6


class Enter(Action):
    name = "enter"

    def run(self) -> Iterator:
        sh = self.sh
        g = sh.entry_gate
        ox, oy = gate_outward(g, sh.commons.layout.spec.floor_m)
        yield from self.walk((g.at[0] + ox * 0.45, g.at[1] + oy * 0.45), tol=0.25, detour=False)
        if sh.account not in sh.commons.scanned:
            sh.busy = True
            sh.commons.scanned.add(sh.account)
            self.face_yaw = math.atan2(-oy, -ox)
            yield from self.sleep(SCAN_S)
            members = sh.commons.groups.get(sh.account, [sh.id])
            sh.sim.gates.scan(g.id, sh.account, list(members))
            sh.busy = False
            self.face_yaw = None
        yield from self.walk((g.at[0] - ox * 0.9, g.at[1] - oy * 0.9), tol=0.3)


class Leave(Action):
    name = "leave"

    def run(self) -> Iterator:
        sh = self.sh
        layout = sh.commons.layout
        here = sh.commons.floor.now[sh.id]
        exits = [g for g in layout.spec.gates if g.kind == "exit"]
        g = min(exits, key=lambda e: (math.dist(here, e.at), e.id))
        sh.exit_gate = g
        ox, oy = gate_outward(g, layout.spec.floor_m)

        def in_the_way_out() -> bool:
            """Already in the opening or past the point inside it: going back to that point would mean walking
            against the queue in a 0.9 m gate (a shopper who overshot it, or who starts leaving again after a
            fault, from the corridor, faced the others there and none of them ever moved)."""
            x, y = sh.commons.floor.now[sh.id]
            along = (x - g.at[0]) * ox + (y - g.at[1]) * oy
            across = -(x - g.at[0]) * oy + (y - g.at[1]) * ox
            return along > -0.6 and abs(across) < g.width_m / 2

        yield from self.walk((g.at[0] - ox * 0.6, g.at[1] - oy * 0.6), tol=0.35, detour=False, until=in_the_way_out)
        sh.exited = True
        yield from self.through(g, (ox, oy))
        yield from self.sleep(0.2)  # the exit gate's counter sees the body outside

    def through(self, g, outward: tuple[float, float]) -> Iterator:
        """Out through the opening to the corridor beyond. Two reaching the opening side by side from either
        end jam in it (each the other's obstacle in the pedestrian model, neither moves): after `STUCK_S`
        without getting nearer, of two jammed within `JAM_M` the one whose id sorts later steps back in and
        lets the other pass, as people do with a nod."""
        sh = self.sh
        floor = sh.commons.floor
        ox, oy = outward
        outside = (g.at[0] + ox * 1.2, g.at[1] + oy * 1.2)
        while True:
            best, best_t = math.inf, sh.t

            def jammed() -> bool:
                nonlocal best, best_t
                d = math.dist(floor.now[sh.id], outside)
                if d < best - 0.05:
                    best, best_t = d, sh.t
                return sh.t - best_t > STUCK_S

            yield from self.walk(outside, tol=0.3, detour=False, until=jammed)
            if math.dist(floor.now[sh.id], outside) < 0.3:
                return
            if self.yields_to_another(g):
                back = (floor.now[sh.id][0] - ox * STEP_BACK_M, floor.now[sh.id][1] - oy * STEP_BACK_M)
                yield from self.walk(back, tol=0.15, detour=False, stuck_s=STUCK_S)
                yield from self.sleep(float(sh.rng.uniform(*GIVE_WAY_S)))

    def yields_to_another(self, g) -> bool:
        """Another shopper on its way out through `g` stands within `JAM_M`, and its id sorts first."""
        sh = self.sh
        here = sh.commons.floor.now[sh.id]
        for other in sh.commons.shoppers.values():
            if other is sh or not other.exited or other.done or other.exit_gate is not g or other.id > sh.id:
                continue
            there = sh.commons.floor.now.get(other.id)
            if there is not None and math.dist(here, there) < JAM_M:
                return True
        return False


class BailOut(Action):
    """After a fault: put what is in hand into the basket, stand straight, walk out."""

    name = "bail_out"

    def run(self) -> Iterator:
        for item in list(self.sh.grips):
            yield from self.stow(item)
        yield from self.rest()
        yield from Leave(self.sh).run()
