"""The `bench` command: `python run_sim.py bench ...` and `python -m bench ...` are this one command.

Place in the data path: the command line's side of `bench.batch`. `add_options` puts its options on a parser
(run_sim.py's `bench` subcommand, or `python -m bench`'s own), `run` plans and runs the episodes and prints
where the summary went. The options are listed in README.md, "Command line".
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import arguments

ROOT = Path(__file__).resolve().parent.parent


def add_options(bench: argparse.ArgumentParser) -> None:
    bench.add_argument("targets", nargs="+", type=arguments.path, metavar="SUITE|SCENARIO",
                       help="suite names (assets/suites/NAME.yaml), suite files or scenario files")
    bench.add_argument("--seeds", default=None,
                       help="parts joined by '+': dev (each suite's development seeds), fresh (as many drawn from the "
                            "OS's entropy, kept in OUT/fresh_seeds.json and reused there), fresh:K, A:B, N or N,M,... "
                            "(default dev+fresh)")
    bench.add_argument("--stores", default=None,
                       help="generated stores for suites over them (assets/suites/generated.yaml), the grammar of "
                            "--seeds: dev (the suite's dev_stores), fresh, fresh:K (kept in OUT/fresh_stores.json), "
                            "A:B, N,M (default dev+fresh)")
    bench.add_argument("--workers", type=arguments.workers, default=2, help="episodes at once (default 2)")
    bench.add_argument("--backend", choices=("local", "ray"), default="local")
    bench.add_argument("--ray-address", default=None, help="a running Ray cluster (default: start a local runtime)")
    bench.add_argument("--mode", choices=("fused", "weight", "vision"), action="append", default=None,
                       help="stack ablation(s) to run, overriding the suites' modes (repeatable)")
    bench.add_argument("--stack", type=arguments.stack_name, action="append", default=None, metavar="MODULE:FACTORY",
                       help="an outside checkout stack to run beside --mode's, overriding the suites' modes "
                            "(repeatable; README, Outside stacks)")
    bench.add_argument("--out", type=arguments.out_dir, default="out/bench",
                       help="results.jsonl, summary.md, plots (default out/bench)")
    bench.add_argument("--retry-errors", action="store_true", help="rerun episodes whose row is an error")
    bench.add_argument("--episode-fn", default="scoring.episode:run_episode", help=argparse.SUPPRESS)
    bench.add_argument("--no-plots", action="store_true", help="skip the PNG plots")


def run(args: argparse.Namespace) -> int:
    from bench.batch import DEFAULT_EPISODE_FN, plan_bench, run_bench
    from bench.generated import parse_store_choice
    from bench.seeds import parse_seed_choice
    from scoring.stacks import check_stack_name
    from sim.errors import InputError, Where

    if args.workers < 1:
        raise InputError(Where(Path("--workers")), f"must be at least 1, not {args.workers}")
    modes = [*(args.mode or ()), *(check_stack_name(s) for s in args.stack or ())] or None
    specs, fresh = plan_bench(args.targets, parse_seed_choice(args.seeds), args.out, modes=modes,
                              stores=parse_store_choice(args.stores))
    if args.episode_fn == DEFAULT_EPISODE_FN:  # a bad scenario is one line now, not an error row per seed later
        from agents.scenario import validate_file

        for scenario in sorted({s.scenario for s in specs}):
            validate_file(ROOT / scenario)
    result = run_bench(specs, args.out, workers=args.workers, backend=args.backend, ray_address=args.ray_address,
                       episode_fn=args.episode_fn, retry_errors=args.retry_errors, plots=not args.no_plots,
                       fresh_seeds=fresh)
    rate = f", {result.episodes_per_hour:.1f} episodes per hour" if result.episodes_per_hour else ""
    print(f"bench: {result.ran} episodes run ({result.errors} errors), {result.skipped} resumed from "
          f"{args.out}/results.jsonl, {result.wall_s:.1f} s wall on {args.workers} {args.backend} workers{rate}")
    print(f"summary: {Path(args.out) / 'summary.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m bench ARGS`: what `python run_sim.py bench ARGS` does."""
    parser = arguments.Parser(prog="python -m bench", description="Run many episodes headless (process pool or Ray) "
                              "and summarise them; the same as `python run_sim.py bench`.")
    parser.error_name = "python -m bench"
    add_options(parser)
    return arguments.run_for_people(run, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
