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
from pathlib import Path
from typing import Callable

from scoring.driver import StreamDriver, as_issued
from scoring.episode import TRACK_SAMPLE_HZ, EpisodeProgress, TruthTrace, catalog_prices, score_episode
from scoring.report import write_report
from scoring.stacks import check_stack_name, make_stack
from sim.recording import LogReader, RecordedTruth, TruthFrame, record_stream


def record_episode(target: str | Path, seed: int | None, out: str | Path, seconds: float | None = None,
                   progress: Callable[[EpisodeProgress], None] | None = None) -> dict:
    """Run a scenario (or a store alone for `seconds`) and record its stream and truth; return a summary.
    `progress` is called `TRACK_SAMPLE_HZ` times per sim second with where the run stands."""
    target = Path(target)
    sim, duration_s, name, seed = build_target(target, seed, seconds)
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
    t0 = time.perf_counter()
    check_stack_name(mode)
    reader = LogReader(log, salvage=salvage)
    truth = reader.truth()  # the first pass: the whole file checked before the stack is built
    reader.check_stream()
    meta = reader.metadata
    driver = StreamDriver({mode: make_stack(mode)})
    check_s = time.perf_counter() - t0
    samples = _Samples(truth, reader)
    driver.run(reader.messages(), samples, damaged=lambda: reader.damage is not None)
    lane = driver.lanes[mode]
    damage = reader.damage_note()
    issued = lane.receipts(hole=f"damage in the log ({damage})")
    errors = lane.errors()
    if damage is not None:
        errors.append(damage)
    name, seed = meta.get("scenario", Path(log).stem), int(meta.get("seed", 0))
    if truth is None:
        no_truth = ("the truth at the end of the log was lost to the damage" if reader.truth_lost
                    else "the log carries no truth")
        report = _unscored(name, seed, mode, issued, samples.last_t, driver.stream_s + lane.seconds, errors + [
            f"{no_truth}: receipts are listed, not scored"])
    else:
        report = score_episode(
            scenario=name, seed=seed, mode=mode, truth=samples.truth, prices=catalog_prices(samples.store_info),
            stack=lane.stack, issued=issued, track_frames=lane.track_frames, wall_seconds=driver.stream_s + lane.seconds,
            errors=errors, stages={"log_check": check_s, "log_read": driver.stream_s, "stack": lane.seconds,
                                   **lane.stage_costs()},
            extra={"stacks_on_stream": 1, "episode_wall_seconds": round(driver.wall_s, 4)}, stream_end_s=samples.last_t,
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
    """When a replay samples the stack's tracks (the driver's `SampleClock`), and the truth it scores them against.

    A log with sampled truth (`RecordedTruth.frames`) is sampled where the live run was: once as many
    messages have gone to the stack as had then; after a hole in the log, the samples due before a message
    stamped `t_s` are taken before it. A log written from the ledger alone is sampled every
    1 / `TRACK_SAMPLE_HZ` of the messages' clock, against the latest recorded head positions.
    """

    def __init__(self, truth: RecordedTruth | None, reader: LogReader) -> None:
        self.truth = truth
        self.reader = reader
        self.recorded = truth is not None and bool(truth.frames)
        self.frames: list[TruthFrame] = list(truth.frames) if self.recorded else []
        self.store_info = None
        self.last_t = 0.0  # the latest message time so far
        self._taken = 0
        self._messages = 0
        self._next_s = 0.0

    def before(self, msg) -> list[float]:
        if self.store_info is None and type(msg).__name__ == "StoreInfo":
            self.store_info = msg
        t_s = float(getattr(msg, "t_s", 0.0))
        self.last_t = max(self.last_t, t_s)
        due = []
        while self.reader.damage is not None and self.recorded and self._due() is not None and t_s > self._due().t_s:
            due.append(self._take())
        return due

    def after(self, msg) -> list[float]:
        """One more message went to the stack."""
        self._messages += 1
        due = []
        if self.recorded:
            while self._due() is not None and self._due().messages <= self._messages:
                due.append(self._take())
        elif self.last_t + 1e-9 >= self._next_s:
            self.frames.append(TruthFrame(self.last_t, self._messages, {}))
            due.append(self._take())
            self._next_s = self.last_t + 1.0 / TRACK_SAMPLE_HZ
        return due

    def rest(self) -> list[float]:
        """The stream has ended: recorded samples not yet taken (a salvage lost their messages) are taken now;
        without recorded samples, the truth gets its frames from the head positions."""
        due = []
        while self._due() is not None:
            due.append(self._take())
        if self.truth is not None and not self.recorded:
            self.truth = dataclasses.replace(self.truth, frames=_frames_from_poses(self.truth, self.frames))
        return due

    def _due(self) -> TruthFrame | None:
        """The next sample not yet taken."""
        return self.frames[self._taken] if self._taken < len(self.frames) else None

    def _take(self) -> float:
        self._taken += 1
        return self.frames[self._taken - 1].t_s


def build_target(target: Path, seed: int | None, seconds: float | None):
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
