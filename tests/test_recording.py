"""MCAP record and replay: a bitwise round trip, truth kept apart, damage reported with its byte offset,
Foxglove's schema names for images and calibrations, and a replay whose report is the live one, key by key."""
from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest
from mcap.reader import make_reader
from PIL import Image

import run_sim
from sim.layout import load_store
from sim.ledger import Ledger
from sim.recording import EpisodeFacts, LogReader, LogWriter, RecordedTruth, TruthFrame, record_stream
from sim.simulation import Simulation
from sim.stream import CameraFrame, GateScan, LoadCellBatch, StoreInfo, message_bytes, stream_digest

ROOT = Path(__file__).resolve().parent.parent
PICK_ONE = ROOT / "assets" / "scenarios" / "pick-one.yaml"
DAMAGE = re.compile(r"^\S+: corrupt MCAP at byte (\d+): .+$")


class _Scanner:
    """Presents an account at the entry gate once, so the stream carries a gate message."""

    id, account, done = "probe", "acct-7", False

    def act(self, sim: Simulation) -> None:
        if sim.clock.tick == 20:
            sim.gates.scan("in-1", "acct-7", ["probe"])

    def position(self):
        return None


@pytest.fixture
def recorded(tmp_path, tiny_store_path):
    """A short recording of the tiny store (a dead load cell, a gate scan, small frames) and its live stream."""
    layout = load_store(tiny_store_path).with_sensors(
        {"cameras": {"resolution": (48, 36), "rgb_resolution": (64, 36), "drop_rate": 0.1}, "load_cells": {"dead": ["A-1-1"]}}
    )
    sim = Simulation(layout, 2)
    sim.add_actor(_Scanner())
    path = tmp_path / "tiny.mcap"
    source = list(sim.run(0.6, stop_when_done=False))
    meta = {"scenario": "tiny", "seed": "2"}
    passed = list(record_stream(iter(source), path, truth=sim.ledger, metadata=meta, chunk_bytes=8 * 1024))
    ledger = sim.ledger
    sim.close()
    assert all(a is b for a, b in zip(passed, source)) and len(passed) == len(source)  # the wrapper changes nothing
    return path, source, ledger


def test_replay_gives_back_the_recorded_messages_bit_for_bit(recorded):
    path, live, _ = recorded
    reader = LogReader(path)
    back = list(reader.messages())
    assert reader.damage is None
    assert [type(m) for m in back] == [type(m) for m in live]
    assert {StoreInfo, CameraFrame, LoadCellBatch, GateScan} <= {type(m) for m in live}
    assert stream_digest(back) == stream_digest(live)
    assert all(a == b for a, b in zip(back, live))
    assert back[0] == live[0]  # StoreInfo rebuilt with the very same nested tuples
    assert reader.metadata == {"scenario": "tiny", "seed": "2"}


def test_truth_travels_apart_and_never_in_the_sensor_stream(recorded):
    path, _, ledger = recorded
    reader = LogReader(path)
    truth = reader.truth()
    assert truth is not None
    assert list(truth.events) == ledger.events and any(e.kind == "scan" for e in truth.events)
    assert [i.item_id for i in truth.items] == list(ledger.items) and truth.items[0] == ledger.items[truth.items[0].item_id]
    sensor_types = {type(m).__name__ for m in reader.messages()}
    assert sensor_types <= {"StoreInfo", "CameraFrame", "LoadCellBatch", "GateScan", "GatePassage"}
    assert any(t.startswith("/truth/") for t in reader.topics)


def test_sampled_truth_frames_and_episode_facts_travel_exactly_and_faults_once(recorded, tmp_path):
    _, live, _ = recorded
    ledger = Ledger()
    ledger.fault(1.25, "alice", "acct-1", "no cola-330 in A-1-1")
    frames = (TruthFrame(0.1, 3, {"alice": (1.0000000000000002, -2.5)}), TruthFrame(0.2, 7, {}))
    facts = EpisodeFacts(end_s=18.4583333, notes=("walk_to point moved",), shoppers=1, shoppers_peak=1, cameras=4,
                         camera_fps=10.0, camera_resolution=(48, 36), depth_noise_m=0.01, load_cell_noise_g=0.5,
                         products=12, skus=3)
    truth = RecordedTruth.from_ledger(ledger, frames, facts)
    assert [e.kind for e in truth.events] == ["fault"]  # the ledger lists a fault twice (events, faults): once here
    out = tmp_path / "facts.mcap"
    with LogWriter(out) as log:
        log.write(live[0])
        log.write_truth(truth)
    back = LogReader(out).truth()
    assert back == truth and back.frames == frames and back.episode == facts


