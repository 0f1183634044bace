"""Suites on generated stores (issue 15): a suite file with a `generated:` key instead of `scenarios:`.

    name: generated
    generated: {dev_stores: "0:3", scenarios_per_store: 3}
    dev_seeds: "0:1"
    modes: [fused, weight, vision]

Each store seed is drawn into `OUT/stores/store-SEED/` (`agents.generate.generate`:
`store.yaml` and its first `scenarios_per_store` scenarios, validated), and
each scenario is one entry of the suite, run at the suite's seeds like any
other. `--stores` picks the store seeds with the grammar of `--seeds`
(`bench.seeds`): `dev` (the suite's `dev_stores`), `fresh` / `fresh:K` (drawn
from the operating system's entropy, kept in `OUT/fresh_stores.json` and
reused by every later bench over that folder), `A:B`, `N,M`; default
`dev+fresh`. Every row of a store that is not a development store is a
`fresh` row, whatever its episode seed: a store nobody looked at is fresh
ground. Generation is deterministic, so regenerating a store on a resumed
bench writes the same bytes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from bench.seeds import SeedChoice, draw_fresh, parse_seeds
from sim.errors import InputError

GENERATED_KEYS = ("dev_stores", "scenarios_per_store")
FRESH_STORES_FILE = "fresh_stores.json"
STORES_DIR = "stores"
DEFAULT_DIR = Path(__file__).resolve().parent.parent / ".cache" / "generated"  # when a plan has no output folder


@dataclass(frozen=True)
class StoreSpec:
    """How a generated suite is drawn: its development stores and scenarios per store."""

    dev_stores: tuple[int, ...]
    per_store: int


@dataclass
class StorePlan:
    """The store seeds a bench asks for (`--stores`), the folder's pool of fresh ones, and where to write."""

    choice: SeedChoice
    folder: Path
    pool: list[int]
    made: dict = field(default_factory=dict)  # (store seed, scenarios) -> scenario files, drawn once per plan

    @classmethod
    def for_bench(cls, choice: SeedChoice, out_dir: str | Path | None) -> "StorePlan":
        folder = Path(out_dir) if out_dir is not None else DEFAULT_DIR
        return cls(choice, folder, _read_pool(folder) if out_dir is not None else [])

    def seeds(self, spec: StoreSpec) -> list[tuple[int, bool]]:
        """(store seed, fresh) pairs: the development stores, then the first fresh ones of the pool (drawn
        and recorded where it is short), then named ones."""
        k = self.choice.fresh_count(spec.dev_stores)
        have = [s for s in self.pool if s not in spec.dev_stores]
        if len(have) < k:
            self.pool += draw_fresh(k - len(have), set(self.pool) | set(spec.dev_stores) | set(self.choice.named))
            self._record()
            have = [s for s in self.pool if s not in spec.dev_stores]
        out = [(s, False) for s in spec.dev_stores] if self.choice.dev else []
        out += [(s, True) for s in have[:k]]
        out += [(s, s not in spec.dev_stores) for s in self.choice.named]
        return list(dict.fromkeys(out))

    def scenarios(self, seed: int, per_store: int) -> list[Path]:
        """Generate store `seed` (and its scenarios) into the folder; the scenario files."""
        from agents.generate import generate

        if (seed, per_store) not in self.made:
            here = self.folder / STORES_DIR / f"store-{seed}"
            _, scs = generate(seed, here, per_store)
            self.made[seed, per_store] = [here / "scenarios" / f"{sc.name}.yaml" for sc in scs]
        return self.made[seed, per_store]

    def _record(self) -> None:
        if self.folder == DEFAULT_DIR:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / FRESH_STORES_FILE
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"fresh_stores": self.pool, "note": "store seeds drawn from the operating system's "
                                   "entropy for this folder; a bench over it takes the first K (--stores fresh:K)"},
                                  indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)


def store_spec(value: object, lines, loc: tuple) -> StoreSpec:
    """The suite's `generated:` mapping, checked (errors name file, line and key)."""
    if not isinstance(value, dict):
        raise lines.error(loc, "expected a mapping like {dev_stores: \"0:3\", scenarios_per_store: 3}")
    unknown = set(value) - set(GENERATED_KEYS)
    if unknown:
        raise lines.error(loc + (sorted(unknown, key=str)[0],), f"unknown key (expected {', '.join(GENERATED_KEYS)})")
    per = value.get("scenarios_per_store", 3)
    if not isinstance(per, int) or isinstance(per, bool) or not 1 <= per <= 50:
        raise lines.error(loc + ("scenarios_per_store",), f"expected a whole number from 1 to 50, not {per!r}")
    stores = parse_seeds(value.get("dev_stores", "0:3"), lines.where(loc + ("dev_stores",)))
    return StoreSpec(tuple(dict.fromkeys(stores)), per)


def parse_store_choice(text: str | None) -> SeedChoice:
    """`--stores`: the grammar of `--seeds` (default `dev+fresh`); errors name `--stores`."""
    from bench.seeds import parse_seed_choice

    try:
        return parse_seed_choice(text)
    except InputError as exc:
        raise InputError(type(exc.where)(Path("--stores")), str(exc.message)) from None


def _read_pool(folder: Path) -> list[int]:
    path = folder / FRESH_STORES_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return []
    seeds = data.get("fresh_stores") if isinstance(data, dict) else None
    if not isinstance(seeds, list):
        return []
    return list(dict.fromkeys(s for s in seeds if isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**63))


def scenario_store_seeds(paths: Sequence[str]) -> dict[str, int]:
    """The store seed of each generated scenario path (`.../stores/store-SEED/scenarios/...`)."""
    out = {}
    for p in paths:
        parts = Path(p).parts
        for a, b in zip(parts, parts[1:]):
            if a == STORES_DIR and b.startswith("store-") and b[6:].isdigit():
                out[p] = int(b[6:])
    return out
