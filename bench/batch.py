"""Headless batch benchmarks: many (scenario, seed, mode) episodes on a process pool or a Ray cluster.

Place in the data path: above the episode runner. An episode is a pure function
of (scenario, seed, mode) -> report (`scoring.episode.run_episode`), so the
bench only has to spread those calls over workers and collect the rows.

One job per (scenario, seed): the bench plans rows per (scenario, seed, mode)
but runs each (scenario, seed) once, its modes as stacks on one simulated
stream (`run_episode(..., modes=...)`), so the weight / vision / fused ablation
costs one simulation, not three; the job yields one row per mode. An episode
function without a `modes` parameter (e.g. `bench.probe`) is called once per
mode instead. Where the jobs run:

- `local` backend (default): each episode runs in a fresh spawned process, at
  most `workers` at a time. A fresh process per episode keeps pybullet clients,
  memory and any native crash to that episode alone: a worker that dies becomes
  one error row, and the bench goes on. A worker dies with the bench, however
  the bench dies (even `kill -9`): see `die_with_parent`.
- `ray` backend: the same function as Ray tasks (`num_cpus=1` each), on a local
  runtime started with `workers` CPUs, no dashboard, listening on 127.0.0.1
  only (`start_local_ray`), or on the cluster at `ray_address` (the project
  folder is shipped as the job's working_dir there), which is checked to answer
  first (`check_ray_address`). Same rows as the local backend, timings aside.

`results.jsonl` gets one row per (scenario, seed, mode), labelled with its seed
set (`dev` or `fresh`), appended and flushed as its job ends; a scored row keeps
its receipts as compact `receipt_marks`. A rerun over the same `--out` skips a
(scenario, seed) whose modes are all there and runs only the missing modes of
the others, so an interrupted bench resumes where it stopped and loses nothing
(error rows count as done unless `retry_errors`); fresh seeds drawn for the
folder are reused (`bench.seeds`). A job that raises or whose worker dies gives
an error row for each of its modes. Then `summary.md` (per suite, mode and seed
set: pooled figures with every failure counted and the fresh − dev gap
(`bench.pooling`); the failures counted and listed; the receipts' calibration
and a suggested review threshold (`bench.calibration`); a table per scenario,
mode and seed set, mean ± sd over seeds, and totals), `bench.json` (wall time,
episodes per hour, fresh seeds, calibration) and matplotlib PNG plots are
written from every row in the file. Progress with an ETA goes to stderr: a tqdm bar on a
terminal, a line per episode elsewhere.

Suites (`assets/suites/NAME.yaml`) are named lists of scenarios × seeds:

    name: standard
    dev_seeds: "0:3"          # development seeds of every entry (older name: seeds); A:B is range(A, B); or a list
    modes: [fused]            # optional; stack ablations to run
    scenarios:
      - ../scenarios/one_shopper.yaml              # relative to the suite file
      - {path: ../scenarios/crowd.yaml, dev_seeds: [0, 1]}

`--seeds` picks among development, fresh and named seeds (`bench.seeds`; default
`dev+fresh`: each entry's development seeds and as many fresh ones).
"""
from __future__ import annotations

import ctypes
import difflib
import importlib
import inspect
import json
import math
import os
import signal
import socket
import statistics
import sys
import threading
import time
import traceback
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from tqdm import tqdm

from bench import calibration, pooling
from bench.generated import StorePlan, scenario_store_seeds, store_spec
from bench.seeds import MAX_SEEDS, SeedChoice, draw_fresh, fresh_pool, label, parse_seeds, record_fresh  # noqa: F401
from checkout.stack import MODES
from sim.errors import InputError, Where
from sim.yamlsrc import load_yaml

ROOT = Path(__file__).resolve().parent.parent
SUITES_DIR = ROOT / "assets" / "suites"
DEFAULT_EPISODE_FN = "scoring.episode:run_episode"
RESULTS_FILE = "results.jsonl"
# Row fields that depend on wall time or on where the episode ran; everything else is a pure function of the key.
TIMING_KEYS = ("elapsed_s", "worker")
REPORT_TIMING_KEYS = ("wall_seconds", "realtime_factor", "stages", "episode_wall_seconds")
# Figures summarised per scenario, in this order, when the episode reports them ("a.b" = nested key).
SUMMARY_FIGURES = (
    "receipt_accuracy", "item_precision", "item_recall", "item_f1", "billing_error", "review_rate",
    "events.attribution_accuracy", "events.recall", "tracking.mota", "tracking.idf1", "tracking.hota",
    "realtime_factor",
)


@dataclass(frozen=True)
class EpisodeSpec:
    suite: str
    scenario: str  # the scenario file, relative to the project root when inside it
    seed: int
    mode: str = "fused"
    seed_set: str = "dev"  # "dev": one of the entry's development seeds; "fresh": any other (bench.seeds)

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.scenario, self.seed, self.mode)


@dataclass(frozen=True)
class EpisodeJob:
    """One simulation: a (scenario, seed) and the stack modes that share its stream, one row each."""

    suite: str
    scenario: str
    seed: int
    modes: tuple[str, ...]
    seed_set: str = "dev"

    @property
    def key(self) -> tuple[str, int]:
        return (self.scenario, self.seed)

    def specs(self) -> list[EpisodeSpec]:
        return [EpisodeSpec(self.suite, self.scenario, self.seed, m, self.seed_set) for m in self.modes]


def group_jobs(specs: Sequence[EpisodeSpec]) -> list[EpisodeJob]:
    """Specs of the same (scenario, seed) become one job, in order of first appearance (suite of the first)."""
    jobs: dict[tuple[str, int], list[EpisodeSpec]] = {}
    for s in specs:
        jobs.setdefault((s.scenario, s.seed), []).append(s)
    return [EpisodeJob(g[0].suite, g[0].scenario, g[0].seed, tuple(dict.fromkeys(s.mode for s in g)), g[0].seed_set)
            for g in jobs.values()]


@dataclass
class BenchResult:
    out_dir: Path
    planned: int
    skipped: int
    ran: int
    errors: int
    wall_s: float
    rows: list[dict] = field(default_factory=list)

    @property
    def episodes_per_hour(self) -> float | None:
        return 3600.0 * self.ran / self.wall_s if self.ran and self.wall_s > 0 else None


# --- planning ------------------------------------------------------------------------------------------------------


