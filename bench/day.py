"""A store's day (issue 22): opening to closing as independent segments, each a scored episode, pooled per hour.

Place in the data path: above the bench. An arrival profile (`assets/days/*.yaml`: visits per day, each clock
hour's share, the persona mix, `max_inside`) is cut into segments (`plan_day`); each segment is a crowd
scenario written to `OUT/segments/scenarios/`, run by `bench.batch.run_bench` (local process pool or Ray,
`results.jsonl`, resume) through `run_segment`, which runs the episode with the checkout stack
(`scoring.episode.run_episode`) and adds what the day needs to each report: every arrival's times at the door,
in, out and receipt, and the worker's memory and CPU. `hourly_figures` pools the segments' visits per hour.

Choices:
- **Segments start from a restocked, empty store.** A real store's staff refill the shelves through the
  day, so a segment's shoppers find full shelves, as the freshly settled store gives them; segments are then
  independent episodes with their own derived seeds (`segment_seed`) and run in parallel, and a failure in one
  cannot spoil the next. The cost: a segment opens with nobody inside, where the real store still holds the
  shoppers of the minutes before. With 15-minute segments and visits of a few minutes, that is the first
  visit length of each segment; `peak_inside` is a little low at segment starts.
- **A constant rate per segment**: the profile is per clock hour, a segment never straddles an hour
  (`segment_min` divides 60), so each segment's crowd is a Poisson process at its hour's rate (no change to
  `CrowdSpec`).
- **Nobody is dropped.** Arrivals come during the segment's length; the episode then runs until every
  shopper has left, bounded by `DRAIN_S`. An account still inside then is a wrong receipt (`unfinished`);
  an arrival never let in by then is counted apart (`gave_up`: no account, no receipt).
- **An account belongs to the hour its shopper entered** (day time: the segment's start plus the entry
  time); arrivals and the wait at the door belong to the hour of arrival.
- **Every failure counted** (as `bench.pooling`): a receipt is right when issued and equal to the truth; a
  receipt never issued, an account still inside and every arrival of a crashed segment are wrong and not
  flagged. Accuracy and review rate are over every visit of the hour.
- **Queue at the gates**: from an arrival's time (`agents.crowd.arrival_schedule`, the spawner's own draw) to
  its entry event. `wait_s` is that whole time (it includes about 3 s walking in through the gate);
  `queue_peak` is the most arrivals at once at one segment's door that have waited longer than `DOOR_WALK_S`
  (held back by `max_inside`, or by a crowded doorway).
- **Memory**: each segment's worker RSS, sampled every `RSS_EVERY_S` sim seconds; flat when the largest
  RSS at the end of the last hour's segments is within +10 % of the first hour's (`memory_check`). With the
  local backend each segment has a fresh process, so a day's memory is bounded by one segment's; on Ray
  the workers are reused, and the same check catches a leak across segments.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field

from sim.errors import InputError, Where, format_key
from sim.layout import Int, Num, validated
from sim.seeding import seed_sequence
from sim.yamlsrc import LineMap, load_yaml

ROOT = Path(__file__).resolve().parent.parent
EPISODE_FN = "bench.day:run_segment"
DRAIN_S = 900.0  # after a segment's last arrival: time for everyone inside and at the door to finish
DOOR_WALK_S = 5.0  # an arrival appears 1.6 m outside the gate and walks in (about 3 s): waiting beyond this is a queue
RSS_EVERY_S = 60.0  # sim seconds between a worker's RSS samples
MEMORY_LIMIT = 0.10  # RSS at the end within +10 % of the first hour's
MODE = "fused"


# --- the profile ---------------------------------------------------------------------------------------------------


class DayProfile(BaseModel):
    """A store's day: `visits_per_day` spread over clock hours by `hourly_share_pct` (hours from `opens_h` on,
    one after another), the crowd's persona weights and how many shoppers the door lets in at once."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str
    description: str = ""
    opens_h: Int = Field(ge=0, le=23)
    visits_per_day: Num = Field(gt=0, le=100_000)
    hourly_share_pct: dict[int, Num] = Field(min_length=1, max_length=24)
    personas: dict[str, Num] = Field(min_length=1)
    max_inside: Int = Field(ge=1, le=200)

    @property
    def hours(self) -> int:
        return len(self.hourly_share_pct)

    def arrivals_per_min(self, clock_h: int) -> float:
        return self.visits_per_day * self.hourly_share_pct[clock_h] / 100.0 / 60.0


