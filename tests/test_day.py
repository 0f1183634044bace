"""A store's day (bench.day): the arrival profile's checks, the segment plan, the per-hour figures on hand-built
segments, the memory check, and one very short day end to end."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

import run_sim
from agents.crowd import CrowdSpawner
from agents.scenario import CrowdSpec
from bench.day import (DOOR_WALK_S, DayRun, Segment, day_summary, day_visits, hourly_figures, load_profile,
                       memory_check, plan_day, segment_arrivals, segment_scenario, segment_seed, write_segments)
from sim.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "assets" / "stores" / "tiny_store.yaml"
SHIPPED = ROOT / "assets" / "days" / "convenience.yaml"

PROFILE = """\
name: test-day
opens_h: 7
visits_per_day: 600
hourly_share_pct:
  7: 25
  8: 50
  9: 25
personas: {quick: 0.7, browser: 0.3}
max_inside: 4
"""


def _profile(tmp_path: Path, text: str = PROFILE) -> Path:
    path = tmp_path / "day.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the profile ---------------------------------------------------------------------------------------------------


def test_the_shipped_profile_has_a_lunch_peak_of_eight_percent_and_sixteen_hours():
    p = load_profile(SHIPPED)
    assert (p.opens_h, p.hours) == (6, 16)
    assert p.hourly_share_pct[12] == max(p.hourly_share_pct.values()) == 8.0
    assert p.arrivals_per_min(12) == pytest.approx(1100 * 0.08 / 60)
    # morning and evening peaks stand above the hours around them
    assert p.hourly_share_pct[8] > p.hourly_share_pct[10] and p.hourly_share_pct[17] > p.hourly_share_pct[14]


@pytest.mark.parametrize("edit, line, key, words", [
    (("visits_per_day: 600", "visits_per_dya: 600"), 3, "visits_per_dya", "did you mean 'visits_per_day'"),
    (("  8: 50", "  9: 50"), 7, "9", "appears twice in one mapping (first on line 6)"),
    (("  8: 50\n  9: 25", "  8: 50\n  10: 25"), 7, "hourly_share_pct.10", "expected hour 9"),
    (("  9: 25", "  9: 20"), 4, "hourly_share_pct", "add up to 95"),
    (("  9: 25", "  9: -5"), 7, "hourly_share_pct.9", "above 0"),
    (("browser: 0.3", "browsr: 0.3"), 8, "personas.browsr", "unknown persona 'browsr'"),
    (("max_inside: 4", "max_inside: 0"), 9, "max_inside", "greater than or equal to 1"),
    (("  8: 50", "  8: lots"), 6, "hourly_share_pct.8", "expected a number"),
])
def test_a_bad_profile_names_file_line_and_key(tmp_path, edit, line, key, words):
    path = _profile(tmp_path, PROFILE.replace(*edit))
    with pytest.raises(InputError) as err:
        load_profile(path)
    assert err.value.where.path == path and err.value.where.line == line
    assert err.value.where.key == key
    assert words in err.value.message


def test_a_bad_profile_is_one_line_and_exit_2_through_the_command_line(tmp_path, capsys):
    path = _profile(tmp_path, PROFILE.replace("opens_h: 7", "opens_h: 7\nclose_h: 10"))
    assert run_sim.main(["day", str(TINY), "--arrivals", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"{path}:3: close_h: unknown key 'close_h'"
    assert not (tmp_path / "out").exists()  # nothing planned, nothing written


def test_hours_beyond_the_profile_and_segments_that_straddle_hours_are_refused(tmp_path, capsys):
    path = _profile(tmp_path)
    assert run_sim.main(["day", str(TINY), "--arrivals", str(path), "--hours", "4"]) == 2
    assert "--hours: expected above 0 and at most the 3 hours" in capsys.readouterr().err
    assert run_sim.main(["day", str(TINY), "--arrivals", str(path), "--segment-min", "25"]) == 2
    assert "--segment-min: expected minutes that divide an hour" in capsys.readouterr().err


# --- the plan ------------------------------------------------------------------------------------------------------


def test_the_plan_cuts_the_day_into_segments_at_their_hours_rates(tmp_path):
    profile = load_profile(_profile(tmp_path))
    plan = plan_day(profile, 1.75, 30, seed=4)
    assert [(s.start_s, s.length_s, s.clock_h) for s in plan] == [(0, 1800, 7), (1800, 1800, 7), (3600, 1800, 8),
                                                                 (5400, 900, 8)]
    assert [s.arrivals_per_min for s in plan] == pytest.approx([2.5, 2.5, 5.0, 5.0])  # 600 x share / 100 / 60
    assert [s.name for s in plan] == ["seg-000-0700", "seg-001-0730", "seg-002-0800", "seg-003-0830"]
    assert [s.hour for s in plan] == [0, 0, 1, 1]


def test_segment_seeds_are_derived_by_name_distinct_and_the_same_for_the_same_day(tmp_path):
    profile = load_profile(_profile(tmp_path))
    plan = plan_day(profile, 3, 15, seed=4)
    seeds = [s.seed for s in plan]
    assert len(set(seeds)) == len(seeds) == 12
    assert all(0 <= s < 2**63 for s in seeds)
    assert plan == plan_day(profile, 3, 15, seed=4)
    assert plan_day(profile, 1, 15, seed=4) == plan[:4]  # a shorter day is the same day's first segments
    assert seeds[0] == segment_seed(4, 0) != segment_seed(5, 0)


def test_a_segments_arrivals_are_what_its_crowd_draws_and_follow_its_rate(tmp_path):
    profile = load_profile(_profile(tmp_path))
    slow, busy = plan_day(profile, 2, 60, seed=1)
    # The crowd of the segment's own scenario, as the simulation spawns it, comes to the door at these times.
    spec = CrowdSpec.model_validate(segment_scenario(slow, profile, tmp_path)["crowd"])
    assert [t for t, _ in CrowdSpawner(spec, SimpleNamespace(seed=slow.seed)).arrivals] == segment_arrivals(slow, profile)
    assert segment_arrivals(slow, profile) != segment_arrivals(replace(slow, seed=slow.seed + 1), profile)
    assert all(0 < t < 3600 for t in segment_arrivals(busy, profile))
    # 150 and 300 expected arrivals in the hour: Poisson sd about 12 and 17
    assert 100 < len(segment_arrivals(slow, profile)) < 200 < len(segment_arrivals(busy, profile)) < 400


def test_a_days_segments_name_a_shipped_store_by_name_so_their_keys_are_the_same_from_any_checkout(tmp_path,
                                                                                                      monkeypatch):
    # The bench resumes a segment by its scenario file's path, named by the file's text: with the store's absolute
    # path in it, the same day kept in the repository (docs/day/) had other keys in every clone, and re-ran
    from agents.scenario import load_scenario
    from sim.layout import load_store

    profile = load_profile(SHIPPED)
    plan = plan_day(profile, 0.5, 15, seed=0)
    layout = load_store(TINY)
    here = write_segments(plan, profile, TINY, tmp_path / "a", layout)
    monkeypatch.chdir(ROOT)
    there = write_segments(plan, profile, Path("assets/stores/tiny_store.yaml"), tmp_path / "b", layout)
    assert [Path(k).name for k in here.values()] == [Path(k).name for k in there.values()]
    first = Path(here[0])
    assert "store: tiny_store\n" in first.read_text()
    assert load_scenario(first).store_path.resolve() == TINY.resolve()
    other = tmp_path / "my_store.yaml"
    other.write_text(TINY.read_text())
    (mine,) = write_segments(plan[:1], profile, other, tmp_path / "c", layout).values()
    assert f"store: {other.resolve()}" in Path(mine).read_text()  # a store of the user's own: where they keep it


# --- the figures ---------------------------------------------------------------------------------------------------


def _row(visits: list[list]) -> dict:
    return {"status": "ok", "report": {"sim_seconds": 1900.0, "day": {"visits": visits, "rss_mb": [[0, 200.0]]}}}


def _two_hours(tmp_path) -> tuple:
    profile = load_profile(_profile(tmp_path))
    return profile, [Segment(0, 0.0, 3600.0, 7, 2.5, 11), Segment(1, 3600.0, 3600.0, 8, 5.0, 12)]


def test_each_account_belongs_to_the_hour_it_entered_and_every_failure_is_counted(tmp_path):
    profile, segs = _two_hours(tmp_path)
    # [account, arrived, entered, exited, issued_s, issued, right, flagged, unfinished] in segment time
    first = [
        ["acct-crowd-001", 10.0, 13.0, 100.0, 101.5, True, True, False, False],  # right
        ["acct-crowd-002", 20.0, 23.0, 200.0, 203.5, True, False, True, False],  # wrong and flagged
        ["acct-crowd-003", 3590.0, 3610.0, 3700.0, 3702.0, True, True, False, False],  # came at 07:59, in at 08:00
        ["acct-crowd-004", 30.0, 33.0, 300.0, None, False, False, False, False],  # exited, no receipt: wrong
    ]
    second = [
        ["acct-crowd-001", 5.0, 8.0, None, None, False, False, False, True],  # still inside at the end: wrong
        ["acct-crowd-002", 50.0, None, None, None, False, False, False, False],  # never let in
    ]
    visits = day_visits(segs, {0: _row(first), 1: _row(second)}, profile)
    ends = {0: 1900.0, 1: 3600.0 + 1900.0}
    hours, day = hourly_figures(segs, visits, ends, profile.opens_h)
    h7, h8 = hours
    assert (h7.clock, h7.arrivals, h7.visits, h7.right, h7.flagged, h7.unissued) == ("07:00", 4, 3, 1, 1, 1)
    assert h7.accuracy == pytest.approx(1 / 3) and h7.review_rate == pytest.approx(1 / 3)
    assert h7.exit_to_receipt_s["median"] == pytest.approx(2.5)  # 1.5 and 3.5
    assert (h8.arrivals, h8.visits, h8.right, h8.unfinished, h8.gave_up) == (2, 2, 1, 1, 1)
    assert h8.accuracy == pytest.approx(0.5)
    assert (day.visits, day.right, day.receipts_issued, day.arrivals) == (5, 2, 3, 6)
    assert day.accuracy == pytest.approx(2 / 5)
    assert h7.wait_s["max"] == pytest.approx(20.0)  # the 07:59 arrival waited 20 s


def test_a_crashed_segment_counts_every_scheduled_arrival_as_a_wrong_unflagged_receipt(tmp_path):
    profile, segs = _two_hours(tmp_path)
    ok = [["acct-crowd-001", 10.0, 13.0, 100.0, 101.0, True, True, False, False]]
    visits = day_visits(segs, {0: _row(ok), 1: {"status": "error", "report": None}}, profile)
    hours, day = hourly_figures(segs, visits, {0: 1900.0, 1: 5500.0}, profile.opens_h)
    expected = len(segment_arrivals(segs[1], profile))
    assert expected > 0
    assert (hours[1].visits, hours[1].crashed, hours[1].right, hours[1].flagged) == (expected, expected, 0, 0)
    assert hours[1].accuracy == 0.0
    assert day.visits == expected + 1 and day.right == 1
    # a segment with no row at all (interrupted before it ran) counts the same
    missing = day_visits(segs, {0: _row(ok)}, profile)
    assert len(missing[1]) == expected and all(v.crashed for v in missing[1])


def test_peak_inside_and_the_queue_count_people_at_once_within_the_hour(tmp_path):
    profile, segs = _two_hours(tmp_path)
    first = [  # three overlap inside between 50 and 60 s; two wait at the door well beyond the walk in
        ["acct-crowd-001", 0.0, 3.0, 60.0, 61.0, True, True, False, False],
        ["acct-crowd-002", 10.0, 13.0, 70.0, 71.0, True, True, False, False],
        ["acct-crowd-003", 20.0, 50.0, 80.0, 81.0, True, True, False, False],
        ["acct-crowd-004", 21.0, 65.0, 90.0, 91.0, True, True, False, False],
        ["acct-crowd-005", 100.0, 100.0 + DOOR_WALK_S - 1, 120.0, 121.0, True, True, False, False],  # only walked in
    ]
    visits = day_visits(segs, {0: _row(first), 1: _row([])}, profile)
    hours, day = hourly_figures(segs, visits, {0: 1900.0, 1: 5500.0}, profile.opens_h)
    assert hours[0].peak_inside == 3 and hours[0].queue_peak == 2
    assert hours[1].peak_inside == 0 and hours[1].visits == 0 and hours[1].accuracy is None
    assert day.peak_inside == 3
    across = [["acct-crowd-001", 3500.0, 3503.0, 3700.0, 3701.0, True, True, False, False]]  # in from 07:58 to 08:01
    hours, _ = hourly_figures(segs, day_visits(segs, {0: _row(across), 1: _row([])}, profile), {0: 3800.0, 1: 5500.0},
                              profile.opens_h)
    assert [h.peak_inside for h in hours] == [1, 1]


def test_memory_is_flat_within_ten_percent_of_the_first_hours_rss():
    segs = [Segment(i, i * 1800.0, 1800.0, 7 + i // 2, 1.0, i) for i in range(6)]  # three hours, two per hour
    flat = memory_check({0: 300.0, 1: 310.0, 2: 320.0, 3: 330.0, 4: 335.0, 5: 340.0}, segs)
    assert (flat.first_hour_mb, flat.last_hour_mb) == (310.0, 340.0)
    assert flat.growth == pytest.approx(30 / 310) and flat.flat is True
    grown = memory_check({0: 300.0, 1: 300.0, 4: 331.0, 5: 200.0}, segs)
    assert grown.growth == pytest.approx(0.1033, abs=1e-4) and grown.flat is False
    assert memory_check({0: 300.0}, segs).flat is None  # nothing from the last hour: not compared


def test_the_day_reports_its_speed_per_simulated_second_of_the_day_and_its_memory(tmp_path):
    profile, segs = _two_hours(tmp_path)
    rows = {0: _row([]), 1: _row([])}
    rows[0]["report"].update(sim_seconds=1800.0, day={"visits": [], "cpu_s": 2000.0, "rss_mb": [[0, 400.0], [1800, 500.0]]})
    rows[1]["report"].update(sim_seconds=600.0, day={"visits": [], "cpu_s": 880.0, "rss_mb": [[0, 400.0], [600, 540.0]]})
    run = DayRun("tiny_store", 0, 2.0, 60.0, 2, "local", wall_s=1440.0, ran=2)
    day = day_summary(segs, rows, profile, run)
    speed, memory = day["speed"], day["memory"]
    assert speed["cpu_s"] == 2880.0 and speed["cpu_s_per_day_s"] == pytest.approx(0.4)  # 2880 over 7200 s of day
    assert speed["cpu_s_per_episode_s"] == pytest.approx(1.2) and speed["realtime_factor"] == pytest.approx(5.0)
    assert (memory["first_hour_end_rss_mb"], memory["last_hour_end_rss_mb"], memory["flat"]) == (500.0, 540.0, True)
    assert memory["peak_rss_mb"] == 540.0 and day["segments_crashed"] == 0
    resumed = day_summary(segs, {0: rows[0]}, profile, DayRun("tiny_store", 0, 2.0, 60.0, 2, "local", 10.0, 0))
    assert resumed["speed"]["realtime_factor"] is None  # a wall time that does not cover the day is no speed
    # The missing second hour has no CPU figure: the rate is over the hour that was simulated, not the whole day.
    assert resumed["speed"]["covered_day_s"] == 3600.0 and resumed["speed"]["cpu_s_per_day_s"] == pytest.approx(2000 / 3600, abs=1e-3)
    assert resumed["segments_crashed"] == 1 and resumed["segments"][1]["status"] == "missing"


# --- end to end ----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_short_day_on_the_tiny_store_writes_day_json_and_the_plot(tmp_path, capsys):
    out = tmp_path / "day"
    argv = ["day", str(TINY), "--hours", "0.05", "--segment-min", "1.5", "--workers", "2", "--seed", "3",
            "--out", str(out)]
    assert run_sim.main(argv) == 0
    day = json.loads((out / "day.json").read_text())
    assert (out / "day.png").stat().st_size > 10_000
    assert [s["status"] for s in day["segments"]] == ["ok", "ok"]
    assert [h["clock"] for h in day["hourly"]] == ["06:00"]
    whole = day["day"]
    assert whole["visits"] == whole["receipts_issued"] + whole["unissued"] + whole["unfinished"]
    assert whole["visits"] == sum(len(segment_arrivals(s, load_profile(SHIPPED)))
                                  for s in plan_day(load_profile(SHIPPED), 0.05, 1.5, 3)) - whole["gave_up"]
    assert day["speed"]["cpu_s"] > 0 and day["speed"]["realtime_factor"] > 0
    assert day["memory"]["flat"] is True
    printed = capsys.readouterr().out
    assert "speed: 0.05 h of the day" in printed and "memory:" in printed
    # run again: every segment resumes from results.jsonl, nothing is simulated anew
    assert run_sim.main(argv) == 0
    again = json.loads((out / "day.json").read_text())
    assert again["segments_run_now"] == 0 and again["day"] == whole