def resolve_target(name: str) -> Path:
    """A suite name (assets/suites/NAME.yaml), a suite file or a scenario file."""
    p = Path(name)
    if p.suffix not in (".yaml", ".yml") and (SUITES_DIR / f"{name}.yaml").exists():
        return SUITES_DIR / f"{name}.yaml"
    if not p.exists():
        known = sorted(x.stem for x in SUITES_DIR.glob("*.yaml")) if SUITES_DIR.exists() else []
        raise InputError(Where(p), f"no such suite or scenario file (suites: {', '.join(known) or 'none'})")
    return p


def plan_episodes(targets: Sequence[str], *, seeds: Sequence[int] | SeedChoice | None = None,
                  modes: Sequence[str] | None = None, fresh: Sequence[int] = (),
                  stores: StorePlan | None = None) -> list[EpisodeSpec]:
    """Every (suite, scenario, seed, mode) the targets name, in order, without duplicates.

    `seeds`: None runs each entry's development seeds; a list of seeds runs those instead (each labelled
    `dev` or `fresh` by whether it is one of the entry's development seeds); a `SeedChoice` picks its
    development seeds, fresh seeds from `fresh` (the folder's pool, `plan_bench`) and named seeds.
    """
    if seeds is None:
        choice = SeedChoice()
    elif isinstance(seeds, SeedChoice):
        choice = seeds
    else:
        choice = SeedChoice(dev=False, named=tuple(seeds))
    specs: list[EpisodeSpec] = []
    for entry in _entries(targets, modes, stores):
        for mode in entry.modes:
            specs += [EpisodeSpec(entry.suite, entry.scenario, s, mode,
                                  "fresh" if entry.fresh_store else label(s, entry.dev_seeds))
                      for s in _entry_seeds(entry, choice, fresh)]
    seen: set = set()
    unique = []
    for s in specs:
        if s.key not in seen:
            seen.add(s.key)
            unique.append(s)
    return unique


def plan_bench(targets: Sequence[str], seeds: SeedChoice, out_dir: str | Path,
               modes: Sequence[str] | None = None, stores: SeedChoice | None = None) -> tuple[list[EpisodeSpec], list[int]]:
    """`plan_episodes` with the fresh seeds `seeds` asks for: the first ones of `out_dir`'s pool, drawn anew
    only where the pool is short (bench.seeds). Returns the specs and the folder's whole pool, which
    `run_bench(..., fresh_seeds=pool)` records before it runs anything. A suite over generated stores
    (bench.generated) draws its stores into `out_dir/stores/` now, picked by `stores` (default dev+fresh),
    and records fresh store seeds in `out_dir/fresh_stores.json`; nothing else is written."""
    plan = StorePlan.for_bench(stores or SeedChoice(dev=True, fresh=None), out_dir)
    entries = _entries(targets, modes, plan)
    pool = fresh_pool(out_dir, read_rows(Path(out_dir) / RESULTS_FILE))
    avoid = {s for e in entries for s in e.dev_seeds} | set(seeds.named)
    # Drawn seeds avoid every development seed, so one draw covers the largest shortfall.
    short = max((seeds.fresh_count(e.dev_seeds) - len(set(pool) - set(e.dev_seeds)) for e in entries), default=0)
    pool += draw_fresh(max(short, 0), avoid | set(pool))
    return plan_episodes(targets, seeds=seeds, modes=modes, fresh=pool, stores=plan), pool


# --- running -------------------------------------------------------------------------------------------------------


def run_bench(
    specs: Sequence[EpisodeSpec],
    out_dir: str | Path,
    *,
    workers: int = 1,
    backend: str = "local",
    ray_address: str | None = None,
    episode_fn: str = DEFAULT_EPISODE_FN,
    retry_errors: bool = False,
    progress: bool = True,
    plots: bool = True,
    fresh_seeds: Sequence[int] = (),
) -> BenchResult:
    """Run the episodes not yet in `out_dir/results.jsonl`, append their rows, then write the summary and plots.

    `fresh_seeds` is the folder's pool of fresh seeds (`plan_bench`), written to `fresh_seeds.json` before
    any episode runs, so that a bench stopped before its first fresh row resumes with the same seeds.
    """
    assert backend in ("local", "ray"), f"backend must be local or ray, not {backend!r}"
    assert workers >= 1, "workers must be at least 1"
    _import_episode_fn(episode_fn)  # fail here, once, rather than in every worker
    if backend == "ray" and ray_address:
        check_ray_address(ray_address)  # before anything is written to `out_dir`
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record_fresh(out, fresh_seeds)
    results_path = out / RESULTS_FILE
    done = {_row_key(r): r for r in read_rows(results_path)}
    todo = [s for s in specs if s.key not in done or (retry_errors and done[s.key]["status"] != "ok")]
    jobs = group_jobs(todo)  # a (scenario, seed) with every mode done is skipped; others run their missing modes
    bar = Progress(len(todo), enabled=progress)
    new_rows: list[dict] = []

    def sink(row: dict) -> None:
        append_row(results_path, row)
        new_rows.append(row)
        bar.update(row)

    t0 = time.perf_counter()
    restore = _terminate_as_interrupt()
    try:
        if todo:
            runner = _run_local if backend == "local" else _run_ray
            runner(jobs, out, workers, episode_fn, sink, ray_address)
    finally:
        restore()
        wall_s = time.perf_counter() - t0
        bar.close()
        all_rows = list({_row_key(r): r for r in read_rows(results_path)}.values())
        result = BenchResult(out, len(specs), len(specs) - len(todo), len(new_rows),
                             sum(r["status"] != "ok" for r in new_rows), wall_s, all_rows)
        planned = {s.key: s.seed_set for s in specs}  # the plan's label wins over a row written before labels
        rows = [{**r, "seed_set": planned[_row_key(r)]} for r in all_rows if _row_key(r) in planned]
        write_summary(out, rows or all_rows, result, backend=backend, workers=workers, plots=plots)
    return result


