"""The one episode driver: a stream's messages to the checkout stacks, each stack's faults, cost and tracks kept.

Place in the data path: between a stream (a live simulation, a recorded log, a percept cache) and the stacks
(DESIGN.md section 8). The episode runner and the replay (`scoring.episode`, `scoring.replay`), the window
(`viewer.episode`) and the benchmarks (`bench.pipeline`, `bench.percepts`) all feed their stacks through it, so
a stack sees the same messages in the same order, its faults are handled and its tracks sampled the same way,
live or replayed.

- A `StackLane` is one stack on the stream: the receipts it issued, its faults, the wall seconds it spent, its
  tracks at each sample. A stack exception is a runtime fault: each distinct fault is kept once with a count,
  and the stream goes on; the receipts issued after the first fault (or after a hole in the stream) come out
  of `receipts()` flagged for review with the fault as their reason: a stack that lost a weight change or a
  track may be wrong about everyone after it, and is never silently trusted.
- `StreamDriver.run(stream, clock)` is the loop, with the order written once: for each message, the samples
  that fell due before it (a replay after a hole), the message to every stack in turn, then the samples due
  after it; once the stream ends, the samples still due, then each stack's `finish()`. The `clock` (a
  `SampleClock`) belongs to the truth side: it says when the stacks' tracks are sampled and never hands the
  stacks anything.
- A stack with no `tracks()` is never sampled (`track_frames` is None): its tracking figures are absent.
"""
from __future__ import annotations

import dataclasses
import time
from collections import Counter
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol

from scoring.metrics import IssuedReceipt


class SampleClock(Protocol):
    """When the stacks' tracks are sampled, in stream time: the truth side's business."""

    def before(self, msg: object) -> Iterable[float]:
        """Sample times due before `msg` goes to the stacks."""

    def after(self, msg: object) -> Iterable[float]:
        """Sample times due once `msg` has gone to the stacks."""

    def rest(self) -> Iterable[float]:
        """Sample times still due when the stream has ended."""


class NoSamples:
    """A clock that never samples: stacks fed for their receipts alone."""

    def before(self, msg: object) -> tuple[float, ...]:
        return ()

    def after(self, msg: object) -> tuple[float, ...]:
        return ()

    def rest(self) -> tuple[float, ...]:
        return ()


class StackLane:
    """One stack on the stream: what it issued, its faults (and from which receipt on they count), its cost."""

    def __init__(self, name: str, stack: Any) -> None:
        self.name = name
        self.stack = stack
        self.issued: list = []  # the stack's own receipt objects, in the order issued
        self.faults: Counter = Counter()
        self.faulted_from: int | None = None  # receipts from this index on came after a fault or a hole
        self.seconds = 0.0  # wall seconds in `consume` and `finish`
        self.track_frames: list | None = [] if callable(getattr(stack, "tracks", None)) else None

    def consume(self, msg: object, damaged: bool = False) -> list:
        """One message to the stack; returns the receipts it issued. `damaged`: the stream has a hole before it."""
        t0 = time.perf_counter()
        new = _guarded(self.stack.consume, msg, self.faults, type(msg).__name__)
        self.issued.extend(new)
        if self.faulted_from is None and (self.faults or damaged):
            self.faulted_from = len(self.issued)
        self.seconds += time.perf_counter() - t0
        return new

    def finish(self) -> list:
        t0 = time.perf_counter()
        new = _guarded(lambda _: self.stack.finish(), None, self.faults, "finish()")
        self.issued.extend(new)
        self.seconds += time.perf_counter() - t0
        return new

    def sample(self, t_s: float) -> None:
        """The stack's tracks now, stamped `t_s` (a stack without `tracks()` is not sampled)."""
        if self.track_frames is not None:
            self.track_frames.append((t_s, track_positions(self.stack, self.faults)))

    def receipts(self, hole: str | None = None) -> list[IssuedReceipt]:
        """The issued receipts as `IssuedReceipt`s, those after the first fault flagged; `hole` names a break in
        the stream that flagged them when the stack itself never faulted."""
        why = f"issued after a {next(iter(self.faults))}" if self.faults else f"issued after {hole or 'a stack fault'}"
        return flag_after_fault(self.issued, self.faulted_from, why)

    def errors(self) -> list[str]:
        """Each distinct fault once, with its count when it recurred."""
        return [f"{what} (x{n})" if n > 1 else what for what, n in self.faults.items()]

    def stage_costs(self) -> dict[str, float]:
        """Wall seconds per stack stage, as the stack measures them (`stage_s`, when it has one)."""
        return {str(k): float(v) for k, v in (getattr(self.stack, "stage_s", None) or {}).items()}


