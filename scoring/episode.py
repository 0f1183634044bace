"""The episode runner: one scenario and one seed in, one scored report out (DESIGN.md sections 1, 9).

Place in the data path: it assembles everything. It builds the simulation from
the scenario (agents), feeds the sensor stream, message by message, to the
checkout stack through the episode driver (`scoring.driver`), as an offline
replay does, while it keeps
the truth (the ledger, the shoppers' true positions) on its own side, never
handed to the stack; then it scores the stack's receipts, shelf events and
tracks against that truth with `scoring.metrics`.

`run_episode` is a pure function of (scenario, seed, mode): same inputs, same
receipts and figures (wall-clock figures aside), in any process — which is what
lets `bench` spread episodes over a process pool or a Ray cluster.

One stream, several stacks: `run_episode(..., modes=("fused", "weight",
"vision"))` simulates the episode once and hands every message, in the same
order, to one stack per mode, each scored on its own against the one
truth: a `{mode: report}` dict, `out_dir/MODE/report.json` each. A mode is a
built-in `CheckoutStack` mode or an outside stack `MODULE:FACTORY`
(`scoring.stacks`), named so in its report. The stacks
share nothing but the (frozen) messages, so each mode's report is the one a
run with that mode alone would give (a test pins it); the ablation figures cost
one simulation instead of three.

Choices:
- `wall_seconds` covers the stream (physics, sensors, stack), from the first
  message to the last receipt; building and settling the store is reported
  apart as `stages.build`, since it is paid once per episode whatever its length.
  With several stacks on one stream, each report's `wall_seconds` is the shared
  simulation's time plus that stack's own time (`stages.simulation` +
  `stages.stack`): what a run with that stack alone would have cost, so
  `realtime_factor` means the same whatever else shared the sim. The episode's
  real wall time for all stacks together is `episode_wall_seconds`, and
  `stacks_on_stream` says how many shared it.
- Tracking truth is sampled online at `TRACK_SAMPLE_HZ` from the shoppers' own
  positions (the `Actor` protocol), for shoppers inside the store, alongside the
  stack's current tracks at the same instant (`TruthTrace`).
- One scorer, live or replayed: `score_episode` reads the truth as a
  `RecordedTruth` — the ledger's, with the sampled positions and the episode's
  facts (its true end, its descriptors) — which is also what `--record` writes
  into the log, so a replay (`scoring.replay`) builds its report through the
  same code from the same truth and gives the same keys and figures.
- `stages`: `build`, `simulation` (physics, agents, sensors and rendering: the
  time spent waiting for the next message), `stack` (the whole checkout stack),
  then the stack's own per-stage costs (`CheckoutStack.stage_s`).
- A stack exception on one message is a runtime fault: it is recorded in
  `errors` (each distinct fault once, with a count) and the episode goes on;
  every receipt issued after the first fault is flagged for review, its
  reason naming the fault (`scoring.driver.StackLane`).
- `progress`, when given, is called with an `EpisodeProgress` at the tracking
  sample rate of sim time; drawing it is the caller's business (the command
  line's bar), so nothing here prints.
"""
from __future__ import annotations

import dataclasses

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from scoring.driver import StreamDriver, as_issued
from scoring.metrics import match_events, score_receipts, tracking_quality, true_shelf_events, visit_times
from scoring.report import build_report, write_report
from scoring.stacks import check_stack_name, is_builtin, make_stack
from sim.recording import EpisodeFacts, RecordedTruth, TruthFrame

TRACK_SAMPLE_HZ = 10.0


@dataclass(frozen=True)
class EpisodeProgress:
    """Where a running episode stands: sim seconds done of its duration, who is inside, receipts so far."""

    t_s: float
    duration_s: float
    shoppers_inside: int
    receipts_issued: int | None = None  # the first mode's stack; None where no stack runs (a recording)


def run_episode(
    scenario_path: str,
    seed: int,
    *,
    mode: str = "fused",
    modes: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    record: str | Path | None = None,
    progress: Callable[[EpisodeProgress], None] | None = None,
) -> dict:
    """Run one episode headless and return its report (also written to `out_dir` when given).

    With `modes`, one simulated stream feeds one stack per mode: the result is `{mode: report}` in the order
    given, and each report goes to `out_dir/MODE/` (`mode` is then ignored). `progress` is called
    `TRACK_SAMPLE_HZ` times per sim second with where the episode stands.
    """
    if modes is None:
        report = _run_stacks(scenario_path, seed, (mode,), record, progress)[mode]
        if out_dir is not None:
            write_report(report, out_dir)
        return report
    modes = tuple(dict.fromkeys(modes))
    reports = _run_stacks(scenario_path, seed, modes, record, progress)
    if out_dir is not None:
        for m, report in reports.items():
            write_report(report, Path(out_dir) / m)
    return reports


