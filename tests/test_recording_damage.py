"""Damaged and malformed MCAP logs: every one is a single line on stderr and exit 2 (never a traceback,
never a silent wrong answer), naming the byte offset or the channel and message; `--salvage` reads around
damage into a report marked partial. Logs are rewritten from one tiny recording with mcap's own writer."""
from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap.writer import CompressionType, Writer
from PIL import Image

import run_sim
from sim.codec import encode_jpeg, encode_png16
from sim.errors import InputError
from sim.layout import load_store
from sim.recording import LogReader, record_spans, record_stream
from sim.simulation import Simulation
from sim.stream import CameraFrame, message_bytes

TINY_STORE = Path(__file__).resolve().parent.parent / "assets" / "stores" / "tiny_store.yaml"
DAMAGE = re.compile(r"^\S+: corrupt MCAP at byte (\d+): .+$")


def _tiny_log(tmp_path_factory, cameras: dict) -> tuple[Path, list]:
    layout = load_store(TINY_STORE).with_sensors({"cameras": {"resolution": (48, 36), "rgb_resolution": (64, 36), **cameras}})
    sim = Simulation(layout, 2)
    path = tmp_path_factory.mktemp("damage") / "tiny.mcap"
    live = list(record_stream(sim.run(0.5, stop_when_done=False), path, truth=sim.ledger,
                              metadata={"scenario": "tiny", "seed": "2"}, chunk_bytes=8 * 1024))
    sim.close()
    return path, live


@pytest.fixture(scope="module")
def log(tmp_path_factory) -> tuple[Path, list]:
    """Half a second of the tiny store (four small cameras: 64 x 36 JPEG colour, 48 x 36 PNG depth; load cells) in
    8 KiB chunks, and its live stream."""
    return _tiny_log(tmp_path_factory, {})


@pytest.fixture(scope="module")
def raw_log(tmp_path_factory) -> tuple[Path, list]:
    """The same with raw frames: colour not JPEG-coded, depth off the millimetre grid (so both travel raw)."""
    return _tiny_log(tmp_path_factory, {"rgb_jpeg_quality": 0, "depth_unit_m": 0})