def load_profile(path: Path | str) -> DayProfile:
    """Parse and check an arrival profile; every problem is an `InputError` naming file, line and key."""
    from agents.personas import PERSONAS

    data, text_lines = load_yaml(path)
    lines = _HourKeys(text_lines)
    profile = validated(DayProfile, data, lines, "profile keys (name, opens_h, visits_per_day, ...)")
    expected = [(profile.opens_h + i) % 24 for i in range(profile.hours)]
    for i, (hour, share) in enumerate(profile.hourly_share_pct.items()):
        loc = ("hourly_share_pct", hour)
        if hour != expected[i]:
            raise lines.error(loc, f"expected hour {expected[i]} here: the hours run one after another from "
                                   f"opens_h {profile.opens_h}")
        if share <= 0:
            raise lines.error(loc, f"a share must be above 0 (a closed hour ends the day), got {share:g}")
        if profile.arrivals_per_min(hour) > 120:
            raise lines.error(loc, f"{profile.arrivals_per_min(hour):.0f} arrivals per minute; at most 120")
    total = sum(profile.hourly_share_pct.values())
    if abs(total - 100.0) > 0.5:
        raise lines.error(("hourly_share_pct",), f"the shares add up to {total:g} %, not 100 %")
    for name, weight in profile.personas.items():
        if name not in PERSONAS:
            raise lines.error(("personas", name), f"unknown persona '{name}' (known: {', '.join(sorted(PERSONAS))})")
        if weight < 0:
            raise lines.error(("personas", name), f"a weight must be >= 0, got {weight:g}")
    if sum(profile.personas.values()) <= 0:
        raise lines.error(("personas",), "persona weights must not all be 0")
    return profile


class _HourKeys(LineMap):
    """The profile file's lines, where the hours that key `hourly_share_pct` (numbers to the model) are found
    and named as written (`hourly_share_pct.10`, not the list index `[10]`)."""

    def __init__(self, lines: LineMap) -> None:
        super().__init__(lines.path, {})
        self._text = lines

    def line(self, loc: tuple) -> int:
        return self._text.line(self._as_written(loc))

    def where(self, loc: tuple) -> Where:
        loc = self._as_written(loc)
        return Where(self.path, self._text.line(loc), format_key(loc))

    @staticmethod
    def _as_written(loc: tuple) -> tuple:
        loc = tuple(loc)
        return (loc[0], str(loc[1]), *loc[2:]) if len(loc) > 1 and loc[0] == "hourly_share_pct" else loc


