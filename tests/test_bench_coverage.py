"""bench.coverage: how much floor the cameras see; the market is deployed to see every shoulder."""
from __future__ import annotations

import yaml

from bench import coverage
from tests.conftest import STORES


def test_the_market_sees_all_its_floor_at_shoulder_height_and_a_sparser_grid_sees_less(tmp_path):
    market = coverage.coverage(STORES / "market_store.yaml", (1.7, 1.2))
    assert market["cameras"] == 12 and market["m2_per_camera"] < 7.0
    assert market["seen"][1.2][0] >= 0.99 and market["seen"][1.7][0] >= 0.8
    spec = yaml.safe_load((STORES / "market_store.yaml").read_text())
    spec["cameras"] = {"grid": {"spacing_m": 3.5, "height_m": 3.2, "fov_deg": 90}}
    sparse_path = tmp_path / "sparse_market.yaml"
    sparse_path.write_text(yaml.safe_dump(spec))
    sparse = coverage.coverage(sparse_path, (1.7, 1.2))
    assert sparse["cameras"] == 6
    assert sparse["seen"][1.7][0] < market["seen"][1.7][0] - 0.2 and sparse["seen"][1.2][0] < 0.9


def test_a_missing_store_is_one_line_and_exit_2(tmp_path, capsys):
    assert coverage.main([str(tmp_path / "none.yaml")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
