"""Record an episode to an MCAP log, and replay a log into the checkout stack scored against its truth.

Place in the data path: the offline half of DESIGN.md section 1. `record_episode` runs a scenario (or
a store with no shoppers) and writes its stream with `sim.recording.record_stream`, at the end the truth
a live run is scored against (`scoring.episode.TruthTrace`: the ledger's, the true positions sampled at
the tracking rate, the episode's facts). `replay_log` feeds the recorded sensor channels — only those:
`LogReader.messages()` never yields truth — through the same `CheckoutStack.consume` path a live episode
uses, samples the stack's tracks after the very messages the live run sampled them after, and scores it
all with the live path's own `score_episode` against the truth the log carries. The stack sees the same
messages, bit for bit, in the same order, so a replay's report is the live one key by key, its figures
equal; only wall-clock costs differ (`wall_seconds`, `realtime_factor`, `episode_wall_seconds`, and
`stages`, where reading the log, `log_check` and `log_read`, stands for building and simulating).

Choices: a log written from the ledger alone (the window's recorder) has no sampled truth: its tracks
are sampled on the messages' clock and scored against the recorded head positions, and its report has
no episode descriptors. A salvaged replay that lost messages takes each sample before the first message
stamped after it, since counting messages no longer finds its place.

A bad log fails before the stack runs where it can: a first pass (`LogReader.truth()`) reads the whole
file, checking its framing and checksums, channels, metadata and truth, and that it holds a sensor stream
starting with `/store_info`; sensor messages are checked as the replay reads them. Damage does not stop a
replay: it covers what precedes the damage (with `salvage`, what the log holds around it), and the report
says so (`partial`, `damage`, and a PARTIAL line at the top of `report.md`); the command line exits 2
unless salvaging.
"""
from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from pathlib import Path
from typing import Callable

from scoring.episode import (
    TRACK_SAMPLE_HZ, EpisodeProgress, TimedStream, TruthTrace, as_issued, catalog_prices, flag_after_fault, score_episode,
    track_positions,
)
from scoring.report import write_report
from sim.recording import LogReader, RecordedTruth, TruthFrame, record_stream