# --- the plan ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One independent episode of the day: `length_s` of arrivals from `start_s` after opening, at the rate of
    clock hour `clock_h`, with its own seed."""

    index: int
    start_s: float
    length_s: float
    clock_h: int
    arrivals_per_min: float
    seed: int

    @property
    def hour(self) -> int:
        """Hours since opening."""
        return int(self.start_s // 3600)

    @property
    def name(self) -> str:
        minute = int(round(self.start_s / 60)) % 60
        return f"seg-{self.index:03d}-{self.clock_h:02d}{minute:02d}"


def plan_day(profile: DayProfile, hours: float, segment_min: float, seed: int) -> list[Segment]:
    """The day's segments, in order: `hours` from opening cut every `segment_min` minutes (the last may be
    shorter). `segment_min` must divide an hour, so no segment straddles two hours' rates."""
    if not 0 < hours <= profile.hours:
        raise InputError(Where(Path("--hours")), f"expected above 0 and at most the {profile.hours} hours profile "
                                                  f"'{profile.name}' covers, not {hours:g}")
    per_hour = 60.0 / segment_min
    if not 0 < segment_min <= 60 or abs(per_hour - round(per_hour)) > 1e-9:
        raise InputError(Where(Path("--segment-min")), f"expected minutes that divide an hour (60, 30, 15, 10, 5, "
                                                        f"1.5, ...), not {segment_min:g}")
    total_s, length_s = round(hours * 3600.0, 6), segment_min * 60.0
    out = []
    for i in range(math.ceil(total_s / length_s - 1e-9)):
        start = i * length_s
        clock_h = (profile.opens_h + int(start // 3600)) % 24
        out.append(Segment(i, start, min(length_s, total_s - start), clock_h, profile.arrivals_per_min(clock_h),
                           segment_seed(seed, i)))
    return out


def segment_seed(seed: int, index: int) -> int:
    """Segment `index`'s episode seed, derived from the day's by name (`sim.seeding`): 0 to 2**63 - 1."""
    hi, lo = (int(v) for v in seed_sequence(seed, "day", "segment", str(index)).generate_state(2, np.uint32))
    return ((hi << 32) | lo) & (2**63 - 1)


def segment_scenario(segment: Segment, profile: DayProfile, store: Path) -> dict:
    """The segment as scenario data: a crowd at its rate for its length, in `store` (named by `store_ref`), then
    the drain."""
    from agents.scenario import Scenario

    sc = Scenario(segment.name, store_ref(store), seed=segment.seed, duration_s=segment.length_s + DRAIN_S,
                  description=f"day '{profile.name}', segment {segment.index} from {segment.start_s:g} s after "
                              f"opening: {segment.arrivals_per_min * 60:.1f} arrivals per hour")
    sc.crowd(segment.arrivals_per_min, until_s=segment.length_s, max_inside=profile.max_inside,
             personas=dict(profile.personas))
    return sc.as_dict()


def store_ref(store: Path) -> str:
    """How a segment's scenario names its store: a shipped one (`assets/stores/`) by its name, which every checkout
    resolves alike, so the scenario's text, its file name and the bench's resume key are the same from any checkout
    (a day kept in the repository, `docs/day/`, is re-pooled from its rows by a clone); any other by its absolute
    path, where the user keeps it."""
    from agents.scenario import STORES_DIR

    path = store.resolve()
    if path.parent == STORES_DIR.resolve() and path.suffix == ".yaml":
        return path.stem
    return str(path)


def segment_arrivals(segment: Segment, profile: DayProfile) -> list[float]:
    """When the segment's shoppers come to the door (segment time), as its crowd will draw them."""
    from agents.crowd import arrival_schedule
    from agents.scenario import CrowdSpec

    crowd = segment_scenario(segment, profile, Path("/"))["crowd"]
    return [t for t, _ in arrival_schedule(CrowdSpec.model_validate(crowd), segment.seed)]


# --- one segment, in a worker --------------------------------------------------------------------------------------


def run_segment(scenario_path: str, seed: int, *, modes: Sequence[str] = (MODE,),
                out_dir: str | None = None) -> dict[str, dict]:
    """`bench.batch`'s episode function for a day: `run_episode` with each report's `day` facts added
    (`segment_facts`), the worker's RSS sampled every `RSS_EVERY_S` sim seconds on the way."""
    from agents.crowd import arrival_schedule
    from agents.scenario import load_scenario
    from scoring.episode import run_episode

    cpu0 = time.process_time()
    samples: list[tuple[float, float]] = []

    last: list[tuple[float, float]] = []

    def progress(p) -> None:
        last[:] = [(round(p.t_s, 1), rss_now_mb())]
        if not samples or p.t_s >= samples[-1][0] + RSS_EVERY_S:
            samples.append(last[0])

    reports = run_episode(scenario_path, seed, modes=tuple(modes), out_dir=out_dir, progress=progress)
    if last and last[0] != samples[-1]:
        samples.append(last[0])  # the end of the run, the sim still open
    crowd = load_scenario(scenario_path).spec.crowd
    arrivals = [t for t, _ in arrival_schedule(crowd, seed)] if crowd is not None else []
    cpu_s = time.process_time() - cpu0
    for report in reports.values():
        report["day"] = {"visits": segment_facts(report, arrivals), "rss_mb": samples, "cpu_s": round(cpu_s, 2),
                         "pid": os.getpid()}
    return reports


def segment_facts(report: Mapping, arrivals: Sequence[float]) -> list[list]:
    """Every arrival of a segment's report as `[account, arrived_s, entered_s, exited_s, issued_s, issued,
    right, flagged, unfinished]` (segment time; None where it did not happen), the k-th arrival being the
    crowd's k-th shopper (`agents.crowd.crowd_shopper_id`)."""
    from agents.crowd import crowd_shopper_id

    receipts = {r["account"]: r for r in report.get("receipts") or () if not r.get("phantom")}
    visits = report.get("visits") or {}
    unfinished = set(report.get("unfinished") or ())
    rows = []
    for k, arrived in enumerate(arrivals):
        account = f"acct-{crowd_shopper_id(k)}"
        v, r = visits.get(account) or {}, receipts.get(account)
        issued = bool(r and r.get("issued")) and account not in unfinished
        rows.append([account, round(arrived, 3), v.get("entered_s"), v.get("exited_s"),
                     r.get("issued_s") if issued else None, issued, issued and bool(r.get("correct")),
                     issued and bool(r.get("flagged")), account in unfinished])
    return rows


def rss_now_mb() -> float:
    """This process's resident memory now (MB); its peak where /proc is missing."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --- the day's figures ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    """One arrival at the door, in day time (seconds from opening); None where it did not happen."""

    arrived_s: float
    entered_s: float | None
    exited_s: float | None
    issued_s: float | None
    issued: bool
    right: bool
    flagged: bool
    unfinished: bool
    crashed: bool = False  # its segment crashed: nothing is known but that it came, and its receipt is wrong

    @property
    def visited(self) -> bool:
        return self.entered_s is not None or self.crashed


@dataclass(frozen=True)
class HourFigures:
    """One hour of the day (or the whole day, `hour` None), every failure counted."""

    hour: int | None
    clock: str
    arrivals: int  # came to the door this hour
    visits: int  # entered this hour: accounts, each owing a receipt
    gave_up: int  # came this hour and were never let in before their segment ended
    peak_inside: int
    receipts_issued: int
    right: int
    flagged: int
    unissued: int
    unfinished: int
    crashed: int
    accuracy: float | None
    review_rate: float | None
    exit_to_receipt_s: dict | None  # median, p95, max over the issued receipts of the hour's visits
    queue_peak: int  # most arrivals at once at one door, waiting beyond DOOR_WALK_S
    wait_s: dict | None  # mean, p95, max from arrival to entry (walking in included)


def day_visits(segments: Sequence[Segment], rows: Mapping[int, Mapping | None],
               profile: DayProfile) -> dict[int, list[Visit]]:
    """Each segment's visits in day time: from its row's `day` facts, or every scheduled arrival as crashed
    where the row is an error or missing."""
    out = {}
    for seg in segments:
        row = rows.get(seg.index)
        facts = (row or {}).get("report", {}) or {}
        if row is None or row.get("status") != "ok" or "day" not in facts:
            out[seg.index] = [Visit(seg.start_s + t, None, None, None, False, False, False, False, True)
                              for t in segment_arrivals(seg, profile)]
            continue
        shift = lambda t: None if t is None else seg.start_s + t  # noqa: E731
        out[seg.index] = [Visit(seg.start_s + arr, shift(ent), shift(ext), shift(iss), bool(issued), bool(right),
                                bool(flagged), bool(unfin))
                          for _, arr, ent, ext, iss, issued, right, flagged, unfin in facts["day"]["visits"]]
    return out


def hourly_figures(segments: Sequence[Segment], visits: Mapping[int, Sequence[Visit]], ends_s: Mapping[int, float],
                   opens_h: int) -> tuple[list[HourFigures], HourFigures]:
    """Per hour from opening (and the whole day): an account to the hour it entered, an arrival and its wait
    to the hour it came. `ends_s`: each segment's end in day time (its episode's end), for who was still
    inside or waiting then."""
    every = [v for seg in segments for v in visits[seg.index]]
    hours = sorted({seg.hour for seg in segments} | {_hour(_entry(v)) for v in every if v.visited})
    inside, queue = {h: 0 for h in hours}, {h: 0 for h in hours}
    for seg in segments:
        vs, end = visits[seg.index], ends_s[seg.index]
        _peaks(inside, [(v.entered_s, v.exited_s if v.exited_s is not None else end) for v in vs
                        if v.entered_s is not None])
        _peaks(queue, [(v.arrived_s + DOOR_WALK_S, v.entered_s if v.entered_s is not None else end) for v in vs
                       if not v.crashed and (v.entered_s is None or v.entered_s > v.arrived_s + DOOR_WALK_S)])
    per_hour = [_figures(h, f"{(opens_h + h) % 24:02d}:00", [v for v in every if _hour(v.arrived_s) == h],
                         [v for v in every if v.visited and _hour(_entry(v)) == h], inside.get(h, 0), queue.get(h, 0))
                for h in hours]
    whole = _figures(None, "day", every, [v for v in every if v.visited], max(inside.values(), default=0),
                     max(queue.values(), default=0))
    return per_hour, whole


@dataclass(frozen=True)
class MemoryCheck:
    first_hour_mb: float | None
    last_hour_mb: float | None
    limit: float = MEMORY_LIMIT

    @property
    def growth(self) -> float | None:
        if not self.first_hour_mb or self.last_hour_mb is None:
            return None
        return self.last_hour_mb / self.first_hour_mb - 1.0

    @property
    def flat(self) -> bool | None:
        """None where there is nothing to compare (no RSS from the first or the last hour)."""
        return None if self.growth is None else self.growth <= self.limit


def memory_check(end_rss_mb: Mapping[int, float], segments: Sequence[Segment]) -> MemoryCheck:
    """The largest RSS at the end of a segment of the first hour against that of the last hour."""
    hours = [seg.hour for seg in segments]
    first, last = min(hours, default=0), max(hours, default=0)
    pick = lambda h: max((end_rss_mb[s.index] for s in segments if s.hour == h and s.index in end_rss_mb),  # noqa: E731
                         default=None)
    return MemoryCheck(pick(first), pick(last))


# --- the command ---------------------------------------------------------------------------------------------------


def command(args: argparse.Namespace) -> int:
    """`python run_sim.py day STORE ...`: plan, run the segments, pool per hour, write and print."""
    from bench.batch import RESULTS_FILE, EpisodeSpec, read_rows, run_bench
    from sim.layout import load_store

    if not Path(args.store).is_file():
        raise InputError(Where(Path(args.store)), "no such store file")
    if not Path(args.arrivals).is_file():
        raise InputError(Where(Path(args.arrivals)), "no such arrival profile")
    profile = load_profile(args.arrivals)
    layout = load_store(args.store)
    hours = float(profile.hours if args.hours is None else args.hours)
    segments = plan_day(profile, hours, args.segment_min, args.seed)
    out = Path(args.out)
    keys = write_segments(segments, profile, Path(args.store), out / "segments" / "scenarios", layout)
    print(f"day: {profile.name} on {layout.name}, {hours:g} h from {profile.opens_h:02d}:00 in {len(segments)} "
          f"segments of {args.segment_min:g} min on {args.workers} {args.backend} workers -> {out}", flush=True)
    t0 = time.perf_counter()
    specs = [EpisodeSpec("day", keys[s.index], s.seed, MODE) for s in segments]
    result = run_bench(specs, out / "segments", workers=args.workers, backend=args.backend, episode_fn=EPISODE_FN,
                       plots=False)
    wall_s = time.perf_counter() - t0
    by_key = {(r["scenario"], r["seed"]): r for r in read_rows(out / "segments" / RESULTS_FILE) if r["mode"] == MODE}
    rows = {s.index: by_key.get((keys[s.index], s.seed)) for s in segments}
    run = DayRun(layout.name, args.seed, hours, args.segment_min, args.workers, args.backend, wall_s, result.ran)
    day = day_summary(segments, rows, profile, run)
    (out / "day.json").write_text(json.dumps(day, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    plot_day(out / "day.png", day)
    print("\n".join(day_lines(day)))
    print(f"day: {out / 'day.json'}, {out / 'day.png'}")
    return 0


def write_segments(segments: Sequence[Segment], profile: DayProfile, store: Path, folder: Path,
                   layout) -> dict[int, str]:
    """Each segment's scenario file, named by its content (a rerun with the same segment resumes it, a changed
    one runs anew); the first is checked against the store. Returns the bench's scenario key per segment."""
    import hashlib

    from agents.scenario import load_scenario

    folder.mkdir(parents=True, exist_ok=True)
    keys = {}
    for seg in segments:
        text = yaml.safe_dump(segment_scenario(seg, profile, store), sort_keys=False)
        path = folder / f"{seg.name}-{hashlib.sha1(text.encode()).hexdigest()[:8]}.yaml"
        if not path.exists():
            path.write_text(text, encoding="utf-8")
        if seg.index == 0:
            load_scenario(path).check(layout)  # personas, rates and the store agree, before any worker starts
        resolved = path.resolve()
        keys[seg.index] = resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else str(resolved)
    return keys