class StreamDriver:
    """One stream to the stacks of `lanes`, each message to each stack in the lanes' order."""

    def __init__(self, stacks: Mapping[str, Any]) -> None:
        assert stacks, "a driver needs at least one stack"
        self.lanes = {name: StackLane(name, stack) for name, stack in stacks.items()}
        self.stream_s = 0.0  # wall seconds spent waiting for messages (simulating, reading a log)
        self.wall_s = 0.0  # wall seconds from the first message to the last stack's finish

    def feed(self, msg: object, damaged: bool = False) -> None:
        for lane in self.lanes.values():
            lane.consume(msg, damaged)

    def sample(self, t_s: float) -> None:
        for lane in self.lanes.values():
            lane.sample(t_s)

    def finish(self) -> None:
        for lane in self.lanes.values():
            lane.finish()

    def run(self, stream: Iterable, clock: SampleClock | None = None, *,
            on_sample: Callable[[float], None] | None = None, damaged: Callable[[], bool] | None = None) -> None:
        """Feed all of `stream`, sampling when `clock` says, then finish every stack.

        `on_sample(t_s)` is called after each sample (progress, a benchmark's window); `damaged()` says whether
        the stream has had a hole so far (a damaged log read with salvage).
        """
        clock = clock or NoSamples()
        messages = TimedStream(stream)
        t0 = time.perf_counter()
        for msg in messages:
            for t_s in clock.before(msg):
                self.sample(t_s)
            self.feed(msg, damaged is not None and damaged())
            for t_s in clock.after(msg):
                self.sample(t_s)
                if on_sample is not None:
                    on_sample(t_s)
        for t_s in clock.rest():
            self.sample(t_s)
        self.finish()
        self.wall_s = time.perf_counter() - t0
        self.stream_s = messages.seconds


class TimedStream:
    """A stream's messages, with the wall seconds spent producing them (simulating, or reading a log) in `seconds`."""

    def __init__(self, stream: Iterable) -> None:
        self._messages = iter(stream)
        self.seconds = 0.0

    def __iter__(self) -> Iterator:
        while True:
            t0 = time.perf_counter()
            msg = next(self._messages, None)
            self.seconds += time.perf_counter() - t0
            if msg is None:
                return
            yield msg


def as_issued(receipt: Any) -> IssuedReceipt:
    """A stack's receipt as scoring reads it: `account` and `items`, the rest when the receipt has them."""
    if isinstance(receipt, IssuedReceipt):
        return receipt
    return IssuedReceipt(
        account=receipt.account,
        items=dict(receipt.items),
        confidence=getattr(receipt, "confidence", None),
        flagged=bool(getattr(receipt, "flagged", False)),
        total=getattr(receipt, "total", None),
        reasons=tuple(getattr(receipt, "reasons", ())),
        t_s=getattr(receipt, "t_s", None),
    )


def flag_after_fault(issued: list, faulted_from: int | None, reason: str) -> list[IssuedReceipt]:
    """The issued receipts as `IssuedReceipt`s, those from index `faulted_from` on flagged for review with `reason`."""
    out = [as_issued(r) for r in issued]
    if faulted_from is None:
        return out
    return out[:faulted_from] + [dataclasses.replace(r, flagged=True, reasons=r.reasons + (reason,)) for r in out[faulted_from:]]


def track_positions(stack: Any, faults: Counter) -> dict[str, tuple[float, float]]:
    """The stack's tracks as {id: (x, y)}; a fault in `tracks()` is counted in `faults` and reads as no tracks."""
    try:
        return {str(tv.id): (float(tv.x), float(tv.y)) for tv in stack.tracks()}
    except Exception as exc:
        faults[f"stack fault on tracks(): {type(exc).__name__}: {exc}"] += 1
        return {}


# --- helpers -------------------------------------------------------------------------------------------------------


def _guarded(fn: Callable, msg: object, faults: Counter, what: str) -> list:
    try:
        return list(fn(msg) or [])
    except Exception as exc:  # a runtime fault of the stack: note it and keep the stream going
        faults[f"stack fault on {what}: {type(exc).__name__}: {exc}"] += 1
        return []