def _run_stacks(scenario_path: str, seed: int, modes: tuple[str, ...], record: str | Path | None,
                progress: Callable[[EpisodeProgress], None] | None = None) -> dict[str, dict]:
    """Simulate once; the driver hands every message to each mode's stack in turn; one scored report per mode."""
    from agents import build_simulation
    from agents.scenario import load_scenario
    from checkout.perception import SharedPerception

    for m in modes:
        check_stack_name(m)
    scenario = load_scenario(scenario_path)
    t0 = time.perf_counter()
    sim = build_simulation(scenario, seed=seed)
    build_s = time.perf_counter() - t0
    try:
        shared = SharedPerception()  # the built-in stacks perceive each frame set once; each is charged the full cost
        driver = StreamDriver({m: make_stack(m, shared) for m in modes})
        trace = TruthTrace(sim)
        stream: Iterable = sim.run(scenario.duration_s)
        if record is not None:
            # The log gets the truth on its own channels at the end; the stacks only ever see the messages.
            stream = _recorded(stream, Path(record), trace.truth, {"scenario": scenario.name, "seed": str(seed),
                                                                    "store": sim.layout.name, "mode": ",".join(modes)})
        first = driver.lanes[modes[0]]

        def step(_t_s: float) -> None:
            if progress is not None:
                progress(EpisodeProgress(sim.t_s, scenario.duration_s, len(sim.ledger.inside), len(first.issued)))

        driver.run(stream, trace, on_sample=step)
        for m, lane in driver.lanes.items():  # what a built-in stack would have cost alone: its stages plus all perception
            if is_builtin(m):
                own = lane.stack.stage_s.get("perception", 0.0)
                lane.stack.stage_s["perception"] = shared.cost_s
                lane.seconds += shared.cost_s - own
        truth = trace.truth()
        reports = {}
        for m, lane in driver.lanes.items():
            reports[m] = score_episode(
                scenario=scenario.name,
                seed=seed,
                mode=m,
                truth=truth,
                prices=catalog_prices(trace.store_info),
                stack=lane.stack,
                issued=lane.receipts(),
                track_frames=lane.track_frames,
                wall_seconds=driver.stream_s + lane.seconds,  # this stack's own share: the shared sim plus itself
                errors=lane.errors(),
                stages={"build": build_s, "simulation": driver.stream_s, "stack": lane.seconds, **lane.stage_costs()},
                extra={"stacks_on_stream": len(driver.lanes), "episode_wall_seconds": round(driver.wall_s, 4)},
            )
            if record is not None:
                reports[m]["log"] = str(record)
    finally:
        sim.close()
    return reports


def score_episode(*, scenario: str, seed: int, mode: str, truth: RecordedTruth, prices: Mapping[str, float], stack,
                  issued: list, track_frames: list | None, wall_seconds: float, errors: list[str], stages: dict,
                  extra: dict | None = None, stream_end_s: float | None = None) -> dict:
    """Score what the stack said against the episode's truth: a live run's (`TruthTrace.truth()`, the ledger
    staying on this side) or the one its log carries, alike, so a live report and its replay agree key by key.

    `track_frames`: the stack's tracks at each of `truth.frames` (None: a stack without tracks, whose tracking
    figures are absent); a stack without `events` has its shelf-event figures absent too. `stream_end_s`: the end of the stream for a
    truth without `EpisodeFacts` (a log written from the ledger alone), whose report lacks the descriptors.
    """
    # The true receipt is what the account owed when its last member left (later moves cannot change it).
    closed = dict(truth.receipts.closed)
    errors = list(errors) + [f"scenario fault: {e.shopper} at {e.t_s:.1f} s: {e.message}"
                             for e in truth.events if e.kind == "fault"]
    unfinished = sorted(a for a in set(truth.receipts.at_end) | set(closed) if a not in closed)
    receipts = score_receipts([as_issued(r) for r in issued], closed, prices, unfinished=unfinished)
    detected = getattr(stack, "events", None)
    events = None if detected is None else match_events(true_shelf_events(truth.events), detected, accounts=set(closed))
    truth_frames = [(f.t_s, dict(f.positions)) for f in truth.frames]
    has_truth = any(objs for _, objs in truth_frames)
    tracking = tracking_quality(truth_frames, track_frames) if has_truth and track_frames is not None else None
    facts = truth.episode
    described = {} if facts is None else {k: v for k, v in dataclasses.asdict(facts).items() if k not in ("end_s", "notes")}
    notes = {} if facts is None else {"scenario_notes": list(facts.notes)}
    end_s = facts.end_s if facts is not None else stream_end_s
    assert end_s is not None, "a truth without EpisodeFacts needs the stream's end (stream_end_s)"
    return build_report(scenario=scenario, seed=seed, mode=mode, sim_seconds=end_s, wall_seconds=wall_seconds,
                        receipts=receipts, events=events, tracking=tracking, errors=errors, stages=stages,
                        extra={**described, **(extra or {}), "receipt_counts": receipt_counts(receipts.receipts),
                               "visits": visit_times(truth.events), **notes,
                               "adapted_steps": [f"{e.shopper} at {e.t_s:.1f} s: {e.message}"
                                                 for e in truth.events if e.kind == "adapted"],
                               "scored": True})