@dataclass(frozen=True)
class DayRun:
    """How the day was asked for and what this invocation did (`day.json`'s head)."""

    store: str
    seed: int
    hours: float
    segment_min: float
    workers: int
    backend: str
    wall_s: float  # this invocation's, segments resumed from an earlier one not included
    ran: int  # segments simulated by this invocation


def day_summary(segments: Sequence[Segment], rows: Mapping[int, Mapping | None], profile: DayProfile,
                run: DayRun) -> dict:
    """Everything `day.json` holds: the plan, per hour and the whole day, speed, memory, each segment."""
    reports = {s.index: _report(rows.get(s.index)) for s in segments}
    facts = {i: r.get("day") or {} for i, r in reports.items()}
    ends = {s.index: s.start_s + reports[s.index].get("sim_seconds", s.length_s) for s in segments}
    per_hour, whole = hourly_figures(segments, day_visits(segments, rows, profile), ends, profile.opens_h)
    status = {s.index: (rows.get(s.index) or {}).get("status", "missing") for s in segments}
    return {
        "store": run.store, "profile": profile.name, "seed": run.seed, "hours": run.hours,
        "opens": f"{profile.opens_h:02d}:00", "segment_min": run.segment_min, "workers": run.workers,
        "backend": run.backend, "segments_run_now": run.ran,
        "segments_crashed": sum(1 for v in status.values() if v != "ok"),
        "hourly": [asdict(h) for h in per_hour], "day": asdict(whole),
        "speed": _speed(run, facts, sum(r.get("sim_seconds", 0.0) for r in reports.values()), segments),
        "memory": _memory(segments, facts),
        "segments": [{**asdict(s), "name": s.name, "status": status[s.index],
                      "sim_seconds": reports[s.index].get("sim_seconds"), "cpu_s": facts[s.index].get("cpu_s"),
                      "pid": facts[s.index].get("pid"), "rss_mb": facts[s.index].get("rss_mb")} for s in segments],
    }


