"""Waiting actions: `sync` (wait for the others at a label) and `wait` (stand a while)."""
from __future__ import annotations

from typing import Iterator

from agents.actions.base import Action, register_action
from agents.actions.moves import STUCK_S


@register_action("sync")
class Sync(Action):
    """Stand until every shopper using this label has reached it (or finished); out of the way meanwhile."""

    def run(self) -> Iterator:
        sh, label = self.sh, self.args
        c = sh.commons
        c.floor.hold(sh.id)
        c.sync_arrived.setdefault(label, set()).add(sh.id)
        while not c.sync_users.get(label, set()) <= c.sync_arrived[label] | self.gone():
            if (spot := self.in_the_way()) is not None:
                # waiting on a shelf-front spot someone needs: wait out of the way instead (as `stand_at` does)
                away = self.out_of_the_way() or self.step_away_spot(spot)
                if away is not None:
                    yield from self.walk(away, tol=0.2, stuck_s=STUCK_S)
                    c.floor.hold(sh.id)
            yield

    def gone(self) -> set[str]:
        return {s.id for s in self.sh.commons.shoppers.values() if s.done or s.script_over}


@register_action("wait")
class Wait(Action):
    """Stand for the given seconds, out of the way: off a shelf-front spot someone waits for and off a gate's lane
    (`WalkingSkills.in_the_way`); the time spent stepping aside counts."""

    def run(self) -> Iterator:
        sh = self.sh
        end = sh.t + self.args
        sh.commons.floor.hold(sh.id)
        if (spot := self.in_the_way()) is not None:
            away = self.out_of_the_way() or self.step_away_spot(spot)
            if away is not None:
                yield from self.walk(away, tol=0.2, stuck_s=STUCK_S, until=lambda: sh.t + 1e-9 >= end)
                sh.commons.floor.hold(sh.id)
        while sh.t + 1e-9 < end:
            yield
