"""The what-if command (issue 22): its spec's errors, the cost arithmetic, the Pareto front and the pick against a
target on hand-built figures, deterministic variant files that validate, and one small run end to end."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

import run_sim
from agents.scenario import validate_file
from bench import pooling
from bench.whatif import (
    DAYS_PER_MONTH, CostModel, Price, Result, Setting, Target, cheapest_meeting, cost_of, load_costs, load_spec,
    pareto_front, result_of, staffed_till_per_month, verdict_line, write_plan,
)

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "assets" / "stores" / "tiny_store.yaml"
TINY_CROWD = ROOT / "assets" / "suites" / "sweep" / "crowd-3.yaml"  # a persona crowd in the tiny store


def write_spec(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


SPEC_HEAD = f"""name: t
scenarios: [{TINY_CROWD}]
visits_per_month: 1000
opening_hours_per_day: 10
target: {{review_rate_max: 0.02}}
"""


@pytest.mark.parametrize("body, line, key, words", [
    ("configurations:\n  - {name: a, load_cells: {per: shelf}}\n", 7, "configurations[0].load_cells.per",
     "one load cell per shelf is not modelled yet"),
    ("configurations:\n  - cameras: {depth_noise_m: 0.001}\n", 7, "configurations[0].cameras.depth_noise_m",
     "no real device"),
    ("configurations:\n  - cameras: {resolution: [1920, 1080]}\n", 7, "configurations[0].cameras.resolution",
     "D435's depth modes"),
    ("configurations:\n  - cameras: {fps: 7}\n", 7, "configurations[0].cameras.fps", "does not divide"),
    ("configurations:\n  - load_cells: {noise_g: 0.5}\n", 7, "configurations[0].load_cells.noise_g", "no real device"),
    ("grid:\n  cameras.spacing: [2.0, 3.0]\n", 7, "grid.cameras.spacing", "did you mean 'cameras.spacing_m'"),
    ("grid:\n  cameras.spacing_m: [2.0, 0.2]\n", 7, "grid.cameras.spacing_m[1]", "greater than 0.5"),
    ("configurations:\n  - {cameras: {resolution: [1280, 720], fps: 60}}\n", 7, "configurations[0].cameras",
     "30 fps at most"),
    ("configurations:\n  - {name: a}\n  - {name: a, crowd: {max_inside: 5}}\n", 8, "configurations[1]", "used twice"),
    ("seeds: dev+sometimes\nconfigurations:\n  - {name: a}\n", 6, "seeds", "seeds must be A:B, N or N,M"),
    ("dev_seeds: \"5:2\"\nconfigurations:\n  - {name: a}\n", 6, "dev_seeds", "name no episode"),
    ("configuration:\n  - {name: a}\n", 6, "configuration", "did you mean 'configurations'"),
])
def test_bad_spec_is_one_line_with_file_line_and_key_and_exit_2(tmp_path, capsys, body, line, key, words):
    spec = write_spec(tmp_path, SPEC_HEAD + body)
    assert run_sim.main(["whatif", str(spec), "--out", str(tmp_path / "out"), "--plan-only"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"{spec}:{line}: {key}: "), err[0]
    assert words in err[0], err[0]


def test_a_spec_without_configurations_or_grid_says_what_to_add(tmp_path, capsys):
    spec = write_spec(tmp_path, SPEC_HEAD)
    assert run_sim.main(["whatif", str(spec), "--plan-only"]) == 2
    assert "`configurations:` (a list), `grid:`" in capsys.readouterr().err


def test_a_spec_missing_its_target_names_the_key(tmp_path, capsys):
    spec = write_spec(tmp_path, SPEC_HEAD.replace("target: {review_rate_max: 0.02}\n", "") + "configurations: [{}]\n")
    assert run_sim.main(["whatif", str(spec), "--plan-only"]) == 2
    assert "missing key 'target'" in capsys.readouterr().err


def _price(value: float) -> Price:
    return Price(value=value, unit="u", source="test", estimate=True)


COSTS = CostModel(camera=_price(100), camera_install=_price(50), camera_power_w=_price(4), load_cell=_price(10),
                  load_cell_install=_price(5), compute_unit=_price(300), cameras_per_compute_unit=_price(4),
                  compute_unit_power_w=_price(20), electricity_kwh=_price(0.1), review_minutes=_price(2),
                  reviewer_hour=_price(30), cashier_hour=_price(12), amortisation_months=_price(30))


def test_cost_of_six_cameras_ten_cells_and_a_five_percent_review_rate_by_hand():
    cost = cost_of(6, 10, 320 * 240 * 10, 0.05, COSTS, visits_per_month=1000)
    assert cost.compute_units == 2  # 6 cameras at the reference stream, 4 per unit
    assert cost.capital == pytest.approx(6 * 150 + 10 * 15 + 2 * 300)  # 1,650
    assert cost.hardware_per_month == pytest.approx(1650 / 30)
    assert cost.power_per_month == pytest.approx((6 * 4 + 2 * 20) / 1000 * 24 * DAYS_PER_MONTH * 0.1)
    assert cost.review_per_month == pytest.approx(0.05 * 1000 * 2 * 30 / 60)  # 50 reviews of 2 min at $30 an hour
    assert cost.per_month == pytest.approx(cost.hardware_per_month + cost.power_per_month + 50.0)


def test_a_stream_of_four_times_the_pixels_needs_four_times_the_compute():
    assert cost_of(4, 0, 640 * 480 * 10, None, COSTS, 1000).compute_units == 4
    assert cost_of(4, 0, 320 * 240 * 10, None, COSTS, 1000).compute_units == 1
    assert cost_of(4, 0, 320 * 240 * 10, None, COSTS, 1000).per_month is None  # no review rate measured


def test_staffed_till_is_the_cashier_every_opening_hour():
    assert staffed_till_per_month(COSTS, 16) == pytest.approx(12 * 16 * 365.25 / 12)


def test_shipped_cost_model_cites_a_source_for_every_price():
    costs = load_costs(ROOT / "assets" / "costs" / "default.yaml")
    for name, price in costs:
        if isinstance(price, Price):
            assert len(price.source) > 20, name
            assert price.estimate or any(c.isdigit() for c in price.source), f"{name}: a published figure cites it"


def test_pareto_front_keeps_the_points_nothing_cheaper_beats():
    # (cost, accuracy): b is dominated by a (cheaper and as good), d by c; e has no figure
    points = [(100, 0.90), (120, 0.90), (150, 0.95), (200, 0.94), (90, None)]
    assert pareto_front(points, higher_is_better=True) == [True, False, True, False, False]
    # (cost, review rate): lower is better
    assert pareto_front([(100, 0.05), (150, 0.02), (160, 0.03)], higher_is_better=False) == [True, True, False]


def _result(name: str, cameras: int, cells: int, review: float, accuracy: float) -> Result:
    setting = Setting(2.5, 3.0, (320, 240), 10.0, 0.005, "bin" if cells else "none", 1.0 if cells else None, 3, 6.0,
                      cameras, cells)
    p = pooling.Pool(episodes=3, receipts=100, right=round(100 * accuracy), flagged=round(100 * review))
    return result_of(name, setting, p, COSTS, visits_per_month=1000)


def test_cheapest_configuration_meeting_the_target_is_picked_and_none_when_none_meets():
    results = [_result("many-cameras", 20, 100, 0.01, 0.97), _result("few-cameras", 8, 100, 0.015, 0.95),
               _result("no-cells", 8, 0, 0.10, 0.80)]
    assert cheapest_meeting(results, Target(review_rate_max=0.02)).name == "few-cameras"
    assert cheapest_meeting(results, Target(review_rate_max=0.02, accuracy_min=0.96)).name == "many-cameras"
    assert cheapest_meeting(results, Target(review_rate_max=0.005)) is None
    assert verdict_line(results, Target(review_rate_max=0.005)) == "whatif: no configuration meets review rate <= 0.5 %"
    assert "few-cameras" in verdict_line(results, Target(review_rate_max=0.02))


def test_a_configuration_without_receipts_never_meets_a_target():
    empty = result_of("empty", _result("x", 4, 0, 0, 1).setting, pooling.Pool(), COSTS, 1000)
    assert not empty.meets(Target(review_rate_max=1.0))


GRID_SPEC = SPEC_HEAD + """configurations:
  - {name: base}
  - {name: no-cells, load_cells: {per: none}}
  - {name: noisy, cameras: {depth_noise_m: 0.02}, load_cells: {noise_g: 4.0}}