def day_lines(day: Mapping) -> list[str]:
    """The day for people: a line per hour, the whole day, speed and memory."""
    lines = ["hour   arrivals visits inside issued  accuracy  review  exit->receipt s (median/p95)  queue  wait s (mean/max)"]
    for h in [*day["hourly"], day["day"]]:
        e, w = h["exit_to_receipt_s"], h["wait_s"]
        lag = "-" if e is None else f"{e['median']:.1f} / {e['p95']:.1f}"
        wait = "-" if w is None else f"{w['mean']:.1f} / {w['max']:.1f}"
        lines.append(f"{h['clock']:>5}  {h['arrivals']:8d} {h['visits']:6d} {h['peak_inside']:6d} {h['receipts_issued']:6d}  "
                     f"{_pct(h['accuracy']):>8}  {_pct(h['review_rate']):>6}  {lag:>28}  {h['queue_peak']:5d}  {wait:>17}")
    d, s, m = day["day"], day["speed"], day["memory"]
    lines.append(f"failures counted: {d['unissued']} receipts never issued, {d['unfinished']} accounts still inside, "
                 f"{d['crashed']} arrivals of crashed segments; {d['gave_up']} arrivals never let in")
    rtf = f", {s['realtime_factor']:.3f}x real time" if s["realtime_factor"] else " (some segments resumed)"
    lines.append(f"speed: {s['day_sim_s'] / 3600:g} h of the day in {s['wall_s']:.0f} s wall{rtf}; {s['cpu_s']:.0f} CPU-s "
                 f"in the segments' workers = {s['cpu_s_per_day_s']:.2f} CPU-s per sim-s of the day")
    flat = {True: "flat", False: "NOT flat", None: "not compared"}[m["flat"]]
    growth = "" if m["growth"] is None else f" ({m['growth']:+.1%})"
    lines.append(f"memory: worker RSS at the end of the first hour's segments {m['first_hour_end_rss_mb']} MB, "
                 f"of the last hour's {m['last_hour_end_rss_mb']} MB{growth}: {flat} (limit +{m['limit']:.0%})")
    return lines


