"""Record an episode to an MCAP log, and replay a log into the checkout stack scored against its truth.

Place in the data path: the offline half of DESIGN.md section 1. `record_episode` runs a scenario (or
a store with no shoppers) and writes its stream with `sim.recording.record_stream`, the ledger's truth
at the end. `replay_log` feeds the recorded sensor channels — only those: `LogReader.messages()` never
yields truth — through the same `CheckoutStack.consume` path a live episode uses, then scores the
receipts and shelf events against the truth the log carries. Live and replayed receipts agree because
the stack sees the same messages, bit for bit, in the same order.

Choices: tracking truth in a replay comes from the recorded pose samples (head positions, at the
ledger's pose rate), so its tracking figures may differ slightly from a live run's (which samples the
shoppers' own positions); receipts and event figures do not.

A bad log fails before the stack runs where it can: a first pass (`LogReader.truth()`) reads the whole
file, checking its framing and checksums, channels, metadata and truth, and that it holds a sensor stream
starting with `/store_info`; sensor messages are checked as the replay reads them. Damage does not stop a
replay: it covers what precedes the damage (with `salvage`, what the log holds around it), and the report
says so (`partial`, `damage`, and a PARTIAL line at the top of `report.md`); the command line exits 2
unless salvaging.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Callable

from scoring.episode import EpisodeProgress, as_issued, flag_after_fault, track_positions
from scoring.metrics import ShelfEvent, match_events, score_receipts, tracking_quality
from scoring.report import build_report, write_report
from sim.recording import LogReader, RecordedTruth, record_stream

TRACK_SAMPLE_HZ = 10.0


def record_episode(target: str | Path, seed: int | None, out: str | Path, seconds: float | None = None,
                   progress: Callable[[EpisodeProgress], None] | None = None) -> dict:
    """Run a scenario (or a store alone for `seconds`) and record its stream and truth; return a summary.
    `progress` is called `TRACK_SAMPLE_HZ` times per sim second with where the run stands."""
    target = Path(target)
    sim, duration_s, name, seed = _build(target, seed, seconds)
    messages = 0
    next_progress_s = 0.0
    t0 = time.perf_counter()
    try:
        meta = {"scenario": name, "seed": str(seed), "store": sim.layout.name}
        for _ in record_stream(sim.run(duration_s), out, truth=sim.ledger, metadata=meta):
            messages += 1
            if progress is not None and sim.t_s + 1e-9 >= next_progress_s:
                progress(EpisodeProgress(sim.t_s, duration_s, len(sim.ledger.inside)))
                next_progress_s = sim.t_s + 1.0 / TRACK_SAMPLE_HZ
        sim_s = sim.t_s
    finally:
        sim.close()
    size = Path(out).stat().st_size
    return {
        "log": str(out), "scenario": name, "seed": seed, "messages": messages, "sim_seconds": sim_s,
        "wall_seconds": time.perf_counter() - t0, "megabytes": size / 1e6,
        "mb_per_minute": size / 1e6 / max(sim_s, 1e-9) * 60.0,
    }


def replay_log(
    log: str | Path, out_dir: str | Path | None = None, mode: str = "fused", salvage: bool = False,
) -> tuple[dict, LogReader]:
    """Feed a log's sensor stream to the checkout stack, score it against the log's truth.

    Returns the report (receipts unscored when the log carries no truth) and the reader, whose
    `damage` says whether the log was read to its end. `salvage`: read past damaged records (the
    report is partial either way). Raises `InputError` for a log that is no MCAP, holds no sensor
    stream, or carries a malformed message or metadata.
    """
    from checkout.stack import CheckoutStack

    reader = LogReader(log, salvage=salvage)
    truth = reader.truth()  # the first pass: the whole file checked before the stack is built
    reader.check_stream()
    meta = reader.metadata
    stack = CheckoutStack(mode=mode)
    faults: Counter = Counter()
    issued: list = []
    track_frames: list = []
    store_info = None
    next_sample_s = 0.0
    last_t = 0.0
    faulted_from: int | None = None  # receipts from this index on came after a stack fault or a hole in the log
    t0 = time.perf_counter()
    for msg in reader.messages():
        if store_info is None and type(msg).__name__ == "StoreInfo":
            store_info = msg
        issued.extend(_guarded(stack.consume, msg, faults))
        if faulted_from is None and (faults or reader.damage is not None):
            faulted_from = len(issued)
        last_t = max(last_t, float(getattr(msg, "t_s", 0.0)))
        if last_t + 1e-9 >= next_sample_s:
            track_frames.append((last_t, track_positions(stack, faults)))
            next_sample_s = last_t + 1.0 / TRACK_SAMPLE_HZ
    issued.extend(_guarded(lambda _: stack.finish(), None, faults))
    wall_s = time.perf_counter() - t0
    damage = reader.damage_note()
    why = f"issued after a {next(iter(faults))}" if faults else f"issued after damage in the log ({damage})"
    issued = flag_after_fault(issued, faulted_from, why)
    errors = [f"{what} (x{n})" if n > 1 else what for what, n in faults.items()]
    if damage is not None:
        errors.append(damage)
    no_truth = ("the truth at the end of the log was lost to the damage" if reader.truth_lost
                else "the log carries no truth")
    report = _score(
        meta.get("scenario", Path(log).stem), int(meta.get("seed", 0)), mode, issued, stack, truth, store_info,
        track_frames, last_t, wall_s, errors, no_truth,
    )
    report["log"] = str(log)
    if damage is not None:
        report["partial"] = True
        report["damage"] = damage
    if out_dir is not None:
        if report["scored"]:
            write_report(report, out_dir)
            if damage is not None:
                md = Path(out_dir) / "report.md"
                title, _, rest = md.read_text(encoding="utf-8").partition("\n")
                md.write_text("\n".join([title, "", _partial_line(damage, salvage), rest]), encoding="utf-8")
        else:
            _write_unscored(report, Path(out_dir), salvage)
    return report, reader


# --- helpers -------------------------------------------------------------------------------------------------


def _build(target: Path, seed: int | None, seconds: float | None):
    """(simulation, duration, name, seed) for a scenario file, or a store file with no shoppers."""
    from sim.yamlsrc import load_yaml

    data, _ = load_yaml(target)
    if isinstance(data, dict) and "gondolas" in data:  # a store layout
        from sim.layout import load_store
        from sim.simulation import Simulation

        layout = load_store(target)
        seed = 0 if seed is None else int(seed)
        return Simulation(layout, seed), 10.0 if seconds is None else float(seconds), layout.name, seed
    from agents import build_simulation
    from agents.scenario import load_scenario

    scenario = load_scenario(target)
    seed = scenario.seed if seed is None else int(seed)
    duration = scenario.duration_s if seconds is None else min(float(seconds), scenario.duration_s)
    return build_simulation(scenario, seed=seed), duration, scenario.name, seed


def _score(name, seed, mode, issued, stack, truth: RecordedTruth | None, store_info, track_frames, sim_s, wall_s, errors,
           no_truth="the log carries no truth"):
    prices = {p.sku: p.price for p in store_info.catalog} if store_info is not None else {}
    issued_receipts = [as_issued(r) for r in issued]
    detected = [ShelfEvent(e.t_s, e.kind, e.bin, e.sku, int(e.qty), e.account) for e in getattr(stack, "events", ())]
    if truth is None:
        return {  # nothing to score against: what the stack said, and why there are no figures
            "scenario": name, "seed": seed, "mode": mode, "scored": False, "sim_seconds": sim_s, "wall_seconds": wall_s,
            "receipts": [{"account": r.account, "items": dict(r.items), "confidence": r.confidence, "flagged": r.flagged}
                         for r in issued_receipts],
            "errors": list(errors) + [f"{no_truth}: receipts are listed, not scored"],
        }
    closed = truth.receipts.closed
    accounts = set(truth.receipts.at_end) | set(closed)
    unfinished = sorted(a for a in accounts if a not in closed)
    receipts = score_receipts(issued_receipts, closed, prices, unfinished=unfinished)
    true_events = [ShelfEvent(e.t_s, e.kind, e.bin, e.sku, 1, e.account) for e in truth.events if e.kind in ("take", "put_back")]
    events = match_events(true_events, detected, accounts=set(closed))
    errors = list(errors) + [f"scenario fault: {e.shopper} at {e.t_s:.1f} s: {e.message}" for e in truth.events if e.kind == "fault"]
    truth_frames = _truth_frames(truth, [t for t, _ in track_frames])
    tracking = tracking_quality(truth_frames, track_frames) if any(objs for _, objs in truth_frames) else None
    return build_report(scenario=name, seed=seed, mode=mode, sim_seconds=sim_s, wall_seconds=wall_s, receipts=receipts,
                        events=events, tracking=tracking, errors=errors,
                        extra={"scored": True, "adapted_steps": [f"{e.shopper} at {e.t_s:.1f} s: {e.message}"
                                                                 for e in truth.events if e.kind == "adapted"]})


def _truth_frames(truth: RecordedTruth, times: list[float]) -> list:
    """Each shopper inside at each time, at its latest recorded head position."""
    inside: dict[str, bool] = {}
    entries = sorted((e.t_s, e.kind, e.shopper) for e in truth.events if e.kind in ("entry", "exit") and e.shopper)
    poses = sorted(truth.poses, key=lambda p: p.t_s)
    frames, latest = [], {}
    i = j = 0
    for t in times:
        while i < len(entries) and entries[i][0] <= t:
            inside[entries[i][2]] = entries[i][1] == "entry"
            i += 1
        while j < len(poses) and poses[j].t_s <= t:
            latest[poses[j].shopper] = (float(poses[j].head[0]), float(poses[j].head[1]))
            j += 1
        frames.append((t, {s: xy for s, xy in latest.items() if inside.get(s)}))
    return frames


def _partial_line(damage: str, salvage: bool) -> str:
    how = "read around the damage (--salvage)" if salvage else "read up to the damage"
    return f"**PARTIAL**: the log is damaged and was {how}; the figures cover only what was read. {damage}\n"


def _write_unscored(report: dict, out_dir: Path, salvage: bool = False) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    lines = [f"# {report['scenario']} (seed {report['seed']}, {report['mode']}): not scored", ""]
    if report.get("partial"):
        lines += [_partial_line(report["damage"], salvage)]
    lines += [f"- receipt {r['account']}: {r['items']}" for r in report["receipts"]] + [""]
    lines += [f"- error: {e}" for e in report["errors"]]
    (out_dir / "report.md").write_text("\n".join(lines) + "\n")


def _guarded(fn, msg, faults: Counter) -> list:
    try:
        return list(fn(msg) or [])
    except Exception as exc:  # a runtime fault of the stack: noted, the replay goes on
        faults[f"stack fault on {type(msg).__name__}: {type(exc).__name__}: {exc}"] += 1
        return []
