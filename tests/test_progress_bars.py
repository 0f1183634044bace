"""Progress of `run` and `record`: the episode reports where it stands in sim time (scoring.episode's `progress`
callback), and the command line draws it as a tqdm bar on stderr only when stderr is a terminal."""
from __future__ import annotations

import io
import sys
from pathlib import Path

import run_sim
from scoring.episode import run_episode

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "assets" / "stores" / "tiny_store.yaml"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _on_a_terminal(monkeypatch) -> _Terminal:
    """stderr a terminal, and the bar redrawn at every call (not at most ten times a second) so a short run shows."""
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setattr(run_sim._SimTimeBar, "REDRAW_S", 0.0)
    return term


def _short_scenario(tmp_path: Path, duration_s: float = 3.0) -> Path:
    """One shopper on the tiny store; she is inside from about 2.6 s."""
    path = tmp_path / "short.yaml"
    path.write_text(f"name: short\nstore: {TINY}\nseed: 0\nduration_s: {duration_s}\nshoppers:\n"
                    "  - id: alice\n    account: acct-1\n    script:\n      - pick: {sku: cola-330, bin: A-1-1}\n")
    return path


def test_an_episode_reports_its_sim_time_shoppers_inside_and_receipts_as_it_runs(tmp_path):
    seen = []
    report = run_episode(str(_short_scenario(tmp_path)), 0, progress=seen.append)
    times = [p.t_s for p in seen]
    assert times[0] == 0.0 and times[-1] == report["sim_seconds"] == 3.0
    assert times == sorted(times) and len(seen) >= 25  # every 0.1 s of sim time
    assert {p.duration_s for p in seen} == {3.0}
    assert max(p.shoppers_inside for p in seen) == 1 and seen[0].shoppers_inside == 0
    assert all(isinstance(p.receipts_issued, int) for p in seen)


def test_record_draws_a_sim_time_bar_on_a_terminal(tmp_path, monkeypatch):
    term = _on_a_terminal(monkeypatch)
    assert run_sim.main(["record", str(_short_scenario(tmp_path)), "--out", str(tmp_path / "a.mcap")]) == 0
    drawn = [part for part in term.getvalue().split("\r") if part.startswith("record:")]
    assert drawn and "3.0/3.0 sim s" in drawn[-1] and "x real time, " in drawn[-1] and " inside" in drawn[-1], drawn[-3:]


def test_run_and_record_write_no_bar_when_stderr_is_not_a_terminal(tmp_path, capsys):
    assert run_sim.main(["record", str(TINY), "--out", str(tmp_path / "a.mcap"), "--seconds", "0.5"]) == 0
    assert run_sim.main(["run", str(TINY), "--seconds", "0.5"]) == 0
    captured = capsys.readouterr()
    assert "sim s" not in captured.err and "\r" not in captured.err, captured.err
    assert "recorded tiny_store" in captured.out and "ran 0.50 s of sim time" in captured.out


def test_a_store_run_draws_its_bar_on_a_terminal(monkeypatch):
    term = _on_a_terminal(monkeypatch)
    assert run_sim.main(["run", str(TINY), "--seconds", "0.5"]) == 0
    drawn = [part for part in term.getvalue().split("\r") if part.startswith("run:")]
    assert drawn and "0.5/0.5 sim s" in drawn[-1] and "x real time" in drawn[-1], drawn[-3:]
