"""Store layout files: shipped stores validate; every kind of bad file names its file, line and key."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sim.errors import InputError
from sim.layout import bin_capacity, load_store
from tests.conftest import ROOT, STORES, shared_example_stores

GOOD = textwrap.dedent(
    """\
    name: t
    floor_m: [6.0, 5.0]
    gates:
      - {id: in-1, kind: entry, at: [1.0, 0.0], width_m: 0.9}
      - {id: out-1, kind: exit, at: [5.0, 0.0], width_m: 0.9}
    gondolas:
      - {id: A, at: [2.775, 3.0], facing: west, length_m: 2.4, shelves: 2, bins_per_shelf: 3}
      - {id: B, at: [3.225, 3.0], facing: east, length_m: 2.4, shelves: 2, bins_per_shelf: 3}
    catalog:
      - {sku: cola-330, name: "Cola", price: 1.20, weight_g: 350, shape: cylinder, size_mm: [66, 66, 115], color: "#c8102e"}
      - {sku: juice-1l, name: "Juice", price: 2.80, weight_g: 1080, shape: box, size_mm: [95, 60, 200], color: "#f28c28"}
    planogram:
      A-1-1: {sku: cola-330, count: 6}
      B-2-3: {sku: juice-1l, count: 4}
    """
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "store.yaml"
    path.write_text(text)
    return path


def _error(tmp_path: Path, text: str) -> InputError:
    with pytest.raises(InputError) as info:
        load_store(_write(tmp_path, text))
    return info.value


def test_every_shipped_store_validates():
    paths = sorted(STORES.glob("*.yaml"))
    assert len(paths) >= 2
    for path in paths:
        layout = load_store(path)
        assert layout.bins and layout.item_count > 0


@pytest.mark.parametrize("path", shared_example_stores(), ids=lambda p: p.name)
def test_shared_example_stores_validate(path):
    assert load_store(path).item_count > 0


def test_default_store_is_a_realistic_convenience_store():
    layout = load_store(STORES / "corner_store.yaml")
    assert len(layout.spec.gondolas) >= 8
    assert len(layout.spec.catalog) >= 40
    assert layout.item_count >= 1500
    by_signature: dict[tuple, list[str]] = {}
    for c in layout.spec.catalog:
        by_signature.setdefault((c.weight_g, c.size_mm, c.shape), []).append(c.sku)
    look_alikes = [skus for skus in by_signature.values() if len(skus) > 1]
    assert len(look_alikes) >= 3, "needs groups of look-alikes with equal weight and size"


def test_good_inline_store_loads_with_bins_numbered_left_to_right(tmp_path):
    layout = load_store(_write(tmp_path, GOOD))
    assert len(layout.bins) == 12
    # A faces west: a shopper looks east, so bin 1 is the north end (their left).
    a1, a3 = layout.bins["A-1-1"], layout.bins["A-1-3"]
    assert a1.center[1] > a3.center[1]
    # B faces east: the shopper looks west, bin 1 is the south end.
    b1, b3 = layout.bins["B-1-1"], layout.bins["B-1-3"]
    assert b1.center[1] < b3.center[1]
    assert layout.bins["A-2-1"].center[2] > a1.center[2]


CASES = {
    "yaml_syntax": (GOOD.replace("floor_m: [6.0, 5.0]", "floor_m: [6.0, 5.0"), None, "YAML syntax error"),
    "unknown_key": (GOOD.replace("name: t", "name: t\ncolour: red"), ("colour", 2), "unknown key 'colour'"),
    "unknown_nested_key": (GOOD.replace("shelves: 2, bins_per_shelf: 3}\n  - {id: B", "shelves: 2, bins_per_shelf: 3, lenght_m: 2}\n  - {id: B"), ("gondolas[0].lenght_m", 7), "unknown key"),
    "missing_key": (GOOD.replace("floor_m: [6.0, 5.0]\n", ""), ("floor_m", 1), "missing key 'floor_m'"),
    "missing_nested_key": (GOOD.replace("facing: west, ", ""), ("gondolas[0].facing", 7), "missing key"),
    "wrong_type": (GOOD.replace("shelves: 2, bins_per_shelf: 3}\n  - {id: B", "shelves: two, bins_per_shelf: 3}\n  - {id: B"), ("gondolas[0].shelves", 7), "expected a whole number (got 'two')"),
    "bad_enum": (GOOD.replace("facing: west", "facing: up"), ("gondolas[0].facing", 7), "north"),
    "bad_color": (GOOD.replace('"#c8102e"', '"red"'), ("catalog[0].color", 10), "hex"),
    "unknown_bin": (GOOD.replace("B-2-3:", "B-3-3:"), ("planogram.B-3-3", 14), "no such bin 'B-3-3'"),
    "unknown_sku": (GOOD.replace("{sku: juice-1l, count: 4}", "{sku: juice-2l, count: 4}"), ("planogram.B-2-3.sku", 14), "not in the catalog"),
    "gondola_outside_floor": (GOOD.replace("at: [3.225, 3.0]", "at: [3.225, 4.2]"), ("gondolas[1].at", 8), "outside"),
    "gondolas_overlap": (GOOD.replace("at: [3.225, 3.0]", "at: [3.0, 3.0]"), ("gondolas[1].at", 8), "overlaps gondola A"),
    "gondola_faces_wall": (GOOD.replace("{id: A, at: [2.775, 3.0]", "{id: A, at: [0.5, 3.0]"), ("gondolas[0].facing", 7), "faces a wall"),
    "gate_not_on_wall": (GOOD.replace("at: [5.0, 0.0]", "at: [5.0, 0.4]"), ("gates[1].at", 5), "not on a wall"),
    "gate_past_wall_end": (GOOD.replace("at: [5.0, 0.0]", "at: [5.8, 0.0]"), ("gates[1].at", 5), "past the end"),
    "too_many_items": (GOOD.replace("{sku: cola-330, count: 6}", "{sku: cola-330, count: 200}"), ("planogram.A-1-1.count", 13), "holds at most"),
    "item_too_tall": (GOOD.replace("size_mm: [95, 60, 200]", "size_mm: [95, 60, 900]"), ("planogram.B-2-3.count", 14), "does not fit"),
    "duplicate_gondola": (GOOD.replace("{id: B,", "{id: A,"), ("gondolas[1].id", 8), "duplicate"),
    "no_exit_gate": (GOOD.replace("kind: exit", "kind: entry"), ("gates", 3), "exit gate"),
    "dead_cell_not_a_bin": (GOOD + "sensors:\n  load_cells: {dead: [Z-1-1]}\n", ("sensors.load_cells.dead[0]", 16), "no load cell 'Z-1-1'"),
    "outage_backwards": (GOOD + "sensors:\n  load_cells:\n    outages: [[A-1-1, 9.0, 3.0]]\n", ("sensors.load_cells.outages[0]", 17), "from_s < to_s"),
    "rate_not_dividing_physics": (GOOD + "sensors:\n  load_cells: {rate_hz: 50}\n", ("sensors.load_cells.rate_hz", 16), "does not divide"),
}


def test_a_store_with_10_sps_load_cells_validates(tmp_path):
    """An HX711's usual rate, below twice the gondolas' 8 Hz mode: the cells read the mode aliased (sim.vibration)."""
    layout = load_store(_write(tmp_path, GOOD + "sensors:\n  load_cells: {rate_hz: 10}\n"))
    assert layout.spec.sensors.load_cells.rate_hz == 10


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_store_is_rejected_with_file_line_and_key(tmp_path, case):
    text, expect, words = CASES[case]
    err = _error(tmp_path, text)
    message = str(err)
    assert "\n" not in message
    assert str(err.where.path).endswith("store.yaml")
    assert words in message
    if expect is not None:
        key, line = expect
        assert err.where.key == key, message
        assert err.where.line == line, message
        assert message.startswith(f"{err.where.path}:{line}: {key}: ")
    else:
        assert err.where.line == 3


def test_capacity_counts_items_side_by_side_with_gaps(tmp_path):
    layout = load_store(_write(tmp_path, GOOD))
    b = layout.bins["A-1-1"]  # 0.8 m wide, 0.41 m deep
    cola = layout.catalog["cola-330"]  # 66 mm + 4 mm gap
    assert bin_capacity(b, cola) == int(0.8 // 0.070) * int(0.41 // 0.070)


def test_validate_command_reports_one_line_and_exit_2(tmp_path):
    bad = _write(tmp_path, GOOD.replace("B-2-3:", "B-3-3:"))
    good = STORES / "tiny_store.yaml"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run_sim.py"), "validate", str(good), str(bad)],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if "build time" not in ln]
    assert errors == [f"{bad}:14: planogram.B-3-3: no such bin 'B-3-3' (bins are GONDOLA-SHELF-BIN, e.g. A-1-1)"]
    assert "Traceback" not in proc.stderr
    assert "tiny_store.yaml: ok" in proc.stdout


def test_validate_command_on_missing_file_exits_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run_sim.py"), "validate", str(tmp_path / "nope.yaml")],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("nope.yaml: no such file")
