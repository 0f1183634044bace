"""Record and replay the sensor stream as MCAP logs (DESIGN.md sections 1 and 10).

Place in the data path: recording wraps the message iterator — `record_stream(stream, path)` yields
every message unchanged while it writes it — so the simulation knows nothing of it; `LogReader` gives
the same messages back, bit for bit (`sim.stream.stream_digest` of a replay equals the live one), so a
stack replayed over a log sees exactly what it saw live. Ground truth travels on `/truth/...` channels,
written at the end, and is read apart (`LogReader.truth()`): `messages()` never yields it. Besides the
ledger, the truth carries what scoring sampled live (`TruthFrame`: the shoppers' true positions at the
tracking sample rate, each after the same message of the stream) and the episode's facts (`EpisodeFacts`:
its true end, what it was), so that a replay scores exactly as the live run did.

Channels (topic: schema name, all `jsonschema`-encoded JSON, so no protobuf is needed and Foxglove opens
the images and calibrations with its well-known schemas):

    /store_info                    store_twin.StoreInfo          first; exact calibrations live here
    /cameras/<id>/calibration      foxglove.CameraCalibration    once per camera, after /store_info: its depth imager
    /cameras/<id>/rgb_calibration  foxglove.CameraCalibration    ... and its colour imager (frame `<id>/rgb`)
    /tf                            foxglove.FrameTransform       world -> each camera and its `<id>/rgb`, once
    /cameras/<id>/rgb              foxglove.CompressedImage jpeg the camera's own JPEG bytes, one per frame, then
                                                                 its depth at once (foxglove.RawImage rgb8 when the
                                                                 stream's colour is raw: `rgb_jpeg_quality` 0)
    /cameras/<id>/depth            foxglove.CompressedImage png  16-bit millimetres (`unit_m` 0.001), 0 = invalid,
                                                                 lossless (foxglove.RawImage 32FC1 metres when a frame
                                                                 holds a depth off the 1 mm grid)
    /load_cells                    store_twin.LoadCellBatch      grams as nested lists, null = NaN (dead cell)
    /gates/scan, /gates/passage    store_twin.GateScan / GatePassage
    /stream/<Type>                 store_twin.<Type>             any other message type of `sim.stream`
    /truth/events, /truth/poses    store_twin.truth.TruthEvent / PoseSample, one message each
    /truth/frames                  store_twin.truth.TruthFrame   the positions scoring samples, one per sample
    /truth/episode                 store_twin.truth.EpisodeFacts one message; absent from logs written without it
    /truth/receipts, /truth/items  store_twin.truth.Receipts / Items, one message each

Exactness: JSON floats are written with Python's shortest round-trip repr; images as base64 of their
JPEG, PNG or raw bytes; a frame's exact `t_s` rides along in an extra `t_s` field (the Foxglove `timestamp`
is nanoseconds). The colour is the very JPEG the device model sent, decoded on reading by the same code
(`sim.codec`), so the replayed pixels are the live ones; depth k mm is float32(k) * float32(0.001), which is
how the device quantised it. Files are chunked (4 MiB) and zstd-compressed, with chunk CRCs and a
data-section CRC. Size: about 42 KB a camera frame at 320x240 depth and 320x180 colour (25 MB per
camera-minute at 10 fps, `make bench-cameras`; the raw frames before were 191 MB).

Checks on reading. The reader takes a log as this module writes it, so that damage never passes for
data; every byte of a log is under a check:
- not MCAP at all (empty, a cut-short magic, other bytes): `InputError`.
- framing: each record's opcode must be one MCAP defines and stand where MCAP puts it (Header first; then
  chunks, message indexes, metadata; DataEnd; then the summary; Footer; the closing magic, and nothing
  after), its length must fit the file, and its fields must fill it exactly. MCAP tells readers to skip
  unknown opcodes (records of later versions); this reader counts them as damage instead, because
  `LogWriter` never writes one and a chunk whose opcode byte is damaged would otherwise vanish with its
  messages, unnoticed.
- chunks: the CRC of the decompressed records must match, a zero CRC included (MCAP's "no CRC"; every
  chunk `LogWriter` writes has one); the size must match; inside, only schemas, channels and messages,
  each message on a channel defined before it.
- the data-section CRC in DataEnd, when not zero, covers what lies outside chunks: the metadata and the
  message indexes. The footer's CRC covers the summary.
- channels: only the topic and schema pairs listed above, json-encoded; else `InputError`.
- metadata: the `episode` record's `seed` must be a non-negative integer; else `InputError`.
- messages: each is checked against its dataclass (fields, types, tuple lengths, finite floats; arrays
  of a numeric dtype whose nested values match their shape, NaN only as null), then against the stream:
  `/store_info` first, images of a camera the StoreInfo calibrates, at its size (a colour image at its
  colour imager's, `StoreInfo.rgb_cameras`; a depth image at its depth imager's), with width x height x
  channels bytes of data and finite depth >= 0, each rgb frame followed by its depth; load-cell batches
  of known bins, gates known. A bad one raises `InputError` naming the topic, the message's number on
  it and its chunk's byte offset.
Damage (a record that cannot be read) is kept as `LogDamage`: `FILE: corrupt MCAP at byte N: what`, N
being the damaged record's offset (a chunk's, for anything inside it). A strict read stops there. A
salvage (`LogReader(path, salvage=True)`) skips the record and goes on at the next chunk that the
summary's chunk index names, or, without a readable summary, at the end of the damaged record when its
length still fits the file; it drops an rgb or depth frame whose other half was lost, and drops the
truth if damage after the last sensor message read may have taken part of it.
"""
from __future__ import annotations

import base64
import io
import json
import math
import os
import struct
import typing
import zlib
from collections import Counter
from dataclasses import MISSING, dataclass, fields, is_dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

import numpy as np
from mcap.data_stream import ReadDataStream
from mcap.opcode import Opcode
from mcap.records import (
    Attachment, AttachmentIndex, Channel, ChunkIndex, DataEnd, Footer, Header, MessageIndex, Metadata, MetadataIndex,
    Schema, Statistics, SummaryOffset,
)
from mcap.writer import CompressionType, Writer

from sim.codec import decode_jpeg, decode_png16, encode_png16
from sim.errors import InputError, Where
from sim.ledger import ItemRecord, PoseSample, TruthEvent
from sim.stream import (
    MESSAGE_TYPES, CameraCalibration, CameraFrame, GatePassage, GateScan, LoadCellBatch, StoreInfo,
)

CHUNK_BYTES = 4 * 1024 * 1024
LIBRARY = "store-twin sim.recording"


@dataclass(frozen=True)
class Receipts:
    """True receipts: what each account owed when it closed (and, for every account, at the end)."""

    closed: dict[str, dict[str, int]]
    at_end: dict[str, dict[str, int]]


@dataclass(frozen=True)
class TruthFrame:
    """One tracking sample of the truth: each shopper inside and where it truly stood (world x, y metres) at
    sim time `t_s`, taken once the stream's first `messages` messages had gone to the stack."""

    t_s: float
    messages: int
    positions: dict[str, tuple[float, float]]


@dataclass(frozen=True)
class EpisodeFacts:
    """What scoring reports of an episode besides the ledger: when its stream truly ended (the sim clock,
    which runs past the last message), the load-time notes on its scenario, and what it was, for plots."""

    end_s: float
    notes: tuple[str, ...]
    shoppers: int
    shoppers_peak: int
    cameras: int
    camera_fps: float
    camera_resolution: tuple[int, int]
    depth_noise_m: float
    load_cell_noise_g: float
    products: int
    skus: int


@dataclass(frozen=True)
class RecordedTruth:
    """The ledger's account of an episode, as a log carries it on its `/truth/...` channels, with what scoring
    sampled live (`frames`, `episode`; empty and None in a log written from the ledger alone)."""

    events: tuple[TruthEvent, ...]
    receipts: Receipts
    items: tuple[ItemRecord, ...]
    poses: tuple[PoseSample, ...]
    frames: tuple[TruthFrame, ...] = ()
    episode: EpisodeFacts | None = None

    @classmethod
    def from_ledger(cls, ledger: Any, frames: Iterable[TruthFrame] = (), episode: EpisodeFacts | None = None
                    ) -> "RecordedTruth":
        closed = dict(getattr(ledger, "closed_receipts", None) or ledger.receipts())
        at_end = {a: dict(sorted(ledger.receipt(a).items())) for a in sorted(ledger.members)}
        poses = tuple(p for samples in getattr(ledger, "poses", {}).values() for p in samples)
        # Scenario faults are in `ledger.events` already (`ledger.faults` lists them again, apart).
        return cls(tuple(ledger.events), Receipts(closed, at_end), tuple(ledger.items.values()),
                   tuple(sorted(poses, key=lambda p: p.t_s)), tuple(frames), episode)


