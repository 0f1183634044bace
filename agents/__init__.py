"""Shopper agents: bodies, walking (JuPedSim), hands, scripts, personas, crowds, and scenarios.

`build_simulation(scenario)` is the one door from a scenario to a running
episode: it loads the store with the scenario's sensor overrides, builds the
`sim.simulation.Simulation`, and adds every scripted shopper and the crowd as
actors. `Simulation.run(duration_s)` then yields the stream.
"""
from __future__ import annotations

from agents.scenario import Scenario, load_scenario, register_persona, validate_file


def build_simulation(scenario: Scenario, seed: int | None = None, **sim_kwargs):
    """A ready-to-run `Simulation` of `scenario` (seed None: the scenario's own)."""
    from agents.crowd import CrowdSpawner
    from agents.floor import PedestrianFloor
    from agents.shelves import ShelfWatch
    from agents.shopper import Commons, Shopper
    from sim.simulation import Simulation

    layout = scenario.check()
    spec = scenario.spec
    seed = spec.seed if seed is None else int(seed)
    sim = Simulation(layout, seed, **sim_kwargs)
    sim.notes = list(scenario.notes)  # what the load-time checks changed to make a step doable
    # Items are in their collision group already (`sim.settled` does it before the store settles for good).
    commons = Commons(layout=layout, floor=PedestrianFloor(layout, sim.clock.dt_s), seed=seed)
    sim.shoppers = commons  # for tests, the viewer and the runner: who is in the store
    for sh in spec.shoppers:
        commons.groups.setdefault(sh.account_id, []).append(sh.id)
        for step in sh.script:
            if step.action == "sync":
                commons.sync_users.setdefault(step.sync, set()).add(sh.id)
    for sh in spec.shoppers:
        shopper = Shopper(sh, commons)
        commons.shoppers[sh.id] = shopper
        sim.add_actor(shopper)
    if spec.crowd is not None:
        sim.add_actor(CrowdSpawner(spec.crowd, commons))
    sim.add_actor(ShelfWatch(commons))  # last: it books what the shoppers' hands did to the shelves this tick
    return sim


__all__ = ["Scenario", "load_scenario", "register_persona", "validate_file", "build_simulation"]