class TruthTrace:
    """The truth scoring samples while the stream runs, on the scoring side of the stream.

    `saw(msg)` after each message has gone to the stacks: every 1 / `TRACK_SAMPLE_HZ` of sim time it takes a
    `TruthFrame` (the shoppers inside, at their own positions) and says so, and the caller samples the stacks'
    tracks at that instant. `truth()`: the ledger's truth with those frames and the episode's facts — what a
    live run is scored against and what a recording writes at its end, so its replay is scored the same.
    """

    def __init__(self, sim) -> None:
        self.sim = sim
        self.frames: list[TruthFrame] = []
        self.messages = 0
        self.store_info = None
        self._peak = 0
        self._next_s = 0.0

    def saw(self, msg) -> bool:
        """Count one stream message; True when a sample fell due after it (and was taken)."""
        self.messages += 1
        if self.store_info is None and type(msg).__name__ == "StoreInfo":
            self.store_info = msg
        t_s = self.sim.t_s
        if t_s + 1e-9 < self._next_s:
            return False
        self._peak = max(self._peak, len(self.sim.ledger.inside))
        self.frames.append(TruthFrame(t_s, self.messages, _true_positions(self.sim)))
        self._next_s = t_s + 1.0 / TRACK_SAMPLE_HZ
        return True

    def before(self, msg) -> tuple[float, ...]:
        return ()

    def after(self, msg) -> tuple[float, ...]:
        """The driver's `SampleClock`: the sample time, when one fell due after `msg`."""
        return (self.frames[-1].t_s,) if self.saw(msg) else ()

    def rest(self) -> tuple[float, ...]:
        return ()

    def truth(self) -> RecordedTruth:
        return RecordedTruth.from_ledger(self.sim.ledger, self.frames, _facts(self.sim, self.store_info, self._peak))


def catalog_prices(store_info) -> dict[str, float]:
    """SKU -> price as the store's `StoreInfo` lists them (empty without one)."""
    return {p.sku: p.price for p in store_info.catalog} if store_info is not None else {}


def receipt_counts(receipts: Iterable[dict]) -> dict[str, int]:
    """Counts the suite totals pool (issue 5's "among receipts not flagged, <= 1 % wrong" needs them)."""
    rows = [r for r in receipts if not r.get("phantom")]  # as receipt_accuracy: the accounts that exited
    unflagged = [r for r in rows if not r.get("flagged")]
    return {
        "receipts": len(rows),
        "exact": sum(bool(r.get("correct")) for r in rows),
        "flagged": len(rows) - len(unflagged),
        "unflagged": len(unflagged),
        "unflagged_wrong": sum(not r.get("correct") for r in unflagged),
    }


# --- helpers -------------------------------------------------------------------------------------------------------


def _true_positions(sim) -> dict[str, tuple[float, float]]:
    inside = sim.ledger.inside
    out = {}
    for actor in sim.actors:
        if actor.id in inside:
            p = actor.position()
            if p is not None:
                out[actor.id] = (float(p[0]), float(p[1]))
    return out


def _facts(sim, store_info, shoppers_peak: int) -> EpisodeFacts:
    """When the episode ended, its scenario's load-time notes, and what it was, for plots against crowd size,
    cameras and sensor noise."""
    sensors = sim.layout.spec.sensors
    return EpisodeFacts(
        end_s=float(sim.t_s),
        notes=tuple(getattr(sim, "notes", ())),
        shoppers=len({e.shopper for e in sim.ledger.events if e.kind == "entry"}),
        shoppers_peak=shoppers_peak,
        cameras=len(store_info.cameras) if store_info is not None else 0,
        camera_fps=float(sensors.cameras.fps),
        camera_resolution=tuple(int(v) for v in sensors.cameras.resolution),
        depth_noise_m=float(sensors.cameras.depth_noise_m),
        load_cell_noise_g=float(sensors.load_cells.noise_g),
        products=int(sim.layout.item_count),
        skus=len(sim.layout.catalog),
    )


def _recorded(stream: Iterable, path: Path, truth: Callable[[], RecordedTruth], metadata: dict[str, str]) -> Iterator:
    """Write the stream to an MCAP log as it passes (a wrapper, not a branch in the sim), truth at the end."""
    from sim.recording import record_stream

    yield from record_stream(stream, path, truth=truth, metadata=metadata)
