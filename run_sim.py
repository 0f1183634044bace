"""Store twin command line (DESIGN.md section 10). Thin: parse, dispatch, turn input errors into one line.

The commands and their options are listed in README.md, "Command line"
(tests/test_readme_commands.py checks that list against `_build_parser`). The argument types and the
`bench` command live in `bench.arguments` and `bench.command`, which `python -m bench` runs too: nothing
in the project's packages imports this file (an import-linter contract).

A bad file or argument ends with one line on stderr and exit status 2 (README, "Bad input").
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from bench import arguments
from bench import command as bench_command
from bench import whatif

if TYPE_CHECKING:
    from scoring.episode import EpisodeProgress

ROOT = Path(__file__).resolve().parent
DEFAULT_STORE = ROOT / "assets" / "stores" / "corner_store.yaml"
DEFAULT_SCENARIO = ROOT / "assets" / "scenarios" / "market-visit.yaml"  # four shoppers, a hand-over, a put-back
DEFAULT_DAY = ROOT / "assets" / "days" / "convenience.yaml"  # a convenience store's arrivals, hour by hour


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["run"])
    return arguments.run_for_people(args.func, args)


def _build_parser() -> argparse.ArgumentParser:
    parser = arguments.Parser(prog="run_sim.py", description="Store twin: a physics digital twin of a checkout-free store.")
    sub = parser.add_subparsers(dest="command", parser_class=arguments.Parser)

    run = sub.add_parser("run", help="run a scenario headless and print its report (a store file: load cells only)")
    run.add_argument("store", nargs="?", type=arguments.path, default=None, metavar="SCENARIO|STORE",
                     help="a scenario file (default: the default scenario) or a store file")
    run.add_argument("--seed", type=arguments.seed, default=None, help="overrides the scenario's seed (store runs: default 0)")
    run.add_argument("--seconds", type=arguments.sim_seconds, default=2.0, help="store runs only: sim seconds to run")
    run.add_argument("--out", type=arguments.out_dir, default=None, help="write report.json and report.md there")
    run.add_argument("--record", type=arguments.new_file, default=None, help="record the sensor stream to this MCAP log")
    run.add_argument("--mode", choices=("fused", "weight", "vision"), default="fused", help="checkout stack ablation")
    run.add_argument("--stack", type=arguments.stack_name, default=None, metavar="MODULE:FACTORY",
                     help="an outside checkout stack instead of --mode's (README, Outside stacks)")
    run.set_defaults(func=_cmd_run)

    bench = sub.add_parser("bench", help="run many episodes headless (process pool or Ray) and summarise them")
    bench_command.add_options(bench)
    bench.set_defaults(func=bench_command.run)

    what_if = sub.add_parser("whatif", help="configurations of cameras, load cells and crowding against accuracy, "
                             "review rate and cost (a table, a Pareto plot, the cheapest meeting a target)")
    whatif.add_options(what_if)
    what_if.set_defaults(func=whatif.run)

    day = sub.add_parser("day", help="a store's day: opening to closing in parallel segments, figures per hour "
                         "(day.json, day.png)")
    day.add_argument("store", type=arguments.path, metavar="STORE", help="the store file")
    day.add_argument("--hours", type=arguments.bounded(float, 1e-3, 24, "hours above 0 and at most 24"), default=None,
                     help="simulated hours from opening (default: the profile's whole day)")
    day.add_argument("--arrivals", type=arguments.path, default=str(DEFAULT_DAY), metavar="PROFILE",
                     help="the arrival profile (default assets/days/convenience.yaml)")
    day.add_argument("--seed", type=arguments.seed, default=0, help="the day's seed; each segment's is derived from it")
    day.add_argument("--segment-min", type=arguments.bounded(float, 0.1, 60, "minutes from 0.1 to 60"), default=15.0,
                     help="minutes per independent segment; must divide an hour (default 15)")
    day.add_argument("--workers", type=arguments.workers, default=2, help="segments at once (default 2)")
    day.add_argument("--backend", choices=("local", "ray"), default="local")
    day.add_argument("--out", type=arguments.out_dir, default="out/day",
                     help="day.json, day.png, segments/ (default out/day; a rerun resumes the segments done there)")
    day.set_defaults(func=_cmd_day)

    generate = sub.add_parser("generate", help="draw a store (DIR/store.yaml) and scenarios for it (DIR/scenarios/)")
    generate.add_argument("--seed", type=arguments.seed, required=True, help="same seed, same files byte for byte")
    generate.add_argument("--out", type=arguments.out_dir, required=True, help="the folder to write (refused if it holds "
                          "another store)")
    generate.add_argument("--scenarios", type=arguments.bounded(int, 1, 200, "1 to 200 scenarios"), default=8,
                          help="how many scenarios (default 8)")
    generate.set_defaults(func=_cmd_generate)

    validate = sub.add_parser("validate", help="check store files")
    validate.add_argument("files", nargs="+", type=arguments.path)
    validate.set_defaults(func=_cmd_validate)

    gui = sub.add_parser("gui", help="the desktop window on a live episode (a scenario, or a store to spawn shoppers in)")
    gui.add_argument("target", nargs="?", type=arguments.path, default=None, metavar="SCENARIO|STORE")
    gui.add_argument("--seed", type=arguments.seed, default=None, help="default: the scenario's own seed (0 for a store)")
    gui.add_argument("--frames", type=int, default=None, help="run this many UI frames, then close")
    gui.add_argument("--screenshot", type=arguments.new_file, default=None, metavar="FILE", help="save the window as a PNG on closing")
    gui.add_argument("--size", default="1280x720", help="window size WxH (default 1280x720)")
    gui.add_argument("--speed", type=float, default=1.0, help="sim speed: 0.25, 0.5, 1, 2, 4 or 8")
    gui.add_argument("--mode", choices=("fused", "weight", "vision"), default="fused", help="checkout stack ablation")
    gui.add_argument("--inline", action="store_true", help="run the sim in the window's process (slower UI; exact)")
    gui.add_argument("--max-fps", type=int, default=30, help="UI frame cap (default 30)")
    gui.add_argument("--select", default=None, metavar="SHOPPER", help="select this shopper once it walks in")
    gui.add_argument("--camera", default=None, metavar="ID", help="show this ceiling camera first (e.g. cam-3)")
    gui.set_defaults(func=_cmd_gui)

    record = sub.add_parser("record", help="run a scenario (or a store alone) and record its stream and truth to MCAP")
    record.add_argument("target", type=arguments.path, metavar="SCENARIO|STORE")
    record.add_argument("--out", type=arguments.new_file, required=True, metavar="LOG", help="the MCAP file to write")
    record.add_argument("--seed", type=arguments.seed, default=None, help="default: the scenario's own seed (0 for a store)")
    record.add_argument("--seconds", type=arguments.sim_seconds, default=None, help="sim seconds (a store: default 10; a scenario: at most)")
    record.set_defaults(func=_cmd_record)

    export = sub.add_parser("export", help="run a scenario and write its camera frames as a labelled COCO dataset")
    export.add_argument("target", type=arguments.path, metavar="SCENARIO|STORE")
    export.add_argument("--out", type=arguments.out_dir, required=True, metavar="DIR",
                        help="a new folder: annotations.json, rgb/CAM/*.jpg, depth/CAM/*.png")
    export.add_argument("--seed", type=arguments.seed, default=None, help="default: the scenario's own seed (0 for a store)")
    export.add_argument("--seconds", type=arguments.sim_seconds, default=None, help="sim seconds (a store: default 10; a scenario: at most)")
    export.add_argument("--every", type=arguments.every_nth, default=5, metavar="N",
                        help="every N-th camera sample (default 5: 2 frames a second at the cameras' 10 fps)")
    export.add_argument("--cameras", type=arguments.camera_ids, default=None, metavar="ID,ID",
                        help="only these cameras (default: all)")
    export.set_defaults(func=_cmd_export)

    replay = sub.add_parser("replay", help="feed a recording's sensor stream to the checkout stack, score it against its truth")
    replay.add_argument("log", type=arguments.path, metavar="LOG")
    replay.add_argument("--out", type=arguments.out_dir, default=None, metavar="DIR", help="write report.json and report.md there")
    replay.add_argument("--mode", choices=("fused", "weight", "vision"), default="fused", help="checkout stack ablation")
    replay.add_argument("--stack", type=arguments.stack_name, default=None, metavar="MODULE:FACTORY",
                        help="an outside checkout stack instead of --mode's (README, Outside stacks)")
    replay.add_argument("--salvage", action="store_true",
                        help="read past damaged records: a partial report, a warning on stderr and exit 0 (else exit 2)")
    replay.set_defaults(func=_cmd_replay)
    return parser


def _cmd_day(args: argparse.Namespace) -> int:
    from bench.day import command

    return command(args)


def _cmd_generate(args: argparse.Namespace) -> int:
    from sim.errors import InputError, Where
    from sim.generate import store_text

    out = Path(args.out)
    store = out / "store.yaml"
    if store.is_file() and store.read_text(encoding="utf-8", errors="replace") != store_text(args.seed):
        raise InputError(Where(store), "holds another store; generate into a new folder (nothing was written)")
    from agents.generate import generate  # after the check: it loads pybullet, which prints its banner

    path, scenarios = generate(args.seed, out, args.scenarios)
    print(f"store: {path}")
    for sc in scenarios:
        redrawn = f" (drawn again {sc.redraws}x: the first draws did not validate)" if sc.redraws else ""
        print(f"scenario: {out / 'scenarios' / (sc.name + '.yaml')}  [{sc.kind}]{redrawn}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from scoring.export import export_scenario
    from sim.errors import InputError, Where

    if not Path(args.target).exists():
        raise InputError(Where(Path(args.target)), "no such scenario or store file")
    with _sim_time_bar("export") as progress:
        s = export_scenario(args.target, args.out, seed=args.seed, seconds=args.seconds, every=args.every,
                            cameras=args.cameras, progress=progress)
    counts = ", ".join(f"{n} {k}" for k, n in sorted(s.per_category.items())) or "nothing labelled"
    print(f"exported {s.scenario} (seed {s.seed}): {s.images} frames, {s.annotations} annotations ({counts}), "
          f"{s.sim_seconds:.1f} s of sim in {s.wall_seconds:.1f} s wall -> {s.out / 'annotations.json'}")
    return 0


def _cmd_record(args: argparse.Namespace) -> int:
    from scoring.replay import record_episode
    from sim.errors import InputError, Where

    if not Path(args.target).exists():
        raise InputError(Where(Path(args.target)), "no such scenario or store file")
    with _sim_time_bar("record") as progress:
        s = record_episode(args.target, args.seed, args.out, args.seconds, progress=progress)
    print(f"recorded {s['scenario']} (seed {s['seed']}): {s['messages']} messages, {s['sim_seconds']:.1f} s of sim "
          f"in {s['wall_seconds']:.1f} s wall -> {s['log']} ({s['megabytes']:.1f} MB, {s['mb_per_minute']:.0f} MB per minute)")
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from scoring.replay import replay_log
    from scoring.stacks import check_stack_name
    from sim.errors import InputError, Where

    if not Path(args.log).is_file():
        raise InputError(Where(Path(args.log)), "no such log file")
    if args.stack is not None:
        check_stack_name(args.stack)
    report, reader = replay_log(args.log, args.out, args.stack or args.mode, salvage=args.salvage)
    if report.get("scored", True) and "receipt_accuracy" in report:
        from scoring.report import summary_lines

        print("\n".join(summary_lines(report)))
    else:
        why = "its truth was lost to the damage" if reader.truth_lost else "the log has no truth"
        for r in report["receipts"]:
            print(f"receipt {r['account']}: {r['items']} (not scored: {why})")
    if args.out:
        print(f"report: {Path(args.out) / 'report.json'}, {Path(args.out) / 'report.md'}")
    if reader.damage is None:
        return 0
    if args.salvage:  # asked for: a warning, and the report says PARTIAL
        print(f"{reader.damage_note()}; salvaged: the report is partial", file=sys.stderr)
        return 0
    print(str(reader.damage), file=sys.stderr)
    return 2


def _cmd_gui(args: argparse.Namespace) -> int:
    from sim.errors import InputError, Where
    from viewer.app import run_gui
    from viewer.episode import SPEEDS

    target = args.target or str(DEFAULT_SCENARIO if DEFAULT_SCENARIO.exists() else DEFAULT_STORE)
    try:
        size = tuple(int(v) for v in args.size.lower().split("x"))
        assert len(size) == 2 and size[0] >= 640 and size[1] >= 400
    except (ValueError, AssertionError):
        raise InputError(Where(Path("--size")), f"expected WxH of at least 640x400, not {args.size!r}") from None
    if args.speed not in SPEEDS:
        raise InputError(Where(Path("--speed")), f"must be one of {', '.join(f'{v:g}' for v in SPEEDS)}")
    if args.frames is not None and args.frames < 1:
        raise InputError(Where(Path("--frames")), f"must be at least 1, not {args.frames}")
    print(f"gui: building {target} ...", flush=True)
    return run_gui(target, args.seed, frames=args.frames, screenshot=args.screenshot, size=size,
                   inline=args.inline, mode=args.mode, speed=args.speed, max_fps=max(1, args.max_fps),
                   select=args.select, camera=args.camera)


def _is_scenario_file(name: str) -> bool:
    """A YAML with `shoppers`, `crowd` or `store` keys is a scenario; anything else is checked as a store."""
    from agents.scenario import is_scenario_data
    from sim.yamlsrc import load_yaml

    data, _ = load_yaml(name)
    return is_scenario_data(data)


def _cmd_validate(args: argparse.Namespace) -> int:
    from sim.errors import InputError
    from sim.layout import load_store

    failed = 0
    for name in args.files:
        try:
            if _is_scenario_file(name):
                from agents.scenario import validate_file

                sc, layout = validate_file(name)
                print(f"{name}: ok (scenario '{sc.spec.name}' on store '{layout.name}': "
                      f"{len(sc.spec.shoppers)} scripted shoppers{', a crowd' if sc.spec.crowd else ''})")
                for note in sc.notes:
                    print(f"{name}: note: {note}")
                continue
            layout = load_store(name)
        except InputError as exc:
            print(str(exc), file=sys.stderr)
            failed += 1
            continue
        print(f"{name}: ok (store '{layout.name}': {len(layout.spec.gondolas)} gondolas, "
              f"{len(layout.bins)} bins, {len(layout.spec.catalog)} SKUs, {layout.item_count} items)")
    return 2 if failed else 0


def _cmd_run(args: argparse.Namespace) -> int:
    from sim.errors import InputError, Where

    target = Path(args.store) if args.store else (DEFAULT_SCENARIO if DEFAULT_SCENARIO.exists() else DEFAULT_STORE)
    if not target.exists():
        raise InputError(Where(target), "no such scenario or store file")
    if _is_store_file(target):
        args.store = str(target)
        args.seed = 0 if args.seed is None else args.seed
        return _cmd_run_store(args)
    from agents.scenario import load_scenario
    from scoring.episode import run_episode
    from scoring.report import ending_lines
    from scoring.stacks import check_stack_name

    scenario = load_scenario(target)
    args.seed = scenario.seed if args.seed is None else args.seed
    stack = args.mode if args.stack is None else check_stack_name(args.stack)
    with _sim_time_bar("run") as progress:
        report = run_episode(str(target), args.seed, mode=stack, out_dir=args.out, record=args.record,
                             progress=progress)
    members: dict[str, list[str]] = {}
    for shopper in scenario.spec.shoppers:  # scripted ones; a crowd's accounts show by id alone
        members.setdefault(shopper.account_id, []).append(shopper.id)
    names = {sku: item.name for sku, item in scenario.load_store().catalog.items()}
    print("\n".join(ending_lines(report, members=members, item_names=names, report_dir=args.out,
                                 next_steps=_next_steps(args.store))))
    return 0


def _next_steps(typed: str | None) -> list[tuple[str, str]]:
    """What to try after a run of `typed` (None: the default scenario): the window, a bench of it, the suites."""
    shown = typed or str(DEFAULT_SCENARIO.relative_to(ROOT))
    return [
        ("python run_sim.py gui" + (f" {typed}" if typed else ""), "watch these shoppers in the window"),
        (f"python run_sim.py bench {shown} --seeds 0:3 --workers 2 --out out/bench-run",
         "the same shoppers on 3 seeds, scored together"),
        ("make bench-suites", "the standard, hard and faults suites (1.5-2 h on 2 cores)"),
    ]


def _is_store_file(path: Path) -> bool:
    """A store layout has gondolas; a scenario names a store."""
    from sim.yamlsrc import load_yaml

    data, _ = load_yaml(path)
    return isinstance(data, dict) and "gondolas" in data


def _cmd_run_store(args: argparse.Namespace) -> int:
    import numpy as np

    from scoring.episode import EpisodeProgress
    from sim.layout import load_store
    from sim.simulation import Simulation
    from sim.stream import LoadCellBatch

    layout = load_store(args.store)
    t0 = time.perf_counter()
    sim = Simulation(layout, args.seed)
    build_s = time.perf_counter() - t0
    spec = layout.spec
    print(f"store {layout.name}: floor {spec.floor_m[0]} x {spec.floor_m[1]} m, {len(spec.gondolas)} gondolas, "
          f"{len(layout.bins)} bins on load cells, {len(spec.catalog)} SKUs, {layout.item_count} items, "
          f"{len(spec.gates)} gates; {sim.world.body_count()} bodies")
    print(f"built and settled in {build_s:.1f} s wall ({sim.settle_s:.2f} s of physics to rest)")
    t0 = time.perf_counter()
    last: LoadCellBatch | None = None
    with _sim_time_bar("run") as progress:
        for msg in sim.run(args.seconds, stop_when_done=False):
            if isinstance(msg, LoadCellBatch):
                last = msg
            if progress is not None:
                progress(EpisodeProgress(sim.t_s, args.seconds, 0))
    wall = time.perf_counter() - t0
    print(f"ran {sim.t_s:.2f} s of sim time in {wall:.2f} s wall (realtime factor {sim.t_s / max(wall, 1e-9):.1f})")
    if last is not None:
        mean = np.nanmean(last.grams, axis=0)
        truth = {b: sum(sim.ledger.items[i].weight_g for i in sim.ledger.items_in(b)) for b in last.cell_ids}
        print("load cells (mean of the last batch, g) against the true weight on each plate:")
        for j, cell in enumerate(last.cell_ids[:12]):
            print(f"  {cell:>8}: {mean[j]:9.1f}   true {truth[cell]:9.1f}")
        if len(last.cell_ids) > 12:
            err = np.abs(mean - np.array([truth[c] for c in last.cell_ids]))
            print(f"  ... {len(last.cell_ids)} cells; largest |reading - truth| {np.nanmax(err):.1f} g")
    sim.close()
    return 0


class _SimTimeBar:
    """A `progress` callback drawn as a tqdm bar on stderr over a run's sim seconds, with its real-time factor,
    shoppers inside and receipts issued. The bar is made at the first call, when the duration is known; the
    real-time factor counts from there."""

    REDRAW_S = 0.1  # at most this often (wall seconds)

    def __init__(self, what: str) -> None:
        self.what = what
        self.bar = None
        self.t0_s = self.wall0_s = 0.0

    def __call__(self, p: EpisodeProgress) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=p.duration_s, desc=self.what, file=sys.stderr, leave=False, dynamic_ncols=True,
                            mininterval=self.REDRAW_S, bar_format="{desc}: {percentage:3.0f}%|{bar}| "
                            "{n:.1f}/{total:.1f} sim s [{elapsed}<{remaining}{postfix}]")
            self.t0_s, self.wall0_s = p.t_s, time.perf_counter()
        factor = (p.t_s - self.t0_s) / max(time.perf_counter() - self.wall0_s, 1e-9)
        words = [f"{factor:.1f}x real time", f"{p.shoppers_inside} inside"]
        if p.receipts_issued is not None:
            words.append(f"{p.receipts_issued} receipts")
        self.bar.set_postfix_str(", ".join(words), refresh=False)
        self.bar.update(min(p.t_s, p.duration_s) - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextlib.contextmanager
def _sim_time_bar(what: str) -> Iterator[_SimTimeBar | None]:
    """A `_SimTimeBar` when stderr is a terminal, else None: pipes, logs and tests get only the summary."""
    if not sys.stderr.isatty():
        yield None
        return
    bar = _SimTimeBar(what)
    try:
        yield bar
    finally:
        bar.close()


if __name__ == "__main__":
    sys.exit(main())
