"""Benchmark: do generated stores validate, build, and run a generated scenario to a report? (issue 15)

    .venv/bin/python -m bench.stores [--stores 0:50] [--scenarios 8] [--workers 2] [--out DIR] [--json F]

Per store seed, in its own spawned process: `agents.generate.generate` draws the
store and `--scenarios` scenarios into `OUT/store-SEED/` (each validated as
`run` validates it; a draw that did not validate and was drawn again is
counted), then the cheapest of them (the shortest `duration_s`, scripted
before crowds: a full scenario each would take hours) runs with the fused
stack, cameras and all, to a `report.json`. A row per store: floor, gondolas,
bins, SKUs, resting items, cameras, the scenario run, build and total CPU
seconds, receipts (right, flagged, missing: an account with no receipt),
scenario faults, stack errors, and a crash (the exception's last line) where
anything raised. Nothing is dropped: a store that failed at any stage is a row
saying where. CPU time, so a busy machine does not change the figures. Rows are
appended to `OUT/stores.jsonl` as stores end; the same command over the same
`--out` runs only the stores without a row.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

from bench.shoppers import _run_all

ROOT = Path(__file__).resolve().parent.parent
ROWS_FILE = "stores.jsonl"  # a row per store as it ends: rerunning the command resumes


def store_run(seed: int, count: int, out_dir: str) -> dict:
    """Generate store `seed`, validate its scenarios, run the cheapest one with the fused stack to a report."""
    import yaml

    from agents.generate import generate
    from bench.pooling import receipt_marks
    from scoring.episode import run_episode
    from sim.layout import camera_ids

    t0 = time.process_time()
    row: dict = {"store": seed, "stage": "generate"}
    try:
        folder = Path(out_dir) / f"store-{seed}"
        store_path, scenarios = generate(seed, folder, count)
        from sim.layout import load_store

        layout = load_store(store_path)
        spec = layout.spec
        row.update(floor_m2=round(spec.floor_m[0] * spec.floor_m[1], 1), gondolas=len(spec.gondolas),
                   bins=len(layout.bins), skus=len(spec.catalog), items=layout.item_count,
                   cameras=len(camera_ids(spec)), scenarios=len(scenarios), validated=len(scenarios),
                   redraws=sum(s.redraws for s in scenarios), generate_cpu_s=round(time.process_time() - t0, 2))
        paths = {s.name: folder / "scenarios" / f"{s.name}.yaml" for s in scenarios}
        durations = {n: float(yaml.safe_load(p.read_text())["duration_s"]) for n, p in paths.items()}
        pick = min(scenarios, key=lambda s: (s.kind != "scripted", durations[s.name], s.name))
        row.update(stage="run", scenario=pick.name, kind=pick.kind)
        report = run_episode(str(paths[pick.name]), 0, mode="fused", out_dir=folder / "report")
        marks = receipt_marks(report.get("receipts") or [])
        unfinished = list(report.get("unfinished") or [])
        row.update(
            stage="done", report=str(folder / "report" / "report.json"), sim_s=round(report.get("sim_seconds", 0.0), 1),
            build_s=round(report.get("stages", {}).get("build", 0.0), 1),
            # every account is a receipt; one still inside or never issued is a wrong one (bench.pooling)
            receipts=len(marks) + len(unfinished), right=sum(m["issued"] and m["correct"] for m in marks),
            flagged=sum(m["issued"] and m["flagged"] for m in marks),
            missing=sum(not m["issued"] for m in marks) + len(unfinished),
            faults=[e for e in report.get("errors", []) if e.startswith("scenario fault")],
            stack_errors=[e for e in report.get("errors", []) if not e.startswith("scenario fault")],
        )
    except Exception as exc:  # noqa: BLE001 - a row that says where it broke, never a lost store
        row["crash"] = traceback.format_exception_only(type(exc), exc)[-1].strip()
    row["cpu_s"] = round(time.process_time() - t0, 1)
    return row


def _read_rows(path: Path) -> list[dict]:
    """The rows of an earlier run over the same folder (a torn last line is dropped)."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("store"), int):
            rows.append(row)
    return rows


def summarise(rows: list[dict]) -> dict:
    done = [r for r in rows if r.get("stage") == "done" and not r.get("crash")]
    return {
        "stores": len(rows),
        "validated": sum(1 for r in rows if r.get("validated") == r.get("scenarios") and "validated" in r),
        "scenarios_validated": sum(r.get("validated", 0) for r in rows),
        "redraws": sum(r.get("redraws", 0) for r in rows),
        "reports": len(done),
        "crashes": [f"store {r['store']} ({r.get('stage')}): {r['crash']}" for r in rows if r.get("crash")],
        "scenario_faults": sum(len(r.get("faults", [])) for r in rows),
        "stack_errors": sum(len(r.get("stack_errors", [])) for r in rows),
        "receipts": sum(r.get("receipts", 0) for r in done),
        "right": sum(r.get("right", 0) for r in done),
        "flagged": sum(r.get("flagged", 0) for r in done),
        "missing": sum(r.get("missing", 0) for r in done),
        "cpu_s": round(sum(r.get("cpu_s", 0.0) for r in rows), 1),
    }


def main(argv: list[str] | None = None) -> int:
    from bench.seeds import parse_seeds
    from sim.errors import InputError

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stores", default="0:50", help="store seeds: A:B or N,M (default 0:50)")
    ap.add_argument("--scenarios", type=int, default=8, help="scenarios generated (and validated) per store")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="out/bench-stores", help="where stores, scenarios and reports go")
    ap.add_argument("--json", default=None, help="write the rows and the summary here")
    args = ap.parse_args(argv)
    try:
        seeds = parse_seeds(args.stores)
    except InputError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows_path = out / ROWS_FILE
    done = {r["store"]: r for r in _read_rows(rows_path) if r.get("store") in seeds}

    def label(r: dict) -> str:  # each row is appended as its store ends, so a stopped run resumes
        with rows_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(r) + "\n")
        return (f"store {r.get('store')}: {r.get('crash') or r.get('stage')} "
                f"({r.get('items', '?')} items, {r.get('cameras', '?')} cameras, {r.get('cpu_s')} CPU-s)")

    todo = [(s, args.scenarios, args.out) for s in seeds if s not in done]
    if done:
        print(f"{len(done)} stores resumed from {rows_path}", file=sys.stderr)
    rows = list(done.values()) + (_run_all(store_run, todo, args.workers, label) if todo else [])
    rows.sort(key=lambda r: r.get("store", -1))
    summary = summarise(rows)
    print(json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")
    return 0 if not summary["crashes"] and summary["reports"] == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