def plot_day(path: Path, day: Mapping) -> Path:
    """Four panels per hour: visits and receipts, accuracy and review rate, exit to receipt, inside and queue."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = day["hourly"]
    x = np.arange(len(hours))
    labels = [h["clock"] for h in hours]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    ax = axes[0, 0]
    ax.bar(x - 0.2, [h["visits"] for h in hours], 0.4, label="visits (entered)", color="#4c72b0")
    ax.bar(x + 0.2, [h["receipts_issued"] for h in hours], 0.4, label="receipts issued", color="#55a868")
    ax.set_ylabel("per hour")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    ax.plot(x, [_nan(h["accuracy"]) for h in hours], "o-", label="receipt accuracy (every failure counted)")
    ax.plot(x, [_nan(h["review_rate"]) for h in hours], "s-", label="review rate")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    ax = axes[1, 0]
    for key, style in (("median", "o-"), ("p95", "^--"), ("max", "v:")):
        ax.plot(x, [_nan((h["exit_to_receipt_s"] or {}).get(key)) for h in hours], style, label=key)
    ax.set_ylabel("exit to receipt (s)")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    ax.plot(x, [h["peak_inside"] for h in hours], "o-", label="peak inside")
    ax.plot(x, [h["queue_peak"] for h in hours], "s-", label="peak waiting at the door")
    ax.set_ylabel("shoppers")
    ax.legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xticks(x, labels, rotation=45, fontsize=8)
    s = day["speed"]
    fig.suptitle(f"{day['store']}, profile {day['profile']}: {day['hours']:g} h from {day['opens']}, seed {day['seed']} "
                 f"({s['wall_s']:.0f} s wall, {s['cpu_s_per_day_s']:.2f} CPU-s per sim-s)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# --- helpers -------------------------------------------------------------------------------------------------------


def _speed(run: DayRun, facts: Mapping[int, Mapping], episode_s: float, segments: Sequence[Segment]) -> dict:
    """CPU of the segments' workers against the simulated seconds of the day they cover (a crashed or missing
    segment has no CPU figure, so its part of the day is left out of the rate, not spread over it; an episode
    stops once its store is empty, so `episode_sim_s` may be less) and this invocation's wall time."""
    cpu_s, day_s = sum(f.get("cpu_s", 0.0) for f in facts.values()), run.hours * 3600.0
    covered_s = sum(s.length_s for s in segments if "cpu_s" in facts.get(s.index, {}))
    return {"wall_s": round(run.wall_s, 1), "cpu_s": round(cpu_s, 1), "day_sim_s": day_s, "covered_day_s": covered_s,
            "episode_sim_s": round(episode_s, 1),
            "cpu_s_per_day_s": round(cpu_s / covered_s, 3) if covered_s else None,
            "cpu_s_per_episode_s": round(cpu_s / episode_s, 3) if episode_s else None,
            "realtime_factor": round(day_s / run.wall_s, 4)
            if run.wall_s > 0 and run.ran == len(segments) and covered_s == day_s else None}