grid:
  cameras.spacing_m: [2.5, 4.0]
  crowd.max_inside: [3, 5]
"""


def test_variant_files_are_deterministic_validate_and_carry_their_settings(tmp_path):
    spec = load_spec(write_spec(tmp_path, GRID_SPEC))
    one, two = write_plan(spec, tmp_path / "one"), write_plan(spec, tmp_path / "two")
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.yaml"))
    assert files == sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*.yaml"))
    for f in files:
        assert (tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes(), f
    # base = the grid's (2.5 m, 3 inside) point: one configuration; cells none shares base's stream
    names = [c.name for c in one.configurations]
    assert names == ["base", "no-cells", "noisy", "spacing=2.5,inside=5", "spacing=4,inside=3", "spacing=4,inside=5"]
    by_name = {c.name: c for c in one.configurations}
    assert by_name["no-cells"].streams == by_name["base"].streams and by_name["no-cells"].mode == "vision"
    assert len(one.variants) == 5
    suite = yaml.safe_load(one.suite.read_text())
    assert {tuple(e["modes"]) for e in suite["scenarios"]} == {("fused", "vision"), ("fused",)}
    for variant in one.variants:
        sc, layout = validate_file(variant)  # raises InputError on any problem
    sc, layout = validate_file(by_name["spacing=4,inside=5"].streams[0])
    assert layout.spec.cameras.grid.spacing_m == 4.0 and sc.spec.crowd.max_inside == 5
    assert by_name["spacing=4,inside=5"].shown.cameras == 2 and by_name["base"].shown.cameras == 4
    sc, layout = validate_file(by_name["noisy"].streams[0])
    assert layout.spec.sensors.cameras.depth_noise_m == 0.02 and layout.spec.sensors.load_cells.noise_g == 4.0
    assert by_name["no-cells"].shown.cell_count == 0 and by_name["base"].shown.cell_count == len(layout.bins)


def test_axes_on_a_scenario_without_a_crowd_are_an_input_error(tmp_path, capsys):
    spec = write_spec(tmp_path, SPEC_HEAD.replace(str(TINY_CROWD), str(ROOT / "assets" / "scenarios" / "pick-one.yaml"))
                      + "configurations:\n  - {crowd: {max_inside: 4}}\n")
    assert run_sim.main(["whatif", str(spec), "--out", str(tmp_path / "out"), "--plan-only"]) == 2
    assert "pick-one.yaml has no crowd to vary" in capsys.readouterr().err


@pytest.mark.slow
def test_two_configurations_on_one_seed_give_the_table_the_plot_and_a_verdict(tmp_path, capsys):
    scenario = tmp_path / "one-pick.yaml"  # one shopper, one can: the shortest episode worth scoring
    scenario.write_text(f"name: one-pick\nstore: {TINY}\nseed: 0\nduration_s: 40\nshoppers:\n"
                        "  - {id: alice, account: acct-1, script: [{pick: {sku: cola-330, bin: A-1-1}}]}\n")
    spec = write_spec(tmp_path, f"""name: tiny
