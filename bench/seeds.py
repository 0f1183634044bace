"""Which seeds a bench runs: each target's development seeds, seeds drawn fresh, and seeds named outright.

Place in the data path: before planning. A suite names its development seeds
(`dev_seeds`, the seeds its scenarios were written and tuned on); figures on
them say little about seeds nobody has looked at, so the bench also runs seeds
drawn from the operating system's entropy and reports both side by side.

`--seeds` is one or more parts joined by `+`:

    dev          each entry's development seeds (a suite's `dev_seeds`; a scenario file's own `seed`)
    fresh        as many fresh seeds as the entry has development seeds
    fresh:K      K fresh seeds
    A:B, N, N,M  these seeds (range(A, B), one, a list)

The default is `dev+fresh`. Every row is labelled with its seed set: `dev`
when the seed is one of its entry's development seeds, else `fresh`, so
`--seeds 123456,789` reruns two fresh seeds of an earlier bench as fresh ones.

Fresh seeds belong to the output folder: the first time a bench there needs K
of them they are drawn (31-bit, `secrets`) and written to `fresh_seeds.json`
before any episode runs; every later bench over the same `--out` takes the
first K it finds there (or, where that file is missing, in the fresh rows of
`results.jsonl`) and draws only what is missing. So rerunning the same command
resumes the same episodes, and `--seeds fresh:4` after `fresh:2` keeps the two
and adds two. For new fresh seeds, use a new `--out`.

The seed set labels an episode's seed only; a suite over generated stores would
add the store's own seed to its jobs beside it.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from sim.errors import InputError, Where

FRESH_FILE = "fresh_seeds.json"
MAX_SEEDS = 100_000  # per target: a bench of more episodes than this is a typo, not a plan
FRESH_SEED_BITS = 31  # fits every seed consumer (numpy SeedSequence, pybullet, int32 fields)
DEFAULT_CHOICE = "dev+fresh"


@dataclass(frozen=True)
class SeedChoice:
    """What `--seeds` asks for: the development seeds, fresh ones (None = as many as the dev seeds), named seeds."""

    dev: bool = True
    fresh: int | None = 0
    named: tuple[int, ...] = ()

    def fresh_count(self, dev_seeds: Sequence[int]) -> int:
        """How many fresh seeds an entry with these development seeds gets."""
        return len(dev_seeds) if self.fresh is None else self.fresh


def parse_seed_choice(text: str | None) -> SeedChoice:
    """`dev+fresh:2`, `0:3`, `dev+123,456`, ...; None is the default `dev+fresh`."""
    where = Where(Path("--seeds"))
    text = DEFAULT_CHOICE if text is None else str(text)
    dev, fresh, named = False, 0, []
    parts = [p.strip() for p in text.split("+")]
    if not all(parts):
        raise InputError(where, f"expected parts joined by '+' (dev, fresh, fresh:K, A:B, N,M), not {text[:60]!r}")
    for part in parts:
        if part == "dev":
            dev = True
        elif part == "fresh":
            fresh = None if fresh == 0 else fresh
        elif part.startswith("fresh:"):
            k = part.split(":", 1)[1]
            if not k.isdigit() or not 1 <= int(k) <= 10_000:
                raise InputError(where, f"fresh:K takes K from 1 to 10000, not {part[:60]!r}")
            fresh = int(k)
        else:
            named += parse_seeds(part, where)
    return SeedChoice(dev, fresh, tuple(dict.fromkeys(named)))


def parse_seeds(text: str | int | Sequence[int], where: Where | None = None) -> list[int]:
    """'0:20' -> 0..19; '3' -> [3]; '1,4,7' -> [1, 4, 7]; a list of ints as it is.

    Seeds are whole numbers from 0 to 2**63 - 1, at most `MAX_SEEDS` of them (a range is sized before it
    is made, so '0:10**12' is refused at once rather than filling memory).
    """
    where = where or Where(Path("--seeds"))
    if isinstance(text, bool):
        raise InputError(where, f"seeds must be A:B, N or a list of integers, not {text!r}")
    if isinstance(text, int):
        seeds = [text]
    elif isinstance(text, (list, tuple)):
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in text) or not text:
            raise InputError(where, f"seeds must be a non-empty list of integers, not {str(list(text))[:60]}")
        seeds = list(text)
    else:
        s = str(text).strip()
        try:
            if ":" in s:
                a, b = (int(p) for p in s.split(":", 1))
                if b - a > MAX_SEEDS:
                    raise InputError(where, f"seeds {s!r} name {b - a:,} episodes per scenario; at most {MAX_SEEDS:,}")
                seeds = list(range(a, b))
            else:
                seeds = [int(p) for p in s.split(",")]
        except ValueError:
            raise InputError(where, f"seeds must be A:B, N or N,M,..., not {s[:60]!r}") from None
        if not seeds:
            raise InputError(where, f"seeds {s!r} name no episode (A:B is range(A, B))")
    if len(seeds) > MAX_SEEDS:
        raise InputError(where, f"{len(seeds):,} seeds per scenario; at most {MAX_SEEDS:,}")
    if any(not 0 <= x < 2**63 for x in seeds):
        raise InputError(where, f"seeds are whole numbers from 0 to 2**63 - 1, not {min(seeds) if min(seeds) < 0 else max(seeds)}")
    return seeds


def fresh_pool(out_dir: str | Path, rows: Iterable[Mapping] = ()) -> list[int]:
    """The fresh seeds this output folder already has: its `fresh_seeds.json`, in the order drawn, or where that
    file is missing (a `results.jsonl` copied on its own), the fresh seeds of its `rows` in the order they ended."""
    path = Path(out_dir) / FRESH_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("fresh_seeds"), list):
        seeds = [s for s in data["fresh_seeds"] if _is_seed(s)]
    else:
        seeds = [r["seed"] for r in rows if r.get("seed_set") == "fresh" and _is_seed(r.get("seed"))
                 and "/stores/store-" not in str(r.get("scenario", ""))]  # a fresh generated store's row: its seed is a dev one
    return list(dict.fromkeys(seeds))


def draw_fresh(count: int, avoid: Iterable[int] = ()) -> list[int]:
    """`count` new seeds from the operating system's entropy, none of them in `avoid` (nor repeated)."""
    taken = set(avoid)
    out: list[int] = []
    while len(out) < count:
        s = secrets.randbits(FRESH_SEED_BITS)
        if s not in taken:
            taken.add(s)
            out.append(s)
    return out


def record_fresh(out_dir: str | Path, seeds: Sequence[int]) -> None:
    """Write the folder's fresh seeds, in the order drawn, to `fresh_seeds.json` (nothing when there are none)."""
    if not seeds:
        return
    path = Path(out_dir) / FRESH_FILE
    text = json.dumps({"fresh_seeds": list(seeds), "note": "drawn from the operating system's entropy for this "
                       "folder; a bench over it takes the first K (--seeds fresh:K) and draws only what is missing"},
                      indent=2) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def label(seed: int, dev_seeds: Sequence[int]) -> str:
    """`dev` for one of the entry's development seeds, `fresh` for any other."""
    return "dev" if seed in dev_seeds else "fresh"


def _is_seed(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63