def _terminate_as_interrupt() -> Callable[[], None]:
    """SIGTERM (`kill`, a batch scheduler's stop) ends the bench as Ctrl-C does: the running episodes' worker
    processes are ended and the summary of what finished is written. Without this a SIGTERM killed only this
    process and its spawned workers ran their episodes on. Returns what restores the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(_signum, _frame):
        raise KeyboardInterrupt("terminated")

    previous = signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous)


def run_one(episode_fn: str, job: Mapping, episode_dir: str | None) -> list[dict]:
    """One job in a worker: a row per mode for `results.jsonl` (an error row for each mode that failed).

    `job` is an `EpisodeJob` as a dict. An episode function that takes `modes` simulates once for all of
    them and returns `{mode: report}`; one that takes only `mode` is called once per mode.
    """
    t0 = time.perf_counter()
    modes = list(job["modes"])
    try:
        fn = _import_episode_fn(episode_fn)
        scenario_path = str(ROOT / job["scenario"]) if not Path(job["scenario"]).is_absolute() else job["scenario"]
        if _takes_modes(fn):
            reports = fn(scenario_path, job["seed"], modes=tuple(modes), out_dir=episode_dir)
            results = {m: reports[m] for m in modes}
        else:
            results = {}
            for m in modes:
                try:
                    results[m] = fn(scenario_path, job["seed"], mode=m,
                                    out_dir=None if episode_dir is None else str(Path(episode_dir) / m))
                except Exception as exc:
                    results[m] = exc
    except Exception as exc:
        results = dict.fromkeys(modes, exc)
    elapsed = round(time.perf_counter() - t0, 3)
    rows = []
    for m in modes:
        row = {"suite": job["suite"], "scenario": job["scenario"], "seed": job["seed"],
               "seed_set": job.get("seed_set", "dev"), "mode": m}
        got = results[m]
        if isinstance(got, BaseException):
            tb = "".join(traceback.format_exception(type(got), got, got.__traceback__, limit=8))
            row.update(status="error", error=_one_line(got), report=None, traceback=tb)
        else:
            row.update(status="ok", error=None, report=_row_report(got), **_row_marks(got))
        row["elapsed_s"] = elapsed  # the whole job's wall time: the modes shared it
        row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
        rows.append(row)
    return rows


def comparable(row: Mapping) -> dict:
    """A row without what depends on wall time or the worker: equal across backends for the same key."""
    out = {k: v for k, v in row.items() if k not in TIMING_KEYS}
    if isinstance(out.get("report"), Mapping):
        out["report"] = {k: v for k, v in out["report"].items() if k not in REPORT_TIMING_KEYS}
    return out


def read_rows(path: Path) -> list[dict]:
    """Every complete row of a results file; a line cut short by an interruption is skipped."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and {"scenario", "seed", "mode", "status"} <= set(row):
            rows.append(row)
    return rows


def append_row(path: Path, row: Mapping) -> None:
    line = json.dumps(row, sort_keys=True, allow_nan=False, default=_json_default) + "\n"
    with path.open("a+", encoding="utf-8") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() > 0:  # a row cut short by a kill must not swallow this one
            f.seek(f.tell() - 1)
            if f.read(1) != "\n":
                f.write("\n")
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def check_ray_address(address: str, *, timeout_s: float = 5.0) -> None:
    """Raise `InputError` unless something answers at `address` (HOST:PORT, or ray://HOST[:PORT]) within `timeout_s`.

    `ray.init(address=...)` retries an address where nothing listens for minutes before it gives up; a TCP
    connect says the same in milliseconds (refused) or at most `timeout_s` (no answer). Ray's GCS and its client
    server speak gRPC, so the port must also answer the HTTP/2 connection preface with a SETTINGS frame: a port
    held by anything else (a web server, a plain listener) is refused here rather than retried by Ray for
    minutes. `auto` and `local` are Ray's own words (find a running cluster, start a new one), left to Ray.
    """
    where = Where(Path("--ray-address"))
    if address in ("auto", "local"):
        return
    host, port = _split_ray_address(address, where)
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as conn:
            if not _speaks_grpc(conn):
                raise InputError(where, f"something answers at {host}:{port}, but not a Ray cluster (no gRPC/HTTP/2 server)")
    except socket.gaierror as exc:
        raise InputError(where, f"cannot reach a Ray cluster at {host}:{port} (unknown host: {exc.strerror})") from None
    except TimeoutError:
        raise InputError(where, f"cannot reach a Ray cluster at {host}:{port} (no answer in {timeout_s:g} s)") from None
    except OSError as exc:
        reason = (exc.strerror or _one_line(exc)).lower()
        raise InputError(where, f"cannot reach a Ray cluster at {host}:{port} ({reason})") from None


_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])  # preface, empty SETTINGS


def _speaks_grpc(conn: socket.socket) -> bool:
    """True when the peer answers the HTTP/2 client preface with a frame header of type SETTINGS (4)."""
    try:
        conn.sendall(_HTTP2_PREFACE)
        head = b""
        while len(head) < 9:
            chunk = conn.recv(9 - len(head))
            if not chunk:
                return False
            head += chunk
    except OSError:  # reset, or no answer within the connection's timeout
        return False
    return head[3] == 4


def start_local_ray(workers: int) -> None:
    """The bench's own Ray runtime: `workers` CPUs, no dashboard, every server on 127.0.0.1 only.

    Ray binds its gRPC servers (GCS, raylet, object manager, each driver's and worker's core worker) and the
    runtime-env agent to all interfaces unless the node's address is 127.0.0.1, and then to loopback: a
    runtime that only this machine uses has no reason to be reachable from the network. `address="local"`
    starts a new runtime even where RAY_ADDRESS or a `ray start` cluster would otherwise be joined.

    A driver killed outright (SIGKILL) leaves no runtime behind, though not at once: Ray starts the GCS and
    the raylet fate-shared with the driver (`PR_SET_PDEATHSIG` on Linux) and the workers exit when their
    raylet goes, all within seconds; the dashboard and runtime-env agents see the raylet gone as quickly but
    first try for 60 s to report it to the dead GCS, so they exit about a minute later.
    """
    import ray

    ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1")


def _run_local(todo: Sequence[EpisodeJob], out: Path, workers: int, episode_fn: str,
               sink: Callable[[dict], None], _address: str | None) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # never fork a process that may hold a pybullet client
    queue = list(reversed(todo))
    running: dict[Future, tuple[EpisodeJob, ProcessPoolExecutor]] = {}
    try:
        while queue or running:
            while queue and len(running) < workers:
                job = queue.pop()
                # Spawned from this thread, which outlives every pool: `die_with_parent` ties each worker to it.
                pool = ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=die_with_parent,
                                           initargs=(os.getpid(),))
                running[pool.submit(run_one, episode_fn, asdict(job), _episode_dir(out, job))] = (job, pool)
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished:
                job, pool = running.pop(fut)
                try:
                    rows = fut.result()
                except BrokenProcessPool:
                    rows = _error_rows(job, "worker process died (native crash or killed)")
                except Exception as exc:  # the rows could not come back (e.g. they would not pickle)
                    rows = _error_rows(job, f"episode result lost: {_one_line(exc)}")
                pool.shutdown(wait=True)
                for row in rows:
                    sink(row)
    finally:
        for fut, (_, pool) in running.items():  # interrupted: end the children this bench started
            children = list((getattr(pool, "_processes", None) or {}).values())
            fut.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in children:
                if proc.is_alive():
                    proc.terminate()


