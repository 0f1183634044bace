"""One seed per episode; every generator is derived from it by name.

`generator(seed, "load_cells")` is `Generator(PCG64(SeedSequence(seed, spawn_key=(k,))))`
with k a stable hash of the name: the same child `SeedSequence.spawn` would make,
but keyed by name so that adding a sensor or a shopper never shifts the others.
No global `random` / `np.random` state is touched anywhere in the project.
"""
from __future__ import annotations

import zlib

import numpy as np


def seed_sequence(seed: int, *names: str) -> np.random.SeedSequence:
    key = tuple(zlib.crc32(n.encode("utf-8")) for n in names)
    return np.random.SeedSequence(int(seed), spawn_key=key)


def generator(seed: int, *names: str) -> np.random.Generator:
    """The generator of one subsystem (or one shopper: `generator(seed, "shopper", "alice")`)."""
    return np.random.Generator(np.random.PCG64(seed_sequence(seed, *names)))
