"""Bad input, class by class: every kind a fuzzer found accepted or crashing is now a one-line error.

Each case edits a small valid store or scenario (built here) into one of the
classes the hardening issue lists, and checks the `InputError` names the
file, the line and the key, and says what is wrong.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

import run_sim
from agents.scenario import validate_file
from sim.errors import InputError
from sim.layout import load_store
from sim.yamlsrc import load_yaml
from tests.test_layout_validation import GOOD  # the small valid store those tests edit

STORE = GOOD + """\
  B-2-2: {sku: cola-330, count: 0}
cameras:
  list:
    - {id: c1, at: [2.0, 2.5, 3.0], look_at: [2.0, 2.5, 0.0]}
    - {id: c2, at: [4.0, 2.5, 3.0], look_at: [4.0, 2.5, 0.0]}
sensors:
  cameras: {fps: 10, resolution: [320, 240], depth_noise_m: 0.005}
  load_cells: {rate_hz: 60, noise_g: 1.0}
"""

SCENARIO = """\
name: s
store: store.yaml
duration_s: 60
shoppers:
  - id: alice
    script:
      - pick: {sku: cola-330}
      - put_back: {sku: cola-330}
  - id: bob
    enter_at_s: 2
    script:
      - pick: {sku: juice-1l, bin: B-2-3}
