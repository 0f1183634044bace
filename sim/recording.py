"""Record and replay the sensor stream as MCAP logs (DESIGN.md sections 1 and 10).

Place in the data path: recording wraps the message iterator — `record_stream(stream, path)` yields
every message unchanged while it writes it — so the simulation knows nothing of it; `LogReader` gives
the same messages back, bit for bit (`sim.stream.stream_digest` of a replay equals the live one), so a
stack replayed over a log sees exactly what it saw live. Ground truth travels on `/truth/...` channels,
written at the end, and is read apart (`LogReader.truth()`): `messages()` never yields it.

Channels (topic: schema name, all `jsonschema`-encoded JSON, so no protobuf is needed and Foxglove opens
the images and calibrations with its well-known schemas):

    /store_info                    store_twin.StoreInfo          first; exact calibrations live here
    /cameras/<id>/calibration      foxglove.CameraCalibration    once per camera, after /store_info
    /tf                            foxglove.FrameTransform       world -> each camera, once
    /cameras/<id>/rgb              foxglove.RawImage  rgb8       one per frame, then its depth at once
    /cameras/<id>/depth            foxglove.RawImage  32FC1      metres along the optical axis, 0 = invalid
    /load_cells                    store_twin.LoadCellBatch      grams as nested lists, null = NaN (dead cell)
    /gates/scan, /gates/passage    store_twin.GateScan / GatePassage
    /stream/<Type>                 store_twin.<Type>             any other message type of `sim.stream`
    /truth/events, /truth/poses    store_twin.truth.TruthEvent / PoseSample, one message each
    /truth/receipts, /truth/items  store_twin.truth.Receipts / Items, one message each

Exactness: JSON floats are written with Python's shortest round-trip repr; images as base64 of their
raw bytes; a frame's exact `t_s` rides along in an extra `t_s` field (the Foxglove `timestamp` is
nanoseconds). Files are chunked (4 MiB) and zstd-compressed, with chunk CRCs.

Damage: a truncated or corrupt log reads up to the damage; `LogReader.damage` then says where, as one
line: `FILE: corrupt MCAP at byte N: what` (the command line prints it and exits 2).
"""
from __future__ import annotations

import base64
import json
import struct
import typing
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

import numpy as np
from mcap.exceptions import InvalidMagic, McapError

from mcap.records import Channel, Message, Metadata, Schema
from mcap.stream_reader import MAGIC_SIZE, StreamReader
from mcap.writer import CompressionType, Writer

from sim.ledger import ItemRecord, PoseSample, TruthEvent
from sim.stream import MESSAGE_TYPES, CameraCalibration, CameraFrame, StoreInfo

CHUNK_BYTES = 4 * 1024 * 1024
LIBRARY = "store-twin sim.recording"


@dataclass(frozen=True)
class Receipts:
    """True receipts: what each account owed when it closed (and, for every account, at the end)."""

    closed: dict[str, dict[str, int]]
    at_end: dict[str, dict[str, int]]


@dataclass(frozen=True)
class RecordedTruth:
    """The ledger's account of an episode, as a log carries it on its `/truth/...` channels."""

    events: tuple[TruthEvent, ...]
    receipts: Receipts
    items: tuple[ItemRecord, ...]
    poses: tuple[PoseSample, ...]

    @classmethod
    def from_ledger(cls, ledger: Any) -> "RecordedTruth":
        closed = dict(getattr(ledger, "closed_receipts", None) or ledger.receipts())
        at_end = {a: dict(sorted(ledger.receipt(a).items())) for a in sorted(ledger.members)}
        poses = tuple(p for samples in getattr(ledger, "poses", {}).values() for p in samples)
        events = tuple(ledger.events) + tuple(getattr(ledger, "faults", ()))
        return cls(events, Receipts(closed, at_end), tuple(ledger.items.values()), tuple(sorted(poses, key=lambda p: p.t_s)))


@dataclass(frozen=True)
class LogDamage:
    path: Path
    offset: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}: corrupt MCAP at byte {self.offset}: {self.what}"