def die_with_parent(parent_pid: int) -> None:
    """Pool worker initializer: end this worker as soon as the bench process `parent_pid` is gone.

    A pool worker waits on its call queue, a pipe whose write end it holds itself, so it never sees EOF when
    the bench dies; `_run_local`'s clean-up runs only when the bench can run code (Ctrl-C, SIGTERM). After a
    SIGKILL or a native crash of the bench the worker would run its episode on and then wait forever. On
    Linux the kernel sends SIGKILL when the parent dies (`PR_SET_PDEATHSIG`; the parent is the spawning
    thread, `_run_local`'s, which outlives its workers). SIGKILL, not SIGTERM: the episode's native code must
    not be able to ignore it, and its result has nowhere to go anyway. Elsewhere a daemon thread watches the
    parent pid.

    Killing the workers also ends multiprocessing's resource tracker: it exits on EOF of its pipe, whose
    write ends are held by the bench and by every spawned worker (each is handed the tracker's fd).
    """
    if _set_parent_death_signal(signal.SIGKILL):
        if os.getppid() != parent_pid:  # the bench died before the signal was armed: nothing will send it
            os._exit(1)
        return
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="bench-parent-watch", daemon=True).start()


def _set_parent_death_signal(sig: int) -> bool:
    """Ask the kernel to send `sig` to this process when its parent dies; False where it cannot (not Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(1, int(sig), 0, 0, 0) == 0  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int, poll_s: float = 0.5) -> None:
    """Exit the process once it has been re-parented: its parent `parent_pid` has died."""
    while os.getppid() == parent_pid:
        time.sleep(poll_s)
    os._exit(1)


def _split_ray_address(address: str, where: Where) -> tuple[str, int]:
    """(host, port) of HOST:PORT, [IPV6]:PORT or ray://HOST[:PORT] (the Ray Client port 10001 by default)."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "", address
    expected = f"expected HOST:PORT or ray://HOST[:PORT], not {address!r}"
    if scheme not in ("", "ray") or not rest or "/" in rest or "@" in rest:
        raise InputError(where, expected)
    try:
        parts = urlsplit(f"//{rest}")
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is no number, or out of range
        raise InputError(where, expected) from None
    port = 10001 if port is None and scheme == "ray" else port
    if not host or not port:
        raise InputError(where, expected)
    return host, port


def _run_ray(todo: Sequence[EpisodeJob], out: Path, workers: int, episode_fn: str,
             sink: Callable[[dict], None], address: str | None) -> None:
    import ray

    started = False
    if not ray.is_initialized():
        if address:
            try:
                ray.init(address=address, log_to_driver=False,
                         runtime_env={"working_dir": str(ROOT),
                                      "excludes": [".venv", ".git", "out", ".cache", "*.mcap", "**/__pycache__"]})
            except ConnectionError as exc:  # e.g. `auto` with no cluster running
                raise InputError(Where(Path("--ray-address")), _one_line(exc)) from None
        else:
            start_local_ray(workers)
        started = True
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(run_one)
        refs = {task.remote(episode_fn, asdict(j), _episode_dir(out, j)): j for j in todo}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                job = refs.pop(ref)
                try:
                    rows = ray.get(ref)
                except Exception as exc:  # worker died, node lost, ...
                    rows = _error_rows(job, f"ray task failed: {_one_line(exc)}")
                for row in rows:
                    sink(row)
    finally:
        if started:
            ray.shutdown()


# --- summary and plots ---------------------------------------------------------------------------------------------


def write_summary(out: Path, rows: Sequence[Mapping], result: BenchResult, *, backend: str, workers: int,
                  plots: bool = True) -> None:
    """`summary.md`, `bench.json` and the PNG plots, from every row of the bench.

    Pooled figures per suite, mode and seed set count every failure (`bench.pooling`); the calibration
    section bins receipts by confidence and suggests a review threshold (`bench.calibration`).
    """
    rows = _with_marks(out, rows)
    figures = _figures_present(rows)
    lines = [f"# Bench summary ({out.name})", ""]
    lines.append(
        f"This run: {result.ran} episodes ({result.errors} errors) in {result.wall_s:.1f} s wall on {workers} "
        f"{backend} worker(s)" + (f", {result.episodes_per_hour:.1f} episodes per hour" if result.episodes_per_hour
                                  else "") + f"; {result.skipped} already in {RESULTS_FILE} (resumed)."
    )
    lines += ["", _seeds_line(rows)]
    by_suite: dict[str, list[Mapping]] = defaultdict(list)
    for r in rows:
        by_suite[r["suite"]].append(r)
    crashed = {r["scenario"] for r in rows if r["status"] != "ok"}
    scripted = {s: pooling.scenario_accounts(_scenario_path(s)) for s in crashed}
    crashes = pooling.crash_accounts(rows, scripted)
    pools = {(suite, mode, seed_set): pooling.pool(group, crashes)
             for suite, suite_rows in by_suite.items() for mode in _modes_in(suite_rows)
             for seed_set, group in _by_seed_set([r for r in suite_rows if r["mode"] == mode]).items()}
    # Receipts to pool: some row carried them, or a crashed episode's scenario had accounts.
    scored = any(p.scored for p in pools.values()) or any(v is not None for v in scripted.values())
    calibrations = _calibrations(rows, by_suite) if scored else []
    if scored:
        lines += _pooled_section(pools, by_suite, calibrations)
    for suite, suite_rows in by_suite.items():
        lines += _suite_section(suite, suite_rows, figures, crashes if scored else None)
    lines += ["", "Cells: mean ± sd over seeds [min–max]; n = episodes scored (errors excluded; an episode with no "
              "account adds nothing to the receipt and item figures). These means are of the scored episodes and "
              "their exited accounts only: crashed episodes and accounts still inside count in the pooled figures "
              "above and the wrong-receipts column, not here"
              + ("; wrong receipts: pooled over the row's episodes, every failure counted." if scored else "."), ""]
    plotted = make_plots(out, rows) if plots else []
    if plots and calibrations:
        tables = {c.mode: c.tables for c in calibrations if c.suite == "all suites"}
        plotted.append(calibration.plot_reliability(out / "reliability.png", tables))
    if plotted:
        lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plotted] + [""]
    (out / "summary.md").write_text("\n".join(lines), encoding="utf-8")
    ok = [r for r in rows if r["status"] == "ok"]
    sim_s = sum((r["report"] or {}).get("sim_seconds") or 0.0 for r in ok)
    (out / "bench.json").write_text(json.dumps({
        "backend": backend, "workers": workers, "planned": result.planned, "ran": result.ran,
        "skipped": result.skipped, "errors": result.errors, "wall_s": round(result.wall_s, 3),
        "episodes_per_hour": result.episodes_per_hour, "episodes_in_file": len(rows),
        "sim_seconds_in_file": round(sim_s, 3), "plots": [p.name for p in plotted],
        "fresh_seeds": _fresh_seeds(rows),
        "fresh_stores": _fresh_stores(rows),
        "calibration": [c.as_dict() for c in calibrations],
    }, indent=2) + "\n", encoding="utf-8")