def replay(capsys, path: Path, *args: str) -> tuple[int, list[str]]:
    code = run_sim.main(["replay", str(path), *args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.strip().splitlines()


def damaged(log, tmp_path: Path, where: Callable[[list], int], xor: int = 0xFF) -> tuple[Path, int]:
    """The log with one byte flipped, at `where(chunk spans)`; also the offset of the chunk it is in."""
    path, _ = log
    chunks = [(a, b) for a, b, name in record_spans(path) if name == "Chunk"]
    at = where(chunks)
    data = bytearray(path.read_bytes())
    data[at] ^= xor
    out = tmp_path / "damaged.mcap"
    out.write_bytes(bytes(data))
    return out, max(a for a, _ in chunks if a <= at)


def rewritten(log, tmp_path: Path, edit: Callable[[str, int, bytes], bytes | None] = lambda t, i, d: d,
              metadata: dict[str, str] | None = None, topics: dict[str, str] | None = None) -> Path:
    """The log copied message by message with mcap's writer, each message's data through `edit(topic, index
    on its topic, data)` (None drops it); `metadata` replaces the episode record, `topics` renames."""
    path, _ = log
    out = tmp_path / "rewritten.mcap"
    with open(path, "rb") as src, open(out, "wb") as dst:
        reader = make_reader(src)
        writer = Writer(dst, chunk_size=8 * 1024, compression=CompressionType.ZSTD)
        writer.start(profile="", library="test")
        writer.add_metadata("episode", metadata if metadata is not None else {"scenario": "tiny", "seed": "2"})
        schemas: dict[int, int] = {}
        channels: dict[int, int] = {}
        seen: dict[str, int] = {}
        for schema, channel, message in reader.iter_messages(log_time_order=False):
            if schema.id not in schemas:
                schemas[schema.id] = writer.register_schema(schema.name, schema.encoding, schema.data)
            if channel.id not in channels:
                topic = (topics or {}).get(channel.topic, channel.topic)
                channels[channel.id] = writer.register_channel(topic, channel.message_encoding, schemas[schema.id])
            index = seen[channel.topic] = seen.get(channel.topic, 0) + 1
            data = edit(channel.topic, index, message.data)
            if data is not None:
                writer.add_message(channels[channel.id], message.log_time, data, message.publish_time, message.sequence)
        writer.finish()
    return out


def json_edit(topic: str, change: Callable[[dict], object]) -> Callable[[str, int, bytes], bytes]:
    """An edit that replaces the first message on `topic` by `change(its JSON)`."""
    def edit(t: str, i: int, data: bytes) -> bytes:
        return json.dumps(change(json.loads(data))).encode() if (t, i) == (topic, 1) else data
    return edit


def changed(fn: Callable[[dict], object]) -> Callable[[dict], dict]:
    """`fn` changes a body in place; the body is the result."""
    return lambda body: (fn(body), body)[1]


# --- damage --------------------------------------------------------------------------------------------------


# What is hit in the third chunk (the first holds /store_info, the second the calibrations for Foxglove, which
# no replay reads: the third is the first to carry frames) -> the byte within the chunk's span.
DAMAGES = {
    "opcode byte": lambda chunks: chunks[2][0],
    "length field": lambda chunks: chunks[2][0] + 6,
    "byte inside the chunk": lambda chunks: (chunks[2][0] + chunks[2][1]) // 2,
}


@pytest.mark.parametrize("hit", sorted(DAMAGES))
def test_damage_in_a_chunk_is_one_line_with_the_chunks_byte_offset_and_exit_2(log, tmp_path, capsys, hit):
    path, chunk_at = damaged(log, tmp_path, DAMAGES[hit])
    code, err = replay(capsys, path, "--out", str(tmp_path / "out"))
    assert code == 2 and len(err) == 1 and DAMAGE.match(err[0]), err
    assert int(DAMAGE.match(err[0]).group(1)) == chunk_at
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["partial"] is True and str(chunk_at) in report["damage"]


def test_a_damaged_opcode_is_never_skipped_in_silence(log, tmp_path):
    path, chunk_at = damaged(log, tmp_path, DAMAGES["opcode byte"], xor=0x60)  # 0x06 Chunk -> 0x66, unknown to MCAP
    reader = LogReader(path)
    list(reader.messages())
    assert reader.damage is not None and reader.damage.offset == chunk_at and "opcode 0x66" in reader.damage.what


def test_a_flipped_byte_inside_a_chunk_fails_its_crc(log, tmp_path):
    path, chunk_at = damaged(log, tmp_path, DAMAGES["byte inside the chunk"], xor=0x01)
    reader = LogReader(path)
    list(reader.messages())
    assert reader.damage is not None and reader.damage.offset == chunk_at
    assert "checksum" in reader.damage.what or "decompress" in reader.damage.what


def test_a_flipped_byte_outside_every_chunk_fails_the_data_section_crc(log, tmp_path):
    path, _ = log
    data = bytearray(path.read_bytes())
    seed_at = data.index(b"seed") + len(b"seed") + 4  # the metadata value after its length prefix
    assert data[seed_at:seed_at + 1] == b"2"
    data[seed_at] = ord("3")  # a seed that still parses: only the checksum tells
    out = tmp_path / "seed.mcap"
    out.write_bytes(bytes(data))
    reader = LogReader(out)
    reader.truth()
    assert reader.damage is not None and "data section checksum" in reader.damage.what


@pytest.mark.parametrize("keep", [0.5, 0.999, 9])
def test_a_truncated_log_is_one_line_and_exit_2(log, tmp_path, capsys, keep):
    path, _ = log
    data = path.read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[: int(len(data) * keep) if keep < 1 else keep])
    code, err = replay(capsys, cut)
    assert code == 2 and len(err) == 1 and DAMAGE.match(err[0]), err
    assert "truncated" in err[0] or "no sensor message" in err[0]


@pytest.mark.parametrize("hit", sorted(DAMAGES))
def test_salvage_reads_past_the_damage_into_a_partial_report(log, tmp_path, capsys, hit):
    path, chunk_at = damaged(log, tmp_path, DAMAGES[hit])
    code, err = replay(capsys, path, "--salvage", "--out", str(tmp_path / "out"))
    assert code == 0 and len(err) == 1 and DAMAGE.match(err[0]) and "partial" in err[0], err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["partial"] is True and f"at byte {chunk_at}" in report["damage"]
    assert report["scored"]  # the truth, after the damage, was read
    assert "**PARTIAL**" in (tmp_path / "out" / "report.md").read_text().splitlines()[2]
    strict, salvaged = LogReader(path), LogReader(path, salvage=True)
    before, around = list(strict.messages()), list(salvaged.messages())
    live = [message_bytes(m) for m in log[1]]
    assert len(before) < len(around) < len(live)
    assert _is_subsequence([message_bytes(m) for m in around], live)


def test_an_undamaged_log_reads_the_same_with_salvage(log):
    path, live = log
    reader = LogReader(path, salvage=True)
    assert [message_bytes(m) for m in reader.messages()] == [message_bytes(m) for m in live]
    assert reader.damage is None and reader.truth() is not None


def test_record_spans_tile_the_log_between_its_magics(log):
    path, _ = log
    spans = record_spans(path)
    assert spans[0][0] == 8 and spans[-1][1] == path.stat().st_size - 8
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert [name for *_, name in spans].count("Chunk") >= 3


# --- not MCAP, nothing in it ---------------------------------------------------------------------------------


@pytest.mark.parametrize("content, says", [
    (b"", "empty file"),
    (b"\x89MCA", "cut short"),
    (bytes(range(256)) * 4, "not an MCAP log"),
    (TINY_STORE.read_bytes(), "not an MCAP log"),
])
def test_a_file_that_is_not_mcap_is_one_line_and_exit_2(tmp_path, capsys, content, says):
    path = tmp_path / "log.mcap"
    path.write_bytes(content)
    code, err = replay(capsys, path)
    assert code == 2 and len(err) == 1 and err[0].startswith(str(path)) and says in err[0], err


def test_an_empty_but_valid_mcap_has_no_sensor_stream(tmp_path, capsys):
    path = tmp_path / "empty.mcap"
    with open(path, "wb") as f:
        writer = Writer(f)
        writer.start(profile="", library="test")
        writer.finish()
    code, err = replay(capsys, path)
    assert code == 2 and len(err) == 1 and "no sensor stream in this MCAP (0 messages on /store_info" in err[0], err


def test_a_log_without_its_store_info_is_refused(log, tmp_path, capsys):
    path = rewritten(log, tmp_path, lambda t, i, d: None if t == "/store_info" else d)
    code, err = replay(capsys, path)
    assert code == 2 and len(err) == 1 and "must start with /store_info" in err[0], err


# --- malformed messages and metadata -------------------------------------------------------------------------


def _no_stack(*args, **kwargs):
    raise AssertionError("the checkout stack was built for a log that could be refused before it")


@pytest.mark.parametrize("seed", ["two", "-1", "1e3", ""])
def test_a_bad_metadata_seed_is_refused_before_the_replay(log, tmp_path, capsys, monkeypatch, seed):
    monkeypatch.setattr("checkout.stack.CheckoutStack", _no_stack)
    path = rewritten(log, tmp_path, metadata={"scenario": "tiny", "seed": seed})
    code, err = replay(capsys, path)
    assert code == 2 and len(err) == 1, err
    assert re.match(rf"^{re.escape(str(path))}: metadata 'episode' at byte \d+: seed: expected a non-negative integer", err[0])


MALFORMED = {  # topic, its first message changed -> what the error says
    "load cells of the wrong shape": ("/load_cells", changed(lambda b: b["grams"]["values"].pop()),
                                      "grams.values: expected nested lists of shape"),
    "load cells as a list": ("/load_cells", lambda b: [b], "expected a JSON object, got a list"),
    "a load cell reading as text": ("/load_cells", changed(lambda b: b["grams"]["values"][0].__setitem__(1, "12")),
                                    "grams.values: expected numbers or null"),
    "a missing field": ("/load_cells", changed(lambda b: b.pop("rate_hz")), "rate_hz: missing"),
    "an unknown bin": ("/load_cells", changed(lambda b: b["cell_ids"].__setitem__(0, "Z-9-9")),
                       "cell_ids: 'Z-9-9' is no bin"),
    "a time as text": ("/load_cells", changed(lambda b: b.__setitem__("t_s", "0.1")),
                       "t_s: expected a finite number, got a string"),
    "an infinite time": ("/load_cells", changed(lambda b: b.__setitem__("t_s", float("inf"))),
                         "t_s: expected a finite number, got inf"),
    "a JPEG of the wrong size": ("/cameras/cam-1/rgb", changed(lambda b: b.__setitem__("data", _b64(encode_jpeg(
                                    np.zeros((36, 65, 3), np.uint8), 90)))),
                                 "data: a 65 x 36 image where its calibration says 64 x 36"),
    # colour and depth are two imagers, each image checked against its own imager's calibration
    "a JPEG at the depth imager's size": ("/cameras/cam-1/rgb", changed(lambda b: b.__setitem__("data", _b64(encode_jpeg(
                                             np.zeros((36, 48, 3), np.uint8), 90)))),
                                          "data: a 48 x 36 image where its calibration says 64 x 36"),
    "a depth PNG at the colour imager's size": ("/cameras/cam-1/depth", changed(lambda b: b.__setitem__("data", _b64(
                                                   encode_png16(np.zeros((36, 64), np.uint16))))),
                                                "data: a 64 x 36 image where its calibration says 48 x 36"),
    "a colour calibration of no camera": ("/store_info", changed(lambda b: b["rgb_cameras"][0].__setitem__("camera_id", "cam-9")),
                                          "rgb_cameras: expected at most one colour imager per camera"),
    "a JPEG cut short": ("/cameras/cam-1/rgb", changed(lambda b: b.__setitem__("data", _b64(_unb64(b["data"])[:40]))),
                         "data: not a JPEG"),
    "a depth PNG of 8 bits": ("/cameras/cam-1/depth", changed(lambda b: b.__setitem__("data", _b64(_png8()))),
                              "data: a L PNG, not 16-bit greyscale"),
    "a depth image as JPEG": ("/cameras/cam-1/depth", changed(lambda b: b.__setitem__("format", "jpeg")),
                              "format: expected 'png'"),
    "a depth image without its unit": ("/cameras/cam-1/depth", changed(lambda b: b.pop("unit_m")),
                                       "'unit_m' is missing"),
    "image data not base64": ("/cameras/cam-1/rgb", changed(lambda b: b.__setitem__("data", "!" * len(b["data"]))),
                              "data: not base64"),
    "store info without bins": ("/store_info", changed(lambda b: b.__setitem__("bins", 3)),
                                "bins: expected a list, got an integer"),
    "truth receipts of the wrong form": ("/truth/receipts", changed(lambda b: b.__setitem__("closed", [1])),
                                         "closed: expected an object"),
}


RAW_MALFORMED = {  # the same for raw frames
    "an image of the wrong width": ("/cameras/cam-1/rgb", changed(lambda b: b.__setitem__("width", b["width"] + 1)),
                                    "width: expected 64 x 36"),
    "image data of the wrong length": ("/cameras/cam-1/rgb", changed(lambda b: b.__setitem__("data", b["data"][:-8])),
                                       "data: 6906 bytes, expected height x step = 36 x 192 = 6912"),
    "a depth image as rgb": ("/cameras/cam-1/depth", changed(lambda b: b.__setitem__("encoding", "rgb8")),
                             "encoding: expected '32FC1'"),
}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def _png8() -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.zeros((36, 48), np.uint8)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("fixture,case", [("log", c) for c in sorted(MALFORMED)] + [("raw_log", c) for c in sorted(RAW_MALFORMED)])
def test_a_malformed_message_is_one_line_naming_its_channel_and_index(request, tmp_path, capsys, fixture, case):
    topic, change, says = (RAW_MALFORMED if fixture == "raw_log" else MALFORMED)[case]
    path = rewritten(request.getfixturevalue(fixture), tmp_path, json_edit(topic, change))
    code, err = replay(capsys, path)
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"{path}: {topic} message 1 (in the chunk at byte ") and says in err[0], err


