"""Scenario files: schema and cross-checks give one-line errors with file, line and key."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agents.scenario import Scenario, load_scenario, validate_file
from sim.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "examples" / "scenarios"

BASE = """name: t
store: tiny_store
duration_s: 60
shoppers:
  - id: alice
    script:
      - pick: {sku: cola-330}
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "tail, line, key, words",
    [
        ("      - pick: {sku: nope-1}\n", 8, "shoppers[0].script[1].pick.sku", "unknown SKU 'nope-1'"),
        ("      - touch: {bin: Z-9-9, seconds: 1}\n", 8, "shoppers[0].script[1].touch.bin", "unknown bin 'Z-9-9'"),
        ("      - give: {sku: cola-330, to: alice}\n", 8, "shoppers[0].script[1].give.to", "cannot give to itself"),
        ("      - give: {sku: cola-330, to: carol}\n", 8, "shoppers[0].script[1].give.to", "unknown shopper 'carol'"),
        ("      - sync: lonely\n", 8, "shoppers[0].script[1].sync", "used by one shopper only"),
        ("      - pik: {sku: cola-330}\n", 8, "shoppers[0].script[1].pik", "unknown key 'pik'"),
        ("      - walk_to: [50.0, 1.0]\n", 8, "shoppers[0].script[1].walk_to", "off the"),
        ("  - id: bob\n    persona: shopaholic\n", 9, "shoppers[1].persona", "unknown persona 'shopaholic'"),
    ],
)
def test_bad_scenario_names_file_line_and_key(tmp_path, tail, line, key, words):
    p = _write(tmp_path, BASE + tail)
    with pytest.raises(InputError) as exc:
        validate_file(p)
    msg = str(exc.value)
    assert msg.startswith(f"{p}:{line}: {key}: "), msg
    assert words in msg and "\n" not in msg


def test_unknown_crowd_persona_is_rejected_at_its_line(tmp_path):
    p = _write(tmp_path, "name: c\nstore: tiny_store\ncrowd:\n  arrivals_per_min: 2\n  until_s: 60\n  personas: {quick: 1, lurker: 1}\n")
    with pytest.raises(InputError, match=r"s.yaml:6: crowd.personas.lurker: unknown persona 'lurker'"):
        validate_file(p)


def test_unknown_store_and_bad_sensor_override_are_rejected(tmp_path):
    with pytest.raises(InputError, match=r":2: store: no store 'mall'"):
        validate_file(_write(tmp_path, BASE.replace("tiny_store", "mall")))
    with pytest.raises(InputError, match=r"sensors.load_cells.noise_g"):
        validate_file(_write(tmp_path, BASE.replace("duration_s: 60", "duration_s: 60\nsensors: {load_cells: {noise_g: -1}}")))


def test_python_scenario_errors_name_the_key():
    sc = Scenario(name="py", store="tiny_store")
    sc.add_shopper("alice").give("cola-330", to="alice")
    with pytest.raises(InputError, match=r"shoppers\[0\].script\[0\].give.to: shopper 'alice' cannot give to itself"):
        sc.check()


def test_python_and_yaml_build_one_model(tmp_path):
    text = BASE + "      - put_back: {sku: cola-330, bin: A-1-2}\n      - walk_to: {bin: B-1-1}\n      - wait: 2.0\n"
    sc = Scenario(name="t", store="tiny_store", duration_s=60)
    sc.add_shopper("alice").pick("cola-330").put_back("cola-330", bin="A-1-2").walk_to("B-1-1").wait(2.0)
    assert sc.spec == load_scenario(_write(tmp_path, text)).spec


def test_validate_command_checks_scenarios_and_exits_2_with_one_line(tmp_path):
    good = ROOT / "assets" / "scenarios" / "every-action.yaml"
    bad = _write(tmp_path, BASE + "      - pick: {sku: nope-1}\n")
    ok = subprocess.run([sys.executable, str(ROOT / "run_sim.py"), "validate", str(good)], capture_output=True, text=True)
    assert ok.returncode == 0 and "scenario 'every-action'" in ok.stdout
    res = subprocess.run([sys.executable, str(ROOT / "run_sim.py"), "validate", str(bad)], capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "unknown SKU" in res.stderr


def test_every_shipped_scenario_validates():
    files = sorted((ROOT / "assets" / "scenarios").glob("*.yaml"))
    assert files
    for f in files:
        validate_file(f)


@pytest.mark.skipif(not SHARED.exists(), reason="../shared not present")
def test_every_shared_example_scenario_validates():
    for f in sorted(SHARED.glob("*.yaml")):
        validate_file(f)