def _pooled_section(pools: Mapping[tuple[str, str, str], pooling.Pool], by_suite: Mapping[str, Sequence[Mapping]],
                    calibrations: Sequence[calibration.Calibration]) -> list[str]:
    """Pooled figures per suite, mode and seed set; the failures; the calibration."""
    lines = ["", "## Per suite and modality, development and fresh seeds (pooled over every receipt; every failure "
             "counted)", ""]
    lines += pooling.pooled_lines([(*k, p) for k, p in pools.items()])
    lines += ["", "Receipts: every account of every episode. Missing: accounts with no scored receipt (still inside at "
              "the end, receipt never issued, or in a crashed episode), each counted wrong and not flagged. Item "
              "figures pool the scored receipts. fresh − dev: the fresh seeds' figure less the development seeds'.",
              "", "## Failures", "",
              "Per (scenario, seed): a simulation's crash, accounts left inside and scenario faults are counted once "
              "for all its stacks (the pooled figures count their receipts once per mode); stack exceptions per mode.",
              ""]
    lines += pooling.failure_lines(by_suite)
    if calibrations:
        lines += ["", "## Calibration of the receipts' confidence", ""]
        lines += calibration.calibration_lines(calibrations, _review_threshold())
    return lines


def _suite_section(suite: str, rows: Sequence[Mapping], figures: Sequence[str],
                   crashes: Mapping[str, int] | None) -> list[str]:
    """A suite's table: a row per scenario, mode and seed set (mean ± sd over seeds), then totals; its errors.
    With `crashes` (receipts to pool), a last column of wrong receipts with every failure counted."""
    both = len({r.get("seed_set", "dev") for r in rows}) > 1  # then each row says which seeds
    modes = _modes_in(rows)
    order = list(dict.fromkeys(r["scenario"] for r in rows))

    def row(label: str, group: Sequence[Mapping]) -> str:
        return _table_row(label, group, figures, None if crashes is None else pooling.pool(group, crashes))

    lines = ["", f"## Suite `{suite}`", "", _table_header(figures, "scenario (mode)", pooled=crashes is not None)]
    groups: dict[tuple, list[Mapping]] = defaultdict(list)
    for r in rows:
        groups[(r["scenario"], r["mode"], r.get("seed_set", "dev"))].append(r)
    for (scenario, mode, seed_set), group in sorted(groups.items(), key=lambda kv: (
            order.index(kv[0][0]), modes.index(kv[0][1]), kv[0][2] != "dev")):
        lines.append(row(f"{Path(scenario).stem} ({mode}{f', {seed_set}' if both else ''})", group))
    for seed_set, set_rows in _by_seed_set(rows).items():
        tag = f", {seed_set}" if both else ""
        if len(modes) > 1:
            lines += [row(f"**all ({mode}{tag})**", [r for r in set_rows if r["mode"] == mode]) for mode in modes]
        lines.append(row(f"**all{f' ({seed_set})' if both else ''}**", set_rows))
    errors = [r for r in rows if r["status"] != "ok"]
    if errors:
        lines += ["", "Errors:", ""] + [f"- {Path(r['scenario']).stem} seed {r['seed']} ({r['mode']}): {r['error']}"
                                        for r in errors]
    return lines