class CorruptLog(Exception):
    """A log that cannot be read to its end; `str()` is the one-line message for people."""

    def __init__(self, damage: LogDamage) -> None:
        self.damage = damage
        super().__init__(str(damage))


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
        self._writer = Writer(self._file, chunk_size=chunk_bytes, compression=CompressionType.ZSTD)
        self._writer.start(profile="", library=LIBRARY)
        if metadata:
            self._writer.add_metadata("episode", {str(k): str(v) for k, v in metadata.items()})
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
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
        else:
            topic = _TOPICS.get(name, f"/stream/{name}")
            self._put(topic, f"store_twin.{name}", _schema_of(type(msg)), msg.t_s, _to_plain(msg))

    def write_truth(self, truth: RecordedTruth) -> None:
        for ev in truth.events:
            self._put("/truth/events", "store_twin.truth.TruthEvent", _schema_of(TruthEvent), ev.t_s, _to_plain(ev))
        for pose in truth.poses:
            self._put("/truth/poses", "store_twin.truth.PoseSample", _schema_of(PoseSample), pose.t_s, _to_plain(pose))
        end_s = self._last_ns / 1e9
        self._put("/truth/receipts", "store_twin.truth.Receipts", _schema_of(Receipts), end_s, _to_plain(truth.receipts))
        items = {"items": [_to_plain(i) for i in truth.items]}
        self._put("/truth/items", "store_twin.truth.Items", {"type": "object", "title": "store_twin.truth.Items"}, end_s, items)

    # -- helpers ---------------------------------------------------------------------------------------

    def _frame(self, f: CameraFrame) -> None:
        for kind, encoding, arr in (("rgb", "rgb8", f.rgb), ("depth", "32FC1", f.depth)):
            arr = np.ascontiguousarray(arr, dtype=np.uint8 if kind == "rgb" else "<f4")
            body = {
                "timestamp": _stamp(f.t_s), "frame_id": f.camera_id, "width": int(arr.shape[1]), "height": int(arr.shape[0]),
                "encoding": encoding, "step": int(arr.strides[0]), "data": base64.b64encode(arr.tobytes()).decode("ascii"),
                "t_s": f.t_s,
            }
            self._put(f"/cameras/{f.camera_id}/{kind}", "foxglove.RawImage", RAW_IMAGE_SCHEMA, f.t_s, body)

    def _calibration(self, t_s: float, cal: CameraCalibration) -> None:
        K = list(cal.K)
        body = {
            "timestamp": _stamp(t_s), "frame_id": cal.camera_id, "width": cal.width, "height": cal.height,
            "distortion_model": "plumb_bob", "D": list(cal.dist), "K": K, "R": [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0],
            "P": [K[0], K[1], K[2], 0.0, K[3], K[4], K[5], 0.0, K[6], K[7], K[8], 0.0],
        }
        self._put(f"/cameras/{cal.camera_id}/calibration", "foxglove.CameraCalibration", CAMERA_CALIBRATION_SCHEMA, t_s, body)
        R = cal.R_matrix()
        centre = -R.T @ np.array(cal.t)
        qx, qy, qz, qw = _quaternion(R.T)  # the camera's axes in the world frame
        tf = {
            "timestamp": _stamp(t_s), "parent_frame_id": "world", "child_frame_id": cal.camera_id,
            "translation": {"x": centre[0], "y": centre[1], "z": centre[2]},
            "rotation": {"x": qx, "y": qy, "z": qz, "w": qw},
        }
        self._put("/tf", "foxglove.FrameTransform", FRAME_TRANSFORM_SCHEMA, t_s, tf)

    def _put(self, topic: str, schema_name: str, schema: dict, t_s: float, body: dict) -> None:
        if topic not in self._channels:
            if schema_name not in self._schemas:
                self._schemas[schema_name] = self._writer.register_schema(
                    name=schema_name, encoding="jsonschema", data=json.dumps(schema).encode()
                )
            self._channels[topic] = self._writer.register_channel(
                topic=topic, message_encoding="json", schema_id=self._schemas[schema_name]
            )
        ns = max(0, round(float(t_s) * 1e9))
        self._last_ns = max(self._last_ns, ns)
        data = json.dumps(body, separators=(",", ":")).encode()
        self._writer.add_message(self._channels[topic], log_time=ns, data=data, publish_time=ns, sequence=self._sequence)
        self._sequence += 1


_TOPICS = {"LoadCellBatch": "/load_cells", "GateScan": "/gates/scan", "GatePassage": "/gates/passage"}


# -- reading ------------------------------------------------------------------------------------------------


