"""Developer tool: are two runs' reports the same, wall-clock figures aside?

    python -m bench.reportdiff BASE_DIR NEW_DIR NAME...

Compares BASE_DIR/NAME/report.json with NEW_DIR/NAME/report.json key for key, leaving out the wall-clock figures
(`wall_seconds`, `realtime_factor`, `episode_wall_seconds`; of `stages` only the names are compared) and the path
of the log replayed. Exit status 1 when any differ. Used to show a refactor left behaviour unchanged: replay the
same recordings before and after (README, "The checkout stack's stages").
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.batch import REPORT_TIMING_KEYS


def load(p: Path) -> dict:
    r = json.loads((p / "report.json").read_text())
    stages = sorted(r.get("stages") or {})  # which stages ran is behaviour; their seconds are not
    for k in REPORT_TIMING_KEYS:
        r.pop(k, None)
    r["stages"] = stages
    r.pop("log", None)  # the path of the log replayed: identical here (same .mcap), kept out in case
    return r


def main(base: str, new: str, names: list[str]) -> int:
    bad = 0
    for name in names:
        a, b = load(Path(base) / name), load(Path(new) / name)
        diffs = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        print(f"{name}: {'identical' if not diffs else 'DIFFERENT in ' + ', '.join(diffs)} "
              f"({len(a.get('receipts') or [])} receipts)")
        bad += bool(diffs)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