@pytest.mark.parametrize("keep", [0.5, 0.97, 12])
def test_a_truncated_log_is_reported_with_its_byte_offset_and_what_was_read_is_kept(recorded, tmp_path, keep):
    path, live, _ = recorded
    data = path.read_bytes()
    cut = int(len(data) * keep) if keep < 1 else keep
    damaged = tmp_path / "cut.mcap"
    damaged.write_bytes(data[:cut])
    reader = LogReader(damaged)
    back = list(reader.messages())
    assert reader.damage is not None
    line = str(reader.damage)
    assert DAMAGE.match(line) and "\n" not in line, line
    assert int(DAMAGE.match(line).group(1)) <= cut
    assert [message_bytes(m) for m in back] == [message_bytes(m) for m in live[: len(back)]]
    if keep == 0.5:
        assert 0 < len(back) < len(live)


def test_a_corrupted_chunk_is_reported_and_the_messages_before_it_kept(recorded, tmp_path):
    path, live, _ = recorded
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged = tmp_path / "flipped.mcap"
    damaged.write_bytes(bytes(data))
    reader = LogReader(damaged)
    back = list(reader.messages())
    assert reader.damage is not None and DAMAGE.match(str(reader.damage))
    assert [message_bytes(m) for m in back] == [message_bytes(m) for m in live[: len(back)]]