def record_episode(target: str | Path, seed: int | None, out: str | Path, seconds: float | None = None,
                   progress: Callable[[EpisodeProgress], None] | None = None) -> dict:
    """Run a scenario (or a store alone for `seconds`) and record its stream and truth; return a summary.
    `progress` is called `TRACK_SAMPLE_HZ` times per sim second with where the run stands."""
    target = Path(target)
    sim, duration_s, name, seed = _build(target, seed, seconds)
    trace = TruthTrace(sim)  # what a live run would score against, sampled the same way, written at the end
    t0 = time.perf_counter()
    try:
        meta = {"scenario": name, "seed": str(seed), "store": sim.layout.name}
        for msg in record_stream(sim.run(duration_s), out, truth=trace.truth, metadata=meta):
            if trace.saw(msg) and progress is not None:
                progress(EpisodeProgress(sim.t_s, duration_s, len(sim.ledger.inside)))
        sim_s, messages = sim.t_s, trace.messages
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

    t0 = time.perf_counter()
    reader = LogReader(log, salvage=salvage)
    truth = reader.truth()  # the first pass: the whole file checked before the stack is built
    reader.check_stream()
    meta = reader.metadata
    stack = CheckoutStack(mode=mode)
    check_s = time.perf_counter() - t0
    samples = _Samples(truth)
    faults: Counter = Counter()
    issued: list = []
    store_info = None
    last_t = 0.0
    stack_s = 0.0
    faulted_from: int | None = None  # receipts from this index on came after a stack fault or a hole in the log
    messages = TimedStream(reader.messages())
    t1 = time.perf_counter()
    for msg in messages:
        if store_info is None and type(msg).__name__ == "StoreInfo":
            store_info = msg
        last_t = max(last_t, float(getattr(msg, "t_s", 0.0)))
        if reader.damage is not None:
            samples.before(float(getattr(msg, "t_s", 0.0)), stack, faults)
        tb = time.perf_counter()
        issued.extend(_guarded(stack.consume, msg, faults))
        stack_s += time.perf_counter() - tb
        if faulted_from is None and (faults or reader.damage is not None):
            faulted_from = len(issued)
        samples.after(last_t, stack, faults)
    samples.rest(stack, faults)
    tc = time.perf_counter()
    issued.extend(_guarded(lambda _: stack.finish(), None, faults))
    stack_s += time.perf_counter() - tc
    episode_wall_s = time.perf_counter() - t1
    damage = reader.damage_note()
    why = f"issued after a {next(iter(faults))}" if faults else f"issued after damage in the log ({damage})"
    issued = flag_after_fault(issued, faulted_from, why)
    errors = [f"{what} (x{n})" if n > 1 else what for what, n in faults.items()]
    if damage is not None:
        errors.append(damage)
    name, seed = meta.get("scenario", Path(log).stem), int(meta.get("seed", 0))
    if truth is None:
        no_truth = ("the truth at the end of the log was lost to the damage" if reader.truth_lost
                    else "the log carries no truth")
        report = _unscored(name, seed, mode, issued, last_t, messages.seconds + stack_s, errors + [
            f"{no_truth}: receipts are listed, not scored"])
    else:
        report = score_episode(
            scenario=name, seed=seed, mode=mode, truth=samples.truth, prices=catalog_prices(store_info), stack=stack,
            issued=issued, track_frames=samples.track_frames, wall_seconds=messages.seconds + stack_s, errors=errors,
            stages={"log_check": check_s, "log_read": messages.seconds, "stack": stack_s, **_stage_costs(stack)},
            extra={"stacks_on_stream": 1, "episode_wall_seconds": round(episode_wall_s, 4)}, stream_end_s=last_t,
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


class _Samples:
    """When a replay samples the stack's tracks, and the truth it scores them against.

    A log with sampled truth (`RecordedTruth.frames`) is sampled where the live run was: once as many
    messages have gone to the stack as had then. A log written from the ledger alone is sampled every
    1 / `TRACK_SAMPLE_HZ` of the messages' clock, against the latest recorded head positions.
    """

    def __init__(self, truth: RecordedTruth | None) -> None:
        self.truth = truth
        self.recorded = truth is not None and bool(truth.frames)
        self.frames: list[TruthFrame] = list(truth.frames) if self.recorded else []
        self.track_frames: list = []
        self._messages = 0
        self._next_s = 0.0

    def before(self, t_s: float, stack, faults: Counter) -> None:
        """After a hole in the log: the recorded samples due before a message stamped `t_s` are taken now."""
        while self.recorded and self._due() is not None and t_s > self._due().t_s:
            self._take(stack, faults)

    def after(self, t_s: float, stack, faults: Counter) -> None:
        """One more message went to the stack; `t_s`: the latest message time so far."""
        self._messages += 1
        if self.recorded:
            while self._due() is not None and self._due().messages <= self._messages:
                self._take(stack, faults)
        elif t_s + 1e-9 >= self._next_s:
            self.frames.append(TruthFrame(t_s, self._messages, {}))
            self._take(stack, faults)
            self._next_s = t_s + 1.0 / TRACK_SAMPLE_HZ

    def rest(self, stack, faults: Counter) -> None:
        """The stream has ended: recorded samples not yet taken (a salvage lost their messages) are taken now;
        without recorded samples, the truth gets its frames from the head positions."""
        while self._due() is not None:
            self._take(stack, faults)
        if self.truth is not None and not self.recorded:
            self.truth = dataclasses.replace(self.truth, frames=_frames_from_poses(self.truth, self.frames))

    def _due(self) -> TruthFrame | None:
        """The next sample not yet taken."""
        return self.frames[len(self.track_frames)] if len(self.track_frames) < len(self.frames) else None

    def _take(self, stack, faults: Counter) -> None:
        self.track_frames.append((self._due().t_s, track_positions(stack, faults)))


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


def _unscored(name: str, seed: int, mode: str, issued: list, sim_s: float, wall_s: float, errors: list[str]) -> dict:
    """Nothing to score against: what the stack said, and why there are no figures."""
    return {
        "scenario": name, "seed": seed, "mode": mode, "scored": False, "sim_seconds": sim_s, "wall_seconds": wall_s,
        "receipts": [{"account": r.account, "items": dict(r.items), "confidence": r.confidence, "flagged": r.flagged}
                     for r in map(as_issued, issued)],
        "errors": errors,
    }


def _frames_from_poses(truth: RecordedTruth, times: list[TruthFrame]) -> tuple[TruthFrame, ...]:
    """Each shopper inside at each sample's time, at its latest recorded head position."""
    inside: dict[str, bool] = {}
    entries = sorted((e.t_s, e.kind, e.shopper) for e in truth.events if e.kind in ("entry", "exit") and e.shopper)
    poses = sorted(truth.poses, key=lambda p: p.t_s)
    frames, latest = [], {}
    i = j = 0
    for sample in times:
        t = sample.t_s
        while i < len(entries) and entries[i][0] <= t:
            inside[entries[i][2]] = entries[i][1] == "entry"
            i += 1
        while j < len(poses) and poses[j].t_s <= t:
            latest[poses[j].shopper] = (float(poses[j].head[0]), float(poses[j].head[1]))
            j += 1
        frames.append(TruthFrame(t, sample.messages, {s: xy for s, xy in latest.items() if inside.get(s)}))
    return tuple(frames)


def _stage_costs(stack) -> dict[str, float]:
    return {str(k): float(v) for k, v in (getattr(stack, "stage_s", None) or {}).items()}


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