class LogReader:
    """Reads a log back: `messages()` gives the sensor stream, `truth()` the recorded truth.

    Each call reads the file from the start. On damage both stop there and `damage` says where.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.damage: LogDamage | None = None
        self.topics: dict[str, str] = {}  # topic -> schema name, as far as read
        self.metadata: dict[str, str] = {}  # the `episode` metadata record, when read

    def messages(self) -> Iterator[Any]:
        """The recorded stream messages in recorded order, bitwise as they were; truth never."""
        pending: dict[str, tuple[float, np.ndarray]] = {}
        for topic, schema, body in self._records(lambda t: not t.startswith("/truth/")):
            if schema == "foxglove.RawImage":
                cam = body["frame_id"]
                image = _image(body)
                if topic.endswith("/rgb"):
                    pending[cam] = (body["t_s"], image)
                    continue
                t_s, rgb = pending.pop(cam)
                assert t_s == body["t_s"], f"{self.path}: depth of {cam} at {body['t_s']} follows rgb at {t_s}"
                yield CameraFrame(t_s=t_s, camera_id=cam, rgb=rgb, depth=image)
            elif schema.startswith("store_twin."):
                cls = MESSAGE_TYPES.get(schema.removeprefix("store_twin."))
                if cls is not None:
                    yield _from_plain(cls, body)

    def truth(self) -> RecordedTruth | None:
        """The truth written at the end of the recording; None when the log has none (or lost it)."""
        events, poses = [], []
        receipts, items = None, None
        for topic, _, body in self._records(lambda t: t.startswith("/truth/")):
            if topic == "/truth/events":
                events.append(_from_plain(TruthEvent, body))
            elif topic == "/truth/poses":
                poses.append(_from_plain(PoseSample, body))
            elif topic == "/truth/receipts":
                receipts = _from_plain(Receipts, body)
            elif topic == "/truth/items":
                items = tuple(_from_plain(ItemRecord, i) for i in body["items"])
        if receipts is None or items is None:
            return None
        return RecordedTruth(tuple(events), receipts, items, tuple(poses))

    def check(self) -> None:
        """Raise `CorruptLog` if the last read met damage."""
        if self.damage is not None:
            raise CorruptLog(self.damage)

    def _records(self, want: Callable[[str], bool]) -> Iterator[tuple[str, str, dict]]:
        """(topic, schema name, decoded JSON) of every message on wanted topics, in file order, up to any damage."""
        self.damage = None
        schemas: dict[int, str] = {}
        channels: dict[int, Channel] = {}
        with open(self.path, "rb") as f:
            counted = _CountingReader(f)
            good = 0  # end of the last record read whole: where damage starts
            records = StreamReader(counted, validate_crcs=True).records
            while True:
                try:
                    record = next(records)
                    if isinstance(record, Message):
                        channel = channels[record.channel_id]
                        if not want(channel.topic):
                            good = counted.offset
                            continue
                        body = json.loads(record.data)
                        item = (channel.topic, schemas.get(channel.schema_id, ""), body)
                    else:
                        if isinstance(record, Schema):
                            schemas[record.id] = record.name
                        elif isinstance(record, Metadata) and record.name == "episode":
                            self.metadata = dict(record.metadata)
                        elif isinstance(record, Channel):
                            channels[record.id] = record
                            self.topics[record.topic] = schemas.get(record.schema_id, "")
                        good = counted.offset
                        continue
                except StopIteration:
                    return
                except Exception as exc:  # noqa: BLE001 - any failure to parse is damage, reported once
                    if good == 0 and counted.offset > MAGIC_SIZE and not isinstance(exc, InvalidMagic):
                        good = MAGIC_SIZE  # the magic was whole: the damage is in the first record
                    self.damage = LogDamage(self.path, good, _describe(exc, counted.offset, self.path))
                    return
                good = counted.offset
                yield item


class _CountingReader:
    """A file wrapper that counts the bytes handed out (the MCAP stream reader reads strictly forward)."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self.offset = 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.offset += len(data)
        return data


def _describe(exc: Exception, offset: int, path: Path) -> str:
    size = path.stat().st_size
    if offset >= size or isinstance(exc, (struct.error, EOFError)) or type(exc).__name__ == "EndOfFile":
        return f"the file ends inside a record (truncated at {size} bytes)"
    if type(exc).__name__ == "CRCValidationError":
        return f"checksum mismatch ({exc})"
    if isinstance(exc, McapError):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


# -- plain JSON <-> message objects -------------------------------------------------------------------------


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


def _from_plain(tp: Any, v: Any) -> Any:
    """Rebuild a value of type `tp` from its plain JSON form; scalars keep the exact JSON type they had."""
    if v is None:
        return None
    if isinstance(tp, type) and is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return tp(**{f.name: _from_plain(hints[f.name], v[f.name]) for f in fields(tp) if f.name in v})
    if tp is np.ndarray:
        arr = np.array(v["values"], dtype=object).reshape(v["shape"])
        arr[arr == None] = np.nan  # noqa: E711 - null stands for NaN
        arr = arr.astype(np.dtype(v["dtype"]))
        arr.setflags(write=False)
        return arr
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_plain(args[0], x) for x in v)
        return tuple(_from_plain(a, x) for a, x in zip(args, v))
    if origin is list:
        return [_from_plain(args[0], x) for x in v]
    if origin in (set, frozenset):
        return origin(_from_plain(args[0], x) for x in v)
    if origin is dict:
        return {k: _from_plain(args[1], x) for k, x in v.items()}
    if args and type(None) in args:  # X | None
        inner = [a for a in args if a is not type(None)]
        return _from_plain(inner[0], v) if len(inner) == 1 else v
    return v


def _image(body: dict) -> np.ndarray:
    dtype, channels = {"rgb8": (np.uint8, 3), "32FC1": (np.dtype("<f4"), 1)}[body["encoding"]]
    arr = np.frombuffer(base64.b64decode(body["data"]), dtype=dtype)
    shape = (body["height"], body["width"], channels) if channels > 1 else (body["height"], body["width"])
    return arr.reshape(shape)  # read-only, like the live frame's arrays


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