def test_a_raw_log_replays_bit_for_bit(raw_log):
    path, live = raw_log
    back = list(LogReader(path).messages())
    frames = [m for m in live if isinstance(m, CameraFrame)]
    assert frames and all(f.rgb_jpeg is None for f in frames)
    assert [message_bytes(m) for m in back] == [message_bytes(m) for m in live]


def test_a_message_that_is_not_json_is_one_line(log, tmp_path, capsys):
    path = rewritten(log, tmp_path, lambda t, i, d: b"{not json" if (t, i) == ("/load_cells", 2) else d)
    code, err = replay(capsys, path)
    assert code == 2 and len(err) == 1 and "/load_cells message 2 (in the chunk at byte" in err[0] and "not JSON" in err[0]


def test_a_channel_this_reader_does_not_know_is_refused_before_the_replay(log, tmp_path, monkeypatch):
    monkeypatch.setattr("checkout.stack.CheckoutStack", _no_stack)
    path = rewritten(log, tmp_path, topics={"/load_cells": "/loadcells"})
    from scoring.replay import replay_log

    with pytest.raises(InputError, match=r": channel \d+: a topic this reader does not know: '/loadcells'"):
        replay_log(path)


def test_a_rewritten_log_replays_as_the_original(log, tmp_path):
    """The rewriting helper itself changes nothing: the cases above differ from a good log by their edit only."""
    path, live = log
    reader = LogReader(rewritten(log, tmp_path))
    assert [message_bytes(m) for m in reader.messages()] == [message_bytes(m) for m in live]
    assert reader.damage is None and reader.truth() is not None


def _is_subsequence(part: list, whole: list) -> bool:
    it = iter(whole)
    return all(any(x == y for y in it) for x in part)


def test_a_salvage_that_loses_the_store_info_is_one_line_and_exit_2(log, tmp_path, capsys):
    path, chunk_at = damaged(log, tmp_path, lambda chunks: (chunks[0][0] + chunks[0][1]) // 2)
    code, err = replay(capsys, path, "--salvage")
    assert code == 2 and len(err) == 1 and "must start with /store_info" in err[0], err
    assert f"lost to the damage at byte {chunk_at}" in err[0]