def _memory(segments: Sequence[Segment], facts: Mapping[int, Mapping]) -> dict:
    end_rss = {i: f["rss_mb"][-1][1] for i, f in facts.items() if f.get("rss_mb")}
    check = memory_check(end_rss, segments)
    return {"first_hour_end_rss_mb": check.first_hour_mb, "last_hour_end_rss_mb": check.last_hour_mb,
            "growth": None if check.growth is None else round(check.growth, 4), "limit": check.limit,
            "flat": check.flat,
            "peak_rss_mb": max((mb for f in facts.values() for _, mb in f.get("rss_mb", ())), default=None)}


def _figures(hour: int | None, clock: str, came: Sequence[Visit], entered: Sequence[Visit], peak_inside: int,
             queue_peak: int) -> HourFigures:
    n = len(entered)
    right, flagged = sum(v.right for v in entered), sum(v.flagged for v in entered)
    lags = [v.issued_s - v.exited_s for v in entered if v.issued_s is not None and v.exited_s is not None]
    waits = [v.entered_s - v.arrived_s for v in came if v.entered_s is not None]
    return HourFigures(
        hour=hour, clock=clock, arrivals=len(came), visits=n,
        gave_up=sum(1 for v in came if not v.visited), peak_inside=peak_inside,
        receipts_issued=sum(v.issued for v in entered), right=right, flagged=flagged,
        unissued=sum(1 for v in entered if not v.issued and not v.unfinished and not v.crashed),
        unfinished=sum(v.unfinished for v in entered), crashed=sum(v.crashed for v in entered),
        accuracy=right / n if n else None, review_rate=flagged / n if n else None,
        exit_to_receipt_s=_spread(lags, "median"), queue_peak=queue_peak, wait_s=_spread(waits, "mean"))


def _spread(values: Sequence[float], centre: str) -> dict | None:
    if not values:
        return None
    mid = statistics.median(values) if centre == "median" else statistics.fmean(values)
    return {centre: round(mid, 3), "p95": round(float(np.percentile(values, 95)), 3), "max": round(max(values), 3)}


def _peaks(peak: dict[int, int], spans: Iterable[tuple[float, float]]) -> None:
    """Raise `peak[hour]` to the most `spans` (start, end) open at once at any moment of that hour (each hour's
    start is looked at too: someone inside across it counts in both hours)."""
    spans = list(spans)
    probes = [(h * 3600.0, 0) for h in peak]
    marks = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans] + probes)
    count = 0
    for t, step in marks:
        count += step
        h = _hour(t)
        if h in peak:
            peak[h] = max(peak[h], count)


def _hour(t_s: float) -> int:
    return int(t_s // 3600)


def _entry(v: Visit) -> float:
    return v.entered_s if v.entered_s is not None else v.arrived_s


def _report(row: Mapping | None) -> Mapping:
    return (row or {}).get("report") or {}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _nan(x: float | None) -> float:
    return float("nan") if x is None else x

