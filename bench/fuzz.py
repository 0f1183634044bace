"""Fuzz the inputs: mutated stores, scenarios, command lines and recordings must end clean.

    python -m bench.fuzz N [--seed S] [--kinds store,scenario,suite,cli,recording] [--json FILE]

Every case is an input made by mutating a shipped file (or a command line, or a
small recording made at the start) with a seeded rng, run through the entry
point a user would hit. Each ends in one of:

- `clean`: a one-line error naming the file (with line and key where the file
  has them) — an `InputError`, or exit status 2 with one line on stderr;
- `accepted`: the input is valid and was taken;
- `traceback`: any other exception (a defect, whatever the input);
- `slow`: finished, but took more than `SLOW_S` seconds of CPU;
- `hang`: no answer within `HANG_S` seconds of wall time (the worker is killed);
- `crash`: the worker process died (a segfault, an abort, an out-of-memory kill).

Cases run in a worker process, one case at a time, so a hang or a crash of the
interpreter is seen and counted, and the next case goes on in a fresh worker.
What each kind exercises:

- `store`: `sim.layout.load_store`, then for an accepted store the derived
  geometry every run computes first (bins, capacities, item positions, camera
  mounts and calibrations, the walkable floor) — pure functions, no physics;
- `scenario`: `agents.scenario.validate_file` (the scenario and its store);
- `suite`: `bench.batch.plan_episodes` over a mutated suite file (what `bench` plans before it runs);
- `cli`: `run_sim.main(argv)` with the long runners (episode, recording,
  replay, bench, window) replaced by stand-ins that check their input files
  and make their output folder or file the way the real ones start (a store run: its store is loaded, not
  built in physics): the command line's own checks are
  fuzzed, not a minute of simulation per case;
- `recording`: `run_sim.main(["replay", LOG])` (with `--salvage` for a third of
  the cases) over a damaged copy of a small recording (the tiny store, 0.5 s):
  the real replay, stack and scoring, no stand-ins.

Case `i` of a run with seed `S` is the same everywhere (`random.Random(f"{S}:{kind}:{i}")`),
so a failure is reproduced with `--only KIND:I`.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import math
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("store", "scenario", "suite", "cli", "recording")
OUTCOMES = ("clean", "accepted", "traceback", "slow", "hang", "crash")
SLOW_S = 5.0  # CPU seconds: a case slower than this is counted apart
HANG_S = 60.0  # wall seconds before a case counts as a hang and its worker is killed
STORES = sorted((ROOT / "assets" / "stores").glob("*.yaml"))
SCENARIOS = sorted((ROOT / "assets" / "scenarios").rglob("*.yaml"))
SUITES = sorted((ROOT / "assets" / "suites").rglob("*.yaml"))


@dataclass(frozen=True)
class CaseResult:
    kind: str
    index: int
    outcome: str
    what: str  # the mutations applied
    detail: str  # the error line, or the traceback's last line
    cpu_s: float


# -- mutating YAML data -------------------------------------------------------

BAD_SCALARS: tuple[Any, ...] = (
    float("nan"), float("inf"), float("-inf"), -1, 0, 1e12, -1e12, 1e-12, 2**64, True, False, None, "", "3",
    "x" * 5000, [], {}, [[[]]], "#zz", -0.0,
)


def _paths(data: Any, loc: tuple = ()) -> list[tuple]:
    """Every place in a parsed document, parents before children."""
    out = [loc]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, loc + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, loc + (i,))
    return out


def _get(data: Any, loc: tuple) -> Any:
    for k in loc:
        data = data[k]
    return data


def _set(data: Any, loc: tuple, value: Any) -> Any:
    if not loc:
        return value
    _get(data, loc[:-1])[loc[-1]] = value
    return data


def mutate_data(data: Any, rnd: random.Random) -> tuple[Any, list[str]]:
    """One to three structural mutations of a parsed document; returns it and what was done."""
    done: list[str] = []
    want = rnd.choice((1, 1, 1, 2, 3))
    for _ in range(50):  # an op that does not fit the place it drew (a key added to a number) draws again
        if len(done) >= want:
            break
        paths = _paths(data)
        loc = rnd.choice(paths[1:] or paths)
        value = _get(data, loc)
        op = rnd.choice(("bad", "bad", "perturb", "perturb", "perturb", "delete", "unknown", "dup_item", "empty", "swap"))
        name = ".".join(map(str, loc))
        if op == "perturb" and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            new = rnd.choice((value * rnd.choice((-1, 0, 0.5, 2, 10, 100, 1000)), value + rnd.uniform(-5, 5), round(value)))
            if isinstance(value, int) and rnd.random() < 0.5:
                new = int(new) if math.isfinite(new) else new
            data = _set(data, loc, new)
            done.append(f"{name}: {value!r} -> {new!r}")
        elif op in ("bad", "perturb"):
            new = copy.deepcopy(rnd.choice(BAD_SCALARS))  # never one object in two places (a cycle)
            data = _set(data, loc, new)
            done.append(f"{name} = {str(new)[:20]!r}")
        elif op == "delete" and loc:
            parent = _get(data, loc[:-1])
            del parent[loc[-1]]
            done.append(f"{name} deleted")
        elif op == "unknown" and isinstance(value, dict):
            value[rnd.choice(("extra", "colour", "id", "at", "sku"))] = copy.deepcopy(rnd.choice(BAD_SCALARS))
            done.append(f"{name}: key added")
        elif op == "dup_item" and isinstance(value, list) and value:
            value.append(json.loads(json.dumps(rnd.choice(value))))  # a duplicate id, camera, gate, step...
            done.append(f"{name}: an item repeated")
        elif op == "empty" and isinstance(value, (list, dict)):
            data = _set(data, loc, type(value)())
            done.append(f"{name} emptied")
        elif op == "swap" and isinstance(value, (list, dict)):
            data = _set(data, loc, list(value.values()) if isinstance(value, dict) else {str(i): v for i, v in enumerate(value)})
            done.append(f"{name}: list/mapping swapped")
    return data, done


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def mutate_text(text: str, rnd: random.Random) -> tuple[str, str]:
    """A textual mutation (what a structural one cannot make): returns the text and what was done."""
    lines = text.splitlines(keepends=True)
    op = rnd.choice(("dup_key", "alias_bomb", "self_alias", "deep", "truncate", "flip", "tab", "bad_utf8", "anchor_alias"))
    if op == "dup_key" and lines:
        keyed = [i for i, ln in enumerate(lines) if ":" in ln and not ln.lstrip().startswith(("-", "#"))]
        if keyed:
            i = rnd.choice(keyed)
            return "".join(lines[: i + 1] + [lines[i]] + lines[i + 1:]), f"line {i + 1} written twice"
    if op == "alias_bomb":
        return BOMB + text, "billion-laughs aliases prepended"
    if op == "self_alias":
        return "loop: &loop\n  again: *loop\n" + text, "a self-referencing alias prepended"
    if op == "deep":
        n = rnd.choice((50, 200, 1000, 5000))
        return text + "deep: " + "[" * n + "]" * n + "\n", f"nesting {n} deep appended"
    if op == "anchor_alias" and lines:
        return text.replace(":", ": &x", 1).replace("\n", "\nzz: *x\n", 1), "an anchor and its alias"
    if op == "truncate" and text:
        cut = rnd.randrange(len(text))
        return text[:cut], f"cut at character {cut}"
    if op == "tab" and lines:
        i = rnd.randrange(len(lines))
        return "".join(lines[:i] + ["\t" + lines[i]] + lines[i + 1:]), f"tab on line {i + 1}"
    if op == "bad_utf8":
        return text + "\udcff", "invalid UTF-8 byte"
    pos = rnd.randrange(max(1, len(text)))
    ch = rnd.choice(":-[]{}&*!|>'\"%@`,#?\x00")
    return text[:pos] + ch + text[pos + 1:], f"{ch!r} at character {pos}"


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=200)


def make_yaml_case(base: Path, rnd: random.Random, out: Path, *, fix_store: bool = False) -> str:
    """Write a mutated copy of `base` to `out`; return what was done.

    Paths in it stay findable from `out`'s folder: a scenario's `store` (`fix_store`), a suite's scenarios.
    """
    text = base.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if fix_store and isinstance(data, dict) and "store" in data:
        from agents.scenario import Scenario

        data["store"] = str(Scenario(data.get("name", "x"), data["store"], base_dir=base.parent).store_path)
    if isinstance(data, dict) and isinstance(data.get("scenarios"), list):  # a suite
        for i, entry in enumerate(data["scenarios"]):
            if isinstance(entry, str):
                data["scenarios"][i] = str((base.parent / entry).resolve())
            elif isinstance(entry, dict) and "path" in entry:
                entry["path"] = str((base.parent / entry["path"]).resolve())
    what = [base.name]
    structural = rnd.random() < 0.8
    if structural:
        data, done = mutate_data(data, rnd)
        what += done
    text = _dump(data)
    if not structural or rnd.random() < 0.15:
        text, done_t = mutate_text(text, rnd)
        what.append(done_t)
    out.write_bytes(text.encode("utf-8", "surrogateescape"))
    return "; ".join(what)


# -- running one case ---------------------------------------------------------

def _classify_error_line(line: str) -> str:
    return "clean" if line and "\n" not in line.strip() and "Traceback" not in line else "traceback"


def _run_store(path: Path) -> str:
    from sim.cameras import calibrate, camera_mounts
    from sim.layout import bin_capacity, item_positions, load_store

    layout = load_store(path)
    for bin_id, entry in layout.spec.planogram.items():
        b, item = layout.bins[bin_id], layout.catalog[entry.sku]
        bin_capacity(b, item)
        pos = item_positions(b, item, entry.count)
        assert pos.shape == (entry.count, 3) and (pos.size == 0 or math.isfinite(float(pos.sum()))), "item positions"
    for m in camera_mounts(layout):
        c = calibrate(m, layout.spec.sensors.cameras.resolution, layout.spec.sensors.cameras.fps)
        assert all(math.isfinite(v) for v in c.K + c.R + c.t), f"camera {m.id}: calibration not finite"
    from agents.floor import walkable_polygon

    walkable_polygon(layout)
    return "accepted"


def _run_scenario(path: Path) -> str:
    from agents.scenario import validate_file

    validate_file(path)
    return "accepted"


class _WouldRun(Exception):
    """Raised by a stand-in once its input passed the checks the real runner starts with."""


class _StandIns:
    """The long runners replaced for the cli fuzz: each checks its input the way the real one starts.

    Outputs are made only inside `sandbox` (the fuzz's temporary folder, also the working folder then):
    a stand-in never writes where a user's files are.
    """

    def __init__(self, sandbox: Path) -> None:
        self.sandbox = sandbox.resolve()

    def __enter__(self) -> "_StandIns":
        sandbox = self.sandbox
        import bench.batch
        import scoring.episode
        import sim.simulation
        import scoring.replay
        import viewer.app

        def check(target: str | Path) -> None:
            from agents.scenario import validate_file
            from sim.layout import load_store
            from sim.yamlsrc import load_yaml

            data, _ = load_yaml(target)
            if isinstance(data, dict) and "gondolas" in data:
                load_store(target)
            else:
                validate_file(target)

        def inside(out: str | Path) -> bool:
            return Path(out).resolve().is_relative_to(sandbox)

        def make_dir(out: str | Path | None) -> None:  # what the real runners do first with --out
            if out is not None and inside(out):
                Path(out).mkdir(parents=True, exist_ok=True)

        def make_file(out: str | Path | None) -> None:
            if out is not None and inside(out):
                Path(out).parent.mkdir(parents=True, exist_ok=True)
                Path(out).write_bytes(b"")

        def episode(target, seed, *, mode="fused", out_dir=None, record=None, **k) -> None:
            check(target)
            make_dir(out_dir)
            make_file(record)
            raise _WouldRun()

        def record(target, seed, out, seconds=None, **k) -> None:
            check(target)
            make_file(out)
            raise _WouldRun()

        def replay(log: str | Path, out_dir=None, *a, **k) -> None:
            from sim.recording import LogReader

            reader = LogReader(log)
            for _ in zip(range(3), reader.messages()):
                pass
            make_dir(out_dir)
            raise _WouldRun()

        def no_episodes(specs, out_dir, *a, **k) -> None:
            make_dir(out_dir)
            raise _WouldRun()

        def window(target, *a, screenshot=None, **k) -> None:
            check(target)
            make_file(screenshot)
            raise _WouldRun()

        def no_world(*a, **k) -> None:
            raise _WouldRun()

        stand_ins = [(scoring.episode, "run_episode", episode), (scoring.replay, "record_episode", record),
                     (scoring.replay, "replay_log", replay), (bench.batch, "run_bench", no_episodes), (viewer.app, "run_gui", window),
                     (sim.simulation, "Simulation", no_world)]
        self._saved = [(mod, name, getattr(mod, name), new) for mod, name, new in stand_ins]
        for mod, name, _, new in self._saved:
            setattr(mod, name, new)
        return self

    def __exit__(self, *exc: object) -> None:
        for mod, name, old, _ in self._saved:
            setattr(mod, name, old)


def _cli_argv(rnd: random.Random, tmp: Path, log: Path | None) -> list[str]:
    """A command line: a subcommand with good and bad values mixed."""
    files = [str(rnd.choice(SCENARIOS)), str(rnd.choice(STORES)), str(tmp), str(tmp / "missing.yaml"), "", "-",
             str(ROOT / "README.md"), "\x00", "/dev/null"]
    numbers = ["0", "1", "-1", "nan", "inf", "-inf", "1e400", "99999999999999999999999", "0.5", "abc", "", "3:1", "1,2", " 2",
               "0:10000000000000", "0:2"]
    sub = rnd.choice(("run", "record", "replay", "bench", "validate", "gui", "nonsense", ""))
    argv = [sub] if sub else []
    options = {
        "run": ["--seed", "--seconds", "--out", "--record", "--mode"],
        "record": ["--seed", "--seconds", "--out"],
        "replay": ["--out", "--mode"],
        "bench": ["--seeds", "--workers", "--backend", "--mode", "--out"],
        "gui": ["--seed", "--frames", "--size", "--speed", "--max-fps", "--camera", "--screenshot"],
    }.get(sub, [])
    if sub in ("run", "record", "gui", "validate", "bench") or (sub and rnd.random() < 0.5):
        argv.append(rnd.choice(files))
    if sub == "replay":
        argv.append(str(log) if log is not None and rnd.random() < 0.5 else rnd.choice(files))
    for _ in range(rnd.randrange(4)):
        if not options:
            break
        opt = rnd.choice(options)
        if opt in ("--out", "--record", "--screenshot"):  # never a user's file: outputs stay in the fuzz's folder
            value = rnd.choice([str(tmp / "out.mcap"), str(tmp / "new" / "deeper"), str(tmp), str(ROOT / "README.md" / "sub"),
                                str(tmp / "missing.yaml" / "x"), "", "-", "\x00", "out", "0:2"])
        else:
            value = rnd.choice(numbers + files + ["fused", "weight", "ray", "local", "640x480", "1x1"])
        argv += [opt, value]
    if sub == "record" and "--out" not in argv:
        argv += ["--out", str(tmp / "rec.mcap")]
    if sub == "bench":  # never start episodes: the stand-in bench stops after planning
        argv += ["--out", str(tmp / "bench")]
    return argv


def _run_cli(argv: list[str], cwd: Path, *, stand_ins: bool = True) -> tuple[str, str]:
    """`run_sim.main(argv)` run from `cwd` (relative outputs land there): (outcome, the error line)."""
    import run_sim

    err = io.StringIO()
    with _StandIns(cwd) if stand_ins else contextlib.nullcontext(), contextlib.chdir(cwd), \
            contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = run_sim.main(argv)
        except _WouldRun:
            rc = 0
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 2
    text = err.getvalue().strip()
    lines = [ln for ln in text.splitlines() if "pybullet build time" not in ln]
    if rc == 0:
        return "accepted", ""
    if rc == 2 and len(lines) == 1:
        return "clean", lines[0]
    return "traceback", f"exit {rc}: {' | '.join(lines[-3:])}"


def damage_log(base: Path, rnd: random.Random, out: Path) -> str:
    """A damaged copy of a recording: bytes flipped, zeroed, cut, or garbage appended."""
    data = bytearray(base.read_bytes())
    op = rnd.choice(("flip", "flip", "zero", "truncate", "append", "opcode", "empty", "header"))
    n = len(data)
    if op == "flip":
        k = rnd.choice((1, 1, 4, 64))
        for _ in range(k):
            i = rnd.randrange(n)
            data[i] ^= 1 << rnd.randrange(8)
        what = f"{k} bit(s) flipped"
    elif op == "zero":
        i = rnd.randrange(n)
        span = rnd.choice((8, 256, 65536))
        data[i:i + span] = bytes(min(span, n - i))
        what = f"{span} bytes zeroed at {i}"
    elif op == "truncate":
        cut = rnd.randrange(n)
        del data[cut:]
        what = f"cut at byte {cut}"
    elif op == "append":
        data += bytes(rnd.randrange(256) for _ in range(rnd.choice((1, 100, 5000))))
        what = "garbage appended"
    elif op == "opcode":
        from sim.recording import record_spans

        i = rnd.choice(record_spans(base))[0]
        data[i] = rnd.choice((0x00, 0x7F, 0xFF, rnd.randrange(256)))
        what = f"record opcode at byte {i} damaged"
    elif op == "empty":
        data = bytearray(b"\x89MCAP0\r\n")[: rnd.randrange(9)]
        what = f"{len(data)} bytes of magic only"
    else:
        data[: 8] = bytes(rnd.randrange(256) for _ in range(8))
        what = "magic damaged"
    out.write_bytes(bytes(data))
    return what


def run_case(kind: str, index: int, seed: int, tmp: Path, log: Path | None = None) -> CaseResult:
    """Make case `index` of `kind` and run it in this process (`fuzz` runs it in a worker)."""
    from sim.errors import InputError

    rnd = random.Random(f"{seed}:{kind}:{index}")
    t0 = time.process_time()
    what = ""
    try:
        if kind == "store":
            path = tmp / f"store-{index}.yaml"
            what = make_yaml_case(rnd.choice(STORES), rnd, path, fix_store=False)
            outcome, detail = _run_store(path), ""
        elif kind == "scenario":
            path = tmp / f"scenario-{index}.yaml"
            what = make_yaml_case(rnd.choice(SCENARIOS), rnd, path, fix_store=True)
            outcome, detail = _run_scenario(path), ""
        elif kind == "suite":
            from bench.batch import plan_episodes

            path = tmp / f"suite-{index}.yaml"
            what = make_yaml_case(rnd.choice(SUITES), rnd, path)
            plan_episodes([str(path)])
            outcome, detail = "accepted", ""
        elif kind == "cli":
            argv = _cli_argv(rnd, tmp, log)
            what = " ".join(repr(a) if (not a or " " in a) else a for a in argv)
            outcome, detail = _run_cli(argv, tmp)
        elif kind == "recording":
            assert log is not None, "the recording fuzz needs a base recording"
            path = tmp / f"log-{index}.mcap"
            what = damage_log(log, rnd, path)
            salvage = ["--salvage"] if rnd.random() < 0.3 else []
            what += " (replay --salvage)" if salvage else ""
            outcome, detail = _run_cli(["replay", str(path), *salvage], tmp, stand_ins=False)
            path.unlink(missing_ok=True)
        else:
            raise ValueError(f"unknown fuzz kind {kind!r}")
    except InputError as exc:
        outcome, detail = _classify_error_line(str(exc)), str(exc)
    except Exception as exc:  # a traceback, whatever the input: counted, with its last frame
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        outcome = "traceback"
        detail = f"{exc.__class__.__name__}: {str(exc)[:200]} at {Path(tb.filename).name}:{tb.lineno}"
    cpu = time.process_time() - t0
    if outcome in ("clean", "accepted") and cpu > SLOW_S:
        outcome = "slow"
    return CaseResult(kind, index, outcome, what[:300], detail[:400], round(cpu, 3))


# -- the worker pool ----------------------------------------------------------

def _worker(conn, parent_pid: int, seed: int, tmp: str, log: str | None) -> None:
    from bench.batch import die_with_parent

    die_with_parent(parent_pid)  # a fuzz run killed outright takes its worker with it, even mid-case
    try:
        while True:
            job = conn.recv()
            if job is None:
                return
            kind, index = job
            conn.send(asdict(run_case(kind, index, seed, Path(tmp), Path(log) if log else None)))
    except (EOFError, BrokenPipeError):  # the fuzz run is gone: nobody to answer
        return


class _Worker:
    def __init__(self, ctx, seed: int, tmp: Path, log: Path | None) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, os.getpid(), seed, str(tmp), str(log) if log else None),
                                daemon=True)
        self.proc.start()
        child.close()

    def run(self, kind: str, index: int) -> dict | None:
        """The case's result, or None when the worker hung (then killed) or died."""
        self.conn.send((kind, index))
        if self.conn.poll(HANG_S):
            try:
                return self.conn.recv()
            except EOFError:
                return None
        return None

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)


