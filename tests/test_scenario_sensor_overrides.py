"""A scenario's sensor overrides are checked like the store's own: rates and fault cells, with file, line and key."""
from __future__ import annotations

import textwrap

import pytest

from agents.scenario import load_scenario
from sim.errors import InputError
from tests.conftest import STORES

SCENARIO = textwrap.dedent(
    """\
    name: t
    store: {store}
    seed: 0
    duration_s: 10
    sensors:
      load_cells: {{{override}}}
    shoppers:
      - id: a
        script:
          - pick: {{sku: cola-330}}
    """
)


@pytest.mark.parametrize(
    "override, key, words",
    [
        ("rate_hz: 50", "sensors.load_cells.rate_hz", "does not divide the 120 Hz physics step"),
        ("dead: [Q-1-1]", "sensors.load_cells.dead[0]", "no load cell 'Q-1-1'"),
        ("outages: [[A-1-1, 5.0, 2.0]]", "sensors.load_cells.outages[0]", "from_s < to_s"),
    ],
)
def test_bad_sensor_override_names_file_line_and_key(tmp_path, override, key, words):
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO.format(store=STORES / "tiny_store.yaml", override=override))
    with pytest.raises(InputError) as info:
        load_scenario(path).check()
    assert info.value.where.key == key
    assert info.value.where.line == 6
    assert words in str(info.value)


def test_good_fault_override_reaches_the_layout(tmp_path):
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO.format(store=STORES / "tiny_store.yaml", override="outages: [[A-1-1, 5.0, 9.0]]"))
    layout = load_scenario(path).check()
    assert layout.spec.sensors.load_cells.outages == (("A-1-1", 5.0, 9.0),)