crowd: {arrivals_per_min: 2, until_s: 30, personas: {quick: 1.0}}
"""


def _store(tmp_path: Path, old: str = "", new: str = "") -> Path:
    assert old in STORE, old
    path = tmp_path / "store.yaml"
    path.write_text(STORE.replace(old, new, 1))
    return path


def _scenario(tmp_path: Path, old: str = "", new: str = "") -> Path:
    assert old in SCENARIO, old
    _store(tmp_path)
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO.replace(old, new, 1))
    return path


def _one_line(exc: InputError, path: Path, line: int, key: str, words: str) -> None:
    text = str(exc)
    assert "\n" not in text
    assert text.startswith(f"{path}:{line}: {key}"), text
    assert words in text, text


def test_the_base_files_are_valid(tmp_path):
    assert load_store(_store(tmp_path)).item_count == 10
    sc, _ = validate_file(_scenario(tmp_path))
    assert len(sc.spec.shoppers) == 2


STORE_CASES = [
    # (old, new, line, key, words)
    ("floor_m: [6.0, 5.0]", "floor_m: [.nan, 5.0]", 2, "floor_m[0]", "finite number"),
    ("at: [2.775, 3.0]", "at: [.nan, 3.0]", 7, "gondolas[0].at[0]", "finite number"),
    ("size_mm: [66, 66, 115]", "size_mm: [66, .nan, 115]", 10, "catalog[0].size_mm[1]", "finite number"),
    ("size_mm: [66, 66, 115]", "size_mm: [66, 0.1, 115]", 10, "catalog[0].size_mm", "5.0-1500.0 mm"),
    ("price: 1.20", "price: .inf", 10, "catalog[0].price", "finite number"),
    ("weight_g: 350,", "weight_g: 350, weight_sd_g: .nan,", 10, "catalog[0].weight_sd_g", "finite number"),
    ("weight_g: 350,", "weight_g: 350, weight_sd_g: 200,", 10, "catalog[0]", "more than a quarter"),
    ("shelves: 2, bins_per_shelf: 3}\n  - {id: B", "shelves: true, bins_per_shelf: 3}\n  - {id: B", 7, "gondolas[0].shelves", "expected a whole number (got True)"),
    ("width_m: 0.9}\n  - {id: out-1", "width_m: true}\n  - {id: out-1", 4, "gates[0].width_m", "expected a number (got True)"),
    ("count: 6}", "count: '6'}", 13, "planogram.A-1-1.count", "expected a whole number (got '6')"),
    ("depth_noise_m: 0.005}", "depth_noise_m: .nan}", 21, "sensors.cameras.depth_noise_m", "finite number"),
    ("noise_g: 1.0}", "noise_g: .inf}", 22, "sensors.load_cells.noise_g", "finite number"),
    ("at: [2.0, 2.5, 3.0]", "at: [2.0, 2.5, -1.0]", 18, "cameras.list[0].at", "hangs -1 m up"),
    ("at: [2.0, 2.5, 3.0]", "at: [20.0, 2.5, 3.0]", 18, "cameras.list[0].at", "outside the 6 x 5 m floor"),
    ("look_at: [2.0, 2.5, 0.0]", "look_at: [2.0, 2.5, 3.0]", 18, "cameras.list[0].look_at", "needs a direction"),
    ("{id: c2,", "{id: c1,", 19, "cameras.list[1].id", "duplicate id 'c1'"),
    ("  list:\n    - {id: c1, at: [2.0, 2.5, 3.0], look_at: [2.0, 2.5, 0.0]}\n    - {id: c2, at: [4.0, 2.5, 3.0], look_at: [4.0, 2.5, 0.0]}\n",
     "  list: []\n", 17, "cameras.list", "at least 1 item"),
    ("resolution: [320, 240]", "resolution: [0, 240]", 21, "sensors.cameras.resolution", "from [16, 12]"),
    ("resolution: [320, 240]", "resolution: [-320, 240]", 21, "sensors.cameras.resolution", "from [16, 12]"),
    ("resolution: [320, 240]", "resolution: [100000, 240]", 21, "sensors.cameras.resolution", "to [1920, 1080]"),
    ("depth_noise_m: 0.005}", "depth_noise_m: 0.005, rgb_resolution: [320, 240]}", 21, "sensors.cameras.rgb_resolution",
     "expected a 16:9 size"),
    ("depth_noise_m: 0.005}", "depth_noise_m: 0.005, calib_rotation_sd_deg: -0.1}", 21, "sensors.cameras.calib_rotation_sd_deg",
     "greater than or equal to 0"),
    ("depth_noise_m: 0.005}", "depth_noise_m: 0.005, depth_min_m: 4.0, depth_max_m: 3.0}", 21, "sensors.cameras", "must be below depth_max_m"),
    ("depth_noise_m: 0.005}", "depth_noise_m: 0.005, outages: [[cam-9, 1.0, 2.0]]}", 21, "sensors.cameras.outages[0]", "no camera 'cam-9'"),
    ("at: [5.0, 0.0], width_m: 0.9}", "at: [1.5, 0.0], width_m: 0.9}", 5, "gates[1].at", "overlaps gate in-1"),
    ("shelves: 2, bins_per_shelf: 3}\n  - {id: B", "height_m: 0.45, shelves: 12, bins_per_shelf: 3}\n  - {id: B", 7, "gondolas[0].shelves",
     "12 shelves in 0.45 m"),
    ("planogram:\n", "planogram:\n  A-1-1: {sku: juice-1l, count: 1}\n", 14, "A-1-1", "appears twice"),
]


SCENARIO_CASES = [
    ("      - put_back: {sku: cola-330}\n", "      - pick:\n", 8, "shoppers[0].script[1]", "has no arguments"),
    ("crowd: {arrivals_per_min: 2, until_s: 30,", "crowd: {arrivals_per_min: 2, until_s: 30, start_s: 40,", 13, "crowd", "not before it ends"),
    ("crowd: {arrivals_per_min: 2, until_s: 30, personas: {quick: 1.0}}", "crowd: {arrivals_per_min: 2, until_s: 30, personas: {quick: .nan}}",
     13, "crowd.personas.quick", "finite number"),
    ("duration_s: 60", "duration_s: .inf", 3, "duration_s", "finite number"),
    ("enter_at_s: 2", "enter_at_s: 200", 10, "shoppers[1].enter_at_s", "after the scenario ends"),
    ("enter_at_s: 2", "enter_at_s: true", 10, "shoppers[1].enter_at_s", "expected a number (got True)"),
    ("{sku: juice-1l, bin: B-2-3}", "{sku: cola-330, bin: B-2-2}", 12, "shoppers[1].script[0].pick.bin",
     "the scripts pick 1 cola-330 from bin B-2-2 by here; it holds 0 at opening"),
    ("{sku: juice-1l, bin: B-2-3}", "{sku: juice-1l, bin: A-1-1}", 12, "shoppers[1].script[0].pick.bin",
     "bin A-1-1 holds cola-330, not juice-1l, and no script puts a juice-1l there"),
    ("{sku: juice-1l, bin: B-2-3}", "{sku: juice-1l, bin: B-2-3, qty: 5}", 12, "shoppers[1].script[0].pick.sku",
     "the scripts pick 5 juice-1l by here; the store stocks 4"),
    ("      - pick: {sku: juice-1l, bin: B-2-3}\n", "      - give: {sku: juice-1l, to: alice}\n", 12, "shoppers[1].script[0].give.sku",
     "has no juice-1l to give"),
    ("      - put_back: {sku: cola-330}\n", "      - put_back: {sku: juice-1l}\n", 8, "shoppers[0].script[1].put_back.sku",
     "has no juice-1l to put back"),
    ("      - put_back: {sku: cola-330}\n", "      - put_back: {sku: cola-330}\n      - sync: x\n      - sync: y\n", 9, "shoppers[0].script[2].sync",
     "sync 'x' can never complete"),
    ("seed: 0", "seed: 0", 0, "", ""),  # placeholder replaced below
]
SCENARIO_CASES[-1] = ("duration_s: 60", "seed: -1\nduration_s: 60", 3, "seed", "greater than or equal to 0")


CASES = [("store", *c) for c in STORE_CASES] + [("scenario", *c) for c in SCENARIO_CASES]


@pytest.mark.parametrize("kind, old, new, line, key, words", CASES, ids=[f"{c[0]}-{i}-{c[5][:30]}" for i, c in enumerate(CASES)])
def test_bad_input_is_one_line_with_file_line_and_key(tmp_path, kind, old, new, line, key, words):
    if kind == "store":
        path, load = _store(tmp_path, old, new), load_store
    else:
        path, load = _scenario(tmp_path, old, new), validate_file
    if "sync: x" in new:  # bob waits at y then x: the two wait for each other for ever
        path.write_text(path.read_text().replace("      - pick: {sku: juice-1l, bin: B-2-3}\n",
                                                 "      - sync: y\n      - sync: x\n"))
    with pytest.raises(InputError) as info:
        load(path)
    _one_line(info.value, path, line, key, words)


def test_syncs_in_the_same_order_are_fine(tmp_path):
    path = _scenario(tmp_path, "      - put_back: {sku: cola-330}\n", "      - sync: x\n      - sync: y\n")
    path.write_text(path.read_text().replace("      - pick: {sku: juice-1l, bin: B-2-3}\n", "      - sync: x\n      - sync: y\n"))
    validate_file(path)


def test_a_given_item_can_be_put_back_by_its_receiver(tmp_path):
    path = _scenario(tmp_path, "      - put_back: {sku: cola-330}\n", "      - give: {sku: cola-330, to: bob}\n")
    path.write_text(path.read_text().replace("bin: B-2-3}\n", "bin: B-2-3}\n      - put_back: {sku: cola-330}\n"))
    validate_file(path)


@pytest.mark.parametrize("text, line, words", [
    ("a: 1\nb: 2\na: 3\n", 3, "key 'a' appears twice in one mapping (first on line 1)"),
    ("a: &x\n  b: *x\n", 2, "refers to its own anchor"),
    ("a: " + "[" * 1000 + "]" * 1000 + "\n", 1, "nested more than 64 levels deep"),
    ("a: 1\n\x00\n", 2, "not allowed in YAML"),
])
def test_yaml_loader_refuses_with_the_line(tmp_path, text, line, words):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_yaml(path)
    assert f"{path}:{line}:" in str(info.value) and words in str(info.value)


def test_alias_bomb_is_refused_fast(tmp_path):
    from bench.fuzz import BOMB

    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    assert len(BOMB) < 400  # the 342-byte class: 9^9 strings when expanded
    t0 = time.process_time()
    with pytest.raises(InputError, match="expands to more than"):
        load_yaml(path)
    assert time.process_time() - t0 < 1.0  # CPU time: a busy machine does not make it fail


def test_merge_keys_still_work(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  x: 5\n")
    data, _ = load_yaml(path)
    assert data["d"] == {"x": 5, "y": 2}


@pytest.mark.parametrize("argv, words", [
    (["run", "--seed", "-1"], "--seed"),
    (["run", "--seconds", "nan"], "--seconds"),
    (["run", "--seconds", "-1"], "--seconds"),
    (["bench", "standard", "--workers", "0"], "--workers"),
    (["validate", "a\x00b.yaml"], "not a usable path"),
])
def test_bad_command_line_is_one_line_and_exit_2(capsys, argv, words):
    with pytest.raises(SystemExit) as info:
        run_sim.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err


def test_record_into_an_existing_folder_is_refused(capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        run_sim.main(["record", "assets/stores/tiny_store.yaml", "--out", str(tmp_path)])
    assert info.value.code == 2
    assert "is a folder" in capsys.readouterr().err


@pytest.mark.parametrize("kind, old, new, line, key, words", [
    ("store", "gondolas:\n", "gondola:\n", 6, "gondola", "unknown key 'gondola' (did you mean 'gondolas'?)"),
    ("store", "color: \"#c8102e\"", "colour: \"#c8102e\"", 10, "catalog[0].colour", "(did you mean 'color'?)"),
    ("store", "shelves: 2, bins_per_shelf: 3}\n  - {id: B", "shelfs: 2, bins_per_shelf: 3}\n  - {id: B", 7, "gondolas[0].shelfs",
     "(did you mean 'shelves'?)"),
    ("scenario", "    script:\n      - pick: {sku: cola-330}\n", "    scrpt:\n      - pick: {sku: cola-330}\n", 6, "shoppers[0].scrpt",
     "(did you mean 'script'?)"),
    ("scenario", "- pick: {sku: juice-1l, bin: B-2-3}", "- pik: {sku: juice-1l, bin: B-2-3}", 12, "shoppers[1].script[0].pik",
     "(did you mean 'pick'?)"),
    ("scenario", "{sku: juice-1l, bin: B-2-3}", "{sku: juice-1l, bim: B-2-3}", 12, "shoppers[1].script[0].pick.bim",
     "(did you mean 'bin'?)"),
    ("scenario", "duration_s: 60\n", "duration_s: 60\nsensors: {cameras: {fsp: 5}}\n", 4, "sensors.cameras.fsp",
     "unknown key 'fsp' (did you mean 'fps'?)"),
])
def test_unknown_key_is_named_at_its_own_line_with_what_it_likely_meant(tmp_path, kind, old, new, line, key, words):
    path, load = (_store(tmp_path, old, new), load_store) if kind == "store" else (_scenario(tmp_path, old, new), validate_file)
    with pytest.raises(InputError) as info:
        load(path)
    _one_line(info.value, path, line, key, words)


@pytest.mark.parametrize("text, line, key, words", [
    ("name: s\ndev_seed: '0:2'\nscenarios:\n  - scenario.yaml\n", 2, "dev_seed",
     "unknown key 'dev_seed' (did you mean 'dev_seeds'?)"),
    ("name: s\ndev_seeds: '0:2'\nscenario:\n  - scenario.yaml\n", 3, "scenario",  # not read as a scenario file
     "unknown key 'scenario' (did you mean 'scenarios'?)"),
    ("name: s\nscenarios:\n  - {path: scenario.yaml, mode: [fused]}\n", 3, "scenarios[0].mode",
     "unknown key 'mode' (did you mean 'modes'?)"),
    ("name: s\nscenarios:\n  - scenario.yaml\nowner: me\n", 4, "owner",
     "unknown key 'owner' (expected name, description, dev_seeds, seeds, modes, scenarios)"),
])
def test_unknown_suite_key_is_named_at_its_own_line_with_what_it_likely_meant(tmp_path, capsys, text, line, key, words):
    _scenario(tmp_path)
    suite = tmp_path / "suite.yaml"
    suite.write_text(text)
    rc = run_sim.main(["bench", str(suite), "--out", str(tmp_path / "out")])
    assert rc == 2 and not (tmp_path / "out").exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{suite}:{line}: {key}: {words}"], err


def test_bench_refuses_a_suite_with_a_bad_scenario_before_it_writes_anything(tmp_path, capsys):
    bad = _scenario(tmp_path, "enter_at_s: 2", "enter_at_s: 200")
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"name: s\nseeds: '0:2'\nscenarios:\n  - {bad.name}\n")
    rc = run_sim.main(["bench", str(suite), "--out", str(tmp_path / "out")])
    assert rc == 2 and not (tmp_path / "out").exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{bad}:10: shoppers[1].enter_at_s"), err


@pytest.mark.parametrize("seeds, words", [("0:1000000000000", "at most 100,000"), ("-1", "from 0 to 2**63 - 1"), ("5:2", "name no episode")])
def test_bench_seeds_are_checked_before_anything_is_made(tmp_path, capsys, seeds, words):
    rc = run_sim.main(["bench", "standard", "--seeds", seeds, "--out", str(tmp_path / "out")])
    assert rc == 2 and not (tmp_path / "out").exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("--seeds:") and words in err[0], err


def test_numbers_as_people_and_programs_write_them_are_numbers(tmp_path):
    import numpy as np

    from agents.scenario import Scenario

    path = _store(tmp_path, "depth_noise_m: 0.005}", "depth_noise_m: 5e-3}")  # YAML 1.1 read this as a string
    assert load_store(path).spec.sensors.cameras.depth_noise_m == 0.005
    path = _store(tmp_path, "count: 6}", "count: 6.0}")
    assert load_store(path).spec.planogram["A-1-1"].count == 6
    sc = Scenario("np", "tiny_store", seed=np.int64(3), duration_s=np.float64(60))
    sc.add_shopper("a").pick("cola-330", qty=np.int64(2))
    assert (sc.spec.seed, sc.spec.shoppers[0].script[0].pick.qty) == (3, 2)


def test_legal_scripts_the_checks_must_not_refuse(tmp_path):
    """A bin-less put-back refills the bin it came from; one label synced twice; an item passed along a chain."""
    path = _scenario(tmp_path)
    path.write_text("""\