def make_base_log(out: Path) -> Path:
    """A small real recording to damage: the tiny store alone, 0.5 s, its cameras and load cells."""
    from scoring.replay import record_episode

    with contextlib.redirect_stdout(io.StringIO()):
        record_episode(ROOT / "assets" / "stores" / "tiny_store.yaml", 0, out, 0.5)
    return out


def fuzz(n: int, *, seed: int = 0, kinds: tuple[str, ...] = KINDS, progress: Callable[[CaseResult], None] | None = None,
         only: list[tuple[str, int]] | None = None) -> list[CaseResult]:
    """Run `n` cases spread evenly over `kinds` (or exactly the `only` cases), each in a worker process."""
    jobs = only if only is not None else [(kinds[i % len(kinds)], i // len(kinds)) for i in range(n)]
    ctx = mp.get_context("spawn")
    results: list[CaseResult] = []
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp_s:
        tmp = Path(tmp_s)
        log = make_base_log(tmp / "base.mcap") if any(k == "recording" for k, _ in jobs) else None
        worker = _Worker(ctx, seed, tmp, log)
        try:
            for kind, index in jobs:
                got = worker.run(kind, index)
                if got is None:
                    alive = worker.proc.is_alive()
                    worker.stop()
                    outcome = "hang" if alive else "crash"
                    detail = f"no answer in {HANG_S:.0f} s" if alive else f"worker died (exit {worker.proc.exitcode})"
                    got = asdict(CaseResult(kind, index, outcome, "", detail, float("nan")))
                    worker = _Worker(ctx, seed, tmp, log)
                result = CaseResult(**got)
                results.append(result)
                if progress:
                    progress(result)
        finally:
            if worker.proc.is_alive():
                worker.conn.send(None)  # let it leave on its own; `stop` kills it if it does not
                worker.proc.join(5)
            worker.stop()
    return results


def counts(results: list[CaseResult]) -> dict[str, dict[str, int]]:
    """Outcome counts per kind, and over all kinds under 'all'."""
    out: dict[str, dict[str, int]] = {}
    for r in results:
        for key in (r.kind, "all"):
            row = out.setdefault(key, {o: 0 for o in OUTCOMES} | {"tried": 0})
            row["tried"] += 1
            row[r.outcome] += 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("n", type=int, help="cases, spread evenly over the kinds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    parser.add_argument("--only", default=None, help="KIND:I[,KIND:I...]: rerun exactly these cases")
    parser.add_argument("--json", default=None, help="write every case's result there")
    args = parser.parse_args(argv)
    kinds = tuple(k for k in args.kinds.split(",") if k)
    if not kinds or any(k not in KINDS for k in kinds) or args.n < 0:
        parser.error(f"--kinds must name some of {', '.join(KINDS)}; N must be >= 0")
    only = [(k, int(i)) for k, i in (c.split(":") for c in args.only.split(","))] if args.only else None

    def show(r: CaseResult) -> None:
        if r.outcome not in ("clean", "accepted"):
            print(f"  {r.outcome:9} {r.kind}:{r.index} ({r.cpu_s:.1f} s) {r.what} -> {r.detail}", file=sys.stderr)

    t0 = time.perf_counter()
    results = fuzz(args.n, seed=args.seed, kinds=kinds, progress=show, only=only)
    table = counts(results)
    print(f"fuzz: {len(results)} cases, seed {args.seed}, {time.perf_counter() - t0:.0f} s wall")
    print(f"{'kind':10} {'tried':>6} {'clean errors':>13} {'accepted':>9} {'tracebacks':>11} {'over 5 s':>9} {'hangs':>6} {'crashes':>8}")
    for kind in [*kinds, "all"]:
        if kind in table:
            c = table[kind]
            print(f"{kind:10} {c['tried']:6} {c['clean']:13} {c['accepted']:9} {c['traceback']:11} {c['slow']:9} {c['hang']:6} {c['crash']:8}")
    if args.json:
        Path(args.json).write_text(json.dumps({"seed": args.seed, "counts": table, "cases": [asdict(r) for r in results]}, indent=1))
    bad = sum(table.get("all", {}).get(o, 0) for o in ("traceback", "slow", "hang", "crash"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
