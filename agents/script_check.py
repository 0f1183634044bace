"""Load-time consistency of scripted shoppers: what a script asks must be possible in its store.

Called by `agents.scenario.check_against_store` after the references (SKUs,
bins, shoppers) are known to exist. A script that could never run to its end
is refused with file, line and key, rather than becoming a scenario fault
minutes into a run. The checks are deliberately about what is *impossible*,
not what might go wrong at run time (others taking the stock first is a real
situation that the run records):

- stock: the picks from a bin never exceed what it holds at opening plus
  what scripts put back into it (a put-back without `bin:` returns to the bin
  its item came from; where that is unknown at load — a pick from the nearest
  bin, an item someone gave — it may refill any bin that stocks the SKU);
  the picks of a SKU anywhere never exceed the
  store's stock of it plus every put-back of it; a handful (`qty`) needs a bin
  that can hold that many;
- fit: a `put_back` into a named bin needs the item to fit there standing
  (`sim.layout.bin_capacity`: under the plate above, within the bin's width
  and depth): a 1.5 l bottle pushed into a bottom bin lower than the bottle
  jams between two plates, and the physics reads kilograms on both;
- holding: a `put_back` or `give` needs the SKU in hand — picked earlier in
  the same script, or given to this shopper by someone (a hand-over's time is
  not known at load time, so any give to the shopper counts);
- sync: the labels are played out in script order (a shopper at a label
  waits until every user of the label has reached it or finished); a set of
  shoppers each waiting for another is a deadlock and is refused;
- time: a scripted shopper enters, and a crowd starts, before the scenario ends;
  a crowd whose last arrival (`until_s`) leaves less than `CROWD_VISIT_S` before
  `duration_s` gets a note: its last shoppers may still be inside when the
  clock runs out, and each such account counts as a wrong receipt
  (`unfinished`). `duration_s` is a limit: the run ends by itself a few seconds
  after every shopper has left, so a generous one costs nothing;
- reach: a shopper's body gets a hand into every bin its script names
  (`agents.reach`, the geometry the shoppers use at run time): a given
  `body.height_m` as given, otherwise some height of the population (a body is
  then drawn among those who can, see `agents.shopper`);
- standing: a `walk_to` point where the shopper's body cannot stand (inside a
  gondola, against a wall) is moved to the nearest point where it can, with a
  note (`check_scripts` returns the notes; reports show them), or refused when
  that is more than `SNAP_M` away or off the walkable floor.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import TYPE_CHECKING

from sim.layout import bin_capacity
from sim.yamlsrc import LineMap

if TYPE_CHECKING:
    from agents.scenario import ScenarioFile
    from sim.layout import StoreLayout


SNAP_M = 1.0  # a walk_to point at most this far from where the body can stand is moved there (with a note)
# A persona shopper's visit, door to door, takes up to about this long in the shipped stores (bench.shoppers
# soundness of the shipped crowds with room to finish: the last of them out 136 s after the last arrival).
CROWD_VISIT_S = 150.0


def check_scripts(spec: "ScenarioFile", layout: "StoreLayout", lines: LineMap) -> list[str]:
    """Raise `InputError` for the first script step that could never be done (see the module docstring);
    return notes on what was changed to make a step doable (a walk_to point moved)."""
    _check_times(spec, lines)
    _check_holding(spec, lines)
    _check_fit(spec, layout, lines)
    _check_stock(spec, layout, lines)
    _check_syncs(spec, lines)
    _check_reach(spec, layout, lines)
    return _crowd_notes(spec) + _check_walk_points(spec, layout, lines)


def _crowd_notes(spec: "ScenarioFile") -> list[str]:
    c = spec.crowd
    if c is None or spec.duration_s >= c.until_s + CROWD_VISIT_S:
        return []
    return [f"the crowd arrives until {c.until_s:g} s and the scenario ends at duration_s {spec.duration_s:g}: "
            f"the last arrivals have {spec.duration_s - c.until_s:g} s to shop and leave, a persona's visit takes up "
            f"to about {CROWD_VISIT_S:g} s (longer when they queue at max_inside), and an account still inside at "
            f"the end counts as a wrong receipt; duration_s is a limit the run stops short of once everyone has "
            f"left, so {c.until_s + CROWD_VISIT_S:g} or more costs nothing"]


def _check_reach(spec: "ScenarioFile", layout: "StoreLayout", lines: LineMap) -> None:
    from agents.reach import HAND_IN_BIN, MEDIAN_M, able_height, bin_problem, highest_reach_m, is_top_shelf, median_build

    for i, sh in enumerate(spec.shoppers):
        child = bool(sh.body.child) if sh.body.child is not None else (sh.body.height_m is not None and sh.body.height_m < 1.45)
        if sh.body.height_m is None and able_height(sh.script, layout, child) is not None:
            continue  # some body of the population can: the shopper's is drawn among those (agents.shopper)
        height = float(sh.body.height_m) if sh.body.height_m is not None else MEDIAN_M[child]
        build = median_build(height, child)
        who = (f"a {height:.2f} m {'child' if child else 'adult'}" if sh.body.height_m is not None
               else f"no {'child' if child else 'adult'} of 1.05-1.45 m can; one of {height:.2f} m" if child
               else f"no adult of 1.50-1.95 m can; one of {height:.2f} m")
        for j, step in enumerate(sh.script):
            if step.action not in HAND_IN_BIN or step.args.bin is None:
                continue
            b = layout.bins[step.args.bin]
            why = bin_problem(build, b, getattr(step.args, "sku", None), layout, step.action)
            if why is None:
                continue
            high = ""
            if b.center[2] > build.shoulder_m:
                high = f"; {who} reaches into a bin there up to {highest_reach_m(build, b, is_top_shelf(b, layout.bins)):.2f} m"
            elif sh.body.height_m is None:
                high = f"; {who}"
            raise lines.error(("shoppers", i, "script", j, step.action, "bin"),
                              f"shopper '{sh.id}' cannot reach bin {b.id}: its plate is at {b.center[2]:.2f} m{high} ({why})")


def _check_walk_points(spec: "ScenarioFile", layout: "StoreLayout", lines: LineMap) -> list[str]:
    from agents.floor import standing_point
    from agents.reach import median_build

    notes = []
    for i, sh in enumerate(spec.shoppers):
        radius = median_build(sh.body.height_m, False).radius_m if sh.body.height_m is not None else None
        for j, step in enumerate(sh.script):
            if step.action != "walk_to" or step.args.point is None:
                continue
            xy = tuple(float(v) for v in step.args.point)
            spot = standing_point(layout, xy, radius)
            if spot is None or math.dist(spot, xy) > SNAP_M:
                where = f"; the nearest is ({spot[0]:.2f}, {spot[1]:.2f}), {math.dist(spot, xy):.2f} m away" if spot else ""
                raise lines.error(("shoppers", i, "script", j, "walk_to"),
                                  f"shopper '{sh.id}' cannot stand at {list(step.args.point)}: no room for its body there{where}")
            if math.dist(spot, xy) > 0.01:
                notes.append(f"shopper '{sh.id}' step {j + 1}: walk_to {list(step.args.point)} is where its body cannot "
                             f"stand; it walks to ({spot[0]:.2f}, {spot[1]:.2f}), {math.dist(spot, xy):.2f} m away")
    return notes


def _check_times(spec: "ScenarioFile", lines: LineMap) -> None:
    for i, sh in enumerate(spec.shoppers):
        if sh.enter_at_s >= spec.duration_s:
            raise lines.error(("shoppers", i, "enter_at_s"),
                              f"shopper '{sh.id}' enters at {sh.enter_at_s:g} s, after the scenario ends (duration_s {spec.duration_s:g})")
    if spec.crowd is not None and spec.crowd.start_s >= spec.duration_s:
        raise lines.error(("crowd", "start_s"),
                          f"the crowd starts at {spec.crowd.start_s:g} s, after the scenario ends (duration_s {spec.duration_s:g})")


def _check_holding(spec: "ScenarioFile", lines: LineMap) -> None:
    received: dict[str, Counter] = defaultdict(Counter)  # shopper -> SKUs others give it, at some time
    for sh in spec.shoppers:
        for step in sh.script:
            if step.action == "give":
                received[step.give.to][step.give.sku] += 1
    for i, sh in enumerate(spec.shoppers):
        held: Counter = Counter(received[sh.id])
        for j, step in enumerate(sh.script):
            a = step.args
            if step.action == "pick":
                held[a.sku] += a.qty
            elif step.action in ("put_back", "give"):
                if held[a.sku] < 1:
                    verb = "put back" if step.action == "put_back" else "give"
                    raise lines.error(("shoppers", i, "script", j, step.action, "sku"),
                                      f"shopper '{sh.id}' has no {a.sku} to {verb} here (no earlier pick of it, and nobody gives it one)")
                held[a.sku] -= 1


def _check_fit(spec: "ScenarioFile", layout: "StoreLayout", lines: LineMap) -> None:
    for i, sh in enumerate(spec.shoppers):
        for j, step in enumerate(sh.script):
            a = step.args
            if step.action != "put_back" or a.bin is None:
                continue
            b, item = layout.bins[a.bin], layout.catalog[a.sku]
            if bin_capacity(b, item) < 1:
                tall = item.size_mm[2] / 1000.0 > b.clearance_m
                why = (f"a {item.size_mm[2]:.0f} mm tall {a.sku} does not fit under bin {a.bin}'s "
                       f"{b.clearance_m * 1000:.0f} mm clearance" if tall
                       else f"a {a.sku} ({item.size_mm[0]:.0f} x {item.size_mm[1]:.0f} mm) does not fit on bin {a.bin}'s plate")
                raise lines.error(("shoppers", i, "script", j, "put_back", "bin"), f"shopper '{sh.id}' cannot put it back: {why}")


def _check_stock(spec: "ScenarioFile", layout: "StoreLayout", lines: LineMap) -> None:
    stock: Counter = Counter()  # (bin, sku) -> items there at opening
    for bin_id, entry in layout.spec.planogram.items():
        stock[(bin_id, entry.sku)] += entry.count
    per_sku: Counter = Counter()
    most_in_a_bin: Counter = Counter()  # sku -> the most any one bin holds at opening
    for (_, sku), n in stock.items():
        per_sku[sku] += n
        most_in_a_bin[sku] = max(most_in_a_bin[sku], n)
    returned, anywhere = _returns(spec)
    returned_sku = Counter(anywhere)
    for (_, sku), n in returned.items():
        returned_sku[sku] += n
    from_bin: Counter = Counter()
    of_sku: Counter = Counter()
    for i, sh in enumerate(spec.shoppers):
        for j, step in enumerate(sh.script):
            if step.action != "pick":
                continue
            a, loc = step.pick, ("shoppers", i, "script", j, "pick")
            of_sku[a.sku] += a.qty
            if of_sku[a.sku] > per_sku[a.sku] + returned_sku[a.sku]:
                raise lines.error(loc + ("sku",), f"the scripts pick {of_sku[a.sku]} {a.sku} by here; the store stocks "
                                  f"{per_sku[a.sku]} and the scripts put back {returned_sku[a.sku]}")
            if a.bin is not None:
                from_bin[(a.bin, a.sku)] += a.qty
                back = returned[(a.bin, a.sku)]
                if stock[(a.bin, a.sku)] or back:  # a put-back of unknown origin returns to a bin that had the SKU
                    back += anywhere[a.sku]
                if from_bin[(a.bin, a.sku)] > stock[(a.bin, a.sku)] + back:
                    held = layout.spec.planogram.get(a.bin)
                    if held is not None and held.sku != a.sku and not back:
                        why = f"bin {a.bin} holds {held.sku}, not {a.sku}, and no script puts a {a.sku} there"
                    elif held is None and not back:
                        why = f"bin {a.bin} is empty at opening and no script puts a {a.sku} there"
                    else:
                        why = (f"the scripts pick {from_bin[(a.bin, a.sku)]} {a.sku} from bin {a.bin} by here; it holds "
                               f"{stock[(a.bin, a.sku)]} at opening and the scripts put {back} back there")
                    raise lines.error(loc + ("bin",), why)
                cap = bin_capacity(layout.bins[a.bin], layout.catalog[a.sku])
                if a.qty > cap:
                    raise lines.error(loc + ("qty",), f"bin {a.bin} holds at most {cap} {a.sku}; a handful of {a.qty} cannot be there")
            elif a.qty > 1:
                most = most_in_a_bin[a.sku] + returned_sku[a.sku]
                if a.qty > most:
                    raise lines.error(loc + ("qty",), f"no bin holds {a.qty} {a.sku} at once (at most {most})")


def _returns(spec: "ScenarioFile") -> tuple[Counter, Counter]:
    """Put-backs by the bin they return to, (bin, sku) -> n, and those whose bin is not known at load, sku -> n.

    A put-back without `bin:` returns the shopper's latest item of that SKU to the bin it came from: known
    when that item was picked with `bin:` by the same shopper, not known for a pick from the nearest bin or
    for an item someone gave.
    """
    returned: Counter = Counter()
    anywhere: Counter = Counter()
    for sh in spec.shoppers:
        held: dict[str, list[str | None]] = defaultdict(list)  # sku -> the source bins of the items in hand
        for step in sh.script:
            a = step.args
            if step.action == "pick":
                held[a.sku] += [a.bin] * a.qty
            elif step.action in ("put_back", "give"):
                source = held[a.sku].pop() if held[a.sku] else None
                if step.action == "give":
                    continue
                target = a.bin or source
                if target is None:
                    anywhere[a.sku] += 1
                else:
                    returned[(target, a.sku)] += 1
    return returned, anywhere


def _check_syncs(spec: "ScenarioFile", lines: LineMap) -> None:
    order: dict[str, list[tuple[str, int]]] = {}  # shopper -> its sync labels in order, with the step index
    users: dict[str, set[str]] = defaultdict(set)
    for sh in spec.shoppers:
        order[sh.id] = [(step.sync, j) for j, step in enumerate(sh.script) if step.action == "sync"]
        for label, _ in order[sh.id]:
            users[label].add(sh.id)
    # Played out with a worklist: a shopper goes on from a label once every user of it has arrived there
    # (arrivals last: one who went on still counts), so each (shopper, label) is visited once.
    at = dict.fromkeys(order, 0)
    arrived: dict[str, set[str]] = defaultdict(set)
    waiting: dict[str, list[str]] = defaultdict(list)
    todo = list(order)
    while todo:
        sid = todo.pop()
        while at[sid] < len(order[sid]):
            label = order[sid][at[sid]][0]
            arrived[label].add(sid)
            if len(arrived[label]) < len(users[label]):
                waiting[label].append(sid)
                break
            at[sid] += 1
            for other in waiting.pop(label, []):
                at[other] += 1
                todo.append(other)
    stuck = sorted((sid, order[sid][at[sid]]) for sid in order if at[sid] < len(order[sid]))
    if stuck:
        sid, (label, j) = stuck[0]
        index = {sh.id: i for i, sh in enumerate(spec.shoppers)}
        waits = ", ".join(f"'{o}' waits at '{lab}'" for o, (lab, _) in stuck[1:4] if o != sid)
        raise lines.error(("shoppers", index[sid], "script", j, "sync"),
                          f"sync '{label}' can never complete: '{sid}' waits there while {waits or 'nobody else can come'}")