def test_replay_command_on_a_truncated_log_prints_one_line_and_exits_2(recorded, tmp_path, capsys):
    path, _, _ = recorded
    data = path.read_bytes()
    damaged = tmp_path / "cut.mcap"
    damaged.write_bytes(data[: len(data) * 2 // 3])
    code = run_sim.main(["replay", str(damaged), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and DAMAGE.match(err[0]), err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert any("corrupt MCAP" in e for e in report["errors"])


def test_replay_command_on_a_missing_log_is_one_line_and_exit_2(tmp_path, capsys):
    code = run_sim.main(["replay", str(tmp_path / "nope.mcap")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "nope.mcap" in err[0]


@pytest.fixture(scope="module")
def pick_one_log(tmp_path_factory):
    from scoring.replay import record_episode

    path = tmp_path_factory.mktemp("logs") / "pick-one.mcap"
    record_episode(PICK_ONE, 0, path)
    return path


@pytest.mark.slow
def test_a_shipped_scenario_opens_with_an_independent_reader_under_foxglove_schema_names(pick_one_log):
    with open(pick_one_log, "rb") as f:  # mcap's own seeking reader, through the summary section
        reader = make_reader(f)
        summary = reader.get_summary()
        assert summary is not None
        schemas = {s.id: s for s in summary.schemas.values()}
        by_topic = {c.topic: schemas[c.schema_id] for c in summary.channels.values()}
        cameras = [t.split("/")[2] for t in by_topic if t.endswith("/calibration") and not t.endswith("/rgb_calibration")]
        assert cameras
        for cam in cameras:
            for kind in ("rgb", "depth"):
                schema = by_topic[f"/cameras/{cam}/{kind}"]
                assert schema.name == "foxglove.CompressedImage" and schema.encoding == "jsonschema"
                assert json.loads(schema.data)["title"] == "foxglove.CompressedImage"
            assert by_topic[f"/cameras/{cam}/calibration"].name == "foxglove.CameraCalibration"  # the depth imager's
            assert by_topic[f"/cameras/{cam}/rgb_calibration"].name == "foxglove.CameraCalibration"  # the colour one's
        assert summary.statistics.message_count > 0 and summary.chunk_indexes
        assert all(ci.compression == "zstd" for ci in summary.chunk_indexes)
        images = {}
        for _, channel, message in reader.iter_messages(topics=[f"/cameras/{cameras[0]}/rgb", f"/cameras/{cameras[0]}/depth"]):
            body = json.loads(message.data)
            with Image.open(io.BytesIO(base64.b64decode(body["data"]))) as im:  # any image library opens them
                images[channel.topic.rsplit("/", 1)[1]] = (body["format"], im.format, im.mode, im.size)
            if len(images) == 2:
                break
        sizes = {}  # each image at its own imager's size, as its calibration gives it
        for _, channel, message in reader.iter_messages(topics=[f"/cameras/{cameras[0]}/rgb_calibration",
                                                                f"/cameras/{cameras[0]}/calibration"]):
            body = json.loads(message.data)
            sizes["rgb" if channel.topic.endswith("rgb_calibration") else "depth"] = (body["width"], body["height"])
        assert sizes["rgb"] != sizes["depth"]
        assert images == {"rgb": ("jpeg", "JPEG", "RGB", sizes["rgb"]), "depth": ("png", "PNG", "I;16", sizes["depth"])}


def _tiny_recording(tmp_path, name: str, cameras: dict, raw_depth: bool, monkeypatch) -> tuple[Path, list]:
    layout = load_store(ROOT / "assets" / "stores" / "tiny_store.yaml").with_sensors({"cameras": cameras})
    sim = Simulation(layout, 4)
    path = tmp_path / f"{name}.mcap"
    with monkeypatch.context() as m:
        if raw_depth:
            m.setattr("sim.recording.depth_millimetres", lambda depth: None)  # depth as 32-bit metres, as before
        live = list(record_stream(sim.run(2.0, stop_when_done=False), path, truth=sim.ledger))
    sim.close()
    return path, live


@pytest.mark.slow
def test_a_recording_is_five_times_smaller_than_before_and_replays_bit_for_bit(tmp_path, monkeypatch):
    """Two seconds of the tiny store's four cameras at 320x240, 10 fps. Before: raw rgb8 and 32FC1 frames of a
    device with independent per-pixel depth noise on the 1 mm grid and raw colour. Now: the camera's JPEG and
    16-bit PNG millimetres of depth on the disparity grid, in blobs. The same frames written raw tell the
    format's share apart from the device model's."""
    before = {"depth_noise_blob_px": 0.0, "disparity_step_px": 0.0, "rgb_jpeg_quality": 0}
    old, _ = _tiny_recording(tmp_path, "before", before, True, monkeypatch)
    new, live = _tiny_recording(tmp_path, "now", {}, False, monkeypatch)
    frames = [m for m in live if isinstance(m, CameraFrame)]
    assert len(frames) == 4 * 20 and all(f.rgb_jpeg is not None for f in frames)
    assert old.stat().st_size / new.stat().st_size >= 5, (old.stat().st_size, new.stat().st_size)
    assert [message_bytes(m) for m in LogReader(new).messages()] == [message_bytes(m) for m in live]
    raw = tmp_path / "now-raw.mcap"
    monkeypatch.setattr("sim.recording.depth_millimetres", lambda depth: None)
    with LogWriter(raw) as log:
        for m in live:
            log.write(CameraFrame(m.t_s, m.camera_id, m.rgb, m.depth) if isinstance(m, CameraFrame) else m)
    assert raw.stat().st_size / new.stat().st_size >= 2.5  # the format alone, on the very same frames
    back = [m for m in LogReader(raw).messages() if isinstance(m, CameraFrame)]
    assert [(f.rgb.tobytes(), f.depth.tobytes()) for f in back] == [(f.rgb.tobytes(), f.depth.tobytes()) for f in frames]


@pytest.fixture(scope="module")
def live_recorded(tmp_path_factory):
    """A live episode of pick-one recorded as it ran (`run --record`): its report and its log."""
    from scoring.episode import run_episode

    path = tmp_path_factory.mktemp("live") / "pick-one-live.mcap"
    return run_episode(str(PICK_ONE), 0, record=path), path


# Wall-clock costs: the replay reads a log where the live run simulated, so their values cannot be equal.
WALL_CLOCK_KEYS = ("wall_seconds", "realtime_factor", "episode_wall_seconds", "stages")


def _report_differences(live: dict, replayed: dict, skip: tuple[str, ...] = ()) -> list[str]:
    """Where two reports differ: a key one lacks, at any depth, or an unequal value (keys in `skip`, top level
    only, are checked to be there on both sides but their values are not compared)."""
    def walk(a, b, at: str) -> list[str]:
        if isinstance(a, dict) and isinstance(b, dict):
            out = [f"{at}.{k}: only in the live report" for k in a.keys() - b.keys()]
            out += [f"{at}.{k}: only in the replay's" for k in b.keys() - a.keys()]
            return out + [d for k in a.keys() & b.keys() if not (at == "" and k in skip) for d in walk(a[k], b[k], f"{at}.{k}")]
        if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            return [d for i, (x, y) in enumerate(zip(a, b)) for d in walk(x, y, f"{at}[{i}]")]
        return [] if a == b and type(a) is type(b) else [f"{at}: live {a!r}, replay {b!r}"]
    return walk(live, replayed, "")


def test_report_differences_finds_a_missing_key_and_a_changed_value():
    live = {"a": 1, "tracking": {"mota": 0.95, "frames": 182}, "wall_seconds": 3.0}
    assert _report_differences(live, live) == []
    assert _report_differences(live, {**live, "wall_seconds": 1.0}, skip=WALL_CLOCK_KEYS) == []
    assert _report_differences(live, {"a": 1, "tracking": {"mota": 0.96}, "wall_seconds": 3.0}) == [
        ".tracking.frames: only in the live report", ".tracking.mota: live 0.95, replay 0.96"]


@pytest.mark.slow
def test_a_replay_of_a_live_recording_reproduces_its_report_key_by_key(live_recorded, tmp_path):
    from scoring.replay import replay_log

    live, log = live_recorded
    replayed, reader = replay_log(log, tmp_path / "replay")
    assert reader.damage is None
    assert live["tracking"]["frames"] > 0 and live["receipts"] and live["events"]["matched"] == 1  # not vacuous
    assert _report_differences(live, replayed, skip=WALL_CLOCK_KEYS) == []
    assert replayed["log"] == live["log"] == str(log)
    # The stages differ where the work did: the live run built and simulated, the replay checked and read a log.
    assert set(live["stages"]) - {"build", "simulation"} == set(replayed["stages"]) - {"log_check", "log_read"}
    assert json.loads((tmp_path / "replay" / "report.json").read_text()).keys() == live.keys()


@pytest.mark.slow
def test_a_log_from_the_record_command_replays_to_the_live_report(live_recorded, pick_one_log, tmp_path):
    from scoring.replay import replay_log

    live, _ = live_recorded
    replayed, reader = replay_log(pick_one_log, tmp_path / "replay")
    assert reader.damage is None and replayed["scored"]
    assert [r["truth"] for r in replayed["receipts"]] == [{"cola-330": 1}]
    # `log`: each report names its own log, and these are two recordings of the same episode.
    assert _report_differences(live, replayed, skip=WALL_CLOCK_KEYS + ("log",)) == []


@pytest.mark.slow
def test_a_salvaged_replay_flags_the_receipts_issued_after_the_hole(pick_one_log, tmp_path):
    from scoring.replay import replay_log
    from sim.recording import record_spans

    chunks = [(a, b) for a, b, name in record_spans(pick_one_log) if name == "Chunk"]
    start, end = chunks[len(chunks) // 3]  # a hole a third of the way in: before the shopper leaves
    data = bytearray(pick_one_log.read_bytes())
    data[(start + end) // 2] ^= 0xFF
    damaged = tmp_path / "holed.mcap"
    damaged.write_bytes(bytes(data))
    report, reader = replay_log(damaged, salvage=True)
    assert reader.damage is not None and report["partial"] is True
    (receipt,) = report["receipts"]
    assert receipt["flagged"] is True
    assert any(why.startswith("issued after damage in the log") for why in receipt["reasons"])
