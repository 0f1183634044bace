"""Settled stores, cached on disk: a store built before is ready in well under a second.

Building a store costs two things: creating its bodies (0.3-0.5 s for the 2,374 items of the default
store) and letting them come to rest before the doors open (`StoreWorld.settle_and_sleep`: 90-200
physics steps with every item awake, 6-10 s). The second depends only on the layout, the seed (item
weights are drawn from it) and the code that builds the world, so it is done once and kept:

- a *miss* builds the world, settles it, and writes Bullet's own snapshot of it (`saveBullet`: poses,
  velocities, joint states and contact points) with the Python-side state it needs (the plates'
  converged forces, whether the store fell asleep, the physics seconds it took);
- every build, hit or miss, then creates the bodies in a fresh world and restores that snapshot into
  it (`restoreState`). A miss throws its settling world away rather than carrying on with it, so a
  cold and a cached build are the same code from the same bytes: the same stream bit for bit.
  (Restoring into the settling world itself is not the same: Bullet keeps state the snapshot does not
  hold, and the two differ by ~0.01 g on a few plates.)

The key is a SHA-256 of the store file's content (the validated spec, less what only sensors read: cameras,
lights, the cells' noise and faults; the plates' rated load stays, as their motors' strength), the seed,
the physics step, the settling limit, the source of the modules that build the world, and the
pybullet and numpy versions. A changed layout, seed or builder is a different key; an entry whose
snapshot does not match its recorded digest, or that Bullet will not restore, is rebuilt.

Where: `$STORE_TWIN_CACHE/settled` (the project's cache, beside the product meshes: `.cache/` at the
project root by default); `STORE_TWIN_SETTLED=off` turns it off (every build settles, through the same
restore). Entries are written to a temporary directory and renamed into place, so parallel workers never
read half an entry, and one process at a time settles a given entry (an `flock` on `<entry>.lock`): workers
that open one store together build it once, the others wait for it and read it; once the cache holds more than `$STORE_TWIN_SETTLED_MB` (default 1024) the least
recently used entries are removed. An unwritable cache is a slower build, never a failed one.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pybullet as pb

from sim.layout import StoreLayout
from sim.manipulation import set_item_groups
from sim.seeding import generator
from sim.world import StoreWorld

FORMAT = 1  # bump when an entry's files change meaning
DEFAULT_MAX_MB = 1024
ROOT = Path(__file__).resolve().parent.parent
# The modules whose code decides the settled state (bodies, shapes, masses, solver settings, weights).
_BUILDERS = ("world.py", "layout.py", "loadcell.py", "seeding.py", "meshes.py", "appearance.py", "manipulation.py", "settled.py")


@dataclass(frozen=True)
class SettledBuild:
    """A store ready to open: its world, the physics seconds settling took, and whether the cache had it."""

    world: StoreWorld
    settle_s: float
    cached: bool


def cache_dir() -> Path | None:
    """The cache's directory from the environment (None: the cache is off)."""
    if os.environ.get("STORE_TWIN_SETTLED", "").strip().lower() == "off":
        return None
    return Path(os.environ.get("STORE_TWIN_CACHE", ROOT / ".cache")) / "settled"


def settled_key(layout: StoreLayout, seed: int, dt_s: float, max_settle_s: float) -> str:
    """What the settled state depends on, hashed: the store file's content but for what only the sensors read of
    the world (cameras, lights, the load cells' readings: none of them touches a body), so the variants of one store
    that a sweep or a what-if draws (camera spacing, depth noise, cell noise) settle once. Of the sensors, only the
    plates' rated load is physics: their motors hold twice it (`StoreWorld`)."""
    spec = layout.spec.model_dump(mode="json", exclude={"cameras", "lighting", "description", "sensors"})
    spec["plate_capacity_g"] = layout.spec.sensors.load_cells.capacity_g
    h = hashlib.sha256()
    h.update(json.dumps(
        {"format": FORMAT, "spec": spec, "seed": int(seed), "dt_s": float(dt_s),
         "max_settle_s": float(max_settle_s), "pybullet": pb.getAPIVersion(), "numpy": np.__version__},
        sort_keys=True, default=str,
    ).encode())
    h.update(_builders_digest())
    return h.hexdigest()


def build_settled(layout: StoreLayout, seed: int, dt_s: float, max_settle_s: float,
                  root: Path | None | str = "env") -> SettledBuild:
    """The store's world at rest, from the cache when it holds it (see the module doc). `root`: the cache's
    directory, None for no cache, "env" (default) for `cache_dir()`."""
    root = cache_dir() if root == "env" else (Path(root) if root is not None else None)
    key = settled_key(layout, seed, dt_s, max_settle_s)
    entry = root / key[:2] / key if root is not None else None
    if entry is None:
        return _build(layout, seed, dt_s, max_settle_s, None, None)
    with _one_builder(entry):
        state = _read_entry(entry)
        if state is not None:
            world = _restored(layout, seed, dt_s, entry, state)
            if world is not None:
                _touch(entry)
                return SettledBuild(world, state["settle_s"], True)
        return _build(layout, seed, dt_s, max_settle_s, entry, root)


def _build(layout: StoreLayout, seed: int, dt_s: float, max_settle_s: float, entry: Path | None,
           root: Path | None) -> SettledBuild:
    with tempfile.TemporaryDirectory(prefix="settling-") as tmp:
        state = _settle_into(layout, seed, dt_s, max_settle_s, Path(tmp))
        world = _restored(layout, seed, dt_s, Path(tmp), state)
        assert world is not None, "Bullet would not restore the snapshot it had just written"
        if entry is not None and root is not None:
            _store(Path(tmp), entry, root)
    return SettledBuild(world, state["settle_s"], False)