scenarios: [{scenario}]
seeds: "0"
visits_per_month: 3000
opening_hours_per_day: 12
target: {{review_rate_max: 0.02}}
workers: 1
configurations:
  - {{name: cells-per-bin}}
  - {{name: cells-none, load_cells: {{per: none}}}}
""")
    out = tmp_path / "out"
    assert run_sim.main(["whatif", str(spec), "--out", str(out), "--no-plots"]) == 0
    assert run_sim.main(["whatif", str(spec), "--out", str(out)]) == 0  # resumed: nothing runs again, plots drawn
    printed = capsys.readouterr().out
    assert "0 episodes run (0 errors), 2 resumed" in printed
    assert printed.strip().splitlines()[-1].startswith("whatif: ")
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["mode"] for r in rows) == ["fused", "vision"] and all(r["status"] == "ok" for r in rows)
    assert len({r["scenario"] for r in rows}) == 1  # cells none and per bin: one stream
    summary = json.loads((out / "whatif.json").read_text())
    by_name = {c["name"]: c for c in summary["configurations"]}
    assert by_name["cells-per-bin"]["receipts"] == 1 and by_name["cells-none"]["receipts"] == 1
    assert by_name["cells-none"]["capital"] < by_name["cells-per-bin"]["capital"]
    assert all(math.isfinite(c["per_month"]) for c in summary["configurations"])
    table = (out / "whatif.md").read_text()
    assert "| cells-per-bin | 4 |" in table and "| cells-none | 4 |" in table and "pareto.png" in table
    assert (out / "pareto.png").stat().st_size > 10_000
