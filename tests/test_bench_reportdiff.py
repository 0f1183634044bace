"""bench.reportdiff: reports compared key for key, wall-clock figures aside."""
from __future__ import annotations

import json

from bench.reportdiff import main


def _write(folder, name, **report):
    (folder / name).mkdir(parents=True)
    (folder / name / "report.json").write_text(json.dumps(report))


def test_reports_equal_but_for_wall_clock_are_identical_and_a_changed_figure_is_not(tmp_path, capsys):
    base, new = tmp_path / "a", tmp_path / "b"
    _write(base, "ep", receipt_accuracy=1.0, wall_seconds=3.0, stages={"perception": 1.0}, log="x.mcap")
    _write(new, "ep", receipt_accuracy=1.0, wall_seconds=9.0, stages={"perception": 2.5}, log="y.mcap")
    assert main(str(base), str(new), ["ep"]) == 0 and "ep: identical" in capsys.readouterr().out
    _write(new, "ep2", receipt_accuracy=0.5)
    _write(base, "ep2", receipt_accuracy=1.0)
    assert main(str(base), str(new), ["ep", "ep2"]) == 1 and "ep2: DIFFERENT in receipt_accuracy" in capsys.readouterr().out
    _write(new, "ep3", receipt_accuracy=1.0, stages={"tracking": 1.0})
    _write(base, "ep3", receipt_accuracy=1.0, stages={"perception": 1.0})
    assert main(str(base), str(new), ["ep3"]) == 1  # a stage gone or renamed is a difference
    _write(new, "ep4", receipt_accuracy=0.0, events=None, tracking=None)  # an outside stack's report: not measured
    _write(base, "ep4", receipt_accuracy=0.0, events=None, tracking=None)
    assert main(str(base), str(new), ["ep4"]) == 0
