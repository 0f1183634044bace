"""Process hygiene of the bench: no worker outlives the bench, however the bench dies.

The bench is killed with SIGKILL here, so none of its own clean-up can run: what ends the workers is what
`bench.batch.die_with_parent` arms in each of them, and what ends multiprocessing's resource tracker is the
last write end of its pipe closing with them.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.proctree import alive, cmdline, descendants

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "assets" / "stores" / "tiny_store.yaml")

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")


def sleeping_episode(scenario_path: str, seed: int, *, mode: str = "fused", out_dir=None) -> dict:
    """An episode that takes a minute; it marks its folder once running, so the test kills mid-episode."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / "started").write_text(str(os.getpid()))
    time.sleep(60)
    return {"seed": seed, "mode": mode}


def test_killed_bench_takes_its_workers_and_resource_tracker_with_it(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "run_sim.py", "bench", TINY, "--seeds", "0:2", "--workers", "2",
           "--episode-fn", "tests.test_bench_processes:sleeping_episode", "--no-plots", "--out", str(out)]
    # Its own session: the clean-up below can end whatever is left by process group, and a kill of the test
    # run's group never reaches the bench.
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(out.glob("episodes/**/started"))) < 2:
            assert proc.poll() is None, "the bench ended before its episodes ran"
            time.sleep(0.1)
        below = descendants(proc.pid)
        commands = {pid: cmdline(pid) for pid in below}
        workers = [pid for pid, c in commands.items() if "spawn_main" in c]
        assert len(workers) == 2, commands  # both episodes are running in their workers: not vacuous
        assert any("resource_tracker" in c for c in commands.values()), commands

        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(p) for p in below):
            time.sleep(0.1)
        left = {pid: commands[pid] for pid in below if alive(pid)}
        assert not left, f"outlived the killed bench: {left}"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # only this bench's session: nothing else is in its group
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@pytest.mark.parametrize("kernel_signal", [True, False], ids=["pdeathsig", "watchdog-thread"])
def test_worker_started_after_its_bench_died_exits_at_once(kernel_signal):
    """The race `die_with_parent` closes: a bench that dies before its worker has armed anything.

    The worker is told a parent pid that is not its parent, as it would find after the bench's death; the
    watchdog variant is the path taken where `PR_SET_PDEATHSIG` does not exist.
    """
    patch = "" if kernel_signal else "b._set_parent_death_signal = lambda sig: False; "
    code = (f"import time, bench.batch as b; {patch}b.die_with_parent({os.getpid() + 10**7}); "
            "time.sleep(30); print('outlived its parent')")
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1, done.stdout + done.stderr
    assert time.monotonic() - t0 < 20  # it did not sleep its 30 s out
    assert "outlived" not in done.stdout