def make_plots(out: Path, rows: Sequence[Mapping]) -> list[Path]:
    """Accuracy per scenario; accuracy against shoppers inside, cameras and sensor noise; real-time factor.

    A run of several suites plots each suite's accuracy on its own (`NAME-SUITE.png`): a factor plotted across
    suites would mix stores and scenarios (the look-alike scenarios' 12 cameras of the market beside the sweep's
    tiny store) into one line. An accuracy-against plot is drawn only where its factor takes two values or more."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r["status"] == "ok" and isinstance(r.get("report"), Mapping)]
    made: list[Path] = []
    accuracy = "receipt_accuracy" if any(_get(r, "receipt_accuracy") is not None for r in ok) else None

    def per_scenario(group: Sequence[Mapping], figure: str, name: str, ylabel: str) -> None:
        means, sds, names = [], [], []
        for scenario, mode in sorted({(r["scenario"], r["mode"]) for r in group}):
            vals = [v for r in group if (r["scenario"], r["mode"]) == (scenario, mode)
                    if (v := _get(r, figure)) is not None]
            if vals:
                means.append(statistics.fmean(vals))
                sds.append(statistics.pstdev(vals) if len(vals) > 1 else 0.0)
                names.append(f"{Path(scenario).stem}\n({mode})")
        if not names:
            return
        fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(names) + 2), 4))
        ax.bar(range(len(names)), means, yerr=sds, capsize=3, color="#4c72b0")
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{ylabel} per scenario (mean ± sd over seeds)")
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        made.append(out / name)

    def against(group: Sequence[Mapping], x_figure: str, name: str, xlabel: str) -> None:
        """One mean line per stack (mode) over the episodes' points: fused against weight-only on one stream."""
        modes = sorted({r["mode"] for r in group})
        pts = [(r["mode"], x, y) for r in group if (x := _get(r, x_figure)) is not None and (y := _get(r, accuracy)) is not None]
        if len({x for _, x, _ in pts}) < 2:
            return
        fig, ax = plt.subplots(figsize=(5, 4))
        palette = ("#dd8452", "#4c72b0", "#55a868", "#c44e52")
        for k, mode in enumerate(modes):
            mine = [(x, y) for m, x, y in pts if m == mode]
            if not mine:
                continue
            colour = palette[k % len(palette)]
            xs, ys = zip(*mine)
            ax.scatter(xs, ys, alpha=0.4, color=colour, s=14)
            by_x: dict = defaultdict(list)
            for x, y in mine:
                by_x[x].append(y)
            mx = sorted(by_x)
            ax.plot(mx, [statistics.fmean(by_x[x]) for x in mx], color=colour, marker="o", label=f"{mode} (mean)")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("receipt accuracy")
        ax.set_ylim(-0.05, 1.05)
        ax.legend()
        ax.set_title(f"receipt accuracy against {xlabel}")
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        made.append(out / name)

    by_suite: dict[str, list[Mapping]] = defaultdict(list)
    for r in ok:
        by_suite[str(r.get("suite", "-"))].append(r)
    several = len(by_suite) > 1
    for suite, group in sorted(by_suite.items()):
        tag = f"-{suite}" if several else ""
        if accuracy:
            per_scenario(group, accuracy, f"accuracy_per_scenario{tag}.png", "receipt accuracy")
            against(group, "shoppers_peak", f"accuracy_vs_shoppers{tag}.png", "shoppers inside at once (peak)")
            against(group, "cameras", f"accuracy_vs_cameras{tag}.png", "ceiling cameras")
            against(group, "load_cell_noise_g", f"accuracy_vs_load_cell_noise{tag}.png", "load-cell noise sd (g)")
            against(group, "depth_noise_m", f"accuracy_vs_depth_noise{tag}.png", "depth noise sd at 1 m (m)")
    per_scenario(ok, "realtime_factor", "realtime_factor.png", "real-time factor (sim s / wall s)")
    return made


class Progress:
    """Episodes done of the bench's total, errors and the last episode, on stderr: a tqdm bar on a terminal;
    elsewhere (a log file, a pipe) the same figures as one line per episode, without carriage returns."""

    def __init__(self, total: int, *, enabled: bool = True, stream=None) -> None:
        self.total, self.done, self.errors = total, 0, 0
        self.enabled = enabled and total > 0
        self.stream = stream or sys.stderr
        tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.bar = tqdm(total=total, desc="bench", unit="episode", file=self.stream, dynamic_ncols=True,
                        disable=not (self.enabled and tty))
        self.lines = self.enabled and not tty
        self.t0 = time.perf_counter()
        if self.lines:
            self._line(f"bench: {total} episodes to run")

    def update(self, row: Mapping) -> None:
        self.done += 1
        self.errors += row["status"] != "ok"
        last = f"{Path(row['scenario']).stem} seed {row['seed']} {row['mode']}: {row['status']}"
        postfix = f"{self.errors} errors, {last} ({row.get('elapsed_s') or 0.0:.1f} s)"  # None: the worker died
        if self.lines:
            self._line(tqdm.format_meter(self.done, self.total, time.perf_counter() - self.t0, prefix="bench",
                                         bar_format=_PROGRESS_LINE, postfix=postfix))
        self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


_PROGRESS_LINE = "{desc} [{n_fmt}/{total_fmt}] {percentage:3.0f}% | elapsed {elapsed} | ETA {remaining}{postfix}"


# --- helpers -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """One scenario of a target: its suite, its development seeds and the modes to run."""

    suite: str
    scenario: str
    dev_seeds: tuple[int, ...]
    modes: tuple[str, ...]
    fresh_store: bool = False  # a scenario on a generated store that is not one of its suite's dev stores


def _entries(targets: Sequence[str], modes: Sequence[str] | None, stores: StorePlan | None = None) -> list[_Entry]:
    out: list[_Entry] = []
    for target in targets:
        path = resolve_target(target)
        data, lines = load_yaml(path)
        if isinstance(data, dict) and "generated" in data:
            out += _generated_entries(path, data, lines, modes, stores or StorePlan.for_bench(SeedChoice(), None))
        elif isinstance(data, dict) and ("scenarios" in data or _misspelt_suite(data)):
            out += _suite_entries(path, data, lines, modes)
        else:  # a scenario file on its own: its own suite, its own seed its development seed
            out.append(_Entry("-", _scenario_key(path), (_scenario_seed(data),), tuple(modes or ("fused",))))
    return out


def _entry_seeds(entry: _Entry, choice: SeedChoice, fresh: Sequence[int]) -> list[int]:
    """The entry's seeds under `choice`: development seeds, then the first fresh ones, then named ones."""
    k = choice.fresh_count(entry.dev_seeds)
    new = [s for s in fresh if s not in entry.dev_seeds][:k]
    assert len(new) == k, f"{k} fresh seeds asked for, {len(new)} in the pool: plan with plan_bench"
    return list(dict.fromkeys([*(entry.dev_seeds if choice.dev else ()), *new, *choice.named]))


_SUITE_KEYS = ("name", "description", "dev_seeds", "seeds", "modes", "scenarios")
_GENERATED_SUITE_KEYS = ("name", "description", "dev_seeds", "seeds", "modes", "generated")


def _misspelt_suite(data: dict) -> bool:
    """A suite whose `scenarios:` is misspelt (`scenario:`): read as a suite, so the error names that key,
    rather than as a scenario file with unknown keys. A scenario names its store; a suite does not."""
    return "store" not in data and bool(difflib.get_close_matches("scenarios", [str(k) for k in data], n=1, cutoff=0.8))


def _unknown_key(key: object, known: Sequence[str]) -> str:
    """'unknown key ...' with the key it most likely meant, or the keys expected there."""
    guess = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    return f"unknown key '{key}'" + (f" (did you mean '{guess[0]}'?)" if guess else f" (expected {', '.join(known)})")