@contextmanager
def _one_builder(entry: Path) -> Iterator[None]:
    """One process at a time settles a given entry: workers of a bench or the day that start on one store at once
    would each spend the build (tens of CPU-s for a large store); the second waits and reads what the first
    stored. An exclusive `flock` on `<entry>.lock` beside it; where the cache cannot hold a lock file (read-only,
    a file system without locks) everyone builds, as without a cache."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(entry.parent / f"{entry.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# -- entries ---------------------------------------------------------------------------------------------


def _settle_into(layout: StoreLayout, seed: int, dt_s: float, max_settle_s: float, where: Path) -> dict:
    """Build and settle a world, write its snapshot and state into `where`, close it; return the state."""
    world = StoreWorld(layout, generator(seed, "item_weights"), dt_s)
    try:
        settle_s = world.settle_and_sleep(max_s=max_settle_s)
        # Items into their collision group (the shoppers' hands need it). Bullet re-inserts each item for it,
        # which wakes every resting island: step until the plates have converged again, then put the store
        # back to sleep. Left awake, the whole store would be stepped for the first 1.5 s of every episode
        # (90 ms a step for the default store, against 1.5 ms asleep) and ~300 items for long after.
        set_item_groups(world)
        world.steady_plates()
        if world.asleep:
            world.sleep_all()
        pb.saveBullet(str(where / "world.bullet"), physicsClientId=world.client)
        forces, raw = world.settled_forces()
        np.save(where / "forces.npy", forces)
        np.save(where / "raw.npy", raw)
        state = {"format": FORMAT, "settle_s": settle_s, "asleep": world.asleep, "store": layout.name,
                 "bullet_sha256": _file_digest(where / "world.bullet")}
        (where / "state.json").write_text(json.dumps(state, sort_keys=True))
        return state
    finally:
        world.close()


def _read_entry(entry: Path) -> dict | None:
    """An entry's state if it is whole and its snapshot is the one it recorded, else None."""
    try:
        state = json.loads((entry / "state.json").read_text())
        if state.get("format") != FORMAT or _file_digest(entry / "world.bullet") != state.get("bullet_sha256"):
            return None
        return state
    except (OSError, ValueError):
        return None


def _restored(layout: StoreLayout, seed: int, dt_s: float, where: Path, state: dict) -> StoreWorld | None:
    """A fresh world with the snapshot in `where` restored into it (None if Bullet or numpy refuse it)."""
    world = StoreWorld(layout, generator(seed, "item_weights"), dt_s)
    set_item_groups(world)
    try:
        forces = np.load(where / "forces.npy")
        raw = np.load(where / "raw.npy")
        if forces.shape != (len(world.bin_ids),) or raw.shape != forces.shape:
            raise ValueError("plate forces do not match the store's bins")
        pb.restoreState(fileName=str(where / "world.bullet"), physicsClientId=world.client)
    except (OSError, ValueError, pb.error):
        world.close()
        return None
    world.restore_settled(forces, raw, asleep=bool(state["asleep"]))
    return world


def _store(tmp: Path, entry: Path, root: Path) -> None:
    """Copy a fresh entry into the cache atomically; prune the cache; never fail the build."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=entry.parent))
        for name in ("world.bullet", "forces.npy", "raw.npy", "state.json"):
            shutil.copyfile(tmp / name, staging / name)
        try:
            os.replace(staging, entry)
        except OSError:  # the entry exists: another process stored it first, or it is damaged
            if _read_entry(entry) is None:
                shutil.rmtree(entry, ignore_errors=True)
                try:
                    os.replace(staging, entry)
                except OSError:
                    pass
            shutil.rmtree(staging, ignore_errors=True)
        _prune(root)
    except OSError:
        pass


def _prune(root: Path) -> None:
    """Remove least recently used entries while the cache holds more than `$STORE_TWIN_SETTLED_MB`."""
    setting = os.environ.get("STORE_TWIN_SETTLED_MB", str(DEFAULT_MAX_MB))
    try:
        limit = float(setting) * 1e6
    except ValueError:
        warnings.warn(f"STORE_TWIN_SETTLED_MB={setting!r} is not a number of megabytes; using {DEFAULT_MAX_MB}",
                      RuntimeWarning, stacklevel=2)
        limit = DEFAULT_MAX_MB * 1e6
    entries = []
    for state in root.glob("*/*/state.json"):
        entry = state.parent
        try:
            size = sum(f.stat().st_size for f in entry.iterdir())
            entries.append((state.stat().st_mtime, str(entry), size))
        except OSError:
            continue
    total = sum(e[2] for e in entries)
    for _, path, size in sorted(entries):
        if total <= limit:
            break
        shutil.rmtree(path, ignore_errors=True)
        Path(f"{path}.lock").unlink(missing_ok=True)
        total -= size


def _touch(entry: Path) -> None:
    try:
        os.utime(entry / "state.json")
    except OSError:
        pass


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_DIGEST: bytes | None = None


def _builders_digest() -> bytes:
    global _DIGEST
    if _DIGEST is None:
        here = Path(__file__).resolve().parent
        h = hashlib.sha256()
        for name in _BUILDERS:
            h.update(name.encode())
            h.update((here / name).read_bytes())
        _DIGEST = h.digest()
    return _DIGEST
