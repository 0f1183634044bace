"""Fuzzed input ends clean: mutated stores, scenarios, command lines and recordings never give a traceback.

Hypothesis draws case numbers for `bench.fuzz.run_case` (the cases `python -m bench.fuzz`
runs, in this process here); each must end `clean` (a one-line error naming the file) or
`accepted`. The fast tier runs 30 cases of each kind and 8 damaged recordings (each replayed
through the real stack); the slow tier 150 of each kind and 40 recordings.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.fuzz import make_base_log, run_case

ROOT = Path(__file__).resolve().parent.parent
CASES = st.integers(min_value=0, max_value=10**9)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def base_log(workdir) -> Path:
    return make_base_log(workdir / "base.mcap")


def _ends_clean(kind: str, index: int, workdir: Path, log: Path | None = None) -> None:
    r = run_case(kind, index, 0, workdir, log)
    assert r.outcome in ("clean", "accepted"), f"{kind}:{index} {r.what} -> {r.outcome}: {r.detail}"
    if r.outcome == "clean":
        assert "\n" not in r.detail and r.detail, r


def _cases_end_clean(kind: str, examples: int, workdir: Path, log: Path | None = None) -> None:
    """`examples` cases of `kind`, drawn by hypothesis (derandomized: CI sees the same ones), each ending clean."""
    @settings(max_examples=examples, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(index=CASES)
    def check(index: int) -> None:
        _ends_clean(kind, index, workdir, log)

    check()


@pytest.mark.parametrize("kind", ["store", "scenario", "suite", "cli"])
def test_fuzzed_input_ends_clean(kind, workdir):
    _cases_end_clean(kind, 30, workdir)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["store", "scenario", "suite", "cli"])
def test_fuzzed_input_ends_clean_many(kind, workdir):
    _cases_end_clean(kind, 150, workdir)


def test_a_few_damaged_recordings_end_clean(workdir, base_log):
    _cases_end_clean("recording", 8, workdir, base_log)


@pytest.mark.slow
def test_damaged_recordings_end_clean(workdir, base_log):
    _cases_end_clean("recording", 40, workdir, base_log)


def test_the_fuzzer_makes_both_outcomes(workdir):
    """Not vacuous: among the first cases of each kind some are refused and some accepted."""
    for kind in ("store", "scenario", "suite", "cli"):
        outcomes = {run_case(kind, i, 0, workdir).outcome for i in range(40)}
        assert {"clean", "accepted"} <= outcomes, (kind, outcomes)


def test_fuzz_command_prints_its_counts(workdir):
    out = subprocess.run([sys.executable, "-m", "bench.fuzz", "6", "--kinds", "store,scenario,cli"], cwd=workdir,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert any(line.startswith("kind") and "tracebacks" in line and "hangs" in line for line in lines)
    total = next(line for line in lines if line.startswith("all"))
    assert total.split()[1] == "6"