name: legal
store: store.yaml
duration_s: 200
shoppers:
  - id: a
    script:
      - pick: {sku: cola-330, bin: A-1-1, qty: 6}
      - put_back: {sku: cola-330}
      - pick: {sku: cola-330, bin: A-1-1}
      - sync: meet
      - sync: meet
      - give: {sku: cola-330, to: b}
  - id: b
    script:
      - sync: meet
      - give: {sku: cola-330, to: c}
  - id: c
    script:
      - put_back: {sku: cola-330}
""")
    sc, _ = validate_file(path)
    assert len(sc.spec.shoppers) == 3
    text = path.read_text().split("  - id: b\n")[0]  # alice alone, without her put-back: the seventh can is not there
    for step in ("      - put_back: {sku: cola-330}\n", "      - give: {sku: cola-330, to: b}\n", "      - sync: meet\n"):
        text = text.replace(step, "")
    path.write_text(text)
    with pytest.raises(InputError, match="the scripts pick 7 cola-330 by here; the store stocks 6"):
        validate_file(path)


def test_sync_deadlock_check_is_linear_in_the_shoppers(tmp_path):
    n = 1500  # s_i waits at m_i, then m_(i-1): the chain unwinds from its last shopper, one label at a time
    lines = ["name: chain", "store: store.yaml", "duration_s: 600", "shoppers:"]
    for i in range(n):
        lines += [f"  - id: s{i}", "    script:", f"      - sync: m{i}", f"      - sync: m{i - 1}" if i else "      - wait: 1"]
    lines += ["  - id: z", "    script:", f"      - sync: m{n - 1}"]
    path = _scenario(tmp_path)
    path.write_text("\n".join(lines) + "\n")
    t0 = time.process_time()
    validate_file(path)
    assert time.process_time() - t0 < 10  # CPU seconds; the pass-per-shopper version took minutes here


@pytest.mark.parametrize("argv, words", [
    (["replay", "log.mcap", "--out", "README.md"], "is a file"),
    (["record", "assets/stores/tiny_store.yaml", "--out", "README.md/x.mcap"], "lies under 'README.md', which is a file"),
    (["run", "assets/scenarios/pick-one.yaml", "--out", "README.md/sub"], "lies under 'README.md', which is a file"),
    (["bench", "assets/scenarios/pick-one.yaml", "--out", "README.md/sub"], "lies under 'README.md', which is a file"),
])
def test_outputs_under_a_file_are_refused_before_anything_runs(capsys, argv, words):
    with pytest.raises(SystemExit) as info:
        run_sim.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err


def test_a_fifo_or_a_device_is_not_read(tmp_path):
    import os

    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(InputError, match="not a regular file"):
            load_yaml(path)