def _generated_entries(path: Path, data: dict, lines, modes: Sequence[str] | None, stores: StorePlan) -> list[_Entry]:
    """A suite over generated stores (bench.generated): each store's scenarios, drawn into the plan's folder."""
    name = str(data.get("name") or path.stem)
    unknown = set(data) - set(_GENERATED_SUITE_KEYS)
    if unknown:
        k = sorted(unknown, key=str)[0]
        raise lines.error((k,), _unknown_key(k, _GENERATED_SUITE_KEYS))
    spec = store_spec(data["generated"], lines, ("generated",))
    seeds = tuple(_dev_seeds(data, lines, (), [0]))
    suite_modes = tuple(modes or _modes(data.get("modes", ["fused"]), lines, ("modes",)))
    out = []
    for store_seed, fresh in stores.seeds(spec):
        for scenario in stores.scenarios(store_seed, spec.per_store):
            out.append(_Entry(name, _scenario_key(scenario), seeds, suite_modes, fresh))
    return out
_ENTRY_KEYS = ("path", "dev_seeds", "seeds", "modes")


def _suite_entries(path: Path, data: dict, lines, modes: Sequence[str] | None) -> list[_Entry]:
    name = str(data.get("name") or path.stem)
    unknown = set(data) - set(_SUITE_KEYS)
    if unknown:
        k = sorted(unknown, key=str)[0]
        raise lines.error((k,), _unknown_key(k, _SUITE_KEYS))
    entries = data["scenarios"]
    if not isinstance(entries, list) or not entries:
        raise lines.error(("scenarios",), "expected a non-empty list of scenario files")
    default_seeds = _dev_seeds(data, lines, (), [0])
    default_modes = _modes(data.get("modes", ["fused"]), lines, ("modes",))
    out = []
    for i, entry in enumerate(entries):
        loc = ("scenarios", i)
        if isinstance(entry, str):
            entry = {"path": entry}
        if not isinstance(entry, dict) or "path" not in entry:
            raise lines.error(loc, "expected a scenario path or {path: ..., dev_seeds: ..., modes: ...}")
        extra = set(entry) - set(_ENTRY_KEYS)
        if extra:
            k = sorted(extra, key=str)[0]
            raise lines.error(loc + (k,), _unknown_key(k, _ENTRY_KEYS))
        try:
            scenario = (path.parent / str(entry["path"])).resolve()
            found = scenario.is_file()
        except (OSError, ValueError):  # a NUL byte, a name longer than the file system allows
            found = False
        if not found:
            raise lines.error(loc + ("path",), f"no such scenario file: {str(entry['path'])[:80]}")
        entry_modes = modes or (_modes(entry["modes"], lines, loc + ("modes",)) if "modes" in entry else default_modes)
        out.append(_Entry(name, _scenario_key(scenario), tuple(_dev_seeds(entry, lines, loc, default_seeds)),
                          tuple(entry_modes)))
    return out


def _dev_seeds(data: Mapping, lines, loc: tuple, default: Sequence[int]) -> list[int]:
    """`dev_seeds` (or its older name `seeds`) of a suite or an entry; `default` without either."""
    if "dev_seeds" in data and "seeds" in data:
        raise lines.error(loc + ("seeds",), "give dev_seeds or seeds (its older name), not both")
    key = "dev_seeds" if "dev_seeds" in data else "seeds"
    if key not in data:
        return list(default)
    return list(dict.fromkeys(parse_seeds(data[key], lines.where(loc + (key,)))))


def _modes(value: object, lines, loc: tuple) -> list[str]:
    vals = [value] if isinstance(value, str) else value
    if not isinstance(vals, list) or not vals or any(v not in MODES for v in vals):
        raise lines.error(loc, f"modes must be a list of {', '.join(MODES)}")
    return list(vals)


def _scenario_key(path: Path) -> str:
    p = path.resolve()
    try:
        return p.relative_to(ROOT).as_posix()
    except ValueError:
        return p.as_posix()


def _scenario_seed(data: object) -> int:
    seed = data.get("seed", 0) if isinstance(data, dict) else 0
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else 0


def _row_key(row: Mapping) -> tuple[str, int, str]:
    return (row["scenario"], row["seed"], row["mode"])


def _episode_dir(out: Path, job: EpisodeJob) -> str:
    """`episodes/SCENARIO/seed-N/`; the episode writes one `MODE/report.json` under it per mode."""
    return str(out / "episodes" / Path(job.scenario).stem / f"seed-{job.seed}")


def _error_rows(job: EpisodeJob, error: str) -> list[dict]:
    return [{"suite": job.suite, "scenario": job.scenario, "seed": job.seed, "seed_set": job.seed_set, "mode": m,
             "status": "error", "error": error, "report": None, "elapsed_s": None, "worker": None}
            for m in job.modes]


def _takes_modes(fn: Callable) -> bool:
    try:
        return "modes" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _row_report(report: Mapping) -> dict:
    """The episode's figures for the results row: everything but the per-receipt list (it stays in report.json;
    the row keeps it as compact `receipt_marks`, `_row_marks`)."""
    return {k: v for k, v in report.items() if k != "receipts"}


def _row_marks(report: Mapping) -> dict:
    """`{"receipt_marks": [...]}` for the row of a report with receipts (confidence, right, flagged, issued per
    account: what pooling and calibration need), else nothing."""
    receipts = report.get("receipts") if isinstance(report, Mapping) else None
    return {"receipt_marks": pooling.receipt_marks(receipts)} if isinstance(receipts, list) else {}


def _import_episode_fn(dotted: str) -> Callable:
    module, _, name = dotted.partition(":")
    if not module or not name:
        raise InputError(Where(Path("--episode-fn")), f"expected module:function, not {dotted!r}")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise InputError(Where(Path("--episode-fn")), f"cannot import {dotted}: {exc}") from None
    return fn


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _json_default(value: object) -> object:
    if hasattr(value, "item"):
        return value.item()  # numpy scalars
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def _get(row: Mapping, figure: str) -> float | None:
    value: object = row.get("report") or {}
    for part in figure.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _figures_present(rows: Iterable[Mapping]) -> list[str]:
    rows = [r for r in rows if r["status"] == "ok"]
    known = [f for f in SUMMARY_FIGURES if any(_get(r, f) is not None for r in rows)]
    if len(known) > 1 or (known and known != ["realtime_factor"]):
        return known
    # An episode function of another kind (a probe): summarise whatever scalar figures it returns.
    names = {k for r in rows for k, v in (r.get("report") or {}).items()
             if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "seed"}
    return sorted(names)


def _table_header(figures: Sequence[str], first: str, *, pooled: bool = False) -> str:
    last = " wrong receipts (all counted) |" if pooled else ""
    return "\n".join([f"| {first} | n | errors | " + " | ".join(figures) + f" |{last}",
                      "|---|---|---|" + "---|" * (len(figures) + pooled)])


