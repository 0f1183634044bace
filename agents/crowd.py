"""Crowds: background shoppers arriving as a Poisson process, each with a persona drawn by weight.

`CrowdSpawner` is an `Actor` with no body: arrival times are drawn up front
from the crowd's own rng (exponential gaps at `arrivals_per_min`, from
`start_s` to `until_s`); an arrival waits outside while `max_inside` shoppers
are already in the store. Each newcomer is a `Shopper` whose script its
persona writes from the shelves as they are when it walks in, with the
shopper's own rng (`generator(seed, "shopper", id)`).
"""
from __future__ import annotations

import numpy as np

from agents.scenario import CrowdSpec, ShopperSpec
from agents.shopper import Commons, Shopper
from sim.seeding import generator


def arrival_schedule(spec: CrowdSpec, seed: int) -> list[tuple[float, str]]:
    """The crowd's arrivals (time, persona) in order: a pure function of the spec and the episode seed, so
    a benchmark can read when each shopper came to the door (`crowd_shopper_id(k)` is the k-th, from 0)."""
    rng = generator(seed, "crowd")
    times: list[float] = []
    t = spec.start_s
    rate_s = spec.arrivals_per_min / 60.0
    while True:
        t += float(rng.exponential(1.0 / rate_s))
        if t >= spec.until_s:
            break
        times.append(t)
    names = sorted(spec.personas)
    w = np.array([spec.personas[n] for n in names], dtype=float)
    picks = rng.choice(len(names), size=len(times), p=w / w.sum()) if times else []
    return [(t, names[int(k)]) for t, k in zip(times, picks)]


def crowd_shopper_id(k: int) -> str:
    """The id of the crowd's k-th arrival (from 0); its account is `acct-` and this id."""
    return f"crowd-{k + 1:03d}"


class CrowdSpawner:
    def __init__(self, spec: CrowdSpec, commons: Commons) -> None:
        self.id = "crowd"
        self.account = ""
        self.spec = spec
        self.commons = commons
        self.arrivals = arrival_schedule(spec, commons.seed)
        self.spawned: list[Shopper] = []
        self._next = 0

    @property
    def done(self) -> bool:
        return self._next >= len(self.arrivals)

    def position(self) -> None:
        return None

    def act(self, sim) -> None:
        t = sim.clock.t_s
        while self._next < len(self.arrivals) and self.arrivals[self._next][0] <= t:
            if self.commons.inside_count() + self._waiting() >= self.spec.max_inside:
                return
            _, persona = self.arrivals[self._next]
            sid = crowd_shopper_id(self._next)
            self._next += 1
            shopper = Shopper(ShopperSpec(id=sid, account=f"acct-{sid}", enter_at_s=t, persona=persona), self.commons)
            self.commons.shoppers[sid] = shopper
            self.commons.groups[shopper.account] = [sid]
            self.spawned.append(shopper)
            sim.add_actor(shopper)

    def _waiting(self) -> int:
        """Crowd shoppers admitted but still outside, waiting for room to appear at the gate."""
        return sum(1 for s in self.spawned if not s.spawned)