@dataclass(frozen=True)
class LogDamage:
    """A record of a log that could not be read: its byte offset (the record's start, or its chunk's), what
    is wrong, and whether messages may have been lost with it (not so for a damaged index or summary)."""

    path: Path
    offset: int
    what: str
    lost: bool = True

    def __str__(self) -> str:
        return f"{self.path}: corrupt MCAP at byte {self.offset}: {self.what}"


class CorruptLog(InputError):
    """A log that cannot be read to its end; `str()` is the one-line message for people."""

    def __init__(self, damage: LogDamage) -> None:
        self.damage = damage
        super().__init__(Where(damage.path), f"corrupt MCAP at byte {damage.offset}: {damage.what}")


# -- writing ------------------------------------------------------------------------------------------------


def record_stream(
    messages: Iterable[Any],
    path: str | Path,
    truth: Any = None,
    metadata: dict[str, str] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[Any]:
    """Yield `messages` unchanged while writing them to an MCAP log at `path`.

    `truth`: the episode's `Ledger` (or a callable returning a `RecordedTruth`), read once the stream
    ends and written to the `/truth/...` channels. Objects that are not stream messages pass through
    unrecorded. The log is finished even when the consumer stops early (without truth then).
    `metadata` (e.g. scenario, seed) goes into an MCAP metadata record named `episode`. A damaged log
    loses at most the chunk (`chunk_bytes`, before compression) where the damage is, and what follows.
    """
    with LogWriter(path, metadata, chunk_bytes) as log:
        for msg in messages:
            log.write(msg)
            yield msg
        if truth is not None:
            log.write_truth(truth() if callable(truth) else RecordedTruth.from_ledger(truth))


class LogWriter:
    """Writes stream messages and truth to one MCAP file (chunked, zstd); use as a context manager."""

    def __init__(self, path: str | Path, metadata: dict[str, str] | None = None, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = open(self.path, "wb")
        # Data-section CRC on: it is the only checksum over the records outside chunks (the metadata).
        self._writer = Writer(self._file, chunk_size=chunk_bytes, compression=CompressionType.ZSTD, enable_data_crcs=True)
        self._writer.start(profile="", library=LIBRARY)
        if metadata:
            self._writer.add_metadata("episode", {str(k): str(v) for k, v in metadata.items()})
        self._schemas: dict[str, int] = {}
        self._channels: dict[tuple[str, str], int] = {}
        self._sequence = 0
        self._last_ns = 0

    def __enter__(self) -> "LogWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._file.closed:
            return
        self._writer.finish()
        self._file.close()

    def write(self, msg: Any) -> None:
        """One stream message (objects of other types are ignored)."""
        name = type(msg).__name__
        if MESSAGE_TYPES.get(name) is not type(msg):
            return
        if isinstance(msg, CameraFrame):
            self._frame(msg)
        elif isinstance(msg, StoreInfo):
            self._put("/store_info", "store_twin.StoreInfo", _schema_of(StoreInfo), msg.t_s, _to_plain(msg))
            for cal in msg.cameras:
                self._calibration(msg.t_s, cal)
            for cal in msg.rgb_cameras:
                self._calibration(msg.t_s, cal, "rgb")
        else:
            topic = _TOPICS.get(name, f"/stream/{name}")
            self._put(topic, f"store_twin.{name}", _schema_of(type(msg)), msg.t_s, _to_plain(msg))

    def write_truth(self, truth: RecordedTruth) -> None:
        for ev in truth.events:
            self._put("/truth/events", "store_twin.truth.TruthEvent", _schema_of(TruthEvent), ev.t_s, _to_plain(ev))
        for pose in truth.poses:
            self._put("/truth/poses", "store_twin.truth.PoseSample", _schema_of(PoseSample), pose.t_s, _to_plain(pose))
        for frame in truth.frames:
            self._put("/truth/frames", "store_twin.truth.TruthFrame", _schema_of(TruthFrame), frame.t_s, _to_plain(frame))
        if truth.episode is not None:
            self._put("/truth/episode", "store_twin.truth.EpisodeFacts", _schema_of(EpisodeFacts), truth.episode.end_s,
                      _to_plain(truth.episode))
        end_s = self._last_ns / 1e9
        self._put("/truth/receipts", "store_twin.truth.Receipts", _schema_of(Receipts), end_s, _to_plain(truth.receipts))
        items = {"items": [_to_plain(i) for i in truth.items]}
        self._put("/truth/items", "store_twin.truth.Items", {"type": "object", "title": "store_twin.truth.Items"}, end_s, items)

    # -- helpers ---------------------------------------------------------------------------------------

    def _frame(self, f: CameraFrame) -> None:
        if f.rgb_jpeg is not None:
            self._compressed(f, "rgb", "jpeg", f.rgb_jpeg)
        else:
            self._raw(f, "rgb", "rgb8", np.ascontiguousarray(f.rgb, dtype=np.uint8))
        mm = depth_millimetres(f.depth)
        if mm is not None:
            self._compressed(f, "depth", "png", encode_png16(mm), unit_m=DEPTH_UNIT_M)
        else:
            self._raw(f, "depth", "32FC1", np.ascontiguousarray(f.depth, dtype="<f4"))

    def _raw(self, f: CameraFrame, kind: str, encoding: str, arr: np.ndarray) -> None:
        body = {
            "timestamp": _stamp(f.t_s), "frame_id": f.camera_id, "width": int(arr.shape[1]), "height": int(arr.shape[0]),
            "encoding": encoding, "step": int(arr.strides[0]), "data": base64.b64encode(arr.tobytes()).decode("ascii"),
            "t_s": f.t_s,
        }
        self._put(f"/cameras/{f.camera_id}/{kind}", "foxglove.RawImage", RAW_IMAGE_SCHEMA, f.t_s, body)

    def _compressed(self, f: CameraFrame, kind: str, fmt: str, data: bytes, **extra: float) -> None:
        body = {"timestamp": _stamp(f.t_s), "frame_id": f.camera_id, "format": fmt,
                "data": base64.b64encode(data).decode("ascii"), "t_s": f.t_s, **extra}
        self._put(f"/cameras/{f.camera_id}/{kind}", "foxglove.CompressedImage", COMPRESSED_IMAGE_SCHEMA, f.t_s, body)

    def _calibration(self, t_s: float, cal: CameraCalibration, imager: str = "") -> None:
        """A calibration for Foxglove: the depth imager's (`imager` "") or the colour imager's ("rgb")."""
        K = list(cal.K)
        frame = f"{cal.camera_id}/{imager}" if imager else cal.camera_id
        topic = f"/cameras/{cal.camera_id}/{imager}_calibration" if imager else f"/cameras/{cal.camera_id}/calibration"
        body = {
            "timestamp": _stamp(t_s), "frame_id": frame, "width": cal.width, "height": cal.height,
            "distortion_model": "plumb_bob", "D": list(cal.dist), "K": K, "R": [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0],
            "P": [K[0], K[1], K[2], 0.0, K[3], K[4], K[5], 0.0, K[6], K[7], K[8], 0.0],
        }
        self._put(topic, "foxglove.CameraCalibration", CAMERA_CALIBRATION_SCHEMA, t_s, body)
        R = cal.R_matrix()
        centre = -R.T @ np.array(cal.t)
        qx, qy, qz, qw = _quaternion(R.T)  # the camera's axes in the world frame
        tf = {
            "timestamp": _stamp(t_s), "parent_frame_id": "world", "child_frame_id": frame,
            "translation": {"x": centre[0], "y": centre[1], "z": centre[2]},
            "rotation": {"x": qx, "y": qy, "z": qz, "w": qw},
        }
        self._put("/tf", "foxglove.FrameTransform", FRAME_TRANSFORM_SCHEMA, t_s, tf)

    def _put(self, topic: str, schema_name: str, schema: dict, t_s: float, body: dict) -> None:
        if (topic, schema_name) not in self._channels:  # a camera topic may carry raw and compressed frames
            if schema_name not in self._schemas:
                self._schemas[schema_name] = self._writer.register_schema(
                    name=schema_name, encoding="jsonschema", data=json.dumps(schema).encode()
                )
            self._channels[topic, schema_name] = self._writer.register_channel(
                topic=topic, message_encoding="json", schema_id=self._schemas[schema_name]
            )
        ns = max(0, round(float(t_s) * 1e9))
        self._last_ns = max(self._last_ns, ns)
        data = json.dumps(body, separators=(",", ":")).encode()
        self._writer.add_message(self._channels[topic, schema_name], log_time=ns, data=data, publish_time=ns, sequence=self._sequence)
        self._sequence += 1


_TOPICS = {"LoadCellBatch": "/load_cells", "GateScan": "/gates/scan", "GatePassage": "/gates/passage"}


# -- reading ------------------------------------------------------------------------------------------------


class LogReader:
    """Reads a log back: `messages()` gives the sensor stream, `truth()` the recorded truth.

    Each call reads the file from the start and checks it as it goes (module docstring, "Checks"). A file
    that is not MCAP, a channel this reader does not know, or a message or metadata of the wrong form
    raises `InputError`. Damage ends the read there (`damage` says where); with `salvage=True` the read
    skips each damaged record and goes on (`damages` lists them all).
    """

    def __init__(self, path: str | Path, salvage: bool = False) -> None:
        self.path = Path(path)
        self.salvage = salvage
        self.damages: list[LogDamage] = []  # every damage the last read met, in file order
        self.skipped_messages = 0  # salvage: messages read after a loss whose channel was lost with it
        self.truth_lost = False  # the last truth() found no whole truth, and damage is why
        self.topics: dict[str, str] = {}  # topic -> schema name, as far as read
        self.metadata: dict[str, str] = {}  # the `episode` metadata record, when read (checked)
        self.counts: Counter[str] = Counter()  # messages per topic, as far as read
        self.first_sensor_topic: str | None = None
        self._first_sensor_at = -1  # offsets of the records (or chunks) holding the first and last sensor messages
        self._last_sensor_at = -1

    @property
    def damage(self) -> LogDamage | None:
        """The first damage the last read met; None when it read the whole file."""
        return self.damages[0] if self.damages else None

    def damage_note(self) -> str | None:
        """The last read's damage as one line: where the first is, and what a salvage skipped after it."""
        if not self.damages:
            return None
        more = [f"{len(self.damages) - 1} more damaged record(s) after it"] if len(self.damages) > 1 else []
        if self.skipped_messages:
            more.append(f"{self.skipped_messages} message(s) skipped whose channel the damage took")
        return str(self.damages[0]) + (f" ({'; '.join(more)})" if more else "")

    def messages(self) -> Iterator[Any]:
        """The recorded stream messages in recorded order, bitwise as they were; truth never.

        Each is checked against its type and against the `StoreInfo` it follows (cameras, bins, gates).
        """
        pending: dict[str, tuple[float, np.ndarray, bytes | None]] = {}  # camera -> rgb waiting for its depth
        info: _StreamFacts | None = None
        for topic, kind, body, at in self._records(lambda k: k.carries == "sensor"):
            if kind.cls is None:  # a camera image: its rgb, then its depth at once
                cam, plane = topic.split("/")[2], topic.rsplit("/", 1)[1]
                read = _compressed_image if kind.schema == "foxglove.CompressedImage" else _image
                t_s, image, encoded = self._checked(lambda: read(body, cam, plane, info), at)
                # A frame whose other half is missing is malformed, unless a salvage skipped damage (which
                # took that half): then the frame is dropped.
                if plane == "rgb":
                    if cam in pending and not self.damages:
                        raise self._bad(at, f"an rgb frame of {cam} at t={t_s} s while the one at t={pending[cam][0]} s "
                                            f"still waits for its depth")
                    pending[cam] = (t_s, image, encoded)
                    continue
                rgb_t_s, rgb, jpeg = pending.pop(cam, (None, None, None))
                if rgb_t_s != t_s:
                    if self.damages:
                        continue
                    before = f"the rgb frame at t={rgb_t_s} s" if rgb_t_s is not None else "no rgb frame"
                    raise self._bad(at, f"a depth frame of {cam} at t={t_s} s follows {before}; each rgb frame is "
                                        f"followed by its own depth")
                msg: Any = CameraFrame(t_s=t_s, camera_id=cam, rgb=rgb, depth=image, rgb_jpeg=jpeg)
            else:
                msg = self._decode(kind.cls, body, at)
                self._checked(lambda: _check_sensor(msg, info), at)
            if info is None:
                if not isinstance(msg, StoreInfo):
                    raise self._no_store_info(topic, at)
                info = _StreamFacts.of(msg)
            yield msg
        if pending and not self.damages:
            cam = next(iter(pending))
            raise InputError(Where(self.path), f"the log ends with an rgb frame of {cam} and no depth after it")

    def truth(self) -> RecordedTruth | None:
        """The truth written at the end of the recording; None when the log has none (or lost it)."""
        events, poses, frames = [], [], []
        receipts, items, episode = None, None, None
        for topic, kind, body, at in self._records(lambda k: k.carries == "truth"):
            if kind.cls is TruthEvent:
                events.append(self._decode(TruthEvent, body, at))
            elif kind.cls is PoseSample:
                poses.append(self._decode(PoseSample, body, at))
            elif kind.cls is TruthFrame:
                frames.append(self._decode(TruthFrame, body, at))
            elif (kind.cls is Receipts and receipts is not None) or (kind.cls is ItemRecord and items is not None) or (
                    kind.cls is EpisodeFacts and episode is not None):
                raise self._bad(at, f"a second message on {topic}; the truth has one")
            elif kind.cls is EpisodeFacts:
                episode = self._decode(EpisodeFacts, body, at)
            elif kind.cls is Receipts:
                receipts = self._decode(Receipts, body, at)
            else:
                if set(body) != {"items"} or not isinstance(body["items"], list):
                    raise self._bad(at, "expected an object with one field, items: a list of item records")
                items = tuple(self._decode(ItemRecord, x, at, f"items[{i}]") for i, x in enumerate(body["items"]))
        # The truth is written after the sensor stream, receipts and items last. A strict read stops at the
        # first damage, so having read those means the truth is whole. A salvage skips damaged records: one
        # after the last sensor message read may have held truth, and a partial truth would score the
        # replay wrongly, so the truth is dropped then.
        complete = receipts is not None and items is not None and not (
            self.salvage and any(d.lost and d.offset > self._last_sensor_at for d in self.damages))
        self.truth_lost = not complete and bool(self.damages)
        if not complete:
            return None
        return RecordedTruth(tuple(events), receipts, items, tuple(poses), tuple(frames), episode)

    def check(self) -> None:
        """Raise `CorruptLog` if the last read met damage."""
        if self.damage is not None:
            raise CorruptLog(self.damage)

    def check_stream(self) -> None:
        """Raise `InputError` unless the last read found a sensor stream that starts with `/store_info`.

        Run after `truth()` (which reads the whole file), it stops a replay that could only come to nothing
        before the checkout stack is even built.
        """
        if self.first_sensor_topic is None:
            if self.damage is not None:
                d = self.damage
                raise CorruptLog(LogDamage(d.path, d.offset, f"{d.what}; no sensor message could be read"))
            total = sum(self.counts.values())
            raise InputError(Where(self.path), f"no sensor stream in this MCAP (0 messages on {SENSOR_TOPICS}; "
                                               f"{total} message(s) in all)")
        if self.first_sensor_topic != "/store_info":
            raise self._no_store_info(self.first_sensor_topic, f"{self.first_sensor_topic} message 1")

    # -- helpers ---------------------------------------------------------------------------------------

    def _records(self, want: Callable[["_ChannelKind"], bool]) -> Iterator[tuple[str, "_ChannelKind", dict, str]]:
        """(topic, kind, decoded JSON, where) of every message on wanted channels, in file order, checked."""
        self.damages = []
        self.skipped_messages = 0
        self.counts = Counter()
        self.first_sensor_topic = None
        self._first_sensor_at = self._last_sensor_at = -1
        walk = _Walk(self.path, self.salvage, self.damages)
        kinds: dict[int, _ChannelKind] = {}
        episode_at: int | None = None
        for item in walk:
            if item[0] == "metadata":
                _, offset, record = item
                if record.name == "episode":
                    if episode_at is not None:
                        raise InputError(Where(self.path, 0, f"metadata 'episode' at byte {offset}"),
                                         f"a second 'episode' record (the first is at byte {episode_at})")
                    episode_at = offset
                    self.metadata = _episode_metadata(self.path, offset, dict(record.metadata))
                continue
            _, offset, channel, payload, in_chunk = item
            kind = kinds.get(channel.id)
            if kind is None:
                schema = walk.schemas.get(channel.schema_id)
                kind = kinds[channel.id] = _channel_kind(self.path, channel, schema.name if schema else "")
                self.topics[channel.topic] = schema.name if schema else ""
            self.counts[channel.topic] += 1
            if kind.carries == "sensor":
                if self.first_sensor_topic is None:
                    self.first_sensor_topic, self._first_sensor_at = channel.topic, offset
                self._last_sensor_at = offset
            if not want(kind):
                continue
            n = self.counts[channel.topic]
            at = f"{channel.topic} message {n} ({'in the chunk' if in_chunk else 'record'} at byte {offset})"
            body = self._checked(lambda: _json_object(payload), at)
            yield channel.topic, kind, body, at
        self.skipped_messages = walk.skipped_messages

    def _decode(self, tp: Any, body: Any, at: str, key: str = "") -> Any:
        return self._checked(lambda: _decode(tp, body, key), at)

    def _checked(self, fn: Callable[[], Any], at: str) -> Any:
        try:
            return fn()
        except _Malformed as exc:
            raise self._bad(at, str(exc)) from None

    def _bad(self, at: str, what: str) -> InputError:
        return InputError(Where(self.path, 0, at), what)

    def _no_store_info(self, topic: str, at: str) -> InputError:
        why = "the sensor stream must start with /store_info (the store's layout, catalog and calibrations)"
        if self.damage is not None and self.damage.offset < self._first_sensor_at:
            why += f"; it was lost to the damage at byte {self.damage.offset}"
        return self._bad(at, f"{why}, not {topic}")


SENSOR_TOPICS = "/store_info, /load_cells, /cameras/<id>/rgb and /depth, /gates/scan, /gates/passage, /stream/<Type>"


def record_spans(path: str | Path) -> list[tuple[int, int, str]]:
    """(start, end, record name) of each top-level record of a whole log, in file order.

    For fuzzers and tests: damage inside a `Chunk` span is caught by the chunk's CRC, damage at a span's
    first byte (the opcode) by the framing checks. Raises `CorruptLog` on a log that is damaged already.
    """
    spans: list[tuple[int, int, str]] = []
    damages: list[LogDamage] = []
    walk = _Walk(Path(path), False, damages)
    walk.spans = spans
    for _ in walk:
        pass
    if damages:
        raise CorruptLog(damages[0])
    return spans


class _Damage(Exception):
    """A record that cannot be read. `resume_at`: where the next record starts, when its framing held;
    `lost`: whether messages may have gone with it (a chunk, a message, or a record of unknown kind)."""

    def __init__(self, what: str, resume_at: int | None = None, lost: bool = True) -> None:
        super().__init__(what)
        self.what = what
        self.resume_at = resume_at
        self.lost = lost


_MAGIC = b"\x89MCAP0\r\n"
_RECORD_HEAD = struct.Struct("<BQ")  # opcode, length of the body that follows
_MESSAGE_HEAD = struct.Struct("<HIQQ")  # channel id, sequence, log time, publish time
_CHUNK_HEAD = struct.Struct("<QQQII")  # start time, end time, uncompressed size, uncompressed CRC, compression length
_MAX_CHUNK_BYTES = 1 << 30  # a chunk header claiming more is damaged (ours hold CHUNK_BYTES and one message more)
_NAMES = {op.value: op.name.title().replace("_", "") for op in Opcode}
_PARSERS: dict[int, Callable[[Any], Any]] = {
    Opcode.HEADER: Header.read, Opcode.FOOTER: Footer.read, Opcode.SCHEMA: Schema.read, Opcode.CHANNEL: Channel.read,
    Opcode.MESSAGE_INDEX: MessageIndex.read, Opcode.CHUNK_INDEX: ChunkIndex.read, Opcode.ATTACHMENT: Attachment.read,
    Opcode.ATTACHMENT_INDEX: AttachmentIndex.read, Opcode.STATISTICS: Statistics.read, Opcode.METADATA: Metadata.read,
    Opcode.METADATA_INDEX: MetadataIndex.read, Opcode.SUMMARY_OFFSET: SummaryOffset.read, Opcode.DATA_END: DataEnd.read,
}
# Which records may stand where (MCAP spec, "File structure"); a record elsewhere is damage.
_SECTIONS: dict[str, tuple[str, frozenset[int]]] = {
    "start": ("the Header record", frozenset({Opcode.HEADER})),
    "data": ("data section records", frozenset({
        Opcode.SCHEMA, Opcode.CHANNEL, Opcode.MESSAGE, Opcode.CHUNK, Opcode.MESSAGE_INDEX, Opcode.ATTACHMENT,
        Opcode.METADATA, Opcode.DATA_END})),
    "summary": ("summary section records", frozenset({
        Opcode.SCHEMA, Opcode.CHANNEL, Opcode.CHUNK_INDEX, Opcode.ATTACHMENT_INDEX, Opcode.METADATA_INDEX,
        Opcode.STATISTICS, Opcode.SUMMARY_OFFSET, Opcode.FOOTER})),
}


class _Walk:
    """The records of one MCAP file in file order, framing and checksums checked (module docstring, "Checks").

    Yields ("metadata", offset, Metadata) and ("message", offset, Channel, payload, in_chunk), where offset
    is the record's, or its chunk's. Damage goes into `damages`; strict, the walk stops there; salvaging,
    it goes on at the next chunk that the summary's chunk index names after the damage (or, without a
    readable summary, after the damaged record when its length still fits the file).
    """

    def __init__(self, path: Path, salvage: bool, damages: list[LogDamage]) -> None:
        self.path = path
        self.salvage = salvage
        self.damages = damages
        self.schemas: dict[int, Schema] = {}
        self.channels: dict[int, Channel] = {}
        self.skipped_messages = 0
        self.spans: list[tuple[int, int, str]] | None = None  # record_spans() collects them here
        self._chunk_starts: list[int] | None = None
        self._summary_read = False
        self._summary_start: int | None = None
        self._ends_with_magic = False
        self._gap = False  # a salvage skipped bytes since the section's CRC began

    def __iter__(self) -> Iterator[tuple]:
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            _check_magic(f, size, self.path)
            f.seek(max(0, size - len(_MAGIC)))
            self._ends_with_magic = f.read() == _MAGIC
            pos, section = len(_MAGIC), "start"
            crc = zlib.crc32(_MAGIC)  # of the data section, read so far without a gap
            while True:
                if section == "end":
                    self._closing_magic(f, pos, size)
                    return
                try:
                    if pos >= size:
                        where = "before its DataEnd record" if section != "summary" else "before its Footer record"
                        raise _Damage(f"the file ends after {size} bytes, {where} (truncated)")
                    opcode, head, body, end = self._frame(f, pos, size, section)
                    if self.spans is not None:
                        self.spans.append((pos, end, _NAMES[opcode]))
                    items = self._record(opcode, pos, head, body, crc)  # crc: of the section before this record
                    crc = zlib.crc32(body, zlib.crc32(head, crc))
                    section = {Opcode.HEADER: "data", Opcode.DATA_END: "summary", Opcode.FOOTER: "end"}.get(opcode, section)
                    if opcode == Opcode.DATA_END:  # the footer's CRC covers the summary from here on
                        crc, self._summary_start, self._gap = 0, end, False
                    pos = end
                except _Damage as exc:
                    lost = exc.lost and section in ("start", "data")
                    self.damages.append(LogDamage(self.path, pos, exc.what, lost))
                    pos = self._resume(f, size, pos, exc.resume_at) if self.salvage else None
                    if pos is None:
                        return
                    section = "data" if section == "start" else section  # a damaged Header: on to the chunks
                    self._gap = True  # the running CRC has a hole: the next checksum cannot be checked
                    continue
                yield from items

    # -- one record ------------------------------------------------------------------------------------

    def _frame(self, f: IO[bytes], pos: int, size: int, section: str) -> tuple[int, bytes, bytes, int]:
        """(opcode, 9-byte head, body, end) of the record at `pos`, if it may stand there and fits the file."""
        f.seek(pos)
        head = f.read(_RECORD_HEAD.size)
        if len(head) < _RECORD_HEAD.size:
            raise _Damage(f"the file ends inside a record (truncated at {size} bytes)")
        opcode, length = _RECORD_HEAD.unpack(head)
        end = pos + _RECORD_HEAD.size + length
        fits = end <= size
        if opcode not in _NAMES:
            raise _Damage(f"unknown record opcode 0x{opcode:02x} (an MCAP log of this project holds only the "
                          f"records MCAP defines)", end if fits else None)
        name = _NAMES[opcode]
        expected, allowed = _SECTIONS[section]
        if opcode not in allowed:
            raise _Damage(f"a {name} record where {expected} belong", end if fits else None)
        if not fits:
            if not self._ends_with_magic:
                raise _Damage(f"the file ends inside a {name} record (truncated at {size} bytes)")
            raise _Damage(f"a {name} record of {length} bytes runs past the end of the file ({size} bytes): "
                          f"its length is damaged")
        return opcode, head, f.read(length), end

    def _record(self, opcode: int, pos: int, head: bytes, body: bytes, crc: int) -> list[tuple]:
        """What a whole record gives the reader, once checked; damage raises `_Damage` (resumable after it)."""
        end = pos + len(head) + len(body)
        try:
            if opcode == Opcode.CHUNK:
                return self._chunk(pos, body)
            if opcode == Opcode.MESSAGE:
                return [self._message(pos, body, 0, len(body), in_chunk=False)]
            record = _parse(opcode, body)
            if isinstance(record, (Schema, Channel)):
                self._define(record)
            elif isinstance(record, Metadata):
                return [("metadata", pos, record)]
            elif isinstance(record, DataEnd) and not self._gap and record.data_section_crc not in (0, crc):
                raise _Damage(f"data section checksum mismatch (expected {record.data_section_crc:08x}, computed "
                              f"{crc:08x}): a byte before this one is damaged outside every chunk (the chunks' own "
                              f"checksums held), such as in the metadata or a message index")
            elif isinstance(record, Footer) and not self._gap:
                self._check_footer(record, head, body, crc)
            return []
        except _Damage as exc:
            raise _Damage(exc.what, end, lost=opcode in (Opcode.CHUNK, Opcode.MESSAGE)) from None

    def _chunk(self, pos: int, body: bytes) -> list[tuple]:
        if len(body) < _CHUNK_HEAD.size:
            raise _Damage("a Chunk record too short for its own header")
        _, _, size, crc, name_length = _CHUNK_HEAD.unpack_from(body)
        at = _CHUNK_HEAD.size + name_length
        if len(body) < at + 8:
            raise _Damage("a Chunk record too short for its own header")
        (data_length,) = struct.unpack_from("<Q", body, at)
        if at + 8 + data_length != len(body):
            raise _Damage(f"a Chunk record of {len(body)} bytes whose header says {at + 8 + data_length}")
        if size > _MAX_CHUNK_BYTES:
            raise _Damage(f"a chunk claiming {size} bytes uncompressed (its header is damaged)")
        data = _decompress(body[_CHUNK_HEAD.size:at], memoryview(body)[at + 8:], size)
        computed = zlib.crc32(data)
        if computed != crc:
            raise _Damage(f"checksum mismatch in a chunk (its header says {crc:08x}, its records hash to {computed:08x})")
        items, p = [], 0
        while p < len(data):
            if len(data) - p < _RECORD_HEAD.size:
                raise _Damage("a chunk whose records end inside a record header")
            opcode, length = _RECORD_HEAD.unpack_from(data, p)
            start, p = p + _RECORD_HEAD.size, p + _RECORD_HEAD.size + length
            if p > len(data):
                raise _Damage(f"a record of {length} bytes runs past the end of its chunk")
            if opcode == Opcode.MESSAGE:
                item = self._message(pos, data, start, p, in_chunk=True)
                if item is not None:
                    items.append(item)
            elif opcode in (Opcode.SCHEMA, Opcode.CHANNEL):
                self._define(_parse(opcode, data[start:p]))
            else:
                raise _Damage(f"a {_NAMES.get(opcode, f'0x{opcode:02x}')} record inside a chunk (only schemas, "
                              f"channels and messages belong there)")
        return items

    def _message(self, pos: int, data: bytes, start: int, end: int, in_chunk: bool) -> tuple | None:
        if end - start < _MESSAGE_HEAD.size:
            raise _Damage(f"a Message record of {end - start} bytes, shorter than its own header")
        channel_id = _MESSAGE_HEAD.unpack_from(data, start)[0]
        channel = self.channels.get(channel_id)
        if channel is None:
            if self.salvage and self.damages:  # its Channel record was lost with an earlier chunk
                self.skipped_messages += 1
                return None
            raise _Damage(f"a message on channel {channel_id}, which no record before it defines")
        return ("message", pos, channel, data[start + _MESSAGE_HEAD.size:end], in_chunk)

    def _define(self, record: Schema | Channel) -> None:
        known = self.schemas if isinstance(record, Schema) else self.channels
        if known.get(record.id, record) != record:
            raise _Damage(f"a second {type(record).__name__} record with id {record.id} and other content")
        if isinstance(record, Channel) and record.schema_id and record.schema_id not in self.schemas:
            raise _Damage(f"channel {record.id} ({record.topic}) names schema {record.schema_id}, which no record "
                          f"before it defines")
        known[record.id] = record  # type: ignore[assignment]

    def _check_footer(self, footer: Footer, head: bytes, body: bytes, crc: int) -> None:
        if footer.summary_start not in (0, self._summary_start):
            raise _Damage(f"the Footer puts the summary at byte {footer.summary_start}, not {self._summary_start}")
        computed = zlib.crc32(body[:16], zlib.crc32(head, crc))
        if footer.summary_crc not in (0, computed):
            raise _Damage(f"summary section checksum mismatch (expected {footer.summary_crc:08x}, computed {computed:08x})")

    def _closing_magic(self, f: IO[bytes], pos: int, size: int) -> None:
        f.seek(pos)
        if f.read(len(_MAGIC)) != _MAGIC:
            self.damages.append(LogDamage(self.path, pos, "the Footer is not followed by the closing MCAP magic", False))
        elif pos + len(_MAGIC) != size:
            self.damages.append(LogDamage(self.path, pos + len(_MAGIC), f"{size - pos - len(_MAGIC)} bytes after the "
                                                                       f"closing MCAP magic", False))

    # -- salvage ---------------------------------------------------------------------------------------

    def _resume(self, f: IO[bytes], size: int, pos: int, resume_at: int | None) -> int | None:
        """Where a salvage goes on after damage at `pos`: the next indexed chunk, else past the record."""
        starts = self._indexed_chunks(f, size)
        later = [s for s in starts if s > pos] if starts else []
        return later[0] if later else resume_at

    def _indexed_chunks(self, f: IO[bytes], size: int) -> list[int] | None:
        """Chunk offsets from the summary's chunk index, when the footer and summary read whole.

        Its schemas and channels are taken too, for messages whose chunk-borne definition was lost.
        """
        if self._summary_read:
            return self._chunk_starts
        self._summary_read = True
        footer_at = size - len(_MAGIC) - _RECORD_HEAD.size - 20
        try:
            if footer_at < len(_MAGIC) or not self._ends_with_magic:
                return None
            opcode, head, body, _ = self._frame(f, footer_at, size - len(_MAGIC), "summary")
            footer = _parse(opcode, body)
            if not isinstance(footer, Footer) or not footer.summary_start:
                return None
            self._summary_start, pos, crc, starts = footer.summary_start, footer.summary_start, 0, []
            found: list[Schema | Channel] = []
            while pos < footer_at:
                opcode, h, b, pos = self._frame(f, pos, footer_at, "summary")
                crc = zlib.crc32(b, zlib.crc32(h, crc))
                record = _parse(opcode, b)
                if isinstance(record, ChunkIndex):
                    starts.append(record.chunk_start_offset)
                elif isinstance(record, (Schema, Channel)):
                    found.append(record)
            self._check_footer(footer, head, body, crc)
        except _Damage:
            return None
        for record in found:
            known: dict = self.schemas if isinstance(record, Schema) else self.channels
            known.setdefault(record.id, record)
        self._chunk_starts = sorted(starts)
        return self._chunk_starts


class _Body(ReadDataStream):
    """A record's body as the mcap record classes read it, refusing to read past its end (the library's
    own stream hands out short reads silently, which would take a damaged length for a short field)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self._size = len(data)

    def read(self, length: int) -> bytes:
        if length < 0 or self.count + length > self._size:
            raise _Damage(f"a field of {length} bytes runs past the end of its record")
        return super().read(length)


def _parse(opcode: int, body: bytes) -> Any:
    """A record of a known opcode from its body, which its fields must fill exactly."""
    name = _NAMES[opcode]
    stream = _Body(body)
    try:
        record = _PARSERS[opcode](stream)
    except _Damage as exc:
        raise _Damage(f"a {name} record that does not parse: {exc.what}") from None
    except (UnicodeDecodeError, ValueError, struct.error) as exc:
        raise _Damage(f"a {name} record that does not parse: {type(exc).__name__}: {exc}") from None
    if stream.count != len(body):
        raise _Damage(f"a {name} record of {len(body)} bytes whose fields fill {stream.count}")
    return record


def _decompress(compression: bytes, data: memoryview, size: int) -> bytes:
    try:
        if compression == b"zstd":
            import zstandard

            out = zstandard.ZstdDecompressor().decompress(data, max_output_size=size)
        elif compression == b"lz4":
            import lz4.frame

            out = lz4.frame.decompress(bytes(data))
        elif compression == b"":
            out = bytes(data)
        else:
            raise _Damage(f"a chunk compressed with {compression!r}, which is none of zstd, lz4 or none")
    except _Damage:
        raise
    except Exception as exc:  # noqa: BLE001 - the codecs raise their own types: all mean the bytes are bad
        raise _Damage(f"a chunk that does not decompress ({compression.decode('ascii', 'replace')}: {exc})") from None
    if len(out) != size:
        raise _Damage(f"a chunk that decompresses to {len(out)} bytes where its header says {size}")
    return out


def _check_magic(f: IO[bytes], size: int, path: Path) -> None:
    start = f.read(len(_MAGIC))
    if start == _MAGIC:
        return
    if size == 0:
        raise InputError(Where(path), "an empty file, not an MCAP log")
    if size < len(_MAGIC) and _MAGIC.startswith(start):
        raise InputError(Where(path), f"not an MCAP log: {size} bytes, the start of the 8-byte MCAP magic cut short")
    raise InputError(Where(path), f"not an MCAP log: it starts with {start!r}, where an MCAP log starts with {_MAGIC!r}")


# -- channels, metadata and messages as this project writes them -------------------------------------------


@dataclass(frozen=True)
class _ChannelKind:
    """What a channel carries: "sensor" (replayed; `cls` None for camera images), "truth", or "viewer"
    (calibrations and /tf, for Foxglove: the exact calibrations travel in `StoreInfo`; never decoded)."""

    carries: str
    cls: type | None = None
    schema: str = ""


_FIXED_CHANNELS: dict[str, tuple[str, _ChannelKind]] = {
    "/store_info": ("store_twin.StoreInfo", _ChannelKind("sensor", StoreInfo)),
    "/tf": ("foxglove.FrameTransform", _ChannelKind("viewer")),
    "/truth/events": ("store_twin.truth.TruthEvent", _ChannelKind("truth", TruthEvent)),
    "/truth/poses": ("store_twin.truth.PoseSample", _ChannelKind("truth", PoseSample)),
    "/truth/frames": ("store_twin.truth.TruthFrame", _ChannelKind("truth", TruthFrame)),
    "/truth/episode": ("store_twin.truth.EpisodeFacts", _ChannelKind("truth", EpisodeFacts)),
    "/truth/receipts": ("store_twin.truth.Receipts", _ChannelKind("truth", Receipts)),
    "/truth/items": ("store_twin.truth.Items", _ChannelKind("truth", ItemRecord)),
}


def _channel_kind(path: Path, channel: Channel, schema: str) -> _ChannelKind:
    """The kind of a channel whose topic and schema are a pair `LogWriter` writes; else `InputError`."""
    topic, parts = channel.topic, channel.topic.split("/")
    if topic in _FIXED_CHANNELS:
        want, kind = _FIXED_CHANNELS[topic]
    elif len(parts) == 4 and parts[1] == "cameras" and parts[2] and parts[3] in ("calibration", "rgb_calibration"):
        want, kind = "foxglove.CameraCalibration", _ChannelKind("viewer")
    elif len(parts) == 4 and parts[1] == "cameras" and parts[2] and parts[3] in ("rgb", "depth"):
        want = schema if schema in ("foxglove.RawImage", "foxglove.CompressedImage") else "foxglove.CompressedImage"
        kind = _ChannelKind("sensor", schema=want)
    else:
        by_topic = {t: n for n, t in _TOPICS.items()}
        name = by_topic.get(topic) or (topic.removeprefix("/stream/") if topic.startswith("/stream/") else "")
        cls = MESSAGE_TYPES.get(name)
        if cls is None or cls in (StoreInfo, CameraFrame) or _TOPICS.get(name, f"/stream/{name}") != topic:
            raise InputError(Where(path, 0, f"channel {channel.id}"), f"a topic this reader does not know: {topic!r} "
                                                                      f"(schema {schema!r})")
        want, kind = f"store_twin.{name}", _ChannelKind("sensor", cls)
    if schema != want or channel.message_encoding != "json":
        raise InputError(Where(path, 0, f"channel {channel.id} ({topic})"),
                         f"expected schema {want!r} with json messages, got schema {schema!r} with "
                         f"{channel.message_encoding!r} messages")
    return kind


def _episode_metadata(path: Path, offset: int, metadata: dict[str, str]) -> dict[str, str]:
    """The `episode` metadata record, checked where a replay reads it (the seed), before any replay."""
    seed = metadata.get("seed")
    if seed is not None and not (seed.isascii() and seed.isdigit() and len(seed) <= 20):
        raise InputError(Where(path, 0, f"metadata 'episode' at byte {offset}: seed"),
                         f"expected a non-negative integer, got {seed!r}")
    return metadata


class _Malformed(Exception):
    """A decoded value of the wrong form; `str()`: the field's path and what was expected."""

    def __init__(self, key: str, what: str) -> None:
        super().__init__(f"{key}: {what}" if key else what)


def _json_object(payload: bytes) -> dict:
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Malformed("", f"not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise _Malformed("", f"expected a JSON object, got {_kind_of(body)}")
    return body


_HINTS: dict[type, dict[str, Any]] = {}
_ARRAY_KINDS = "biuf"  # numpy dtype kinds a message array may have: bool, int, unsigned, float


def _decode(tp: Any, v: Any, key: str = "") -> Any:
    """Rebuild a value of type `tp` from its plain JSON form, checking its form on the way; scalars keep
    the exact JSON type they had (an int in a float field stays an int), so a replay is bitwise the
    recorded stream. Floats must be finite (NaN travels only as null inside arrays)."""
    if isinstance(tp, type) and is_dataclass(tp):
        return _decode_dataclass(tp, v, key)
    if tp is np.ndarray:
        return _decode_array(v, key)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if args and type(None) in args:  # X | None
        inner = [a for a in args if a is not type(None)]
        return None if v is None else _decode(inner[0], v, key) if len(inner) == 1 else v
    if origin in (tuple, list, set, frozenset):
        if not isinstance(v, list):
            raise _Malformed(key, f"expected a list, got {_kind_of(v)}")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(v) != len(args):
                raise _Malformed(key, f"expected a list of {len(args)}, got {len(v)}")
            return tuple(_decode(a, x, f"{key}[{i}]") for i, (a, x) in enumerate(zip(args, v)))
        out = [_decode(args[0], x, f"{key}[{i}]") for i, x in enumerate(v)]
        return out if origin is list else origin(out)
    if origin is dict:
        if not isinstance(v, dict):
            raise _Malformed(key, f"expected an object, got {_kind_of(v)}")
        return {k: _decode(args[1], x, f"{key}.{k}" if key else k) for k, x in v.items()}
    if tp is float:
        if type(v) not in (int, float) or not math.isfinite(v):
            raise _Malformed(key, f"expected a finite number, got {_kind_of(v)}")
    elif tp in (int, str, bool):
        if type(v) is not tp:
            raise _Malformed(key, f"expected {_KINDS[tp]}, got {_kind_of(v)}")
    return v


def _decode_dataclass(tp: type, v: Any, key: str) -> Any:
    if not isinstance(v, dict):
        raise _Malformed(key, f"expected an object ({tp.__name__}), got {_kind_of(v)}")
    hints = _HINTS.get(tp) or _HINTS.setdefault(tp, typing.get_type_hints(tp))
    unknown = set(v) - set(hints)
    if unknown:
        raise _Malformed(key, f"unexpected field {sorted(unknown)[0]!r} in {tp.__name__}")
    values = {}
    for f in fields(tp):
        sub = f"{key}.{f.name}" if key else f.name
        if f.name in v:
            values[f.name] = _decode(hints[f.name], v[f.name], sub)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise _Malformed(sub, f"missing (a {tp.__name__} needs it)")
    return tp(**values)


def _decode_array(v: Any, key: str) -> np.ndarray:
    if not isinstance(v, dict) or set(v) != {"dtype", "shape", "values"}:
        raise _Malformed(key, "expected an array: an object with dtype, shape and values")
    try:
        dtype = np.dtype(v["dtype"]) if isinstance(v["dtype"], str) else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in _ARRAY_KINDS:
        raise _Malformed(f"{key}.dtype", f"expected a numeric numpy dtype such as '<f8', got {v['dtype']!r}")
    shape = v["shape"]
    if not isinstance(shape, list) or len(shape) > 8 or any(type(n) is not int or n < 0 for n in shape):
        raise _Malformed(f"{key}.shape", f"expected a list of sizes (non-negative integers), got {shape!r}")
    try:
        arr = np.array(v["values"], dtype=object)
    except ValueError as exc:  # lists nested unevenly
        raise _Malformed(f"{key}.values", f"expected nested lists of shape {tuple(shape)} ({exc})") from None
    if arr.shape != tuple(shape) and not (arr.size == 0 and math.prod(shape) == 0):
        raise _Malformed(f"{key}.values", f"expected nested lists of shape {tuple(shape)}, got shape {arr.shape}")
    allowed = {int, float} if dtype.kind == "f" else {int} if dtype.kind in "iu" else {bool}
    nulls = arr == None  # noqa: E711 - null stands for NaN
    found = set(map(type, arr.flat)) - allowed - ({type(None)} if dtype.kind == "f" else set())
    if found:
        what = "numbers or null" if dtype.kind == "f" else "integers" if dtype.kind in "iu" else "true or false"
        raise _Malformed(f"{key}.values", f"expected {what} for dtype {dtype.str}, got {sorted(t.__name__ for t in found)[0]}")
    arr = arr.reshape(shape)
    arr[nulls.reshape(shape)] = np.nan
    try:
        arr = arr.astype(dtype)
    except (OverflowError, ValueError, TypeError) as exc:
        raise _Malformed(f"{key}.values", f"do not fit dtype {dtype.str} ({exc})") from None
    if dtype.kind == "f" and not (np.isfinite(arr) | nulls.reshape(shape)).all():
        raise _Malformed(f"{key}.values", "expected finite numbers or null (NaN)")
    arr.setflags(write=False)
    return arr


_KINDS = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer", float: "a number"}


def _kind_of(v: Any) -> str:
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    return "null" if v is None else _KINDS.get(type(v), type(v).__name__)


@dataclass(frozen=True)
class _StreamFacts:
    """What later messages of a stream are checked against: its `StoreInfo`'s cameras, bins and gates."""

    cameras: dict[str, tuple[int, int]]  # the depth imager's (width, height)
    rgb_sizes: dict[str, tuple[int, int]]  # the colour imager's, where StoreInfo calibrates it apart
    bins: frozenset[str]
    gates: frozenset[str]

    @classmethod
    def of(cls, info: StoreInfo) -> "_StreamFacts":
        return cls({c.camera_id: (c.width, c.height) for c in info.cameras},
                   {c.camera_id: (c.width, c.height) for c in info.rgb_cameras},
                   frozenset(b.id for b in info.bins), frozenset(g.id for g in info.gates))

    def size(self, cam: str, plane: str) -> tuple[int, int]:
        """The (width, height) a `plane` ("rgb" or "depth") image of `cam` must have: its imager's calibration's
        (a colour image without a colour calibration of its own is registered to the depth: the depth's size)."""
        return self.rgb_sizes.get(cam, self.cameras[cam]) if plane == "rgb" else self.cameras[cam]


_IMAGE_FORMATS = {"rgb": ("rgb8", np.dtype(np.uint8), 3), "depth": ("32FC1", np.dtype("<f4"), 1)}
_IMAGE_FIELDS = {"timestamp", "frame_id", "width", "height", "encoding", "step", "data", "t_s"}


def _image(body: dict, cam: str, plane: str, info: _StreamFacts | None) -> tuple[float, np.ndarray, None]:
    """(t_s, image, None) of one `foxglove.RawImage` message, checked against its topic and its calibration."""
    encoding, dtype, channels = _IMAGE_FORMATS[plane]
    t_s = _image_head(body, _IMAGE_FIELDS, "a RawImage", cam, info)
    if body["encoding"] != encoding:
        raise _Malformed("encoding", f"expected {encoding!r} on a /{plane} topic, got {body['encoding']!r}")
    width, height, step = (_decode(int, body[k], k) for k in ("width", "height", "step"))
    want = info.size(cam, plane) if info is not None else (width, height)
    if (width, height) != want or width < 1 or height < 1:
        raise _Malformed("width", f"expected {want[0]} x {want[1]} as its calibration says, got {width} x {height}")
    if step != width * channels * dtype.itemsize:
        raise _Malformed("step", f"expected {width * channels * dtype.itemsize} bytes per row for {width} px of "
                                 f"{encoding}, got {step}")
    raw = _image_data(body)
    if len(raw) != height * step:
        raise _Malformed("data", f"{len(raw)} bytes, expected height x step = {height} x {step} = {height * step}")
    arr = np.frombuffer(raw, dtype=dtype)
    if plane == "depth" and not ((arr >= 0) & (arr < np.inf)).all():
        raise _Malformed("data", "depth must be finite metres >= 0 (0 = invalid)")
    return t_s, arr.reshape((height, width, channels) if channels > 1 else (height, width)), None  # read-only, as live


def _image_head(body: dict, want: set[str], what: str, cam: str, info: _StreamFacts | None) -> float:
    """An image message's fields, its camera (that of its topic, and one of /store_info's), and its t_s."""
    if set(body) != want:
        wrong = sorted(set(body) ^ want)[0]
        how = "missing" if wrong in want else "unexpected"
        raise _Malformed("", f"{what} with fields {sorted(want)}; {wrong!r} is {how}")
    t_s = _decode(float, body["t_s"], "t_s")
    if body["frame_id"] != cam:
        raise _Malformed("frame_id", f"expected {cam!r}, the camera of its topic, got {body['frame_id']!r}")
    if info is not None and cam not in info.cameras:
        raise _Malformed("frame_id", f"camera {cam!r} is not among the cameras of /store_info")
    return t_s


def _image_data(body: dict) -> bytes:
    if not isinstance(body["data"], str):
        raise _Malformed("data", f"expected a base64 string, got {_kind_of(body['data'])}")
    try:
        return base64.b64decode(body["data"], validate=True)
    except ValueError as exc:
        raise _Malformed("data", f"not base64 ({exc})") from None


_COMPRESSED_FIELDS = {"rgb": {"timestamp", "frame_id", "format", "data", "t_s"},
                      "depth": {"timestamp", "frame_id", "format", "data", "t_s", "unit_m"}}
_COMPRESSED_FORMATS = {"rgb": "jpeg", "depth": "png"}


def _compressed_image(body: dict, cam: str, plane: str, info: _StreamFacts | None) -> tuple[float, np.ndarray, bytes | None]:
    """(t_s, image, JPEG bytes for rgb) of one `foxglove.CompressedImage`, checked and decoded as the device did."""
    t_s = _image_head(body, _COMPRESSED_FIELDS[plane], f"a CompressedImage on a /{plane} topic", cam, info)
    fmt = _COMPRESSED_FORMATS[plane]
    if body["format"] != fmt:
        raise _Malformed("format", f"expected {fmt!r} on a /{plane} topic, got {body['format']!r}")
    raw = _image_data(body)
    try:
        image = decode_jpeg(raw) if plane == "rgb" else decode_png16(raw)
    except ValueError as exc:
        raise _Malformed("data", str(exc)) from None
    height, width = image.shape[:2]
    if info is not None and (width, height) != info.size(cam, plane):
        want_w, want_h = info.size(cam, plane)
        raise _Malformed("data", f"a {width} x {height} image where its calibration says {want_w} x {want_h}")
    if plane == "depth":
        unit = _decode(float, body["unit_m"], "unit_m")
        if not 0 < unit <= 0.1:
            raise _Malformed("unit_m", f"expected a depth unit in (0, 0.1] m, got {unit}")
        image = image.astype(np.float32) * np.float32(unit)
    image.setflags(write=False)
    return t_s, image, raw if plane == "rgb" else None


DEPTH_UNIT_M = 0.001  # the D435's default depth unit; depth on its grid travels as 16-bit PNG


def depth_millimetres(depth: np.ndarray) -> np.ndarray | None:
    """The depth image as whole millimetres (uint16) when every value is float32(k) * float32(0.001), k < 2^16,
    as the device model quantises it; None when any value is off that grid (then it travels raw)."""
    unit = np.float32(DEPTH_UNIT_M)
    k = np.round(np.asarray(depth, dtype=np.float32) / unit)
    if depth.size == 0 or not (0 <= k.min() and k.max() < 65536):
        return None
    if not np.array_equal(k.astype(np.float32) * unit, depth):
        return None
    return k.astype(np.uint16)


def _check_sensor(msg: Any, info: _StreamFacts | None) -> None:
    """What a message's types do not say: sizes that must agree, rates, ids known to the StoreInfo."""
    if msg.t_s < 0:
        raise _Malformed("t_s", f"expected a time >= 0, got {msg.t_s}")
    if isinstance(msg, StoreInfo):
        if msg.load_cell_rate_hz <= 0 or msg.load_cell_batch < 1:
            raise _Malformed("load_cell_rate_hz", "expected a rate > 0 and a batch of at least 1 sample")
        for key, cals in (("cameras", msg.cameras), ("rgb_cameras", msg.rgb_cameras)):
            for i, cal in enumerate(cals):
                if (len(cal.K), len(cal.R), len(cal.t)) != (9, 9, 3) or cal.width < 1 or cal.height < 1 or cal.fps <= 0:
                    raise _Malformed(f"{key}[{i}]", "expected K and R of 9 numbers, t of 3, a size of at least 1 x 1 px "
                                                    "and fps > 0")
        depth_ids = [c.camera_id for c in msg.cameras]
        rgb_ids = [c.camera_id for c in msg.rgb_cameras]
        if len(set(rgb_ids)) != len(rgb_ids) or not set(rgb_ids) <= set(depth_ids):
            raise _Malformed("rgb_cameras", "expected at most one colour imager per camera of `cameras`, got "
                                            f"{sorted(rgb_ids)} for cameras {sorted(depth_ids)}")
    elif isinstance(msg, LoadCellBatch):
        if msg.grams.dtype.kind != "f" or msg.grams.ndim != 2 or msg.grams.shape[1] != len(msg.cell_ids):
            raise _Malformed("grams", f"expected float samples x {len(msg.cell_ids)} cells, got {msg.grams.dtype.str} "
                                      f"of shape {msg.grams.shape}")
        if msg.rate_hz <= 0:
            raise _Malformed("rate_hz", f"expected a rate > 0, got {msg.rate_hz}")
        if info is not None and not info.bins.issuperset(msg.cell_ids):
            raise _Malformed("cell_ids", f"{sorted(set(msg.cell_ids) - info.bins)[0]!r} is no bin of /store_info")
    elif isinstance(msg, (GateScan, GatePassage)) and info is not None and msg.gate not in info.gates:
        raise _Malformed("gate", f"{msg.gate!r} is no gate of /store_info")


# -- plain JSON <- message objects --------------------------------------------------------------------------


def _to_plain(v: Any) -> Any:
    if is_dataclass(v) and not isinstance(v, type):
        return {f.name: _to_plain(getattr(v, f.name)) for f in fields(v)}
    if isinstance(v, np.ndarray):
        values = v.tolist()
        if v.dtype.kind == "f" and not np.isfinite(v).all():
            assert not np.isinf(v).any(), "infinite values cannot be recorded"
            values = np.where(np.isnan(v), None, v.astype(object)).tolist()
        return {"dtype": v.dtype.str, "shape": list(v.shape), "values": values}
    if isinstance(v, (tuple, list)):
        return [_to_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _to_plain(x) for k, x in v.items()}
    if isinstance(v, (set, frozenset)):
        return sorted(_to_plain(x) for x in v)
    if isinstance(v, np.generic):
        return v.item()
    return v


def _stamp(t_s: float) -> dict:
    ns = max(0, round(float(t_s) * 1e9))
    return {"sec": ns // 1_000_000_000, "nsec": ns % 1_000_000_000}


def _quaternion(R: np.ndarray) -> tuple[float, float, float, float]:
    from scipy.spatial.transform import Rotation

    return tuple(float(q) for q in Rotation.from_matrix(R).as_quat())  # type: ignore[return-value]


_JSON_TYPES = {float: "number", int: "integer", str: "string", bool: "boolean"}


def _schema_of(cls: type) -> dict:
    """A JSON schema of a message dataclass, for tools that show the channels."""
    def of(tp: Any) -> dict:
        if isinstance(tp, type) and is_dataclass(tp):
            hints = typing.get_type_hints(tp)
            return {"type": "object", "title": f"store_twin.{tp.__name__}", "properties": {f.name: of(hints[f.name]) for f in fields(tp)}}
        if tp is np.ndarray:
            return {"type": "object", "properties": {"dtype": {"type": "string"}, "shape": {"type": "array"}, "values": {"type": "array"}}}
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (tuple, list, set, frozenset):
            return {"type": "array"}
        if origin is dict:
            return {"type": "object"}
        if args and type(None) in args:
            inner = [a for a in args if a is not type(None)]
            return of(inner[0]) if len(inner) == 1 else {}
        return {"type": _JSON_TYPES[tp]} if tp in _JSON_TYPES else {}
    return of(cls)


_TIME = {"type": "object", "title": "time", "properties": {
    "sec": {"type": "integer", "minimum": 0}, "nsec": {"type": "integer", "minimum": 0, "maximum": 999999999}}}
_NUMBERS = {"type": "array", "items": {"type": "number"}}

# Foxglove's well-known schemas (foxglove-sdk, schemas/jsonschema), the fields this log uses.
RAW_IMAGE_SCHEMA = {
    "title": "foxglove.RawImage", "description": "A raw image", "type": "object",
    "properties": {
        "timestamp": _TIME, "frame_id": {"type": "string"},
        "width": {"type": "integer", "minimum": 0}, "height": {"type": "integer", "minimum": 0},
        "encoding": {"type": "string"}, "step": {"type": "integer", "minimum": 0},
        "data": {"type": "string", "contentEncoding": "base64"},
    },
}
COMPRESSED_IMAGE_SCHEMA = {
    "title": "foxglove.CompressedImage", "description": "A compressed image", "type": "object",
    "properties": {
        "timestamp": _TIME, "frame_id": {"type": "string"},
        "data": {"type": "string", "contentEncoding": "base64"}, "format": {"type": "string"},
    },
}
CAMERA_CALIBRATION_SCHEMA = {
    "title": "foxglove.CameraCalibration", "description": "Camera calibration parameters", "type": "object",
    "properties": {
        "timestamp": _TIME, "frame_id": {"type": "string"},
        "width": {"type": "integer", "minimum": 0}, "height": {"type": "integer", "minimum": 0},
        "distortion_model": {"type": "string"}, "D": _NUMBERS,
        "K": {**_NUMBERS, "minItems": 9, "maxItems": 9}, "R": {**_NUMBERS, "minItems": 9, "maxItems": 9},
        "P": {**_NUMBERS, "minItems": 12, "maxItems": 12},
    },
}
_XYZ = {"x": {"type": "number"}, "y": {"type": "number"}, "z": {"type": "number"}}
FRAME_TRANSFORM_SCHEMA = {
    "title": "foxglove.FrameTransform", "description": "A transform between two reference frames in 3D space",
    "type": "object",
    "properties": {
        "timestamp": _TIME, "parent_frame_id": {"type": "string"}, "child_frame_id": {"type": "string"},
        "translation": {"type": "object", "title": "foxglove.Vector3", "properties": _XYZ},
        "rotation": {"type": "object", "title": "foxglove.Quaternion", "properties": {**_XYZ, "w": {"type": "number"}}},
    },
}
