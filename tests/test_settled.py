"""The settled-store cache (`sim.settled`): a cached build streams the same bytes as a cold one, in another
process too; the key follows the layout, the seed and the step; a damaged or unwritable cache is a slower
build, never a wrong one; the cache prunes itself; the store opens asleep."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pybullet as pb
import pytest

from sim.layout import load_store
from sim.loadcell import GRAVITY_MS2
from sim.settled import build_settled, settled_key

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "assets" / "stores" / "tiny_store.yaml"
DT = 1.0 / 120

# Runs pick-one (tiny store, cameras on) for 6 s in a fresh interpreter; prints whether the store came from
# the cache and the stream's digest.
_EPISODE = """
import sys
from agents import build_simulation, load_scenario
from sim.stream import StreamDigest
sim = build_simulation(load_scenario(sys.argv[1]), seed=3, cameras=True)
d = StreamDigest()
for _ in d.through(sim.run(6.0)):
    pass
print(sim.settled_from_cache, d.hexdigest())
"""


def _episode(cache: str | None) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "STORE_TWIN_SETTLED"}
    env.update({"STORE_TWIN_CACHE": cache} if cache else {"STORE_TWIN_SETTLED": "off"})
    out = subprocess.run([sys.executable, "-c", _EPISODE, str(ROOT / "assets" / "scenarios" / "pick-one.yaml")],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.split()
    return out[-2], out[-1]


def test_a_cached_store_streams_the_same_bytes_as_a_cold_one_in_other_processes(tmp_path):
    cache = str(tmp_path / "cache")
    cold = _episode(cache)
    warm = _episode(cache)
    off = _episode(None)
    assert (cold[0], warm[0], off[0]) == ("False", "True", "False")
    assert cold[1] == warm[1] == off[1]


def _digest(world, steps: int = 120) -> str:
    """Plate forces and item poses over `steps` physics steps after waking one bin."""
    h = hashlib.sha256()
    world.wake_bin(world.bin_ids[0])
    for _ in range(steps):
        world.step()
        h.update(world.plate_forces_n().tobytes())
    for it in world.items.values():
        h.update(np.array(sum(pb.getBasePositionAndOrientation(it.body, physicsClientId=world.client), ())).tobytes())
    return h.hexdigest()


def test_a_damaged_entry_is_rebuilt_to_the_same_world(tmp_path):
    layout = load_store(TINY)
    first = build_settled(layout, 1, DT, 8.0, root=tmp_path)
    reference = _digest(first.world)
    first.world.close()
    assert not first.cached
    (snapshot,) = tmp_path.glob("*/*/world.bullet")
    data = bytearray(snapshot.read_bytes())
    data[len(data) // 2] ^= 0xFF
    snapshot.write_bytes(bytes(data))
    again = build_settled(layout, 1, DT, 8.0, root=tmp_path)
    assert not again.cached  # the digest caught it: settled again, and the entry rewritten
    assert _digest(again.world) == reference
    again.world.close()
    third = build_settled(layout, 1, DT, 8.0, root=tmp_path)
    assert third.cached and _digest(third.world) == reference
    third.world.close()


def test_an_unwritable_cache_still_builds_the_same_world(tmp_path):
    layout = load_store(TINY)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    a = build_settled(layout, 2, DT, 8.0, root=blocker / "cache")
    b = build_settled(layout, 2, DT, 8.0, root=None)
    assert not a.cached and not b.cached
    assert _digest(a.world) == _digest(b.world)
    a.world.close()
    b.world.close()


def test_the_key_follows_the_layout_the_seed_and_the_step():
    layout = load_store(TINY)
    key = settled_key(layout, 0, DT, 8.0)
    assert settled_key(load_store(TINY), 0, DT, 8.0) == key  # the same file, loaded again
    assert settled_key(layout, 1, DT, 8.0) != key  # item weights are drawn from the seed
    assert settled_key(layout, 0, 1.0 / 240, 8.0) != key
    assert settled_key(layout, 0, DT, 4.0) != key
    bin_id, entry = next(iter(layout.spec.planogram.items()))
    fewer = layout.spec.model_copy(update={"planogram": {**layout.spec.planogram,
                                                         bin_id: entry.model_copy(update={"count": entry.count - 1})}})
    assert settled_key(type(layout)(fewer, layout.path), 0, DT, 8.0) != key
    heavier = layout.with_sensors({"load_cells": {"capacity_g": layout.spec.sensors.load_cells.capacity_g + 1000}})  # the plate motors' strength
    assert settled_key(heavier, 0, DT, 8.0) != key
    # What only the sensors read of the world is no part of it: a sweep's or a what-if's variants settle once.
    noisier = layout.with_sensors({"load_cells": {"noise_g": 5.0}, "cameras": {"depth_noise_m": 0.02, "fps": 15}})
    assert settled_key(noisier, 0, DT, 8.0) == key
    sparse = layout.spec.model_copy(update={"cameras": layout.spec.cameras.model_copy(
        update={"grid": layout.spec.cameras.grid.model_copy(update={"spacing_m": 4.0})})})
    assert settled_key(type(layout)(sparse, layout.path), 0, DT, 8.0) == key


def test_the_cache_removes_the_least_recently_used_entries_over_its_size(tmp_path, monkeypatch):
    layout = load_store(TINY)
    one = build_settled(layout, 4, DT, 8.0, root=tmp_path)
    one.world.close()
    size_mb = sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file()) / 1e6
    monkeypatch.setenv("STORE_TWIN_SETTLED_MB", str(size_mb * 1.5))  # room for one entry, not two
    two = build_settled(layout, 5, DT, 8.0, root=tmp_path)
    two.world.close()
    entries = sorted(p.parent.name for p in tmp_path.glob("*/*/state.json"))
    assert entries == [settled_key(layout, 5, DT, 8.0)]


def test_the_store_opens_asleep_with_its_plates_at_the_true_load(tmp_path):
    """What makes the cache worth having also makes every episode cheaper: no item is awake at the open
    (before this, the whole store was stepped for its first 1.5 s and ~300 items for long after)."""
    layout = load_store(ROOT / "assets" / "stores" / "market_store.yaml")
    built = build_settled(layout, 0, DT, 8.0, root=tmp_path)
    world = built.world
    for _ in range(12):
        world.step()
    assert world.moving_items() == []
    forces = world.plate_forces_n()
    tare = world.plate_tare_n()
    for k, b in enumerate(world.bin_ids):
        true_g = sum(world.ledger.items[i].weight_g for i in world.ledger.items_in(b))
        assert abs((forces[k] - tare[k]) / GRAVITY_MS2 * 1000 - true_g) < 1.0, b
    world.close()


@pytest.mark.parametrize("name", ["tiny_store", "market_store"])
def test_a_settled_entry_is_written_once_and_found_again(tmp_path, name):
    layout = load_store(ROOT / "assets" / "stores" / f"{name}.yaml")
    a = build_settled(layout, 0, DT, 8.0, root=tmp_path)
    b = build_settled(layout, 0, DT, 8.0, root=tmp_path)
    assert (a.cached, b.cached) == (False, True)
    assert a.settle_s == b.settle_s > 0
    assert len(list(tmp_path.glob("*/*/state.json"))) == 1
    a.world.close()
    b.world.close()


def test_a_cache_size_that_is_not_a_number_warns_and_keeps_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("STORE_TWIN_SETTLED_MB", "lots")
    with pytest.warns(RuntimeWarning, match="STORE_TWIN_SETTLED_MB='lots'"):
        built = build_settled(load_store(TINY), 6, DT, 8.0, root=tmp_path)
    assert not built.cached and len(list(tmp_path.glob("*/*/state.json"))) == 1
    built.world.close()


def test_a_sensor_variant_restored_from_its_stores_entry_is_the_world_it_would_settle_to(tmp_path):
    # Settled once for the store as it is, then built for a variant that only hangs its cameras differently and
    # reads its cells noisier: a cache hit, and the same world a cold build of the variant gives.
    layout = load_store(TINY)
    first = build_settled(layout, 6, DT, 8.0, root=tmp_path)
    first.world.close()
    variant = layout.with_sensors({"load_cells": {"noise_g": 4.0}, "cameras": {"depth_noise_m": 0.03}})
    hit = build_settled(variant, 6, DT, 8.0, root=tmp_path)
    cold = build_settled(variant, 6, DT, 8.0, root=None)
    assert hit.cached and not cold.cached
    assert _digest(hit.world) == _digest(cold.world)
    hit.world.close()
    cold.world.close()


_BUILD = """
import sys
from sim.layout import load_store
from sim.settled import build_settled
b = build_settled(load_store(sys.argv[1]), 0, 1.0 / 120, 3.0, root=sys.argv[2])
print(b.cached)
"""


def test_processes_that_start_on_one_store_at_once_settle_it_once(tmp_path):
    # a bench's or the day's workers opening one store together: one settles it, the others wait and read it
    root = str(tmp_path / "cache")
    procs = [subprocess.Popen([sys.executable, "-c", _BUILD, str(TINY), root], cwd=ROOT, stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    flags = sorted(p.communicate(timeout=300)[0].split()[-1] for p in procs)
    assert flags == ["False", "True", "True"]