def _table_row(label: str, rows: Sequence[Mapping], figures: Sequence[str], pool: pooling.Pool | None = None) -> str:
    ok = [r for r in rows if r["status"] == "ok"]
    cells = []
    for f in figures:
        vals = [v for r in ok if (v := _get(r, f)) is not None and not _vacuous(r, f)]
        if not vals:
            cells.append("n/a")
        elif len(vals) == 1:
            cells.append(_fmt(vals[0]))
        else:
            cells.append(f"{_fmt(statistics.fmean(vals))} ± {_fmt(statistics.stdev(vals))} "
                         f"[{_fmt(min(vals))}–{_fmt(max(vals))}]")
    if pool is not None:
        wrong = pool.receipts - pool.right
        cells.append(f"{wrong}/{pool.receipts}" + (f" ({pool.missing} missing)" if pool.missing else ""))
    return f"| {label} | {len(ok)} | {len(rows) - len(ok)} | " + " | ".join(cells) + " |"


RECEIPT_FIGURES = ("receipt_accuracy", "item_precision", "item_recall", "item_f1", "billing_error", "review_rate")


def _vacuous(row: Mapping, figure: str) -> bool:
    """A receipt figure of an episode with no account (precision and recall are 1.0 there by convention):
    it adds nothing to a mean."""
    return figure in RECEIPT_FIGURES and (row.get("report") or {}).get("accounts") == 0


def _modes_in(rows: Iterable[Mapping]) -> list[str]:
    present = {r["mode"] for r in rows}
    return [m for m in MODES if m in present] + sorted(present - set(MODES))


def _by_seed_set(rows: Iterable[Mapping]) -> dict[str, list[Mapping]]:
    """Rows per seed set, development seeds first."""
    out: dict[str, list[Mapping]] = {}
    for r in sorted(rows, key=lambda r: r.get("seed_set", "dev") != "dev"):
        out.setdefault(r.get("seed_set", "dev"), []).append(r)
    return out


def _calibrations(rows: Sequence[Mapping], by_suite: Mapping[str, Sequence[Mapping]]) -> list:
    """Per mode, all suites together and then each suite: the receipt marks' reliability and threshold."""
    out = []
    for mode in _modes_in(rows):
        for suite, suite_rows in [("all suites", rows), *by_suite.items()]:
            marks = {k: [m for r in group for m in pooling.marks_of(r) or ()]
                     for k, group in _by_seed_set(r for r in suite_rows if r["mode"] == mode).items()}
            if any(marks.values()):
                out.append(calibration.calibrate(mode, suite, marks))
    return out


def _review_threshold() -> float:
    from checkout.receipts import REVIEW_THRESHOLD

    return REVIEW_THRESHOLD


def _with_marks(out: Path, rows: Sequence[Mapping]) -> list[Mapping]:
    """Rows, each scored row without receipt marks (written before rows carried them) given the marks of its
    episode's `report.json` in this folder where that file is there and is the same episode."""
    fixed = []
    for r in rows:
        rep = r.get("report")
        if r["status"] == "ok" and isinstance(rep, Mapping) and "receipt_counts" in rep and "receipt_marks" not in r:
            path = out / "episodes" / Path(r["scenario"]).stem / f"seed-{r['seed']}" / r["mode"] / "report.json"
            try:
                full = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
            except (OSError, ValueError):
                full = None
            if isinstance(full, dict) and full.get("seed") == r["seed"] and full.get("mode") == r["mode"]:
                r = {**r, **_row_marks(full)}
        fixed.append(r)
    return fixed


def _scenario_path(scenario: str) -> Path:
    return Path(scenario) if Path(scenario).is_absolute() else ROOT / scenario


def _seeds_line(rows: Sequence[Mapping]) -> str:
    """Which seeds the figures come from, and how to rerun the fresh ones."""
    dev: dict[str, set[int]] = defaultdict(set)
    for r in rows:
        if r.get("seed_set", "dev") == "dev":
            dev[r["suite"]].add(r["seed"])
    fresh = _fresh_seeds(rows)
    stores = _fresh_stores(rows)
    text = "Seeds: development (each suite's `dev_seeds`): " + ("; ".join(
        f"{'scenario files' if suite == '-' else suite} {_seed_ranges(sorted(seeds))}"
        for suite, seeds in dev.items()) or "none") + ". "
    if fresh:
        shown = ", ".join(str(s) for s in fresh[:20]) + (f", ... ({len(fresh)} in all)" if len(fresh) > 20 else "")
        text += (f"Fresh (any other seed; those the bench drew from the operating system's entropy are kept in "
                 f"`fresh_seeds.json`, and `--seeds {','.join(str(s) for s in fresh)}` reruns these): {shown}.")
    else:
        text += "No fresh seeds in this bench (`--seeds dev+fresh` adds them)."
    if stores:
        text += (f" Fresh generated stores (every row on them is a fresh row; kept in `fresh_stores.json`, "
                 f"`--stores {','.join(str(s) for s in stores)}` reruns them): {', '.join(str(s) for s in stores)}.")
    return text


def _fresh_seeds(rows: Sequence[Mapping]) -> list[int]:
    """The fresh episode seeds of the rows (a row on a fresh generated store is fresh for its store, not its seed)."""
    on_stores = scenario_store_seeds([r["scenario"] for r in rows])
    return list(dict.fromkeys(r["seed"] for r in rows if r.get("seed_set") == "fresh" and r["scenario"] not in on_stores))


def _fresh_stores(rows: Sequence[Mapping]) -> list[int]:
    """The generated stores of the rows' fresh rows (bench.generated), in order of appearance."""
    on_stores = scenario_store_seeds([r["scenario"] for r in rows])
    return list(dict.fromkeys(on_stores[r["scenario"]] for r in rows
                              if r.get("seed_set") == "fresh" and r["scenario"] in on_stores))


def _seed_ranges(seeds: Sequence[int]) -> str:
    parts, start = [], None
    for i, s in enumerate(seeds):
        start = s if start is None else start
        if i + 1 == len(seeds) or seeds[i + 1] != s + 1:
            parts.append(f"{start}" if start == s else f"{start}–{s}")
            start = None
    return ", ".join(parts)


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) >= 1000 or (x and abs(x) < 0.001) else f"{x:.3f}"
